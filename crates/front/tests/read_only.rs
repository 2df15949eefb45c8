//! Read-only mode's rules (`front/read_only.rs`): what a server cut off
//! from its leader serves, to whom, for how long, and how it ends.

mod common;

use common::{create, reply, session_of, Bench};
use synod_front::front::LEADERLESS_CLOSE_MS;
use synod_front::{is_read_only_session, Outgoing, ServingMode, ZkLimits};
use synod_zkproto as wire;
use wire::{ReplyKind, Request, Response};

const PEER: &str = "127.0.0.1:5001";
const TIMEOUT_MS: i32 = 10_000;

fn read_only_limits() -> ZkLimits {
    ZkLimits {
        read_only_mode: true,
        ..common::limits()
    }
}

/// A bench whose tree holds `/data` (created through a normal session),
/// with read-only mode on.
fn bench_with_data() -> Bench {
    let mut b = Bench::with_limits(read_only_limits());
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.send(conn, 1, create("/data", 0));
    b.commit();
    b.frames(conn);
    b
}

/// Steps the timer at `now_ms` with or without a leader.
fn timer(b: &mut Bench, now_ms: u64, has_leader: bool) {
    b.front.set_clock(now_ms, 1_000_000 + now_ms as i64);
    b.front.on_timer(&b.tree, None, has_leader);
    b.sent.extend(b.front.take_output());
}

/// Loses the leader at 1 s and lets the bound pass: the server is cut off
/// at the returned time.
fn cut_off(b: &mut Bench) -> u64 {
    timer(b, 1_000, false);
    let at = 1_000 + LEADERLESS_CLOSE_MS;
    timer(b, at, false);
    // Keepalives of the normal sessions before: no log takes them now.
    b.front.take_proposals();
    at
}

fn open(
    b: &mut Bench,
    read_only: Option<bool>,
    session_id: i64,
    passwd: Vec<u8>,
) -> Result<u64, String> {
    let connect = wire::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: TIMEOUT_MS,
        session_id,
        passwd,
        read_only,
    };
    let conn = b
        .front
        .open(&b.tree, connect, PEER.parse().unwrap(), vec![7; 16], None)?;
    b.sent.extend(b.front.take_output());
    Ok(conn)
}

fn closed(frames: &[Outgoing]) -> Option<&str> {
    frames.iter().find_map(|f| match f {
        Outgoing::Close(reason) => Some(reason.as_str()),
        _ => None,
    })
}

#[test]
fn a_read_only_connect_while_cut_off_gets_a_local_read_only_session() {
    let mut b = bench_with_data();
    let sessions_before = b.tree.session_count();
    cut_off(&mut b);
    assert_eq!(b.front.serving_mode(), ServingMode::ReadOnly);
    let conn = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    let response = session_of(&mut b, conn);
    assert_eq!(response.read_only, Some(true));
    assert_eq!(response.timeout_ms, TIMEOUT_MS);
    assert_eq!(response.passwd, vec![7; 16]);
    assert!(
        is_read_only_session(response.session_id),
        "{:#x}",
        response.session_id
    );
    // Never in the log: nothing proposed, the tree's sessions unchanged.
    assert!(b.front.take_proposals().is_empty());
    assert_eq!(b.tree.session_count(), sessions_before);
    assert_eq!(b.front.read_only_sessions(), 1);
}

#[test]
fn a_read_only_session_reads_the_local_tree_and_its_writes_get_not_read_only() {
    let mut b = bench_with_data();
    cut_off(&mut b);
    let conn = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    b.frames(conn);
    b.send(
        conn,
        1,
        Request::GetData {
            path: "/data".into(),
            watch: true,
        },
    );
    b.send(conn, 2, create("/fred", 0));
    b.send(conn, 3, Request::Sync { path: "/".into() });
    b.send(
        conn,
        4,
        Request::SetData {
            path: "/data".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        },
    );
    b.send(conn, 5, Request::Ping);
    b.send(
        conn,
        6,
        Request::GetChildren2 {
            path: "/".into(),
            watch: false,
        },
    );
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 6, "{frames:?}");
    let (h, body) = reply(&frames[0], ReplyKind::GetData);
    assert_eq!((h.xid, h.err), (1, 0));
    assert!(
        matches!(body, Response::GetData { ref data, .. } if data.as_deref() == Some(&b"d"[..]))
    );
    for (frame, xid) in frames[1..4].iter().zip(2..) {
        let (h, _) = reply(frame, ReplyKind::Create);
        assert_eq!((h.xid, h.err), (xid, wire::err::NOT_READ_ONLY));
    }
    assert_eq!(reply(&frames[4], ReplyKind::Empty).0.err, 0);
    let (h, body) = reply(&frames[5], ReplyKind::GetChildren2);
    assert_eq!(h.err, 0);
    assert!(
        matches!(body, Response::GetChildren2 { ref children, .. } if children.contains(&"data".to_string()))
    );
    assert!(
        b.front.take_proposals().is_empty(),
        "a read-only session proposes nothing"
    );
    assert!(b.tree.exists("/fred").is_none());
}

#[test]
fn a_normal_connect_while_cut_off_is_refused_as_without_read_only_mode() {
    let mut b = bench_with_data();
    cut_off(&mut b);
    for read_only in [None, Some(false)] {
        let refused = open(&mut b, read_only, 0, vec![0; 16]).unwrap_err();
        assert!(refused.contains("no leader"), "{refused}");
    }
    // Without read-only mode even a read-only client is refused, and the
    // server says it serves nobody.
    let mut off = Bench::new();
    cut_off(&mut off);
    assert_eq!(off.front.serving_mode(), ServingMode::NotServing);
    let refused = open(&mut off, Some(true), 0, vec![0; 16]).unwrap_err();
    assert!(refused.contains("no leader"), "{refused}");
}

