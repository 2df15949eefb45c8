//! multi: atomic, ordered, one zxid, first failure reported by index.

mod common;
use common::*;
use synod_coord::{CreateMode, ErrorCode, Write, WriteResult};
use synod_paxos::StateMachine;

#[test]
fn success_applies_everything_in_order_at_one_zxid() {
    let (mut tree, s) = setup();
    let z = tree.last_zxid();
    let out = run(
        &mut tree,
        s,
        Write::Multi(vec![
            create("/m", b"a"),
            set_data("/m", b"bb", 0),
            create_mode("/m/s", CreateMode::PersistentSequential),
            check("/m", 1),
            delete("/m/s0000000000", 0),
        ]),
    );
    assert_eq!(out.zxid, z + 1);
    assert_eq!(tree.last_zxid(), z + 1);
    let Ok(WriteResult::Multi(Ok(results))) = out.result else {
        panic!("{out:?}")
    };
    assert_eq!(results.len(), 5);
    let WriteResult::Created { path, stat } = &results[0] else {
        panic!()
    };
    assert_eq!((path.as_str(), stat.version, stat.czxid), ("/m", 0, z + 1));
    let WriteResult::SetData { stat } = &results[1] else {
        panic!()
    };
    assert_eq!((stat.version, stat.mzxid), (1, z + 1));
    assert!(matches!(&results[2], WriteResult::Created { path, .. } if path == "/m/s0000000000"));
    assert_eq!(results[3], WriteResult::Checked);
    assert_eq!(results[4], WriteResult::Deleted);
    let m = stat_of(&tree, "/m");
    assert_eq!(
        (m.version, m.cversion, m.num_children, m.pzxid),
        (1, 2, 0, z + 1)
    );
}

fn stat_of(tree: &synod_coord::Tree, p: &str) -> synod_coord::Stat {
    stat(tree, p)
}

#[test]
fn failure_reports_the_first_failing_index_and_changes_nothing() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/keep", b"k"));
    must_create(&mut tree, s, create_mode("/eph", CreateMode::Ephemeral));
    tree.take_triggers();
    let snap = tree.snapshot_data();
    let digest = tree.digest();
    let counts = (tree.node_count(), tree.ephemeral_count(), tree.data_bytes());
    let z = tree.last_zxid();
    let out = run(
        &mut tree,
        s,
        Write::Multi(vec![
            create("/n", b"x"),
            set_data("/keep", b"changed", -1),
            delete("/eph", -1),
            create_mode("/n/s", CreateMode::EphemeralSequential),
            set_data("/keep", b"again", 5),
            create("/never", b""),
        ]),
    );
    assert_eq!(out.zxid, z + 1, "a failed multi still consumes its zxid");
    assert_eq!(
        out.result,
        Ok(WriteResult::Multi(Err((4, ErrorCode::BadVersion))))
    );
    assert_eq!(tree.last_zxid(), z + 1);
    assert!(
        tree.take_triggers().is_empty(),
        "a failed multi fires nothing"
    );
    assert_eq!(
        (tree.node_count(), tree.ephemeral_count(), tree.data_bytes()),
        counts
    );
    assert_eq!(
        tree.get_data("/keep", &[]).unwrap().0.as_deref(),
        Some(&b"k"[..])
    );
    assert!(tree.exists("/eph").is_some() && tree.exists("/n").is_none());
    // Everything but the zxid counter is as before: the same as a tree
    // where a plain failing write took the multi's place.
    let mut twin = synod_coord::Tree::new();
    twin.restore(&snap).unwrap();
    assert_eq!(twin.digest(), digest);
    assert_eq!(err(&mut twin, s, check("/missing", -1)), ErrorCode::NoNode);
    assert_eq!(twin.digest(), tree.digest());
    assert_eq!(tree.exists("/"), twin.exists("/"));
}

#[test]
fn a_later_op_sees_an_earlier_delete() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/a", b""));
    let out = res(
        &mut tree,
        s,
        Write::Multi(vec![delete("/a", -1), check("/a", -1)]),
    );
    assert_eq!(out, Ok(WriteResult::Multi(Err((1, ErrorCode::NoNode)))));
    assert!(tree.exists("/a").is_some());
}

#[test]
fn an_empty_multi_succeeds_and_nesting_is_refused() {
    let (mut tree, s) = setup();
    assert_eq!(
        res(&mut tree, s, Write::Multi(vec![])),
        Ok(WriteResult::Multi(Ok(vec![])))
    );
    let nested = Write::Multi(vec![create("/a", b""), Write::Multi(vec![])]);
    assert_eq!(
        res(&mut tree, s, nested),
        Ok(WriteResult::Multi(Err((1, ErrorCode::BadArguments))))
    );
    assert!(tree.exists("/a").is_none());
}

#[test]
fn multi_triggers_fire_in_op_order_on_success() {
    let (mut tree, s) = setup();
    tree.take_triggers();
    let out = run(
        &mut tree,
        s,
        Write::Multi(vec![create("/a", b""), set_data("/a", b"x", -1)]),
    );
    let z = out.zxid;
    use synod_coord::{EventKind::*, Trigger};
    let n = |p: &str, kind| Trigger::Node {
        path: p.into(),
        kind,
        zxid: z,
        acl: world(31).into(),
    };
    assert_eq!(
        tree.take_triggers(),
        vec![
            n("/a", Created),
            n("/", ChildrenChanged),
            n("/a", DataChanged)
        ]
    );
}
