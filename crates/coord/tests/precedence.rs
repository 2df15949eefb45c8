//! Error precedence and path rules, in PrepRequestProcessor's order.

mod common;
use common::*;
use synod_coord::{Acl, CreateMode, ErrorCode};

fn locked() -> Vec<Acl> {
    world(0)
}

#[test]
fn path_validation_follows_path_utils() {
    let (mut tree, s) = setup();
    for bad in [
        "",
        "a",
        "/a/",
        "//",
        "/a//b",
        "/.",
        "/..",
        "/a/.",
        "/a/../b",
        "/a\u{1}",
        "/\u{7f}",
        "/\u{e000}",
        "/\u{fff0}",
        "/\u{1F600}",
    ] {
        assert_eq!(
            err(&mut tree, s, set_data(bad, b"", -1)),
            ErrorCode::BadArguments,
            "setData {bad:?}"
        );
        assert_eq!(
            err(&mut tree, s, check(bad, -1)),
            ErrorCode::BadArguments,
            "check {bad:?}"
        );
    }
    for good in [
        "/a.",
        "/.a",
        "/a..b",
        "/...",
        "/a b",
        "/\u{a0}",
        "/\u{4e2d}",
    ] {
        assert_eq!(
            err(&mut tree, s, set_data(good, b"", -1)),
            ErrorCode::NoNode,
            "setData {good:?}"
        );
        must_create(&mut tree, s, create(good, b""));
    }
}

#[test]
fn create_checks_in_zookeepers_order() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with("/locked", b"", locked(), CreateMode::Persistent, -1),
    );
    must_create(&mut tree, s, create_mode("/eph", CreateMode::Ephemeral));
    // No slash or a NUL: BadArguments before the ACL is looked at.
    assert_eq!(
        err(
            &mut tree,
            s,
            create_with("x", b"", vec![], CreateMode::Persistent, -1)
        ),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(
            &mut tree,
            s,
            create_with("/a\0", b"", vec![], CreateMode::Persistent, -1)
        ),
        ErrorCode::BadArguments
    );
    // ACL validity before the parent's existence.
    assert_eq!(
        err(
            &mut tree,
            s,
            create_with("/no/x", b"", vec![], CreateMode::Persistent, -1)
        ),
        ErrorCode::InvalidAcl
    );
    // Parent existence before the full path check (the parent of "/no/" is "/no").
    assert_eq!(err(&mut tree, s, create("/no/x", b"")), ErrorCode::NoNode);
    assert_eq!(err(&mut tree, s, create("/no/", b"")), ErrorCode::NoNode);
    assert_eq!(err(&mut tree, s, create("/a//b", b"")), ErrorCode::NoNode);
    // Parent CREATE permission before the path check and existence.
    assert_eq!(
        err(&mut tree, s, create("/locked/", b"")),
        ErrorCode::NoAuth
    );
    // Full path check before existence.
    assert_eq!(
        err(&mut tree, s, create("/eph/.", b"")),
        ErrorCode::BadArguments
    );
    // Existence before the ephemeral parent.
    must_create(&mut tree, s, create("/p", b""));
    assert_eq!(err(&mut tree, s, create("/p", b"")), ErrorCode::NodeExists);
    // The root exists: creating "/" is NodeExists, not BadArguments.
    assert_eq!(err(&mut tree, s, create("/", b"")), ErrorCode::NodeExists);
    assert_eq!(
        err(&mut tree, s, create("/eph/c", b"")),
        ErrorCode::NoChildrenForEphemerals
    );
}

