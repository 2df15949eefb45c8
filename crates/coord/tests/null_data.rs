//! Null data: ZooKeeper keeps a node whose data is null (`create(path,
//! null, ..)`, `setData(path, null, -1)`) apart from one whose data is
//! empty; getData returns null for it, and its Stat's dataLength is 0.

mod common;
use common::*;
use synod_coord::{Acl, CreateMode, ErrorCode, Write, WriteResult};
use synod_paxos::StateMachine;

fn create_null(path: &str) -> Write {
    Write::create(
        path.into(),
        None,
        Acl::open_unsafe(),
        CreateMode::Persistent,
        -1,
    )
}

fn set_null(path: &str, version: i32) -> Write {
    Write::set_data(path.into(), None, version)
}

fn data(tree: &synod_coord::Tree, path: &str) -> Option<Vec<u8>> {
    tree.get_data(path, &[]).expect("readable").0
}

#[test]
fn a_node_created_with_null_data_reads_back_null_with_data_length_zero() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create_null("/n"));
    must_create(&mut tree, s, create("/e", b""));
    assert_eq!(data(&tree, "/n"), None);
    assert_eq!(data(&tree, "/e"), Some(Vec::new()));
    assert_eq!(stat(&tree, "/n").data_length, 0);
    assert_eq!(stat(&tree, "/e").data_length, 0);
}

#[test]
fn set_data_moves_a_node_between_null_empty_and_bytes() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/a", b"abc"));
    assert!(matches!(
        res(&mut tree, s, set_null("/a", 0)),
        Ok(WriteResult::SetData { stat }) if stat.version == 1 && stat.data_length == 0
    ));
    assert_eq!(data(&tree, "/a"), None);
    res(&mut tree, s, set_data("/a", b"", 1)).expect("set empty");
    assert_eq!(data(&tree, "/a"), Some(Vec::new()));
    res(&mut tree, s, set_null("/a", -1)).expect("set null again");
    assert_eq!(data(&tree, "/a"), None);
    res(&mut tree, s, set_data("/a", b"xy", 3)).expect("set bytes");
    assert_eq!(data(&tree, "/a"), Some(b"xy".to_vec()));
    assert_eq!(stat(&tree, "/a").version, 4);
}

#[test]
fn null_data_obeys_the_checks_of_the_write_that_carries_it() {
    let (mut tree, s) = setup();
    assert_eq!(
        err(&mut tree, s, set_null("/missing", -1)),
        ErrorCode::NoNode
    );
    must_create(&mut tree, s, create_null("/n"));
    assert_eq!(err(&mut tree, s, create_null("/n")), ErrorCode::NodeExists);
    assert_eq!(err(&mut tree, s, set_null("/n", 7)), ErrorCode::BadVersion);
    let (seq, _) = must_create(
        &mut tree,
        s,
        Write::create(
            "/n/s-".into(),
            None,
            Acl::open_unsafe(),
            CreateMode::EphemeralSequential,
            -1,
        ),
    );
    assert_eq!(seq, "/n/s-0000000000");
    assert_eq!(data(&tree, &seq), None);
}

#[test]
fn a_multi_creates_and_sets_null_data_and_a_failed_one_keeps_it() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/a", b"abc"));
    let ok = res(
        &mut tree,
        s,
        Write::Multi(vec![create_null("/m"), set_null("/a", 0)]),
    );
    assert!(matches!(ok, Ok(WriteResult::Multi(Ok(_)))), "{ok:?}");
    assert_eq!((data(&tree, "/m"), data(&tree, "/a")), (None, None));

    // The setData to bytes is taken back when the delete fails: null again.
    let failed = res(
        &mut tree,
        s,
        Write::Multi(vec![set_data("/a", b"bytes", 1), delete("/nope", -1)]),
    );
    assert!(
        matches!(failed, Ok(WriteResult::Multi(Err((1, ErrorCode::NoNode))))),
        "{failed:?}"
    );
    assert_eq!(data(&tree, "/a"), None);
    assert_eq!(stat(&tree, "/a").version, 1);
}

#[test]
fn null_data_counts_no_bytes() {
    let (mut tree, s) = setup();
    let before = tree.data_bytes();
    must_create(&mut tree, s, create_null("/n"));
    assert_eq!(tree.data_bytes(), before + 2);
    res(&mut tree, s, set_data("/n", b"four", -1)).expect("set");
    assert_eq!(tree.data_bytes(), before + 6);
    res(&mut tree, s, set_null("/n", -1)).expect("set null");
    assert_eq!(tree.data_bytes(), before + 2);
}

#[test]
fn replicas_that_differ_only_in_null_against_empty_have_different_digests() {
    let (mut null, s) = setup();
    let (mut empty, t) = setup();
    must_create(&mut null, s, create_null("/x"));
    must_create(&mut empty, t, create("/x", b""));
    assert_eq!(stat(&null, "/x"), stat(&empty, "/x"));
    assert_ne!(null.digest(), empty.digest());
    assert_ne!(null.snapshot_data(), empty.snapshot_data());
}
