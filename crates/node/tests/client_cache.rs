//! Chubby's consistent client cache on the node (`locks::cache`): a write
//! to a znode a session may cache waits until the session acknowledged its
//! invalidation (or its lease ran out), whichever door the write came
//! through; fills are not cacheable while a write to them is under way;
//! a new leader waits for every caching session to flush.

mod harness;

use harness::{create, lock_call as call, set_data, Cluster};
use synod_front::{ConnId, Outgoing};
use synod_node::{LockAnswer, LockRequest};
use synod_paxos::{EngineConfig, NodeId};
use synod_zkproto as wire;

fn follower_of(leader: NodeId) -> NodeId {
    if leader == 1 {
        2
    } else {
        1
    }
}

/// A lock session of `client` that caches.
fn caching_session(c: &mut Cluster, at: NodeId, client: u64) -> i64 {
    let opened = call(
        c,
        at,
        1,
        LockRequest::OpenSession {
            client,
            seq: 1,
            timeout_ms: 10_000,
            passwd: vec![7; 16],
        },
    );
    let [(_, LockAnswer::Session { id, .. })] = opened.as_slice() else {
        panic!("a session: {opened:?}")
    };
    let session = *id;
    let marked = call(
        c,
        at,
        2,
        LockRequest::CacheSession {
            client,
            seq: 2,
            session,
        },
    );
    assert_eq!(marked, vec![(2, LockAnswer::Caching)]);
    session
}

/// A keepalive of `session` (client `client + 1`); its answer, if any.
fn keepalive(
    c: &mut Cluster,
    at: NodeId,
    session: i64,
    client: u64,
    seq: u64,
    cache_term: u64,
    acked: u64,
) -> Option<(u64, Vec<String>, u64)> {
    let got = call(
        c,
        at,
        100 + seq,
        LockRequest::KeepAlive {
            client: client + 1,
            seq,
            session,
            subscriptions: vec![],
            // The first answers at once; the others are held.
            hold_ms: if seq == 1 { 0 } else { 30_000 },
            cache_term,
            acked,
        },
    );
    got.into_iter().find_map(|(_, a)| match a {
        LockAnswer::Alive {
            term,
            invalidated,
            invalidation,
            ..
        } => Some((term, invalidated, invalidation)),
        _ => None,
    })
}

/// A fill of `path` for `session`: the data (None: absent) and the term
/// it may be cached under (0: not cacheable).
fn fill(c: &mut Cluster, at: NodeId, session: i64, path: &str) -> (Option<Vec<u8>>, u64) {
    let got = call(
        c,
        at,
        7,
        LockRequest::Contents {
            path: path.into(),
            auth: vec![],
            session,
        },
    );
    match got.as_slice() {
        [(_, LockAnswer::Contents { result, cached })] => {
            let data = match result {
                Ok((data, _)) => Some(data.clone().unwrap_or_default()),
                Err(synod_coord::ErrorCode::NoNode) => None,
                Err(e) => panic!("{path}: {e:?}"),
            };
            (data, *cached)
        }
        other => panic!("contents of {path}: {other:?}"),
    }
}

fn replied(c: &Cluster, node: NodeId, conn: ConnId, xid: i32) -> bool {
    c.frames[&(node, conn)].iter().any(|item| match item {
        Outgoing::Reply(b) | Outgoing::Frame(b) => harness::xid(b) == xid,
        Outgoing::Close(why) => panic!("closed: {why}"),
    })
}

fn data_on(c: &Cluster, node: NodeId, path: &str) -> Vec<u8> {
    let tree = &c.node(node).engine().state_machine().tree;
    tree.get_data(path, &[])
        .expect("present")
        .0
        .unwrap_or_default()
}

#[test]
fn a_zookeeper_write_to_a_cached_znode_waits_for_the_invalidation_ack() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let f = follower_of(leader);
    let conn = c.zk_session(f);
    c.zk_request(f, conn, wire::op::CREATE, create("/c"));
    c.run();
    let a = caching_session(&mut c, leader, 100);
    let (term, invalidated, _) = keepalive(&mut c, leader, a, 100, 1, 0, 0).expect("alive");
    assert_ne!(term, 0, "the leader's term");
    assert!(invalidated.is_empty());

    assert_eq!(fill(&mut c, leader, a, "/c"), (Some(vec![]), term));
    assert_eq!(fill(&mut c, leader, a, "/absent"), (None, term));
    // Not a caching fill without a session.
    assert_eq!(fill(&mut c, leader, 0, "/c"), (Some(vec![]), 0));

    // A ZooKeeper client on a follower writes /c: forwarded, held.
    let (xid, _) = c.zk_request(f, conn, wire::op::SET_DATA, set_data("/c", b"v2"));
    c.run();
    assert!(!replied(&c, f, conn, xid), "the write waits");
    assert_eq!(data_on(&c, leader, "/c"), b"");
    // The follower sends it again: still held, still not applied.
    for _ in 0..60 {
        c.tick();
    }
    assert!(!replied(&c, f, conn, xid), "the write still waits");
    assert_eq!(data_on(&c, leader, "/c"), b"");

    // a's next keepalive is answered at once with the invalidation.
    let (t2, invalidated, n) = keepalive(&mut c, leader, a, 100, 2, term, 0).expect("alive");
    assert_eq!((t2, invalidated), (term, vec!["/c".to_string()]));
    assert!(n > 0);
    // Meanwhile /c is read, not cacheable; a create of the absent path
    // does not wait (nothing... but a's registration of /absent):
    assert_eq!(fill(&mut c, leader, a, "/c"), (Some(vec![]), 0));

    // The ack lets the write through; the reply comes, the data is there.
    let answered = keepalive(&mut c, leader, a, 100, 3, term, n);
    assert!(answered.is_none(), "held: nothing to say");
    c.run();
    for _ in 0..60 {
        c.tick();
    }
    assert!(replied(&c, f, conn, xid), "the write was applied");
    assert_eq!(data_on(&c, leader, "/c"), b"v2");
    assert_eq!(fill(&mut c, leader, a, "/c"), (Some(b"v2".to_vec()), term));
}

