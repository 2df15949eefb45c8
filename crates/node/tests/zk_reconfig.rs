//! ZooKeeper's reconfig through the node: ZooKeeper's errors in its order,
//! the success path on a follower (forwarded to the leader), the reply's
//! data, version and Stat, and the data watch on `/zookeeper/config`.

mod harness;

use harness::Cluster;
use synod_front::{Outgoing, Pending, ReconfigRequest, ReconfigSettings};
use synod_paxos::{EngineConfig, NodeId};
use synod_zkproto as wire;

const JOINING: &str = "server.9=0.0.0.0:1234:2345:observer;0.0.0.0:3456";

fn engine() -> EngineConfig {
    EngineConfig::default()
}

/// A cluster with a leader, reconfig enabled on every node (unless not),
/// and node 9 (which never runs) cut off.
fn cluster(enabled: bool) -> (Cluster, NodeId) {
    let mut c = Cluster::new(engine());
    for n in c.nodes.values_mut() {
        n.set_zk_reconfig(ReconfigSettings {
            enabled,
            static_servers: [(1, "127.0.0.1:7001:8001".to_string())].into(),
        });
    }
    c.cut.insert(9);
    let leader = c.elect();
    (c, leader)
}

fn follower(leader: NodeId) -> NodeId {
    if leader == 1 {
        2
    } else {
        1
    }
}

fn reconfig(joining: Option<&str>, leaving: Option<&str>, version: i64) -> Pending {
    Pending::Reconfig(ReconfigRequest {
        joining: joining.map(str::to_string),
        leaving: leaving.map(str::to_string),
        new_members: None,
        cur_config_id: version,
    })
}

fn super_session(c: &mut Cluster, node: NodeId) -> synod_front::ConnId {
    let conn = c.zk_session(node);
    let auth = wire::Request::Auth {
        auth_type: 0,
        scheme: "digest".into(),
        auth: b"super:test".to_vec(),
    };
    c.zk_request(node, conn, wire::op::AUTH, auth);
    c.run();
    conn
}

/// The replies (not events) `conn` got, decoded as `kind`.
fn replies(
    c: &Cluster,
    node: NodeId,
    conn: synod_front::ConnId,
    kind: wire::ReplyKind,
) -> Vec<(wire::ReplyHeader, wire::Response)> {
    c.frames[&(node, conn)]
        .iter()
        .filter_map(|o| match o {
            Outgoing::Reply(f) => Some(wire::decode_reply(&f[4..], kind).expect("decodes")),
            _ => None,
        })
        .collect()
}

fn last_reply(
    c: &Cluster,
    node: NodeId,
    conn: synod_front::ConnId,
    kind: wire::ReplyKind,
) -> (wire::ReplyHeader, wire::Response) {
    replies(c, node, conn, kind).pop().expect("a reply")
}

/// Ticks until `conn`'s reply to `xid` came (a reconfig takes a few steps).
fn await_reply(
    c: &mut Cluster,
    node: NodeId,
    conn: synod_front::ConnId,
    xid: i32,
) -> (wire::ReplyHeader, wire::Response) {
    for _ in 0..2_000 {
        c.run();
        let frame = c.frames[&(node, conn)].iter().find_map(|o| match o {
            Outgoing::Reply(f) if harness::xid(f) == xid => Some(f.clone()),
            _ => None,
        });
        if let Some(f) = frame {
            return wire::decode_reply(&f[4..], wire::ReplyKind::GetData).expect("decodes");
        }
        c.tick();
    }
    panic!("no reply to xid {xid}");
}

#[test]
fn reconfig_is_refused_reconfig_disabled_unless_enabled() {
    let (mut c, leader) = cluster(false);
    let conn = super_session(&mut c, leader);
    let xid = c.zk_pending(
        leader,
        conn,
        wire::op::RECONFIG,
        reconfig(Some(JOINING), None, -1),
    );
    let (h, _) = await_reply(&mut c, leader, conn, xid);
    assert_eq!(h.err, wire::err::RECONFIG_DISABLED);
}

#[test]
fn only_a_super_user_may_reconfig_and_bad_server_lines_are_bad_arguments_first() {
    let (mut c, leader) = cluster(true);
    let conn = c.zk_session(leader);
    let xid = c.zk_pending(
        leader,
        conn,
        wire::op::RECONFIG,
        reconfig(Some(JOINING), None, -1),
    );
    assert_eq!(
        await_reply(&mut c, leader, conn, xid).0.err,
        wire::err::NO_AUTH
    );
    // ZooKeeper parses before it checks the ACL.
    let xid = c.zk_pending(
        leader,
        conn,
        wire::op::RECONFIG,
        reconfig(Some("some thing"), None, -1),
    );
    assert_eq!(
        await_reply(&mut c, leader, conn, xid).0.err,
        wire::err::BAD_ARGUMENTS
    );
    assert!(
        !c.node(leader).engine().config().contains(9),
        "nothing changed"
    );
}

