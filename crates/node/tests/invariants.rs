//! `ServiceNode::check_invariants`: it holds along runs (the harness checks
//! it after every step of every test) and fails on states corrupted on
//! purpose, through the public API: a clock that goes back, a disk that
//! holds an accept above its promise.

mod harness;

use harness::{clock_at, create, get_data, options, set_data, Cluster};
use std::collections::BTreeMap;
use synod_node::{NodeInput, ServiceNode};
use synod_paxos::durable::DurableEntry;
use synod_paxos::{Ballot, DurableState, EngineConfig, Value};
use synod_zkproto as wire;

#[test]
fn check_invariants_fails_once_the_local_clock_goes_back() {
    let opts = options(1, EngineConfig::default());
    let mut node = ServiceNode::new(opts, DurableState::default(), clock_at(5_000_000));
    let mut out = Vec::new();
    node.step(clock_at(5_010_000), NodeInput::Tick, &mut out);
    assert_eq!(node.check_invariants(true), Ok(()));
    node.step(clock_at(4_000_000), NodeInput::Tick, &mut out);
    let broken = node
        .check_invariants(true)
        .expect_err("the clock went back");
    assert_eq!(broken.rule(), "clock-monotonic");
    // It stays broken: the node must be stopped, not resumed.
    node.step(clock_at(6_000_000), NodeInput::Tick, &mut out);
    assert_eq!(
        node.check_invariants(true).map_err(|b| b.rule()),
        Err("clock-monotonic")
    );
}

#[test]
fn check_invariants_fails_on_a_disk_whose_accept_is_above_its_promise() {
    let durable = DurableState {
        promised: Ballot { round: 1, node: 1 },
        log: BTreeMap::from([(
            1,
            DurableEntry {
                ballot: Ballot { round: 9, node: 2 },
                value: Value::Noop,
                chosen: false,
            },
        )]),
        ..DurableState::default()
    };
    let opts = options(1, EngineConfig::default());
    let node = ServiceNode::new(opts, durable, clock_at(1_000_000));
    // A log walk finds it; the cheap checks (release builds) do not.
    assert_eq!(node.check_invariants(true), Ok(()));
    let broken = node.check_invariants(false).expect_err("corrupt disk");
    assert_eq!(broken.rule(), "accepted-le-promised");
}

#[test]
fn nothing_is_output_for_a_connection_after_the_runtime_closed_it() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let watcher = c.zk_session(leader);
    c.zk_request(leader, watcher, wire::op::CREATE, create("/x"));
    c.run();
    c.zk_request(leader, watcher, wire::op::GET_DATA, get_data("/x", true));
    let sent = c.frames[&(leader, watcher)].len();
    c.step(leader, NodeInput::ZkClosed { conn: watcher });
    assert_eq!(c.node(leader).front().connection_count(), 0);
    // Its watch would fire now; the harness's invariant check after every
    // step fails if anything goes out for the closed connection.
    let writer = c.zk_session(leader);
    c.zk_request(leader, writer, wire::op::SET_DATA, set_data("/x", b"v"));
    c.run();
    assert_eq!(c.frames[&(leader, watcher)].len(), sent);
}
