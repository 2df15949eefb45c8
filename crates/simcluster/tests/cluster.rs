//! The cluster's mechanics and oracles on a plain engine over the
//! key-value store: crashes, restarts and pauses as the fault model says,
//! faults healing at the end of the safety phase, the frame limit and the
//! durability oracle biting, and a seed replaying exactly.

use std::collections::VecDeque;
use synod_kv::{KvOp, KvStore};
use synod_paxos::{Action, Command, EngineConfig, Input, Node};
use synod_simcluster::{
    Advance, Boot, Cluster, ClusterConfig, Effect, NetLimits, NodeInput, NodeTime, Notice, Out,
    Profile, SimNode, Time,
};

/// The engine over the key-value store. With a lying disk it tells its
/// engine that every write is durable the moment it asks for it.
struct TestNode {
    engine: Node<KvStore>,
    lying_disk: bool,
}

impl SimNode for TestNode {
    type Sm = KvStore;
    type Input = Command;
    type Output = Action;
    type Spec = bool;

    fn boot(lying_disk: &bool, b: Boot) -> Self {
        let engine = match b.recovered {
            None => Node::new(
                b.id,
                b.engine,
                b.initial,
                KvStore::new(),
                b.seed,
                b.local_us,
            ),
            Some(d) => Node::recover(
                b.id,
                b.engine,
                b.initial,
                d,
                KvStore::new(),
                b.seed,
                b.local_us,
            ),
        };
        TestNode {
            engine,
            lying_disk: *lying_disk,
        }
    }

    fn engine(&self) -> &Node<KvStore> {
        &self.engine
    }

    fn step(&mut self, at: NodeTime, input: NodeInput<Command>, effects: &mut Vec<Effect<Action>>) {
        let first = match input {
            NodeInput::Tick => Input::Tick,
            NodeInput::Peer { from, msg } => Input::Message { from, msg },
            NodeInput::Persisted { id } => Input::Persisted { id },
            NodeInput::Client(c) => Input::Command(c),
        };
        let mut inputs = VecDeque::from([first]);
        while let Some(input) = inputs.pop_front() {
            for action in self.engine.step(at.local_us, input) {
                effects.push(match action {
                    Action::Persist { id, records } => {
                        if self.lying_disk {
                            inputs.push_back(Input::Persisted { id });
                        }
                        Effect::Persist { id, records }
                    }
                    Action::Send { to, msg } => Effect::Send { to, msg },
                    Action::Event(e) => Effect::Event(e),
                    reply => Effect::Output(reply),
                });
            }
        }
    }
}

type TestCluster = Cluster<TestNode, ()>;
type Output = Out<Command, Action>;

fn config(seed: u64, profile: &str) -> ClusterConfig {
    ClusterConfig {
        seed,
        profile: Profile::named(profile).expect("exists"),
        engine: EngineConfig {
            events: true,
            ..EngineConfig::default()
        },
        net: NetLimits::transport(),
        safety_us: 60_000_000,
        trace: true,
        trace_heartbeats: false,
    }
}

/// Runs the cluster until `until`, collecting what it hands out.
fn run_until(cluster: &mut TestCluster, until: Time) -> Vec<(Time, Output)> {
    let mut outs = Vec::new();
    loop {
        let advanced = cluster.advance(until);
        while let Some(out) = cluster.next_output() {
            outs.push((cluster.now(), out));
        }
        if advanced == Advance::End {
            return outs;
        }
    }
}

fn put(seq: u64, value_bytes: usize) -> Command {
    let op = KvOp::Put {
        key: b"k".to_vec(),
        value: vec![b'v'; value_bytes],
    };
    Command {
        client: 7,
        seq,
        op: op.encode(),
    }
}

fn leader_after_election(cluster: &mut TestCluster) -> u64 {
    run_until(cluster, 2_000_000);
    cluster
        .current_leader()
        .expect("a calm cluster elects a leader")
}

#[test]
fn a_calm_cluster_elects_a_leader_and_keeps_every_check() {
    let mut cluster = TestCluster::new(config(1, "calm"), false);
    let leader = leader_after_election(&mut cluster);
    cluster.send_input(cluster.now() + 100, leader, None, put(1, 10));
    let outs = run_until(&mut cluster, 3_000_000);
    assert!(outs.iter().any(|(_, o)| matches!(
        o,
        Out::Output {
            output: Action::Reply { seq: 1, .. },
            ..
        }
    )));
    let (log, stats) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert!(stats.elections >= 1 && stats.max_commit >= 1);
}

#[test]
fn a_node_whose_disk_acknowledges_writes_early_is_caught_by_the_durability_oracle() {
    let mut cluster = TestCluster::new(config(1, "calm"), true);
    run_until(&mut cluster, 2_000_000);
    let (log, _) = cluster.finish();
    assert!(
        log.violations.iter().any(|v| v.check == "durability"),
        "{:?}",
        log.violations
    );
}

