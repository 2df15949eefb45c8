//! Containers and TTL nodes, deleted at a Tick.

mod common;
use common::*;
use synod_coord::{Acl, CreateMode, ErrorCode, EventKind, Trigger};

#[test]
fn a_container_goes_once_its_last_child_does() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create_mode("/c", CreateMode::Container));
    tick(&mut tree, T0 + 1, 1);
    assert!(tree.exists("/c").is_some(), "a never-used container stays");
    must_create(&mut tree, s, create("/c/x", b""));
    tick(&mut tree, T0 + 2, 1);
    assert!(
        tree.exists("/c").is_some(),
        "a container with a child stays"
    );
    run(&mut tree, s, delete("/c/x", -1));
    tree.take_triggers();
    let before = tree.last_zxid();
    tick(&mut tree, T0 + 3, 1);
    assert!(tree.exists("/c").is_none());
    assert_eq!(tree.last_zxid(), before + 1);
    assert_eq!(stat(&tree, "/").pzxid, before + 1);
    assert_eq!(
        tree.take_triggers(),
        vec![
            Trigger::Node {
                path: "/c".into(),
                kind: EventKind::Deleted,
                zxid: before + 1,
                acl: world(31).into(),
            },
            Trigger::Node {
                path: "/".into(),
                kind: EventKind::ChildrenChanged,
                zxid: before + 1,
                acl: world(31).into(),
            },
        ]
    );
    assert_eq!(tree.container_count(), 0);
}

#[test]
fn nested_containers_go_one_level_per_tick() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create_mode("/c", CreateMode::Container));
    must_create(&mut tree, s, create_mode("/c/d", CreateMode::Container));
    must_create(&mut tree, s, create("/c/d/x", b""));
    run(&mut tree, s, delete("/c/d/x", -1));
    tick(&mut tree, T0 + 1, 1);
    assert!(tree.exists("/c/d").is_none());
    assert!(tree.exists("/c").is_some());
    tick(&mut tree, T0 + 2, 1);
    assert!(tree.exists("/c").is_none());
}

#[test]
fn a_ttl_node_goes_when_childless_and_unchanged_for_its_ttl() {
    let (mut tree, s) = setup();
    let t = |p: &str| {
        create_with(
            p,
            b"",
            Acl::open_unsafe(),
            CreateMode::PersistentWithTtl,
            1000,
        )
    };
    batch_at(&mut tree, s, &[], T0, vec![t("/t"), t("/u")]);
    must_create(&mut tree, s, create("/u/child", b""));
    tick(&mut tree, T0 + 1000, 1);
    assert!(
        tree.exists("/t").is_some(),
        "exactly the TTL is not past it"
    );
    // A setData moves mtime and so restarts the TTL.
    batch_at(&mut tree, s, &[], T0 + 500, vec![set_data("/t", b"x", -1)]);
    tick(&mut tree, T0 + 1001, 1);
    assert!(tree.exists("/t").is_some());
    tick(&mut tree, T0 + 1501, 1);
    assert!(tree.exists("/t").is_none());
    assert!(
        tree.exists("/u").is_some(),
        "a TTL node with children stays"
    );
    assert_eq!(tree.ttl_count(), 1);
}

#[test]
fn ttl_validation() {
    let (mut tree, s) = setup();
    let mk = |mode, ttl| create_with("/t", b"", Acl::open_unsafe(), mode, ttl);
    assert_eq!(
        err(&mut tree, s, mk(CreateMode::PersistentWithTtl, 0)),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(&mut tree, s, mk(CreateMode::PersistentWithTtl, -1)),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(
            &mut tree,
            s,
            mk(CreateMode::PersistentWithTtl, 0x100_0000_0000)
        ),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(&mut tree, s, mk(CreateMode::Persistent, 100)),
        ErrorCode::BadArguments
    );
    assert_eq!(
        err(&mut tree, s, mk(CreateMode::Ephemeral, 100)),
        ErrorCode::BadArguments
    );
    // The TTL check comes before everything else, even the path.
    assert_eq!(
        err(
            &mut tree,
            s,
            create_with("bad", b"", vec![], CreateMode::PersistentWithTtl, 0)
        ),
        ErrorCode::BadArguments
    );
    let (p, _) = must_create(
        &mut tree,
        s,
        mk(CreateMode::PersistentSequentialWithTtl, 0xff_ffff_ffff),
    );
    assert_eq!(p, "/t0000000000");
}
