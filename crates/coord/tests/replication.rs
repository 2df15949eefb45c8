//! Determinism: snapshot/restore, digests, triggers, and two replicas fed
//! the same log.

mod common;
use common::*;
use synod_coord::{Acl, CoordOp, CreateMode, EventKind, Id, Tree, Trigger, Write};
use synod_paxos::{SnapshotData, StateMachine};

/// A log exercising every op kind.
fn log() -> Vec<CoordOp> {
    let mut ops = vec![CoordOp::Tick {
        time_ms: T0,
        term: 1,
    }];
    for i in 0..3 {
        ops.push(CoordOp::CreateSession {
            passwd: vec![i; 16],
            timeout_ms: 4000,
            time_ms: T0,
        });
    }
    let s0 = ((T0 as u64) << 24 >> 8) as i64;
    let batch = |session, writes| CoordOp::Batch {
        session,
        auth: vec![Id::new("ip", "127.0.0.1")],
        time_ms: T0 + 7,
        writes,
    };
    ops.push(batch(
        s0,
        vec![
            create("/app", b"cfg"),
            create_mode("/app/c", CreateMode::Container),
            create_mode("/app/c/lock-", CreateMode::EphemeralSequential),
            create_with(
                "/app/t",
                b"",
                Acl::open_unsafe(),
                CreateMode::PersistentWithTtl,
                1500,
            ),
            create_with(
                "/app/ip",
                b"",
                vec![Acl::new(31, "ip", "127.0.0.0/8")],
                CreateMode::Persistent,
                -1,
            ),
        ],
    ));
    ops.push(batch(
        s0 + 1,
        vec![
            Write::Multi(vec![
                create("/m", b""),
                create_mode("/m/e", CreateMode::Ephemeral),
                set_data("/app", b"v2", 0),
            ]),
            Write::Multi(vec![create("/z", b""), delete("/nope", -1)]),
            set_acl("/app/ip", vec![Acl::new(1, "world", "anyone")], 0),
            delete("/app", -1),
            Write::Sync { path: "/".into() },
        ],
    ));
    ops.push(CoordOp::Touch {
        sessions: vec![s0, s0 + 1],
    });
    ops.push(CoordOp::Tick {
        time_ms: T0 + 3000,
        term: 1,
    });
    ops.push(CoordOp::CloseSession { session: s0 });
    ops.push(CoordOp::Tick {
        time_ms: T0 + 5000,
        term: 2,
    });
    ops.push(CoordOp::Tick {
        time_ms: T0 + 20000,
        term: 2,
    });
    ops
}

fn replay(ops: &[CoordOp]) -> (Tree, Vec<Vec<u8>>) {
    let mut t = Tree::new();
    let replies = ops.iter().map(|op| t.apply(&op.encode())).collect();
    (t, replies)
}

#[test]
fn two_replicas_fed_the_same_log_agree_after_every_op() {
    let ops = log();
    let mut a = Tree::new();
    let mut b = Tree::new();
    for op in &ops {
        let (ra, rb) = (a.apply(&op.encode()), b.apply(&op.encode()));
        assert_eq!(ra, rb);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.take_triggers(), b.take_triggers());
    }
    assert_eq!(a.snapshot_data(), b.snapshot_data());
    // The log did things: sessions expired, the container and TTL went.
    assert_eq!(a.session_count(), 0);
    assert!(a.exists("/app/c").is_none() && a.exists("/app/t").is_none());
}

#[test]
fn digest_changes_with_state() {
    let (mut tree, s) = setup();
    let d0 = tree.digest();
    must_create(&mut tree, s, create("/a", b""));
    let d1 = tree.digest();
    assert_ne!(d0, d1);
    run(&mut tree, s, set_data("/a", b"x", -1));
    assert_ne!(tree.digest(), d1);
}