#[test]
fn a_message_over_the_frame_limit_is_a_violation_and_never_arrives() {
    let mut cfg = config(1, "calm");
    cfg.net.frame_bytes_max = 1024;
    let mut cluster = TestCluster::new(cfg, false);
    let leader = leader_after_election(&mut cluster);
    cluster.send_input(cluster.now() + 100, leader, None, put(1, 2_000));
    let outs = run_until(&mut cluster, 4_000_000);
    // The accept never reached a majority: the write is not answered.
    assert!(!outs.iter().any(|(_, o)| matches!(
        o,
        Out::Output {
            output: Action::Reply { seq: 1, .. },
            ..
        }
    )));
    let (log, stats) = cluster.finish();
    let v = log
        .violations
        .iter()
        .find(|v| v.check == "frame-limit")
        .expect("a frame-limit violation");
    assert!(v.detail.contains("Accept"), "{}", v.detail);
    assert!(stats.net.dropped_oversized > 0);
}

#[test]
fn a_crashed_node_misses_inputs_and_restarts_from_its_disk() {
    let mut cluster = TestCluster::new(config(2, "calm"), false);
    let leader = leader_after_election(&mut cluster);
    let promised = cluster.node(leader).expect("up").engine().promised();
    cluster.crash(leader);
    assert!(!cluster.is_up(leader));
    assert_eq!(cluster.incarnation(leader), 1);
    let now = cluster.now();
    cluster.send_input(now + 100, leader, None, put(1, 10));
    let outs = run_until(&mut cluster, now + 1_000);
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Undelivered { node, .. } if *node == leader)));
    cluster.restart(leader);
    let node = cluster.node(leader).expect("restarted");
    assert!(node.engine().promised() >= promised, "the promise survived");
    // An input bound to the incarnation before the crash is refused.
    let now = cluster.now();
    cluster.send_input(now + 100, leader, Some(0), put(2, 10));
    let outs = run_until(&mut cluster, now + 1_000);
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Undelivered { .. })));
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Notice(Notice::Restarted(n)) if *n == leader)));
    let (log, stats) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(stats.crashes, 1);
}

#[test]
fn a_paused_node_sees_nothing_until_it_resumes() {
    let mut cluster = TestCluster::new(config(3, "calm"), false);
    let leader = leader_after_election(&mut cluster);
    let follower = cluster
        .live_members()
        .into_iter()
        .find(|n| *n != leader)
        .expect("three nodes");
    let paused_at = cluster.now();
    cluster.pause(follower, 500_000);
    assert!(cluster.is_paused(follower));
    cluster.send_input(paused_at + 100, follower, None, put(1, 10));
    let outs = run_until(&mut cluster, paused_at + 1_000_000);
    // The follower bounces the write (NotLeader), but only once it runs.
    let (answered_at, _) = outs
        .iter()
        .find(|(_, o)| matches!(o, Out::Output { node, .. } if *node == follower))
        .expect("answered after resuming");
    assert!(*answered_at >= paused_at + 500_000);
    assert!(!cluster.is_paused(follower));
}

#[test]
fn every_fault_heals_at_the_end_of_the_safety_phase() {
    let mut cfg = config(4, "all");
    cfg.safety_us = 5_000_000;
    let mut cluster = TestCluster::new(cfg, false);
    cluster.start_faults();
    let outs = run_until(&mut cluster, 5_000_000);
    assert!(!cluster.is_healed());
    let faults = outs
        .iter()
        .filter(|(_, o)| matches!(o, Out::Notice(_)))
        .count();
    assert!(faults > 0 && cluster.stats().faults > 0);
    // The first event after the end of the safety phase heals everything.
    let outs = run_until(&mut cluster, 5_100_000);
    assert!(cluster.is_healed());
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Notice(Notice::Healed))));
    for id in cluster.members() {
        assert!(cluster.is_up(id) && !cluster.is_paused(id), "n{id}");
    }
    let (log, _) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut cfg = config(seed, "all");
        cfg.trace_heartbeats = true;
        let mut cluster = TestCluster::new(cfg, false);
        cluster.start_faults();
        run_until(&mut cluster, 6_000_000);
        cluster.finish()
    };
    let (a, sa) = run(9);
    let (b, sb) = run(9);
    let (c, _) = run(10);
    assert!(a.trace.len() > 100);
    assert_eq!(a.trace, b.trace);
    assert_eq!(sa, sb);
    assert_ne!(a.trace, c.trace);
}

#[test]
fn a_long_pause_fills_the_senders_queue_which_drops_its_oldest_messages() {
    let mut cfg = config(5, "calm");
    cfg.net.queue_messages_max = 8;
    let mut cluster = TestCluster::new(cfg, false);
    let leader = leader_after_election(&mut cluster);
    let follower = cluster
        .live_members()
        .into_iter()
        .find(|n| *n != leader)
        .expect("three nodes");
    let before = cluster.stats().net.dropped_queue_full;
    cluster.pause(follower, 1_000_000);
    let until = cluster.now() + 2_000_000;
    run_until(&mut cluster, until);
    let stats = cluster.stats().net;
    assert!(stats.dropped_queue_full > before, "{stats:?}");
    assert_eq!(stats.queued_messages_max, 8);
    let (log, _) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
}
