//! Sessions: ids, ephemerals through close and expiry, refresh, and the
//! full timeout a new leader grants.

mod common;
use common::*;
use synod_coord::{CoordOp, CoordReply, CreateMode, ErrorCode, EventKind, Tree, Trigger};

#[test]
fn session_ids_are_derived_from_time_distinct_and_nonzero() {
    let mut tree = Tree::new();
    let a = new_session(&mut tree);
    let b = new_session(&mut tree);
    assert_ne!(a, 0);
    assert_eq!(b, a + 1);
    assert_eq!(a, ((T0 as u64) << 24 >> 8) as i64);
    let mut other = Tree::new();
    let reply = apply(
        &mut other,
        CoordOp::CreateSession {
            passwd: vec![1],
            timeout_ms: 5,
            time_ms: T0 + 1,
        },
    );
    let CoordReply::Session {
        id,
        passwd,
        timeout_ms,
        zxid,
    } = reply
    else {
        panic!()
    };
    assert_ne!(id, a, "another incarnation starts elsewhere");
    assert_eq!((passwd, timeout_ms, zxid), (vec![1], 5, 1));
    let info = other.session(id).unwrap();
    assert_eq!((info.passwd, info.timeout_ms), (vec![1], 5));
    let mut zero = Tree::new();
    let reply = apply(
        &mut zero,
        CoordOp::CreateSession {
            passwd: vec![],
            timeout_ms: 5,
            time_ms: 0,
        },
    );
    assert!(matches!(reply, CoordReply::Session { id: 1, .. }));
}

#[test]
fn close_deletes_ephemerals_in_one_zxid_and_fires_their_triggers() {
    let (mut tree, s) = setup();
    let other = new_session(&mut tree);
    must_create(&mut tree, s, create("/p", b""));
    must_create(&mut tree, s, create_mode("/p/b", CreateMode::Ephemeral));
    must_create(&mut tree, s, create_mode("/p/a", CreateMode::Ephemeral));
    must_create(&mut tree, other, create_mode("/p/o", CreateMode::Ephemeral));
    assert_eq!(tree.ephemerals(s, "/"), vec!["/p/a", "/p/b"]);
    assert_eq!(tree.ephemerals(s, "/p/a"), vec!["/p/a"]);
    tree.take_triggers();
    let before = tree.last_zxid();
    let zxid = close(&mut tree, s);
    assert_eq!(zxid, before + 1);
    assert_eq!(tree.last_zxid(), zxid);
    assert!(tree.exists("/p/a").is_none() && tree.exists("/p/b").is_none());
    assert!(tree.exists("/p/o").is_some());
    assert!(tree.session(s).is_none());
    assert_eq!(stat(&tree, "/p").pzxid, zxid);
    let node = |path: &str, kind| Trigger::Node {
        path: path.into(),
        kind,
        zxid,
        acl: world(31).into(),
    };
    assert_eq!(
        tree.take_triggers(),
        vec![
            node("/p/a", EventKind::Deleted),
            node("/p", EventKind::ChildrenChanged),
            node("/p/b", EventKind::Deleted),
            node("/p", EventKind::ChildrenChanged),
            Trigger::SessionClosed { session: s, zxid },
        ]
    );
    // A closed session's writes fail without consuming a zxid.
    let out = run(&mut tree, s, create("/x", b""));
    assert_eq!(
        (out.result, out.zxid),
        (Err(ErrorCode::SessionExpired), zxid)
    );
    assert_eq!(tree.last_zxid(), zxid);
    // Closing again is a no-op.
    assert_eq!(close(&mut tree, s), zxid);
}

#[test]
fn unknown_session_writes_all_fail_with_session_expired() {
    let (mut tree, _) = setup();
    let z = tree.last_zxid();
    let out = batch_at(
        &mut tree,
        424242,
        &[],
        T0,
        vec![
            create("/a", b""),
            synod_coord::Write::Sync { path: "/".into() },
        ],
    );
    assert!(out
        .iter()
        .all(|o| o.result == Err(ErrorCode::SessionExpired) && o.zxid == z));
    assert!(tree.exists("/a").is_none());
}

#[test]
fn sessions_expire_at_a_tick_past_their_timeout_and_lose_ephemerals() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create_mode("/e", CreateMode::Ephemeral));
    tree.take_triggers();
    tick(&mut tree, T0 + i64::from(TIMEOUT_MS) - 1, 1);
    assert!(tree.session(s).is_some());
    let before = tree.last_zxid();
    tick(&mut tree, T0 + i64::from(TIMEOUT_MS), 1);
    assert!(tree.session(s).is_none());
    assert!(tree.exists("/e").is_none());
    assert_eq!(tree.last_zxid(), before + 1, "one zxid per expired session");
    let trig = tree.take_triggers();
    assert_eq!(
        trig.last(),
        Some(&Trigger::SessionClosed {
            session: s,
            zxid: before + 1
        })
    );
    assert_eq!(trig.len(), 3);
}

#[test]
fn touch_and_batches_refresh_from_log_time() {
    let (mut tree, s) = setup();
    let quiet = new_session(&mut tree);
    let half = i64::from(TIMEOUT_MS) / 2;
    tick(&mut tree, T0 + half, 1);
    apply(
        &mut tree,
        CoordOp::Touch {
            sessions: vec![s, 999],
        },
    );
    tick(&mut tree, T0 + 2 * half, 1);
    assert!(
        tree.session(quiet).is_none(),
        "an untouched session expires"
    );
    assert!(tree.session(s).is_some());
    run(&mut tree, s, synod_coord::Write::Sync { path: "/".into() });
    tick(&mut tree, T0 + 3 * half, 1);
    assert!(tree.session(s).is_some(), "a batch counts as activity");
    tick(&mut tree, T0 + 4 * half, 1);
    assert!(tree.session(s).is_none());
}

#[test]
fn a_new_term_gives_every_session_a_full_timeout() {
    let (mut tree, s) = setup();
    tick(&mut tree, T0 + i64::from(TIMEOUT_MS) - 10, 1);
    // A new leader ticks much later (a long election): nobody expires yet.
    let late = T0 + 3 * i64::from(TIMEOUT_MS);
    tick(&mut tree, late, 2);
    assert!(tree.session(s).is_some());
    assert_eq!(
        tree.session(s).unwrap().expires_at_ms,
        late + i64::from(TIMEOUT_MS)
    );
    tick(&mut tree, late + i64::from(TIMEOUT_MS) - 1, 2);
    assert!(tree.session(s).is_some());
    tick(&mut tree, late + i64::from(TIMEOUT_MS), 2);
    assert!(tree.session(s).is_none());
}

#[test]
fn log_time_never_goes_back() {
    let (mut tree, _) = setup();
    tick(&mut tree, T0 + 100, 1);
    tick(&mut tree, T0 + 50, 1);
    assert_eq!(tree.now_ms(), T0 + 100);
}

#[test]
fn ephemerals_cannot_have_children() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create_mode("/e", CreateMode::Ephemeral));
    assert_eq!(
        err(&mut tree, s, create("/e/c", b"")),
        ErrorCode::NoChildrenForEphemerals
    );
    assert_eq!(
        err(&mut tree, s, create_mode("/e/c", CreateMode::Ephemeral)),
        ErrorCode::NoChildrenForEphemerals
    );
}
