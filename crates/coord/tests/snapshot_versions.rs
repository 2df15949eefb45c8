//! Snapshot versions: a version-2 snapshot (written before null data
//! existed) and a version-3 one (written before locks existed) still
//! restore; the current one (5) keeps null apart from empty and carries
//! the lock table and the caching sessions; a version-4 fixture (the
//! first with locks) still restores to the tree it was taken of.

mod common;
use common::*;
use synod_coord::{Acl, CoordOp, CreateMode, Id, Tree, Write};
use synod_paxos::StateMachine;

/// The log the version-2 fixture was written from (by the build before
/// version 3, `git show 1f3c893`): sessions, an ephemeral, a container,
/// a TTL node, ACLs, empty and non-empty data.
fn fixture_log() -> Vec<CoordOp> {
    let s0 = ((T0 as u64) << 24 >> 8) as i64;
    vec![
        CoordOp::Tick {
            time_ms: T0,
            term: 1,
        },
        CoordOp::CreateSession {
            passwd: vec![3; 16],
            timeout_ms: 4000,
            time_ms: T0,
        },
        CoordOp::Batch {
            session: s0,
            auth: vec![Id::new("ip", "127.0.0.1")],
            time_ms: T0 + 7,
            writes: vec![
                create("/app", b"cfg"),
                create("/app/empty", b""),
                create_mode("/app/c", CreateMode::Container),
                create_mode("/app/c/lock-", CreateMode::EphemeralSequential),
                create_with(
                    "/app/t",
                    b"ttl",
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
                set_data("/app", b"v2", 0),
            ],
        },
    ]
}

fn fixture_tree() -> Tree {
    tree_of(fixture_log())
}

/// The log the version-3 fixture was written from (by the build before
/// version 4, `git show 2f267d0`): the version-2 log's nodes under ACL
/// rules 3, with null data too.
fn fixture_log_v3() -> Vec<CoordOp> {
    let s0 = ((T0 as u64) << 24 >> 8) as i64;
    vec![
        CoordOp::Tick {
            time_ms: T0,
            term: 1,
        },
        CoordOp::CreateSession {
            passwd: vec![3; 16],
            timeout_ms: 4000,
            time_ms: T0,
        },
        CoordOp::RuledBatch {
            rules: 3,
            session: s0,
            auth: vec![Id::new("ip", "127.0.0.1")],
            time_ms: T0 + 7,
            writes: vec![
                create("/app", b"cfg"),
                create("/app/empty", b""),
                Write::create(
                    "/app/null".into(),
                    None,
                    Acl::open_unsafe(),
                    CreateMode::Persistent,
                    -1,
                ),
                create_mode("/app/c", CreateMode::Container),
                create_mode("/app/c/lock-", CreateMode::EphemeralSequential),
                create_with(
                    "/app/t",
                    b"ttl",
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
                set_data("/app", b"v2", 0),
            ],
        },
    ]
}

fn tree_of(log: Vec<CoordOp>) -> Tree {
    let mut tree = Tree::new();
    for op in log {
        apply(&mut tree, op);
    }
    tree
}

/// The bytes of a hex fixture.
fn unhex(hex: &str) -> Vec<u8> {
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The bytes of `tests/fixtures/snapshot_v2.hex`.
fn v2_fixture() -> Vec<u8> {
    unhex(include_str!("fixtures/snapshot_v2.hex"))
}

/// The bytes of `tests/fixtures/snapshot_v3.hex`.
fn v3_fixture() -> Vec<u8> {
    unhex(include_str!("fixtures/snapshot_v3.hex"))
}

#[test]
fn a_version_3_snapshot_restores_to_the_tree_it_was_taken_of() {
    let bytes = v3_fixture();
    assert_eq!(bytes[0], 3, "the fixture is a version-3 snapshot");
    let mut restored = Tree::new();
    restored
        .restore(&bytes.clone().into())
        .expect("a version-3 snapshot restores");
    let fresh = tree_of(fixture_log_v3());
    assert_eq!(restored.snapshot_data(), fresh.snapshot_data());
    assert_eq!(restored.digest(), fresh.digest());
    for p in [
        "/app",
        "/app/empty",
        "/app/null",
        "/app/ip",
        "/app/t",
        "/zookeeper/config",
    ] {
        assert_eq!(restored.get_data(p, &[]), fresh.get_data(p, &[]), "{p}");
    }
    assert_eq!(restored.get_data("/app/null", &[]).unwrap().0, None);
}

#[test]
fn a_version_2_snapshot_restores_to_the_tree_it_was_taken_of() {
    let bytes = v2_fixture();
    assert_eq!(bytes[0], 2, "the fixture is a version-2 snapshot");
    let mut restored = Tree::new();
    restored
        .restore(&bytes.clone().into())
        .expect("a version-2 snapshot restores");
    let fresh = fixture_tree();
    assert_eq!(restored.snapshot_data(), fresh.snapshot_data());
    assert_eq!(restored.digest(), fresh.digest());
    for p in [
        "/app",
        "/app/empty",
        "/app/ip",
        "/app/t",
        "/zookeeper/config",
    ] {
        assert_eq!(restored.get_data(p, &[]), fresh.get_data(p, &[]), "{p}");
    }
}

#[test]
fn the_current_snapshot_keeps_null_apart_from_empty() {
    let (mut tree, s) = setup();
    for w in [
        Write::create(
            "/null".into(),
            None,
            Acl::open_unsafe(),
            CreateMode::Persistent,
            -1,
        ),
        create("/empty", b""),
        create("/bytes", b"b"),
        create("/was-bytes", b"gone"),
        Write::set_data("/was-bytes".into(), None, 0),
    ] {
        res(&mut tree, s, w).expect("applies");
    }
    let bytes = tree.snapshot_data();
    assert_eq!(bytes.to_vec()[0], 5, "this build writes version 5");
    let mut back = Tree::new();
    back.restore(&bytes).expect("restores");
    assert_eq!(back.snapshot_data(), bytes);
    assert_eq!(back.digest(), tree.digest());
    for (p, want) in [
        ("/null", None),
        ("/empty", Some(Vec::new())),
        ("/bytes", Some(b"b".to_vec())),
        ("/was-bytes", None),
    ] {
        let (data, stat) = back.get_data(p, &[]).expect("present");
        assert_eq!(data, want, "{p}");
        assert_eq!(stat, tree.exists(p).expect("present"), "{p}");
    }
    assert_eq!(back.data_bytes(), tree.data_bytes());
}

#[test]
fn a_version_2_snapshot_restores_every_node_as_not_null() {
    let mut restored = Tree::new();
    restored.restore(&v2_fixture().into()).expect("restores");
    assert_eq!(
        restored.get_data("/app/empty", &[]).unwrap().0,
        Some(Vec::new())
    );
    assert_eq!(restored.get_data("/", &[]).unwrap().0, Some(Vec::new()));
    // Written again, it is version 5.
    assert_eq!(restored.snapshot_data().to_vec()[0], 5);
}

/// Holders in both modes, waiters, and a lock-delay running: `/x` held by
/// `a` and waited for by `b`; `/s` shared by `a` and `b`; `/d` under the
/// lock-delay of expired `e`, waited for by `b`.
fn tree_with_locks() -> (Tree, i64, i64) {
    use synod_coord::LockMode::{Exclusive, Shared};
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    let e = new_session(&mut tree);
    for p in ["/x", "/s", "/d"] {
        must_create(&mut tree, a, create(p, b""));
    }
    must_hold(&mut tree, a, "/x", Exclusive);
    acquire(&mut tree, b, "/x", Exclusive).expect("queues");
    must_hold(&mut tree, a, "/s", Shared);
    must_hold(&mut tree, b, "/s", Shared);
    acquire_with(&mut tree, e, "/d", Exclusive, 30_000, false).expect("granted");
    acquire(&mut tree, b, "/d", Shared).expect("queues");
    tick(&mut tree, T0 + 5_000, 1);
    apply(
        &mut tree,
        CoordOp::Touch {
            sessions: vec![a, b],
        },
    );
    tick(&mut tree, T0 + i64::from(TIMEOUT_MS), 1);
    assert!(tree.session(e).is_none(), "e expired");
    tree.check_lock_invariants().expect("invariants");
    (tree, a, b)
}

#[test]
fn the_current_snapshot_keeps_the_lock_table() {
    let (mut tree, a, _) = tree_with_locks();
    let bytes = tree.snapshot_data();
    assert_eq!(bytes.to_vec()[0], 5);
    let mut back = Tree::new();
    back.restore(&bytes).expect("restores");
    assert_eq!(back.snapshot_data(), bytes);
    assert_eq!(back.digest(), tree.digest());
    back.check_lock_invariants().expect("restored invariants");
    for p in ["/x", "/s", "/d"] {
        assert_eq!(back.lock_status(p, &[]), tree.lock_status(p, &[]), "{p}");
    }
    assert_eq!(back.lock_bytes(), tree.lock_bytes());
    // Both go on the same way: the queue, the delay and the generation
    // counter came through.
    let b = tree.lock_status("/x", &[]).expect("exists").waiters[0].0;
    let later = |t: &mut Tree| {
        let released = release(t, a, "/x");
        for step in 1..=6 {
            apply(
                t,
                CoordOp::Touch {
                    sessions: vec![a, b],
                },
            );
            tick(t, T0 + i64::from(TIMEOUT_MS) + step * 5_000, 1);
        }
        (released, granted(t))
    };
    let (r1, g1) = later(&mut tree);
    let (r2, g2) = later(&mut back);
    assert_eq!(r1, r2);
    assert_eq!(g1, g2);
    assert_eq!(g1.len(), 2, "b gets /x at once and /d after the delay");
    assert_eq!(back.digest(), tree.digest());
}

#[test]
fn the_digest_covers_the_lock_table() {
    let (mut tree, a) = setup();
    must_create(&mut tree, a, create("/l", b""));
    let unlocked = tree.clone();
    must_hold(&mut tree, a, "/l", synod_coord::LockMode::Exclusive);
    assert_ne!(tree.digest(), unlocked.digest(), "a holder");
    release(&mut tree, a, "/l").expect("held");
    assert_ne!(
        tree.digest(),
        unlocked.digest(),
        "the generation counter moved"
    );
}

#[test]
fn a_version_3_snapshot_restores_with_no_locks() {
    let mut restored = Tree::new();
    restored.restore(&v3_fixture().into()).expect("restores");
    assert_eq!(restored.lock_count(), 0);
    let s0 = restored.sessions().next().expect("one session").0;
    let seq = must_hold(&mut restored, s0, "/app", synod_coord::LockMode::Exclusive);
    assert_eq!(seq.generation, 1, "generations start at 1");
}

/// The bytes of `tests/fixtures/snapshot_v4.hex`, written by the first
/// build with locks from `tree_with_locks`.
fn v4_fixture() -> Vec<u8> {
    unhex(include_str!("fixtures/snapshot_v4.hex"))
}

#[test]
fn a_version_4_snapshot_restores_to_the_tree_it_was_taken_of() {
    let bytes = v4_fixture();
    assert_eq!(bytes[0], 4, "the fixture is a version-4 snapshot");
    let mut restored = Tree::new();
    restored
        .restore(&bytes.clone().into())
        .expect("a version-4 snapshot restores");
    let (fresh, _, _) = tree_with_locks();
    assert_eq!(restored.snapshot_data(), fresh.snapshot_data());
    assert_eq!(restored.digest(), fresh.digest());
    for p in ["/x", "/s", "/d"] {
        assert_eq!(
            restored.lock_status(p, &[]),
            fresh.lock_status(p, &[]),
            "{p}"
        );
    }
}

/// `CacheSession` marks a live session only, a session's end unmarks it,
/// and the mark is in the snapshot and the digest.
#[test]
fn caching_sessions_are_replicated_state() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    let plain = tree.clone();
    apply(&mut tree, CoordOp::CacheSession { session: a });
    apply(&mut tree, CoordOp::CacheSession { session: 0x7777 });
    assert_eq!(tree.caching_sessions().collect::<Vec<_>>(), vec![a]);
    assert_ne!(tree.digest(), plain.digest());
    let mut back = Tree::new();
    back.restore(&tree.snapshot_data()).expect("restores");
    assert_eq!(back.caching_sessions().collect::<Vec<_>>(), vec![a]);
    assert_eq!(back.digest(), tree.digest());
    apply(&mut tree, CoordOp::CacheSession { session: b });
    apply(&mut tree, CoordOp::CloseSession { session: a });
    assert_eq!(tree.caching_sessions().collect::<Vec<_>>(), vec![b]);
    tick(&mut tree, T0 + 10 * i64::from(TIMEOUT_MS), 1);
    assert_eq!(
        tree.caching_sessions().count(),
        0,
        "expired with its session"
    );
}