#[test]
fn a_create_of_a_path_cached_absent_waits_and_ephemerals_are_never_cacheable() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let a = caching_session(&mut c, leader, 100);
    let (term, _, _) = keepalive(&mut c, leader, a, 100, 1, 0, 0).expect("alive");
    assert_eq!(fill(&mut c, leader, a, "/x"), (None, term));
    let conn = c.zk_session(leader);
    let (xid, _) = c.zk_request(leader, conn, wire::op::CREATE, create("/x"));
    c.run();
    assert!(!replied(&c, leader, conn, xid), "the create waits");
    let (_, invalidated, n) = keepalive(&mut c, leader, a, 100, 2, term, 0).expect("alive");
    assert_eq!(invalidated, vec!["/x".to_string()]);
    keepalive(&mut c, leader, a, 100, 3, term, n);
    c.run();
    assert!(replied(&c, leader, conn, xid), "created after the ack");

    let eph = wire::Request::Create {
        kind: wire::CreateKind::Create,
        path: "/e".into(),
        data: Some(b"e".to_vec()),
        acl: harness::open_acl(),
        flags: wire::create_mode::EPHEMERAL,
    };
    c.zk_request(leader, conn, wire::op::CREATE, eph);
    // A container's Stat says ephemeral_owner 0, as in ZooKeeper: the
    // door looks at what the znode is, not at what its Stat says.
    let container = wire::Request::Create {
        kind: wire::CreateKind::Container,
        path: "/k".into(),
        data: Some(b"k".to_vec()),
        acl: harness::open_acl(),
        flags: wire::create_mode::CONTAINER,
    };
    c.zk_request(leader, conn, wire::op::CREATE_CONTAINER, container);
    c.run();
    assert_eq!(fill(&mut c, leader, a, "/e"), (Some(b"e".to_vec()), 0));
    assert_eq!(fill(&mut c, leader, a, "/k"), (Some(b"k".to_vec()), 0));
    assert_eq!(fill(&mut c, leader, a, "/zookeeper/config").1, 0);
}

#[test]
fn a_session_that_never_acks_holds_the_write_only_until_its_lease_ends() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let conn = c.zk_session(leader);
    c.zk_request(leader, conn, wire::op::CREATE, create("/c"));
    c.run();
    let a = caching_session(&mut c, leader, 100);
    let (term, _, _) = keepalive(&mut c, leader, a, 100, 1, 0, 0).expect("alive");
    assert_eq!(fill(&mut c, leader, a, "/c").1, term);
    let from = c.now_us;
    let (xid, _) = c.zk_request(leader, conn, wire::op::SET_DATA, set_data("/c", b"v2"));
    c.run();
    // a says nothing more: the write waits out a's 10 s lease, no longer.
    while !replied(&c, leader, conn, xid) {
        assert!(c.now_us - from < 11_000_000, "held past the lease");
        c.tick();
    }
    assert!(
        c.now_us - from >= 9_900_000,
        "released before the lease ended"
    );
    assert_eq!(data_on(&c, leader, "/c"), b"v2");
}

#[test]
fn a_new_leader_waits_for_caching_sessions_to_flush_before_writing() {
    let mut c = Cluster::new(EngineConfig::default());
    let old = c.elect();
    let a = caching_session(&mut c, old, 100);
    let (t1, _, _) = keepalive(&mut c, old, a, 100, 1, 0, 0).expect("alive");
    // (Through the lock door: the harness's nodes share a seed, so their
    // front doors' client ids would collide.)
    let created = call(
        &mut c,
        old,
        3,
        LockRequest::Create {
            client: 100,
            seq: 3,
            session: a,
            auth: vec![],
            path: "/c".into(),
        },
    );
    assert_eq!(created, vec![(3, LockAnswer::Created)]);
    assert_eq!(fill(&mut c, old, a, "/c").1, t1);

    // The old leader is cut off; another takes over.
    c.cut.insert(old);
    let new = loop {
        c.tick();
        let l = (1..=3).find(|id| *id != old && c.node(*id).engine().is_active_leader());
        if let Some(l) = l {
            break l;
        }
    };
    let conn = c.zk_session(new);
    let (xid, _) = c.zk_request(new, conn, wire::op::SET_DATA, set_data("/c", b"v2"));
    c.run();
    assert!(!replied(&c, new, conn, xid), "the new leader waits for a");
    // a's keepalive still under the old term is answered with the new one
    // (no ack: a has not flushed yet); under the new term, it is.
    let (t2, _, _) = keepalive(&mut c, new, a, 100, 2, t1, 0).expect("alive");
    assert_ne!(t2, t1);
    c.run();
    assert!(!replied(&c, new, conn, xid), "a has not flushed");
    keepalive(&mut c, new, a, 100, 3, t2, 0);
    c.run();
    assert!(replied(&c, new, conn, xid), "a flushed: the write goes");
    assert_eq!(data_on(&c, new, "/c"), b"v2");
}