#[test]
fn delete_checks_in_zookeepers_order() {
    let (mut tree, s) = setup();
    for special in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            err(&mut tree, s, delete(special, -1)),
            ErrorCode::BadArguments,
            "{special}"
        );
    }
    assert_eq!(
        err(&mut tree, s, delete("nope", -1)),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(&mut tree, s, delete("/a\0", -1)),
        ErrorCode::BadArguments
    );
    // Missing parent, then the parent's DELETE permission, then the node.
    assert_eq!(err(&mut tree, s, delete("/no/x", -1)), ErrorCode::NoNode);
    must_create(
        &mut tree,
        s,
        create_with(
            "/locked",
            b"",
            world(perms_create()),
            CreateMode::Persistent,
            -1,
        ),
    );
    assert_eq!(
        err(&mut tree, s, delete("/locked/missing", 7)),
        ErrorCode::NoAuth
    );
    // Delete does not validate the path beyond its parent: "/a/" is NoNode.
    must_create(&mut tree, s, create("/a", b""));
    assert_eq!(err(&mut tree, s, delete("/a/", -1)), ErrorCode::NoNode);
    // Version before emptiness.
    must_create(&mut tree, s, create("/a/c", b""));
    assert_eq!(err(&mut tree, s, delete("/a", 3)), ErrorCode::BadVersion);
    assert_eq!(err(&mut tree, s, delete("/a", 0)), ErrorCode::NotEmpty);
    assert_eq!(err(&mut tree, s, delete("/a", -1)), ErrorCode::NotEmpty);
}

fn perms_create() -> i32 {
    synod_coord::perms::CREATE
}

#[test]
fn set_data_checks_in_zookeepers_order() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with("/locked", b"", locked(), CreateMode::Persistent, -1),
    );
    assert_eq!(
        err(&mut tree, s, set_data("/missing", b"", 5)),
        ErrorCode::NoNode
    );
    assert_eq!(
        err(&mut tree, s, set_data("/locked", b"", 5)),
        ErrorCode::NoAuth
    );
    must_create(&mut tree, s, create("/a", b""));
    assert_eq!(
        err(&mut tree, s, set_data("/a", b"", 5)),
        ErrorCode::BadVersion
    );
}

#[test]
fn set_acl_checks_in_zookeepers_order() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with("/locked", b"", locked(), CreateMode::Persistent, -1),
    );
    // An invalid ACL is reported before a missing node.
    assert_eq!(
        err(&mut tree, s, set_acl("/missing", vec![], 5)),
        ErrorCode::InvalidAcl
    );
    assert_eq!(
        err(&mut tree, s, set_acl("/missing", world(ALL), 5)),
        ErrorCode::NoNode
    );
    assert_eq!(
        err(&mut tree, s, set_acl("/locked", world(ALL), 5)),
        ErrorCode::NoAuth
    );
    must_create(&mut tree, s, create("/a", b""));
    // The version compared is the aversion.
    run(&mut tree, s, set_data("/a", b"x", -1));
    assert_eq!(
        err(&mut tree, s, set_acl("/a", world(ALL), 1)),
        ErrorCode::BadVersion
    );
    assert!(res(&mut tree, s, set_acl("/a", world(ALL), 0)).is_ok());
}

#[test]
fn check_checks_in_zookeepers_order() {
    let (mut tree, s) = setup();
    must_create(
        &mut tree,
        s,
        create_with("/locked", b"", locked(), CreateMode::Persistent, -1),
    );
    assert_eq!(err(&mut tree, s, check("/missing", 5)), ErrorCode::NoNode);
    assert_eq!(err(&mut tree, s, check("/locked", 5)), ErrorCode::NoAuth);
    assert_eq!(
        err(&mut tree, s, check("/locked/..", 5)),
        ErrorCode::BadArguments
    );
}

#[test]
fn reads_report_missing_nodes() {
    let (tree, _) = setup();
    assert_eq!(tree.get_data("/x", &[]), Err(ErrorCode::NoNode));
    assert_eq!(tree.get_children("/x", &[]), Err(ErrorCode::NoNode));
    assert_eq!(tree.get_acl("/x", &[]), Err(ErrorCode::NoNode));
    assert_eq!(
        tree.exists_checked("/x\0", &[]),
        Err(ErrorCode::BadArguments)
    );
}