#[test]
fn snapshot_restore_gives_an_equal_digest_and_equal_answers() {
    let ops = log();
    for cut in [4, 6, 8, ops.len()] {
        let (mut a, _) = replay(&ops[..cut]);
        let mut b = Tree::new();
        b.restore(&a.snapshot_data()).unwrap();
        assert_eq!(a.digest(), b.digest());
        for p in [
            "/",
            "/app",
            "/app/c",
            "/app/ip",
            "/m",
            "/m/e",
            "/zookeeper/config",
        ] {
            assert_eq!(a.exists(p), b.exists(p), "{p}");
            assert_eq!(a.get_data(p, &[]), b.get_data(p, &[]), "{p}");
            assert_eq!(a.get_children(p, &[]), b.get_children(p, &[]), "{p}");
            assert_eq!(a.get_acl(p, &[]), b.get_acl(p, &[]), "{p}");
        }
        assert_eq!(a.ephemeral_count(), b.ephemeral_count());
        assert_eq!(a.data_bytes(), b.data_bytes());
        assert_eq!(a.last_zxid(), b.last_zxid());
        assert_eq!(a.now_ms(), b.now_ms());
        assert_eq!(
            a.sessions().collect::<Vec<_>>(),
            b.sessions().collect::<Vec<_>>()
        );
        // And both continue identically, triggers included.
        a.take_triggers();
        for op in &ops[cut..] {
            assert_eq!(a.apply(&op.encode()), b.apply(&op.encode()));
            assert_eq!(a.take_triggers(), b.take_triggers());
        }
        assert_eq!(a.digest(), b.digest());
    }
}

#[test]
fn restore_refuses_garbage_and_apply_ignores_it() {
    let mut t = Tree::new();
    assert!(t.restore(&SnapshotData::new()).is_err());
    assert!(t.restore(&vec![99, 1, 2].into()).is_err());
    assert!(t.restore(&vec![1, 1, 2].into()).is_err());
    let d = t.digest();
    assert!(t.apply(&[0xff, 0xff, 0xff, 0xff, 0xff]).is_empty());
    assert_eq!(t.digest(), d);
}

#[test]
fn triggers_for_create_delete_set_data_and_close() {
    let (mut tree, s) = setup();
    tree.take_triggers();
    let n = |p: &str, kind, zxid| Trigger::Node {
        path: p.into(),
        kind,
        zxid,
        acl: world(31).into(),
    };
    let z = run(&mut tree, s, create("/a", b"")).zxid;
    assert_eq!(
        tree.take_triggers(),
        vec![
            n("/a", EventKind::Created, z),
            n("/", EventKind::ChildrenChanged, z)
        ]
    );
    let z = run(&mut tree, s, create_mode("/a/e", CreateMode::Ephemeral)).zxid;
    assert_eq!(
        tree.take_triggers(),
        vec![
            n("/a/e", EventKind::Created, z),
            n("/a", EventKind::ChildrenChanged, z)
        ]
    );
    let z = run(&mut tree, s, set_data("/a", b"x", -1)).zxid;
    assert_eq!(
        tree.take_triggers(),
        vec![n("/a", EventKind::DataChanged, z)]
    );
    run(&mut tree, s, set_acl("/a", world(31), -1));
    run(&mut tree, s, check("/a", -1));
    run(&mut tree, s, delete("/missing", -1));
    assert!(
        tree.take_triggers().is_empty(),
        "setACL, check and failures fire nothing"
    );
    let z = close(&mut tree, s);
    assert_eq!(
        tree.take_triggers(),
        vec![
            n("/a/e", EventKind::Deleted, z),
            n("/a", EventKind::ChildrenChanged, z),
            Trigger::SessionClosed {
                session: s,
                zxid: z
            },
        ]
    );
    let s2 = new_session(&mut tree);
    let z = run(&mut tree, s2, delete("/a", -1)).zxid;
    assert_eq!(
        tree.take_triggers(),
        vec![
            n("/a", EventKind::Deleted, z),
            n("/", EventKind::ChildrenChanged, z)
        ]
    );
    assert!(tree.take_triggers().is_empty(), "draining empties");
}

#[test]
fn triggers_are_not_state() {
    let (mut a, s) = setup();
    let mut b = a.clone();
    run(&mut a, s, create("/x", b""));
    run(&mut b, s, create("/x", b""));
    a.take_triggers();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.snapshot_data(), b.snapshot_data());
}
