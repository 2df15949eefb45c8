//! The front door's rules, driven without sockets or a cluster: commands it
//! proposes are applied to a tree directly, as a one-node log would.

mod common;

use common::{create, reply, session_of, Bench};
use synod_front::{Outgoing, Pending};
use synod_paxos::Outcome;
use synod_zkproto as wire;
use wire::{ReplyKind, Request, Response};

#[test]
fn a_new_session_is_created_through_the_log_and_answered_with_its_id() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    let r = session_of(&mut b, conn);
    assert_ne!(r.session_id, 0);
    assert_eq!(r.passwd, vec![9; 16]);
    assert_eq!(r.timeout_ms, 10_000);
    assert_eq!(r.read_only, Some(false));
    assert!(b.tree.session(r.session_id).is_some());
}

#[test]
fn a_client_that_has_seen_more_than_this_server_is_refused() {
    let mut b = Bench::new();
    let err = b.connect(0, vec![0; 16], 99).unwrap_err();
    assert!(err.contains("has seen zxid"), "{err}");
}

#[test]
fn an_unknown_session_is_told_it_expired_and_closed() {
    let mut b = Bench::new();
    let conn = b.connect(0x1234, vec![1; 16], 0).unwrap();
    let frames = b.frames(conn);
    let Outgoing::Frame(bytes) = &frames[0] else {
        panic!()
    };
    let r = wire::decode_connect_response(&bytes[4..]).unwrap();
    assert_eq!((r.session_id, r.timeout_ms), (0, 0));
    assert!(matches!(frames[1], Outgoing::Close(_)));
}

#[test]
fn a_session_resumes_on_another_connection_with_its_password_only() {
    let mut b = Bench::new();
    let first = b.connect(0, vec![0; 16], 0).unwrap();
    let s = session_of(&mut b, first);
    let wrong = b.connect(s.session_id, vec![1; 16], 0).unwrap();
    assert!(matches!(b.frames(wrong)[1], Outgoing::Close(_)));
    let again = b.connect(s.session_id, s.passwd.clone(), 0).unwrap();
    assert_eq!(session_of(&mut b, again).session_id, s.session_id);
    // The older connection of the session is closed as stale.
    assert!(b
        .frames(first)
        .iter()
        .any(|f| matches!(f, Outgoing::Close(_))));
}

#[test]
fn reads_behind_a_write_wait_for_it_and_replies_keep_request_order() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/a", 0));
    b.send(
        conn,
        2,
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
    );
    b.send(conn, 3, Request::Ping);
    assert!(
        b.frames(conn).is_empty(),
        "nothing is answered before the write commits"
    );
    b.commit();
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 3);
    let (h1, r1) = reply(&frames[0], ReplyKind::Create);
    assert_eq!((h1.xid, h1.err), (1, 0));
    assert_eq!(r1, Response::Create { path: "/a".into() });
    let (h2, r2) = reply(&frames[1], ReplyKind::GetData);
    assert_eq!(h2.xid, 2);
    let Response::GetData { data, .. } = r2 else {
        panic!()
    };
    assert_eq!(data.as_deref(), Some(&b"d"[..]));
    assert_eq!(reply(&frames[2], ReplyKind::Empty).0.xid, 3);
}

#[test]
fn consecutive_writes_travel_as_one_command() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    let before = b.proposed;
    b.send(conn, 1, create("/a", 0));
    // The first write is in flight; the next three queue behind it and go
    // together when it is answered.
    for (xid, p) in [(2, "/b"), (3, "/c"), (4, "/d")] {
        b.send(conn, xid, create(p, 0));
    }
    b.commit();
    assert_eq!(b.proposed - before, 2);
    let xids: Vec<i32> = b
        .frames(conn)
        .iter()
        .map(|f| reply(f, ReplyKind::Create).0.xid)
        .collect();
    assert_eq!(xids, vec![1, 2, 3, 4]);
}

