//! Null data through the front door: a create or setData whose data is a
//! null buffer stores null, and getData (and multiRead) answer null, not
//! an empty buffer, as ZooKeeper does.

mod common;

use common::{reply, Bench};
use synod_coord::{CoordOp, Write};
use synod_front::quota;
use synod_zkproto as wire;
use wire::{create_mode, CreateKind, MultiReadResult, MultiResult, ReplyKind, Request, Response};

fn open_acl() -> Vec<wire::Acl> {
    vec![wire::Acl {
        perms: 31,
        id: wire::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn create(kind: CreateKind, path: &str, data: Option<&[u8]>) -> Request {
    Request::Create {
        kind,
        path: path.into(),
        data: data.map(<[u8]>::to_vec),
        acl: open_acl(),
        flags: create_mode::PERSISTENT,
    }
}

fn get(path: &str) -> Request {
    Request::GetData {
        path: path.into(),
        watch: false,
    }
}

/// A connected bench, its connection's frames drained.
fn bench() -> (Bench, u64) {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![0; 16], 0).unwrap();
    b.frames(conn);
    (b, conn)
}

/// Sends `request` alone, commits, and returns its reply.
fn call(b: &mut Bench, conn: u64, request: Request, kind: ReplyKind) -> Response {
    b.send(conn, 1, request);
    b.commit();
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let (header, response) = reply(&frames[0], kind);
    assert_eq!(header.err, 0, "{response:?}");
    response
}

fn data_of(b: &mut Bench, conn: u64, path: &str) -> (Option<Vec<u8>>, i32) {
    match call(b, conn, get(path), ReplyKind::GetData) {
        Response::GetData { data, stat } => (data, stat.data_length),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_created_with_null_data_reads_back_null_and_an_empty_one_empty() {
    let (mut b, conn) = bench();
    call(
        &mut b,
        conn,
        create(CreateKind::Create, "/n", None),
        ReplyKind::Create,
    );
    call(
        &mut b,
        conn,
        create(CreateKind::Create2, "/e", Some(b"")),
        ReplyKind::Create2,
    );
    call(
        &mut b,
        conn,
        create(CreateKind::Container, "/c", None),
        ReplyKind::Create2,
    );
    let ttl = Request::CreateTtl {
        path: "/t".into(),
        data: None,
        acl: open_acl(),
        flags: create_mode::PERSISTENT_WITH_TTL,
        ttl_ms: 60_000,
    };
    call(&mut b, conn, ttl, ReplyKind::Create2);
    assert_eq!(data_of(&mut b, conn, "/n"), (None, 0));
    assert_eq!(data_of(&mut b, conn, "/e"), (Some(Vec::new()), 0));
    assert_eq!(data_of(&mut b, conn, "/c"), (None, 0));
    assert_eq!(data_of(&mut b, conn, "/t"), (None, 0));
}

#[test]
fn set_data_of_null_reads_back_null() {
    let (mut b, conn) = bench();
    call(
        &mut b,
        conn,
        create(CreateKind::Create, "/a", Some(b"abc")),
        ReplyKind::Create,
    );
    let set = |data: Option<&[u8]>| Request::SetData {
        path: "/a".into(),
        data: data.map(<[u8]>::to_vec),
        version: -1,
    };
    let Response::Stat { stat } = call(&mut b, conn, set(None), ReplyKind::Stat) else {
        panic!("setData answers a stat")
    };
    assert_eq!((stat.version, stat.data_length), (1, 0));
    assert_eq!(data_of(&mut b, conn, "/a"), (None, 0));
    call(&mut b, conn, set(Some(b"")), ReplyKind::Stat);
    assert_eq!(data_of(&mut b, conn, "/a"), (Some(Vec::new()), 0));
}

#[test]
fn a_multi_carries_null_data_and_a_multi_read_answers_it() {
    let (mut b, conn) = bench();
    call(
        &mut b,
        conn,
        create(CreateKind::Create, "/a", Some(b"abc")),
        ReplyKind::Create,
    );
    let multi = Request::Multi(vec![
        create(CreateKind::Create2, "/m", None),
        Request::SetData {
            path: "/a".into(),
            data: None,
            version: 0,
        },
        create(CreateKind::Create, "/e", Some(b"")),
    ]);
    let Response::Multi(results) = call(&mut b, conn, multi, ReplyKind::Multi) else {
        panic!("a multi answers results")
    };
    assert!(
        !results
            .iter()
            .any(|r| matches!(r, MultiResult::Error { .. })),
        "{results:?}"
    );
    let read = Request::MultiRead(vec![get("/m"), get("/a"), get("/e")]);
    let Response::MultiRead(results) = call(&mut b, conn, read, ReplyKind::MultiRead) else {
        panic!("a multiRead answers results")
    };
    let data: Vec<Option<Vec<u8>>> = results
        .into_iter()
        .map(|r| match r {
            MultiReadResult::GetData { data, .. } => data,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(data, [None, None, Some(Vec::new())]);
}

/// Only null data takes the new log variants: every other create and
/// setData is logged as before null data, so older logs and builds agree.
#[test]
fn only_null_data_is_logged_as_create_null_or_set_null_data() {
    let (mut b, conn) = bench();
    call(
        &mut b,
        conn,
        create(CreateKind::Create, "/n", None),
        ReplyKind::Create,
    );
    call(
        &mut b,
        conn,
        create(CreateKind::Create, "/e", Some(b"")),
        ReplyKind::Create,
    );
    let writes: Vec<Write> = b
        .applied
        .iter()
        .filter_map(|cmd| CoordOp::decode(&cmd.op[1..]).ok())
        .filter_map(|op| op.batch_writes().map(<[Write]>::to_vec))
        .flatten()
        .collect();
    assert!(
        matches!(&writes[..], [Write::CreateNull { path, .. }, Write::Create { path: e, data, .. }]
        if path == "/n" && e == "/e" && data.is_empty()),
        "{writes:?}"
    );
}

#[test]
fn the_quota_counts_null_data_as_no_bytes() {
    let (b, _) = bench();
    let null = Write::set_data("/zookeeper".into(), None, -1);
    assert_eq!(quota::growth(&b.tree, &null), quota::Growth::default());
    let create = Write::create(
        "/abc".into(),
        None,
        vec![],
        synod_coord::CreateMode::Persistent,
        -1,
    );
    assert_eq!(
        quota::growth(&b.tree, &create),
        quota::Growth { nodes: 1, bytes: 4 }
    );
}