#[test]
fn a_normal_connection_is_closed_when_the_server_is_cut_off_and_a_read_only_one_is_not() {
    let mut b = bench_with_data();
    let normal = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(normal);
    let at = cut_off(&mut b);
    assert!(closed(&b.frames(normal)).is_some());
    let ro = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    b.frames(ro);
    timer(&mut b, at + 1_000, false);
    assert!(b.frames(ro).is_empty(), "the read-only connection stays");
}

#[test]
fn a_replicated_session_cannot_reconnect_to_a_read_only_server() {
    let mut b = bench_with_data();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    let session = session_of(&mut b, conn);
    cut_off(&mut b);
    let refused = open(&mut b, Some(true), session.session_id, session.passwd).unwrap_err();
    assert!(refused.contains("cannot be renewed"), "{refused}");
}

#[test]
fn a_read_only_session_expires_after_its_timeout_without_requests() {
    let mut b = bench_with_data();
    let at = cut_off(&mut b);
    let conn = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    let session = session_of(&mut b, conn);
    // A ping halfway keeps it past its first deadline.
    b.front.set_clock(at + 5_000, 0);
    b.send(conn, 1, Request::Ping);
    b.frames(conn);
    timer(&mut b, at + TIMEOUT_MS as u64 + 1_000, false);
    assert!(b.frames(conn).is_empty(), "a pinged session lives on");
    timer(&mut b, at + 5_000 + TIMEOUT_MS as u64, false);
    let frames = b.frames(conn);
    assert_eq!(closed(&frames), Some("the read-only session expired"));
    assert_eq!(b.front.read_only_sessions(), 0);
    // Reconnecting it finds it expired.
    let again = open(&mut b, Some(true), session.session_id, session.passwd).unwrap();
    let response = session_of(&mut b, again);
    assert_eq!(response.timeout_ms, 0);
}

#[test]
fn a_read_only_session_reconnects_on_a_new_connection_with_its_password() {
    let mut b = bench_with_data();
    cut_off(&mut b);
    let first = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    let session = session_of(&mut b, first);
    let wrong = open(&mut b, Some(true), session.session_id, vec![1; 16]).unwrap();
    assert_eq!(
        session_of(&mut b, wrong).timeout_ms,
        0,
        "a wrong password is an unknown session"
    );
    let second = open(
        &mut b,
        Some(true),
        session.session_id,
        session.passwd.clone(),
    )
    .unwrap();
    let response = session_of(&mut b, second);
    assert_eq!(
        (response.session_id, response.read_only),
        (session.session_id, Some(true))
    );
    assert!(
        closed(&b.frames(first)).is_some(),
        "the stale connection is closed"
    );
}

#[test]
fn closing_a_read_only_session_proposes_nothing() {
    let mut b = bench_with_data();
    cut_off(&mut b);
    let conn = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    b.frames(conn);
    b.send(conn, 1, Request::CloseSession);
    let frames = b.frames(conn);
    assert_eq!(reply(&frames[0], ReplyKind::Empty).0.err, 0);
    assert!(closed(&frames).is_some());
    assert!(b.front.take_proposals().is_empty());
    assert_eq!(b.front.read_only_sessions(), 0);
}

#[test]
fn when_a_leader_returns_read_only_connections_are_closed_and_clients_served_normally() {
    let mut b = bench_with_data();
    let at = cut_off(&mut b);
    let ro = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    let session = session_of(&mut b, ro);
    timer(&mut b, at + 100, true);
    assert_eq!(b.front.serving_mode(), ServingMode::ReadWrite);
    assert!(closed(&b.frames(ro)).is_some());
    assert_eq!(b.front.read_only_sessions(), 0);
    // The read-only session is unknown to a read-write server.
    let again = open(&mut b, Some(true), session.session_id, session.passwd).unwrap();
    b.commit();
    assert_eq!(session_of(&mut b, again).timeout_ms, 0);
    // A normal client is served again.
    let normal = b.connect(0, vec![0; 16], 0).unwrap();
    let response = session_of(&mut b, normal);
    assert!(response.session_id != 0 && !is_read_only_session(response.session_id));
}

#[test]
fn a_read_only_client_on_a_healthy_server_gets_a_normal_session() {
    let mut b = Bench::with_limits(read_only_limits());
    timer(&mut b, 1_000, true);
    let conn = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    b.commit();
    let response = session_of(&mut b, conn);
    assert_eq!(response.read_only, Some(false));
    assert!(!is_read_only_session(response.session_id));
    assert!(
        b.tree.session(response.session_id).is_some(),
        "a replicated session"
    );
    b.send(conn, 1, create("/w", 0));
    b.commit();
    assert_eq!(reply(&b.frames(conn)[0], ReplyKind::Create).0.err, 0);
}

#[test]
fn read_only_sessions_are_bounded_by_connections_max() {
    let mut b = Bench::with_limits(ZkLimits {
        connections_max: 2,
        ..read_only_limits()
    });
    cut_off(&mut b);
    let first = open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    open(&mut b, Some(true), 0, vec![0; 16]).unwrap();
    // A session outlives its connection until its timeout.
    b.front.on_closed(first);
    let refused = open(&mut b, Some(true), 0, vec![0; 16]).unwrap_err();
    assert!(refused.contains("read-only sessions"), "{refused}");
}