#[test]
fn a_watch_event_goes_out_before_the_reply_that_shows_the_change() {
    let mut b = Bench::new();
    let watcher = b.connect(0, vec![0; 16], 0).unwrap();
    let writer = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(watcher);
    b.frames(writer);
    b.send(writer, 1, create("/w", 0));
    b.commit();
    b.send(
        watcher,
        1,
        Request::GetData {
            path: "/w".into(),
            watch: true,
        },
    );
    b.send(
        watcher,
        2,
        Request::SetData {
            path: "/w".into(),
            data: Some(b"new".to_vec()),
            version: -1,
        },
    );
    b.commit();
    let frames = b.frames(watcher);
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(reply(&frames[0], ReplyKind::GetData).0.xid, 1);
    let (h, event) = reply(&frames[1], ReplyKind::Empty);
    assert_eq!(h.xid, wire::xid::WATCH_EVENT);
    assert_eq!(
        event,
        Response::WatchEvent(wire::WatcherEvent {
            event_type: wire::event_type::NODE_DATA_CHANGED,
            state: wire::keeper_state::SYNC_CONNECTED,
            path: "/w".into()
        })
    );
    assert_eq!(reply(&frames[2], ReplyKind::Stat).0.xid, 2);
}

#[test]
fn an_exists_watch_on_a_missing_node_fires_when_it_is_created() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(
        conn,
        1,
        Request::Exists {
            path: "/later".into(),
            watch: true,
        },
    );
    assert_eq!(
        reply(&b.frames(conn)[0], ReplyKind::Stat).0.err,
        wire::err::NO_NODE
    );
    b.send(conn, 2, create("/later", 0));
    b.commit();
    let frames = b.frames(conn);
    let (h, _) = reply(&frames[0], ReplyKind::Empty);
    assert_eq!(h.xid, wire::xid::WATCH_EVENT);
    assert_eq!(reply(&frames[1], ReplyKind::Create).0.xid, 2);
}

#[test]
fn closing_a_session_deletes_its_ephemerals_and_tells_watchers() {
    let mut b = Bench::new();
    let owner = b.connect(0, vec![0; 16], 0).unwrap();
    let watcher = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(owner);
    b.frames(watcher);
    b.send(owner, 1, create("/e", 1));
    b.commit();
    b.frames(owner);
    b.send(
        watcher,
        1,
        Request::Exists {
            path: "/e".into(),
            watch: true,
        },
    );
    b.frames(watcher);
    b.send(owner, 2, Request::CloseSession);
    b.commit();
    assert!(b.tree.exists("/e").is_none());
    let frames = b.frames(watcher);
    let (_, event) = reply(&frames[0], ReplyKind::Empty);
    let Response::WatchEvent(e) = event else {
        panic!()
    };
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (wire::event_type::NODE_DELETED, "/e")
    );
    let owner_frames = b.frames(owner);
    assert_eq!(reply(&owner_frames[0], ReplyKind::Empty).0.xid, 2);
    assert!(matches!(owner_frames[1], Outgoing::Close(_)));
}

#[test]
fn an_expired_sessions_connection_is_closed() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    // Only the leader advances log time; far past the timeout the session
    // expires.
    b.front.set_clock(10_000, 1_000_000 + 60_000);
    b.front.on_timer(&b.tree, Some(1), true);
    b.commit();
    b.front.set_clock(20_000, 1_000_000 + 120_000);
    b.front.on_timer(&b.tree, Some(1), true);
    b.commit();
    assert_eq!(b.tree.session_count(), 0);
    assert!(b
        .frames(conn)
        .iter()
        .any(|f| matches!(f, Outgoing::Close(_))));
}

/// Issue 11: a clock step of a minute on the leader expired every session
/// at once, when log time was the leader's wall clock.
#[test]
fn a_wall_clock_step_on_the_leader_neither_expires_sessions_nor_stops_log_time() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    let session = session_of(&mut b, conn).session_id;
    // The leader's first tick of its term; then its wall clock jumps a
    // minute ahead, six times the session timeout, half a second later.
    b.front.set_clock(500, 1_000_500);
    b.front.on_timer(&b.tree, Some(1), true);
    b.commit();
    let started = b.tree.now_ms();
    for step in 1..=8u64 {
        b.front
            .set_clock(500 + step * 500, 1_060_000 + step as i64 * 500);
        b.front.on_timer(&b.tree, Some(1), true);
        b.commit();
    }
    assert!(
        b.tree.session(session).is_some(),
        "the session expired on a wall-clock step (log time {} after {} ms of monotonic time)",
        b.tree.now_ms() - started,
        8 * 500
    );
    assert_eq!(
        b.tree.now_ms() - started,
        4_000,
        "log time follows the monotonic clock"
    );
    // A step back does not hold log time: with no keepalive the session
    // expires once its timeout has passed on the monotonic clock.
    for step in 9..=30u64 {
        b.front.set_clock(500 + step * 500, 900_000);
        b.front.on_timer(&b.tree, Some(1), true);
        b.commit();
    }
    assert!(
        b.tree.session(session).is_none(),
        "log time stopped on a step back"
    );
}

