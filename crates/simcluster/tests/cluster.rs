//! The cluster's mechanics and oracles on the shipped service node over
//! the real storage on simulated disks: crashes, restarts and pauses as
//! the fault model says, disk failures stopping a node, faults healing at
//! the end of the safety phase, the frame limit and the durability and
//! recovery oracles biting, and a seed replaying exactly.

use synod_kv::KvOp;
use synod_node::{NodeInput, NodeOutput};
use synod_paxos::{Command, EngineConfig};
use synod_simcluster::{
    Advance, ClientInput, Cluster, ClusterConfig, NetLimits, NodeSpec, Notice, Out, Profile, Time,
};

type TestCluster = Cluster<()>;
type Output = Out;

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

fn put(seq: u64, value_bytes: usize) -> ClientInput {
    let op = KvOp::Put {
        key: b"k".to_vec(),
        value: vec![b'v'; value_bytes],
    };
    ClientInput::Node(NodeInput::Write(Command {
        client: 7,
        seq,
        op: op.encode(),
    }))
}

fn new_cluster(cfg: ClusterConfig) -> TestCluster {
    TestCluster::new(cfg, NodeSpec::default())
}

fn answered(outs: &[(Time, Output)], seq: u64) -> bool {
    outs.iter().any(|(_, o)| {
        matches!(
            o,
            Out::Output {
                output: NodeOutput::WriteReply { seq: s, .. },
                ..
            } if *s == seq
        )
    })
}

fn leader_after_election(cluster: &mut TestCluster) -> u64 {
    run_until(cluster, 2_000_000);
    cluster
        .current_leader()
        .expect("a calm cluster elects a leader")
}

#[test]
fn a_calm_cluster_elects_a_leader_and_keeps_every_check() {
    let mut cluster = new_cluster(config(1, "calm"));
    let leader = leader_after_election(&mut cluster);
    cluster.send_input(cluster.now() + 100, leader, None, put(1, 10));
    let outs = run_until(&mut cluster, 3_000_000);
    assert!(answered(&outs, 1));
    let (log, stats) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert!(stats.elections >= 1 && stats.max_commit >= 1);
}

#[test]
fn a_disk_whose_fsync_lies_is_caught_by_the_recovery_oracle() {
    let mut cluster = new_cluster(config(1, "calm"));
    let leader = leader_after_election(&mut cluster);
    cluster
        .disk(leader)
        .expect("a member")
        .fs()
        .set_fsync_lies(true);
    for seq in 1..=5 {
        cluster.send_input(cluster.now() + 100, leader, None, put(seq, 100));
    }
    let until = cluster.now() + 500_000;
    let outs = run_until(&mut cluster, until);
    assert!(answered(&outs, 5));
    // Without torn writes a crash loses every unsynced write: here, all
    // of them, although the node was told they were durable.
    cluster.crash(leader);
    cluster.restart(leader);
    let (log, _) = cluster.finish();
    assert!(
        log.violations.iter().any(|v| v.check == "recovery"),
        "{:?}",
        log.violations
    );
}

#[test]
fn a_failed_fsync_stops_the_node_which_restarts_from_its_disk_with_nothing_acknowledged_lost() {
    let mut cluster = new_cluster(config(6, "calm"));
    let leader = leader_after_election(&mut cluster);
    cluster
        .disk(leader)
        .expect("a member")
        .fs()
        .fail_next(synod_wal::FsOp::SyncFile);
    cluster.send_input(cluster.now() + 100, leader, None, put(1, 100));
    let until = cluster.now() + 3_000_000;
    let outs = run_until(&mut cluster, until);
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Notice(Notice::DiskFailed(n)) if *n == leader)));
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Notice(Notice::Restarted(n)) if *n == leader)));
    assert!(cluster.is_up(leader));
    let (log, stats) = cluster.finish();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(stats.disk_failures, 1);
}

#[test]
fn a_message_over_the_frame_limit_is_a_violation_and_never_arrives() {
    let mut cfg = config(1, "calm");
    cfg.net.frame_bytes_max = 1024;
    let mut cluster = new_cluster(cfg);
    let leader = leader_after_election(&mut cluster);
    cluster.send_input(cluster.now() + 100, leader, None, put(1, 2_000));
    let outs = run_until(&mut cluster, 4_000_000);
    // The accept never reached a majority: the write is not answered.
    assert!(!answered(&outs, 1));
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
    let mut cluster = new_cluster(config(2, "calm"));
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
    let mut cluster = new_cluster(config(3, "calm"));
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
    let mut cluster = new_cluster(cfg);
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
        let mut cluster = new_cluster(cfg);
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
    let mut cluster = new_cluster(cfg);
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
