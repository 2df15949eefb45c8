//! The byte budget of one log command (issue 10, finding 2): the front door
//! never builds a command the log would refuse, whatever a client sends.

mod common;

use common::{create, limits, reply, Bench};
use synod_coord::CoordOp;
use synod_front::budget::{self, AUTH_BYTES_MAX, AUTH_IDS_MAX, COMMAND_BYTES_MIN};
use synod_front::Outgoing;
use synod_zkproto as wire;
use wire::{ReplyKind, Request, Response};

fn set_data(path: &str, bytes: usize, fill: u8) -> Request {
    Request::SetData {
        path: path.into(),
        data: Some(vec![fill; bytes]),
        version: -1,
    }
}

fn get_data(path: &str) -> Request {
    Request::GetData {
        path: path.into(),
        watch: false,
    }
}

fn digest(user: &str) -> Request {
    Request::Auth {
        auth_type: 0,
        scheme: "digest".into(),
        auth: format!("{user}:secret").into_bytes(),
    }
}

/// Writes per applied `Batch` command, in apply order.
fn batch_sizes(b: &Bench) -> Vec<usize> {
    b.applied
        .iter()
        .filter_map(|cmd| {
            CoordOp::decode(&cmd.op[1..])
                .unwrap()
                .batch_writes()
                .map(<[_]>::len)
        })
        .collect()
}

fn assert_within_budget(b: &Bench, bytes_max: usize) {
    for cmd in &b.applied {
        assert!(
            cmd.op.len() <= bytes_max,
            "a {}-byte command over the {bytes_max}-byte budget",
            cmd.op.len()
        );
    }
}

/// Error code and xid of each reply on `conn`, in order.
fn reply_codes(b: &mut Bench, conn: u64) -> Vec<(i32, i32)> {
    b.frames(conn)
        .iter()
        .map(|f| {
            let (h, _) = reply(f, ReplyKind::Empty);
            (h.xid, h.err)
        })
        .collect()
}

#[test]
fn batching_stops_at_the_byte_budget() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/n", 0));
    // Four writes of 1,000,000 bytes queue behind the one in flight: the
    // old front door sent them as one 4 MB command.
    for xid in 2..=5 {
        b.send(conn, xid, set_data("/n", 1_000_000, xid as u8));
    }
    b.commit();
    let bytes_max = budget::COMMAND_BYTES_MAX_DEFAULT;
    assert_within_budget(&b, bytes_max);
    assert_eq!(
        batch_sizes(&b),
        vec![1, 2, 2],
        "two such writes fit 2 MiB, three do not"
    );
    let codes = reply_codes(&mut b, conn);
    assert_eq!(codes, vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
    assert_eq!(
        b.tree.get_data("/n", &[]).unwrap().0,
        Some(vec![5; 1_000_000])
    );
}

#[test]
fn a_write_too_large_for_one_command_is_refused_in_order_and_the_connection_goes_on() {
    let mut b = Bench::with_limits(synod_front::ZkLimits {
        command_bytes_max: COMMAND_BYTES_MIN,
        ..limits()
    });
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/n", 0));
    b.send(conn, 2, set_data("/n", COMMAND_BYTES_MIN, 2));
    b.send(conn, 3, get_data("/n"));
    b.send(conn, 4, set_data("/n", 1000, 4));
    b.commit();
    assert_within_budget(&b, COMMAND_BYTES_MIN);
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert_eq!(reply(&frames[0], ReplyKind::Create).0.err, 0);
    let (h, _) = reply(&frames[1], ReplyKind::Stat);
    assert_eq!((h.xid, h.err), (2, wire::err::BAD_ARGUMENTS));
    let (h, body) = reply(&frames[2], ReplyKind::GetData);
    assert_eq!(h.xid, 3);
    let Response::GetData { data, .. } = body else {
        panic!("{body:?}")
    };
    assert_eq!(
        data.as_deref(),
        Some(&b"d"[..]),
        "the refused write changed nothing"
    );
    let (h, _) = reply(&frames[3], ReplyKind::Stat);
    assert_eq!((h.xid, h.err), (4, 0), "the connection goes on");
    assert_eq!(b.tree.get_data("/n", &[]).unwrap().0, Some(vec![4; 1000]));
}

#[test]
fn a_multi_is_one_write_against_the_budget_all_or_nothing() {
    let mut b = Bench::with_limits(synod_front::ZkLimits {
        command_bytes_max: COMMAND_BYTES_MIN,
        ..limits()
    });
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/m", 0));
    b.commit();
    // Each op fits alone; together they do not.
    let half = COMMAND_BYTES_MIN / 2;
    b.send(
        conn,
        2,
        Request::Multi(vec![set_data("/m", half, 1), set_data("/m", half, 2)]),
    );
    b.send(
        conn,
        3,
        Request::Multi(vec![set_data("/m", 100, 3), set_data("/m", 100, 4)]),
    );
    b.commit();
    assert_within_budget(&b, COMMAND_BYTES_MIN);
    let codes = reply_codes(&mut b, conn);
    assert_eq!(
        codes,
        vec![(1, 0), (2, wire::err::BAD_ARGUMENTS), (3, 0)],
        "the too-large multi is refused whole, the next one applies"
    );
    let (data, stat) = b.tree.get_data("/m", &[]).unwrap();
    assert_eq!((data, stat.version), (Some(vec![4; 100]), 2));
}