#[test]
fn active_sessions_are_touched_and_followers_never_tick() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.front.set_clock(1_500, 1_001_500);
    b.front.on_timer(&b.tree, None, true);
    let proposals = b.front.take_proposals();
    assert_eq!(proposals.len(), 1, "one touch, no tick on a follower");
    let op = synod_coord::CoordOp::decode(&proposals[0].op[1..]).unwrap();
    assert!(matches!(op, synod_coord::CoordOp::Touch { ref sessions } if sessions.len() == 1));
}

#[test]
fn an_unserved_opcode_is_answered_unimplemented_in_its_turn() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/x", 0));
    b.front.on_packet(
        &b.tree,
        conn,
        2,
        wire::op::SASL,
        Pending::Refuse(wire::err::UNIMPLEMENTED),
    );
    b.commit();
    let frames = b.frames(conn);
    assert_eq!(reply(&frames[0], ReplyKind::Create).0.xid, 1);
    let (h, _) = reply(&frames[1], ReplyKind::Empty);
    assert_eq!((h.xid, h.err), (2, wire::err::UNIMPLEMENTED));
}

#[test]
fn a_failed_multi_reports_every_op_and_changes_nothing() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(
        conn,
        1,
        Request::Multi(vec![
            create("/m1", 0),
            Request::Delete {
                path: "/missing".into(),
                version: -1,
            },
            create("/m2", 0),
        ]),
    );
    b.commit();
    let (h, body) = reply(&b.frames(conn)[0], ReplyKind::Multi);
    assert_eq!(h.err, 0);
    assert_eq!(
        body,
        Response::Multi(wire::MultiResult::aborted(3, 1, wire::err::NO_NODE))
    );
    assert!(b.tree.exists("/m1").is_none());
}

#[test]
fn a_server_without_a_leader_sends_its_clients_elsewhere() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.front.set_clock(1_000, 1_001_000);
    b.front.on_timer(&b.tree, None, false);
    b.sent.extend(b.front.take_output());
    assert!(b.frames(conn).is_empty(), "a short gap is tolerated");
    b.front.set_clock(
        1_000 + synod_front::front::LEADERLESS_CLOSE_MS,
        1_001_000 + synod_front::front::LEADERLESS_CLOSE_MS as i64,
    );
    b.front.on_timer(&b.tree, None, false);
    b.sent.extend(b.front.take_output());
    assert!(matches!(b.frames(conn)[0], Outgoing::Close(_)));
    let refused = b.connect(0, vec![0; 16], 0).unwrap_err();
    assert!(refused.contains("no leader"), "{refused}");
}

#[test]
fn a_write_whose_leader_stepped_down_is_proposed_again_with_the_same_seq() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/again", 0));
    let first = b.front.take_proposals();
    assert_eq!(first.len(), 1);
    let cmd = first[0].clone();
    b.front.on_reply(
        &b.tree,
        cmd.client,
        cmd.seq,
        &Outcome::NotLeader { leader: None },
    );
    let again = b.front.take_proposals();
    assert_eq!(again, vec![cmd.clone()]);
    // Applied once, answered once.
    b.apply(&again[0]);
    b.commit();
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 1);
    assert_eq!(reply(&frames[0], ReplyKind::Create).0.xid, 1);
}

#[test]
fn a_watcher_that_may_not_read_the_node_is_not_told() {
    let mut b = Bench::new();
    let owner = b.connect(0, vec![0; 16], 0).unwrap();
    let other = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(owner);
    b.frames(other);
    b.send(owner, 1, create("/private", 0));
    b.commit();
    b.send(
        other,
        1,
        Request::GetData {
            path: "/private".into(),
            watch: true,
        },
    );
    b.frames(other);
    // The owner locks the node to its ip... of another host, then deletes it.
    b.send(
        owner,
        2,
        Request::SetAcl {
            path: "/private".into(),
            acl: vec![wire::Acl {
                perms: wire::perms::ALL,
                id: wire::Id {
                    scheme: "ip".into(),
                    id: "10.0.0.1".into(),
                },
            }],
            version: -1,
        },
    );
    b.send(
        owner,
        3,
        Request::Delete {
            path: "/private".into(),
            version: -1,
        },
    );
    b.commit();
    assert!(b.tree.exists("/private").is_none());
    assert!(
        b.frames(other).is_empty(),
        "no NodeDeleted for a node the watcher may not read"
    );
}
