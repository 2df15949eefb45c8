//! Sequential names: the parent's stored cversion (its child creates) as
//! %010d.

mod common;
use common::*;
use synod_coord::{CreateMode, ErrorCode};

#[test]
fn suffix_is_the_parents_create_count_zero_padded() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/q", b""));
    let (p0, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/n-", CreateMode::PersistentSequential),
    );
    let (p1, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/n-", CreateMode::EphemeralSequential),
    );
    assert_eq!(p0, "/q/n-0000000000");
    assert_eq!(p1, "/q/n-0000000001");
    must_create(&mut tree, s, create("/q/plain", b""));
    let (p3, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/x", CreateMode::PersistentSequential),
    );
    assert_eq!(p3, "/q/x0000000003");
}

#[test]
fn deletes_do_not_reuse_suffixes() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/q", b""));
    let (p0, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/n", CreateMode::PersistentSequential),
    );
    run(&mut tree, s, delete(&p0, -1));
    let (p1, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/n", CreateMode::PersistentSequential),
    );
    // The stored cversion counts creates only; a delete does not move it.
    assert_eq!(p1, "/q/n0000000001");
    assert_eq!(
        stat(&tree, "/q").cversion,
        3,
        "reported cversion counts the delete"
    );
}

#[test]
fn sequential_name_may_end_in_a_slash() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/q", b""));
    let (p, _) = must_create(
        &mut tree,
        s,
        create_mode("/q/", CreateMode::PersistentSequential),
    );
    assert_eq!(p, "/q/0000000000");
    // A plain create of the same path is not a valid path.
    assert_eq!(
        err(&mut tree, s, create("/q/", b"")),
        ErrorCode::BadArguments
    );
}

#[test]
fn sequential_under_root_counts_from_the_roots_creates() {
    let (mut tree, s) = setup();
    let (p, _) = must_create(
        &mut tree,
        s,
        create_mode("/s", CreateMode::PersistentSequential),
    );
    // The root's stored cversion starts at 0 although /zookeeper exists.
    assert_eq!(p, "/s0000000000");
}

#[test]
fn sequential_collision_is_node_exists() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/q", b""));
    must_create(&mut tree, s, create("/q/n0000000001", b""));
    // cversion is now 1, so the next sequential name is taken.
    assert_eq!(
        err(
            &mut tree,
            s,
            create_mode("/q/n", CreateMode::PersistentSequential)
        ),
        ErrorCode::NodeExists
    );
}