#[test]
fn a_reconfig_on_a_follower_adds_and_removes_an_observer_with_versions_and_a_watch() {
    let (mut c, leader) = cluster(true);
    let f = follower(leader);
    let conn = super_session(&mut c, f);
    // A getConfig(watch) on the leader's side.
    let watcher = c.zk_session(leader);
    c.zk_request(
        leader,
        watcher,
        wire::op::GET_DATA,
        harness::get_data("/zookeeper/config", true),
    );
    c.run();
    let (_, before) = last_reply(&c, leader, watcher, wire::ReplyKind::GetData);
    let wire::Response::GetData { data, .. } = before else {
        panic!("getData")
    };
    let before = String::from_utf8(data.expect("config data")).unwrap();
    assert!(
        before.starts_with("server.1=127.0.0.1:7001:8001:participant\n"),
        "{before}"
    );
    assert!(before.ends_with("version=0"), "{before}");

    let xid = c.zk_pending(
        f,
        conn,
        wire::op::RECONFIG,
        reconfig(Some(JOINING), None, -1),
    );
    let (h, body) = await_reply(&mut c, f, conn, xid);
    assert_eq!(h.err, 0);
    let wire::Response::GetData { data, stat } = body else {
        panic!("getData")
    };
    let text = String::from_utf8(data.clone().expect("config data")).unwrap();
    assert!(text.contains(JOINING), "the joining line verbatim: {text}");
    let version = u64::from_str_radix(text.rsplit("version=").next().unwrap(), 16).unwrap();
    assert!(version > 0);
    assert_eq!(stat.data_length as usize, data.as_ref().map_or(0, Vec::len));
    assert!(c.node(leader).engine().config().learners.contains(&9));
    let fired = c.frames[&(leader, watcher)]
        .iter()
        .any(|o| matches!(o, Outgoing::Frame(f) if harness::xid(f) == -1));
    assert!(fired, "the data watch on /zookeeper/config fired");

    // The version must be the current one.
    let xid = c.zk_pending(
        f,
        conn,
        wire::op::RECONFIG,
        reconfig(None, Some("9"), version as i64 + 1),
    );
    assert_eq!(
        await_reply(&mut c, f, conn, xid).0.err,
        wire::err::BAD_VERSION
    );

    let xid = c.zk_pending(
        f,
        conn,
        wire::op::RECONFIG,
        reconfig(None, Some("9"), version as i64),
    );
    let (h, body) = await_reply(&mut c, f, conn, xid);
    assert_eq!(h.err, 0);
    let wire::Response::GetData { data, .. } = body else {
        panic!("getData")
    };
    let text = String::from_utf8(data.expect("config data")).unwrap();
    assert!(!text.contains("server.9="), "{text}");
    let after = u64::from_str_radix(text.rsplit("version=").next().unwrap(), 16).unwrap();
    assert!(
        after > version,
        "every membership change raises the version"
    );
    assert!(!c.node(leader).engine().config().contains(9));
    // Every node renders the same config.
    c.zk_request(
        leader,
        watcher,
        wire::op::GET_DATA,
        harness::get_data("/zookeeper/config", false),
    );
    c.run();
    let got = last_reply(&c, leader, watcher, wire::ReplyKind::GetData).1;
    let wire::Response::GetData {
        data: on_leader, ..
    } = got
    else {
        panic!("getData")
    };
    assert_eq!(
        String::from_utf8(on_leader.expect("config data")).unwrap(),
        text
    );
}

#[test]
fn a_second_reconfig_while_one_runs_is_reconfig_in_progress() {
    let (mut c, leader) = cluster(true);
    let a = super_session(&mut c, leader);
    let b = super_session(&mut c, leader);
    let first = c.zk_pending(
        leader,
        a,
        wire::op::RECONFIG,
        reconfig(Some(JOINING), None, -1),
    );
    let second = c.zk_pending(leader, b, wire::op::RECONFIG, reconfig(None, Some("3"), -1));
    assert_eq!(
        await_reply(&mut c, leader, b, second).0.err,
        wire::err::RECONFIG_IN_PROGRESS
    );
    assert_eq!(await_reply(&mut c, leader, a, first).0.err, 0);
}