#[test]
fn the_auth_list_is_bounded_in_ids() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    // The connection's ip id is the first; digests fill the rest.
    let room = AUTH_IDS_MAX as i32 - 1;
    for xid in 1..=room {
        b.send(conn, xid, digest(&format!("user{xid}")));
    }
    // The same id again takes no room.
    b.send(conn, room + 1, digest("user1"));
    let codes = reply_codes(&mut b, conn);
    assert!(codes.iter().all(|&(_, err)| err == 0), "{codes:?}");
    b.send(conn, room + 2, digest("one-too-many"));
    let frames = b.frames(conn);
    let (h, _) = reply(&frames[0], ReplyKind::Empty);
    assert_eq!((h.xid, h.err), (room + 2, wire::err::AUTH_FAILED));
    assert!(matches!(&frames[1], Outgoing::Close(why) if why.contains("auth list")));
}

#[test]
fn the_auth_list_is_bounded_in_bytes() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    // A digest id keeps the user name whole: a megabyte name would ride in
    // every command of the connection.
    b.send(conn, 1, digest(&"u".repeat(AUTH_BYTES_MAX)));
    let frames = b.frames(conn);
    assert_eq!(
        reply(&frames[0], ReplyKind::Empty).0.err,
        wire::err::AUTH_FAILED
    );
    assert!(matches!(&frames[1], Outgoing::Close(_)));
    // Just under the bound is fine, and its writes carry it within budget.
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    let user = "u".repeat(AUTH_BYTES_MAX - 100);
    b.send(conn, 1, digest(&user));
    b.send(conn, 2, create("/a", 0));
    b.commit();
    let codes = reply_codes(&mut b, conn);
    assert_eq!(codes, vec![(1, 0), (2, 0)]);
}

#[test]
fn a_touch_carries_what_fits_the_budget_and_the_rest_follows_at_once() {
    let sessions_max = budget::touch_sessions_max(COMMAND_BYTES_MIN);
    let count = sessions_max + 100;
    let mut b = Bench::with_limits(synod_front::ZkLimits {
        command_bytes_max: COMMAND_BYTES_MIN,
        connections_max: count,
        ..limits()
    });
    for _ in 0..count {
        b.connect(0, vec![0; 16], 0).unwrap();
    }
    b.sent.clear();
    b.front.set_clock(1_500, 1_001_500);
    b.front.on_timer(&b.tree, None, true);
    let first = b.front.take_proposals();
    assert_eq!(first.len(), 1);
    assert!(first[0].op.len() <= COMMAND_BYTES_MIN);
    let CoordOp::Touch { sessions: mut all } = CoordOp::decode(&first[0].op[1..]).unwrap() else {
        panic!("not a touch")
    };
    assert_eq!(all.len(), sessions_max);
    // One Touch at a time: nothing more until it is answered...
    b.front.on_timer(&b.tree, None, true);
    assert!(b.front.take_proposals().is_empty());
    b.apply(&first[0]);
    // ...then the rest at once, not a touch interval later.
    b.front.on_timer(&b.tree, None, true);
    let second = b.front.take_proposals();
    assert_eq!(second.len(), 1);
    let CoordOp::Touch { sessions } = CoordOp::decode(&second[0].op[1..]).unwrap() else {
        panic!("not a touch")
    };
    all.extend(sessions);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "every active session is touched once");
}

#[test]
fn the_fixed_commands_fit_the_smallest_budget() {
    for op in [
        CoordOp::CreateSession {
            passwd: vec![0; 16],
            timeout_ms: i32::MAX,
            time_ms: i64::MAX,
        },
        CoordOp::CloseSession { session: i64::MAX },
        CoordOp::Tick {
            time_ms: i64::MAX,
            term: u64::MAX,
        },
    ] {
        assert!(budget::command_bytes(&op) < 64, "{op:?}");
    }
    assert!(budget::touch_sessions_max(COMMAND_BYTES_MIN) > 8000);
}

/// Issue 11: the tree must not grow silently into the snapshot limit, where
/// the node would stop. Past `znodes_max` or `data_bytes_max` a write is
/// refused with QuotaExceeded, in its turn; deletes and shrinking writes
/// are taken, and free room for the refused ones.
#[test]
fn writes_past_the_znode_and_byte_caps_get_quota_exceeded_and_deletes_make_room() {
    let empty = Bench::new();
    let (nodes, bytes) = (empty.tree.node_count() as u64, empty.tree.data_bytes());
    let mut b = Bench::with_limits(synod_front::ZkLimits {
        znodes_max: nodes + 2,
        data_bytes_max: bytes + 1_000,
        ..limits()
    });
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, create("/a", 0));
    b.send(conn, 2, create("/b", 0));
    b.send(conn, 3, create("/c", 0));
    b.send(conn, 4, set_data("/a", 2_000, 4));
    b.send(conn, 5, set_data("/a", 500, 5));
    b.send(
        conn,
        6,
        Request::Delete {
            path: "/b".into(),
            version: -1,
        },
    );
    b.send(conn, 7, create("/c", 0));
    b.send(conn, 8, set_data("/a", 996, 8));
    b.commit();
    let quota = wire::err::QUOTA_EXCEEDED;
    assert_eq!(
        reply_codes(&mut b, conn),
        vec![
            (1, 0),
            (2, 0),
            (3, quota),
            (4, quota),
            (5, 0),
            (6, 0),
            (7, 0),
            (8, quota)
        ]
    );
    assert_eq!(b.tree.node_count() as u64, nodes + 2);
    assert_eq!(b.tree.get_data("/a", &[]).unwrap().0, Some(vec![5; 500]));
    assert!(b.tree.data_bytes() <= bytes + 1_000);
}
