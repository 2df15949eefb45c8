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
            .0,
        b"x"
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
    assert_eq!(tree.get_data("/locked", &sup).unwrap().0, b"x");
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
