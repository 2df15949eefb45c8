//! ACL checks: world, auth, digest, ip (with CIDR), super.

mod common;
use common::*;
use synod_coord::{digest_id, perms, Acl, ErrorCode, Id, WriteResult};

fn digest(user_pw: &str) -> Id {
    Id::new("digest", &digest_id(user_pw))
}

#[test]
fn world_acl_grants_only_its_bits() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with(
            "/r",
            b"d",
            world(perms::READ),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert!(tree.get_data("/r", &[]).is_ok());
    assert_eq!(
        err(&mut tree, s, set_data("/r", b"x", -1)),
        ErrorCode::NoAuth
    );
    assert_eq!(err(&mut tree, s, create("/r/c", b"")), ErrorCode::NoAuth);
    assert_eq!(
        err(&mut tree, s, set_acl("/r", world(ALL), -1)),
        ErrorCode::NoAuth
    );
    must_create(
        &mut tree,
        s,
        create_with(
            "/w",
            b"d",
            world(perms::WRITE),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert_eq!(tree.get_data("/w", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(tree.get_children("/w", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(tree.exists_checked("/w", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(tree.exists("/w").map(|s| s.data_length), Some(1));
    assert_eq!(tree.exists_checked("/nope", &[]), Ok(None));
    assert_eq!(
        tree.all_children_number_checked("/w", &[]),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        err(&mut tree, s, check("/w", -1)),
        ErrorCode::NoAuth,
        "check needs READ"
    );
}

#[test]
fn delete_needs_delete_on_the_parent_not_the_node() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with(
            "/p",
            b"",
            world(perms::CREATE | perms::READ),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    must_create(
        &mut tree,
        s,
        create_with(
            "/p/c",
            b"",
            world(0),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert_eq!(err(&mut tree, s, delete("/p/c", -1)), ErrorCode::NoAuth);
    must_create(
        &mut tree,
        s,
        create_with(
            "/q",
            b"",
            world(perms::DELETE | perms::CREATE),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    must_create(
        &mut tree,
        s,
        create_with(
            "/q/c",
            b"",
            world(0),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert_eq!(
        res(&mut tree, s, delete("/q/c", -1)),
        Ok(WriteResult::Deleted)
    );
}

#[test]
fn digest_acl_matches_the_whole_user_hash() {
    let (mut tree, s) = setup();
    let alice = digest("alice:secret");
    let alice_auth = [alice.clone()];
    let acl = vec![Acl {
        perms: ALL,
        id: alice.clone(),
    }];
    must_create(
        &mut tree,
        s,
        create_with(
            "/d",
            b"x",
            acl.clone(),
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert_eq!(tree.get_data("/d", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(
        tree.get_data("/d", &[digest("alice:wrong")]),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        tree.get_data("/d", &[Id::new("ip", "127.0.0.1"), alice.clone()])
            .unwrap()
            .0
            .as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(
        res(&mut tree, s, set_data("/d", b"y", -1)).unwrap_err(),
        ErrorCode::NoAuth
    );
    assert!(run_as(&mut tree, s, &alice_auth, set_data("/d", b"y", -1))
        .result
        .is_ok());
    // getACL: ADMIN sees the hash, READ-only sees user:x, neither is NoAuth.
    assert_eq!(tree.get_acl("/d", &alice_auth).unwrap().0, acl);
    assert_eq!(tree.get_acl("/d", &[]), Err(ErrorCode::NoAuth));
    let acl2 = vec![
        Acl::new(perms::READ, "world", "anyone"),
        Acl {
            perms: perms::ADMIN,
            id: alice.clone(),
        },
    ];
    run_as(&mut tree, s, &alice_auth, set_acl("/d", acl2.clone(), -1))
        .result
        .unwrap();
    let (seen, _) = tree.get_acl("/d", &[]).unwrap();
    assert_eq!(
        seen,
        vec![acl2[0].clone(), Acl::new(perms::ADMIN, "digest", "alice:x")]
    );
    assert_eq!(tree.get_acl("/d", &[alice]).unwrap().0, acl2);
}

#[test]
fn auth_scheme_expands_to_authenticated_ids() {
    let (mut tree, s) = setup();
    let auth_acl = vec![Acl::new(ALL, "auth", "")];
    let ids = [
        Id::new("ip", "10.0.0.1"),
        digest("bob:pw"),
        Id::new("super", ""),
    ];
    let none = create_with(
        "/a",
        b"",
        auth_acl.clone(),
        synod_coord::CreateMode::Persistent,
        -1,
    );
    assert_eq!(
        run_as(&mut tree, s, &ids[..1], none.clone()).result,
        Err(ErrorCode::InvalidAcl)
    );
    assert!(run_as(&mut tree, s, &ids, none).result.is_ok());
    // Only the digest id is kept: ip is not "authenticated", super has no provider.
    assert_eq!(
        tree.get_acl("/a", &[ids[1].clone()]).unwrap().0,
        vec![Acl {
            perms: ALL,
            id: ids[1].clone()
        }]
    );
}

#[test]
fn invalid_acls_are_refused() {
    let (mut tree, s) = setup();
    let bad = |acl: Vec<Acl>| create_with("/x", b"", acl, synod_coord::CreateMode::Persistent, -1);
    for acl in [
        vec![],
        vec![Acl::new(ALL, "world", "someone")],
        vec![Acl::new(ALL, "super", "")],
        vec![Acl::new(ALL, "unknown", "x")],
        vec![Acl::new(ALL, "digest", "nocolon")],
        vec![Acl::new(ALL, "digest", "a:b:c")],
        vec![Acl::new(ALL, "digest", "a:")],
        vec![Acl::new(ALL, "ip", "10.0.0")],
        vec![Acl::new(ALL, "ip", "10.0.0.256")],
        vec![Acl::new(ALL, "ip", "10.0.0.1/33")],
        vec![Acl::new(ALL, "ip", "10.0.0.1/")],
        // ZooKeeper 3.8's ip provider is IPv4 only.
        vec![Acl::new(ALL, "ip", "::1")],
    ] {
        assert_eq!(
            err(&mut tree, s, bad(acl.clone())),
            ErrorCode::InvalidAcl,
            "{acl:?}"
        );
    }
    // Duplicates are dropped, order kept.
    let dup = vec![
        Acl::new(1, "world", "anyone"),
        Acl::new(ALL, "ip", "1.2.3.4/8"),
        Acl::new(1, "world", "anyone"),
    ];
    must_create(&mut tree, s, bad(dup.clone()));
    assert_eq!(tree.get_acl("/x", &[]).unwrap().0, dup[..2].to_vec());
    assert_eq!(
        err(&mut tree, s, set_acl("/x", vec![], -1)),
        ErrorCode::InvalidAcl
    );
}

#[test]
fn ip_acls_match_addresses_and_cidr_blocks() {
    let (mut tree, s) = setup();
    let acl = vec![
        Acl::new(perms::READ, "ip", "10.1.0.0/16"),
        Acl::new(ALL, "ip", "192.168.1.7"),
    ];
    must_create(
        &mut tree,
        s,
        create_with("/i", b"x", acl, synod_coord::CreateMode::Persistent, -1),
    );
    let ip = |a: &str| [Id::new("ip", a)];
    assert!(tree.get_data("/i", &ip("10.1.200.3")).is_ok());
    assert_eq!(tree.get_data("/i", &ip("10.2.0.1")), Err(ErrorCode::NoAuth));
    assert!(tree.get_data("/i", &ip("192.168.1.7")).is_ok());
    assert_eq!(
        tree.get_data("/i", &ip("192.168.1.8")),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        tree.get_data("/i", &[Id::new("digest", "10.1.0.1")]),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        run_as(&mut tree, s, &ip("10.1.0.1"), set_data("/i", b"", -1))
            .result
            .unwrap_err(),
        ErrorCode::NoAuth
    );
    assert!(
        run_as(&mut tree, s, &ip("192.168.1.7"), set_data("/i", b"", -1))
            .result
            .is_ok()
    );
    must_create(
        &mut tree,
        s,
        create_with(
            "/z",
            b"x",
            vec![Acl::new(ALL, "ip", "0.0.0.0/0")],
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    assert!(tree.get_data("/z", &ip("8.8.8.8")).is_ok());
    assert_eq!(tree.get_data("/z", &ip("::1")), Err(ErrorCode::NoAuth));
}

#[test]
fn super_passes_every_check() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with(
            "/locked",
            b"x",
            vec![Acl {
                perms: ALL,
                id: digest("a:b"),
            }],
            synod_coord::CreateMode::Persistent,
            -1,
        ),
    );
    let sup = [Id::new("super", "")];
    assert_eq!(
        tree.get_data("/locked", &sup).unwrap().0.as_deref(),
        Some(&b"x"[..])
    );
    assert!(run_as(&mut tree, s, &sup, set_data("/locked", b"y", -1))
        .result
        .is_ok());
    assert!(run_as(&mut tree, s, &sup, create("/locked/c", b""))
        .result
        .is_ok());
    assert_eq!(
        tree.get_acl("/locked", &sup).unwrap().0[0].id,
        digest("a:b")
    );
}

fn x509(subject: &str) -> Id {
    Id::new("x509", subject)
}

fn x509_acl(subject: &str) -> Vec<Acl> {
    vec![Acl {
        perms: ALL,
        id: x509(subject),
    }]
}

#[test]
fn an_x509_acl_admits_exactly_the_certificate_subject_it_names() {
    let (mut tree, s) = setup();
    let alice = [Id::new("ip", "127.0.0.1"), x509("CN=alice")];
    let bob = [Id::new("ip", "127.0.0.1"), x509("CN=bob")];
    let create = create_with(
        "/a",
        b"d",
        x509_acl("CN=alice"),
        synod_coord::CreateMode::Persistent,
        -1,
    );
    assert!(run_as(&mut tree, s, &alice, create).result.is_ok());
    assert!(tree.get_data("/a", &alice).is_ok());
    assert_eq!(tree.get_data("/a", &bob), Err(ErrorCode::NoAuth));
    assert_eq!(
        run_as(&mut tree, s, &bob, set_data("/a", b"x", -1)).result,
        Err(ErrorCode::NoAuth)
    );
    assert!(run_as(&mut tree, s, &alice, set_data("/a", b"x", -1))
        .result
        .is_ok());
    // A subject is compared whole: no prefix, no case folding.
    assert_eq!(
        tree.get_data("/a", &[x509("CN=alice,O=x")]),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        tree.get_data("/a", &[x509("cn=alice")]),
        Err(ErrorCode::NoAuth)
    );
}

#[test]
fn the_auth_scheme_expands_to_the_certificate_subject() {
    let (mut tree, s) = setup();
    let alice = [Id::new("ip", "127.0.0.1"), x509("CN=alice")];
    let create = create_with(
        "/a",
        b"",
        vec![Acl {
            perms: ALL,
            id: Id::new("auth", ""),
        }],
        synod_coord::CreateMode::Persistent,
        -1,
    );
    assert!(run_as(&mut tree, s, &alice, create).result.is_ok());
    let (acl, _) = tree.get_acl("/a", &alice).unwrap();
    assert_eq!(
        acl,
        x509_acl("CN=alice"),
        "ip is not an authenticated scheme"
    );
}

#[test]
fn a_batch_under_the_first_rules_refuses_x509_acls_as_it_did_when_it_was_logged() {
    // A log written before x509 existed replays as it was applied then:
    // the old `Batch` command refuses the scheme; the front door's
    // `RuledBatch` (rules 2) takes it.
    let (mut tree, s) = setup();
    let alice = [x509("CN=alice")];
    let create = |path: &str| {
        create_with(
            path,
            b"",
            x509_acl("CN=alice"),
            synod_coord::CreateMode::Persistent,
            -1,
        )
    };
    let old = batch_under(&mut tree, 1, s, &alice, T0 + 5, vec![create("/old")]);
    assert_eq!(old[0].result, Err(ErrorCode::InvalidAcl));
    let new = batch_under(&mut tree, 2, s, &alice, T0 + 5, vec![create("/new")]);
    assert!(new[0].result.is_ok());
    // Under the first rules an x509 id matches nothing either.
    let set = batch_under(
        &mut tree,
        1,
        s,
        &alice,
        T0 + 5,
        vec![set_data("/new", b"x", -1)],
    );
    assert_eq!(set[0].result, Err(ErrorCode::NoAuth));
}

#[test]
fn a_batch_under_rules_this_build_does_not_know_applies_nothing() {
    let (mut tree, s) = setup();
    let before = tree.last_zxid();
    let out = batch_under(&mut tree, 99, s, &[], T0 + 5, vec![create("/x", b"")]);
    assert_eq!(out[0].result, Err(ErrorCode::Unimplemented));
    assert!(tree.exists("/x").is_none());
    assert_eq!(tree.last_zxid(), before);
}

#[test]
fn an_x509_id_must_be_a_distinguished_name() {
    let (mut tree, s) = setup();
    let create = create_with(
        "/a",
        b"",
        x509_acl("alice"),
        synod_coord::CreateMode::Persistent,
        -1,
    );
    assert_eq!(err(&mut tree, s, create), ErrorCode::InvalidAcl);
}

fn sasl_acl(user: &str) -> Vec<Acl> {
    vec![Acl {
        perms: ALL,
        id: Id::new("sasl", user),
    }]
}

#[test]
fn a_sasl_acl_admits_exactly_the_user_it_names_and_auth_expands_to_it() {
    let (mut tree, s) = setup();
    let jaas = [Id::new("ip", "127.0.0.1"), Id::new("sasl", "jaasuser")];
    let other = [
        Id::new("sasl", "jaasuser2"),
        Id::new("digest", "jaasuser:x"),
    ];
    let create =
        |path: &str, acl| create_with(path, b"", acl, synod_coord::CreateMode::Persistent, -1);
    assert!(
        run_as(&mut tree, s, &jaas, create("/a", sasl_acl("jaasuser")))
            .result
            .is_ok()
    );
    assert!(tree.get_data("/a", &jaas).is_ok());
    assert_eq!(tree.get_data("/a", &other), Err(ErrorCode::NoAuth));
    assert_eq!(tree.get_data("/a", &[]), Err(ErrorCode::NoAuth));
    let auth = vec![Acl {
        perms: ALL,
        id: Id::new("auth", ""),
    }];
    assert!(run_as(&mut tree, s, &jaas, create("/b", auth))
        .result
        .is_ok());
    assert_eq!(tree.get_acl("/b", &jaas).unwrap().0, sasl_acl("jaasuser"));
}

#[test]
fn a_batch_under_the_second_rules_refuses_sasl_acls_as_it_did_when_it_was_logged() {
    let (mut tree, s) = setup();
    let jaas = [Id::new("sasl", "jaasuser")];
    let create = |path: &str| {
        create_with(
            path,
            b"",
            sasl_acl("jaasuser"),
            synod_coord::CreateMode::Persistent,
            -1,
        )
    };
    let old = batch_under(&mut tree, 2, s, &jaas, T0 + 5, vec![create("/old")]);
    assert_eq!(old[0].result, Err(ErrorCode::InvalidAcl));
    let new = batch_under(&mut tree, 3, s, &jaas, T0 + 5, vec![create("/new")]);
    assert!(new[0].result.is_ok());
}

#[test]
fn a_sasl_id_must_be_a_kerberos_name() {
    for (user, valid) in [
        ("jaasuser", true),
        ("zookeeper/host.example", true),
        ("zookeeper/host.example@EXAMPLE.COM", true),
        ("kafka@EXAMPLE.COM", true),
        ("", false),
        ("a/b/c", false),
        ("@EXAMPLE.COM", false),
        ("a@b@c", false),
        ("a/", false),
    ] {
        let (mut tree, s) = setup();
        let create = create_with(
            "/a",
            b"",
            sasl_acl(user),
            synod_coord::CreateMode::Persistent,
            -1,
        );
        let got = run_as(&mut tree, s, &[], create).result;
        assert_eq!(got.is_ok(), valid, "{user:?}: {got:?}");
    }
}
