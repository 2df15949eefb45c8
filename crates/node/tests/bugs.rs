//! The deliberate bugs of the `broken` feature do what the coordination
//! simulator's catch tests need: each breaks the drive loop at its hook,
//! and only when turned on (the other tests show the loop without them).
//! Run with `cargo test -p synod-node --features broken --test bugs`.

#![cfg(feature = "broken")]

mod harness;

use harness::{create, get_data, Cluster, TICK_US};
use synod_coord::CoordOp;
use synod_front::front::COORD_TAG;
use synod_front::Outgoing;
use synod_node::bugs::{LOG_TIME_JUMP_AFTER_US, LOG_TIME_JUMP_MS, STALE_REFRESH_US};
use synod_node::{NodeBug, NodeBugs, NodeInput, NodeOutput};
use synod_paxos::{EngineConfig, NodeId, Record, Value};
use synod_zkproto as wire;

fn with_bug(bug: NodeBug) -> Cluster {
    let mut c = Cluster::new(EngineConfig::default());
    for node in c.nodes.values_mut() {
        node.set_bugs(NodeBugs::with(bug));
    }
    c
}

/// The log-time ticks (`time_ms`) accepted in these outputs.
fn tick_times(outputs: &[NodeOutput]) -> Vec<i64> {
    let mut times = Vec::new();
    for o in outputs {
        let NodeOutput::Persist { records, .. } = o else {
            continue;
        };
        for r in records {
            if let Record::Accept {
                value: Value::Batch(commands),
                ..
            } = r
            {
                for c in commands {
                    if let Some((&COORD_TAG, rest)) = c.op.split_first() {
                        if let Ok(CoordOp::Tick { time_ms, .. }) = CoordOp::decode(rest) {
                            times.push(time_ms);
                        }
                    }
                }
            }
        }
    }
    times
}

/// Ticks the whole cluster for `ticks` ticks; returns the log-time ticks
/// the leader proposed, with the wall time of their step.
fn leader_ticks(c: &mut Cluster, leader: NodeId, ticks: usize) -> Vec<(i64, i64)> {
    let mut seen = Vec::new();
    for _ in 0..ticks {
        c.now_us += TICK_US;
        let wall_ms = c.clock().wall_ms;
        for id in 1..=3 {
            let out = c.step(id, NodeInput::Tick);
            if id == leader {
                seen.extend(tick_times(&out).into_iter().map(|t| (wall_ms, t)));
            }
            c.run();
        }
    }
    seen
}

#[test]
fn drop_ticks_keeps_the_leader_from_advancing_log_time() {
    let mut c = with_bug(NodeBug::DropTicks);
    let leader = c.elect();
    assert_eq!(leader_ticks(&mut c, leader, 200), vec![]);
}

#[test]
fn log_time_jumps_puts_the_leaders_ticks_ahead_once_the_node_has_run_a_while() {
    let mut c = with_bug(NodeBug::LogTimeJumps);
    let started_us = c.now_us;
    let leader = c.elect();
    let ticks = (started_us + LOG_TIME_JUMP_AFTER_US + 1_000_000 - c.now_us) / TICK_US;
    let seen = leader_ticks(&mut c, leader, ticks as usize);
    let jump_at_ms = ((started_us + LOG_TIME_JUMP_AFTER_US) / 1000) as i64 + 1_700_000_000_000;
    let (before, after): (Vec<_>, Vec<_>) = seen.iter().partition(|(wall, _)| *wall <= jump_at_ms);
    assert!(!before.is_empty() && !after.is_empty(), "{seen:?}");
    assert!(before.iter().all(|(wall, t)| t == wall), "{before:?}");
    assert!(
        after.iter().all(|(wall, t)| *t == wall + LOG_TIME_JUMP_MS),
        "{after:?}"
    );
}

#[test]
fn stale_reads_answer_from_a_tree_up_to_a_second_old() {
    let mut c = with_bug(NodeBug::StaleReads);
    let leader = c.elect();
    let conn = c.zk_session(leader);
    c.zk_request(leader, conn, wire::op::CREATE, create("/x"));
    c.run();
    let read = |c: &mut Cluster| {
        let (xid, _) = c.zk_request(leader, conn, wire::op::GET_DATA, get_data("/x", false));
        let Some(Outgoing::Reply(frame)) = c.frames[&(leader, conn)].last() else {
            panic!("a reply");
        };
        let (header, _) = wire::decode_reply(&frame[4..], wire::ReplyKind::GetData).unwrap();
        assert_eq!(header.xid, xid);
        header.err
    };
    // The copy was taken when the create arrived: its own write is missing.
    assert_eq!(read(&mut c), wire::err::NO_NODE);
    for _ in 0..=STALE_REFRESH_US / TICK_US {
        c.tick();
    }
    assert_eq!(read(&mut c), wire::err::OK);
}

#[test]
fn close_keeps_ephemerals_leaves_a_closed_session_and_its_ephemerals_in_the_tree() {
    let mut c = with_bug(NodeBug::CloseKeepsEphemerals);
    let leader = c.elect();
    let conn = c.zk_session(leader);
    let mut ephemeral = create("/e");
    if let wire::Request::Create { flags, .. } = &mut ephemeral {
        *flags = wire::create_mode::EPHEMERAL;
    }
    c.zk_request(leader, conn, wire::op::CREATE, ephemeral);
    c.run();
    c.zk_request(
        leader,
        conn,
        wire::op::CLOSE_SESSION,
        wire::Request::CloseSession,
    );
    c.run();
    for id in 1..=3 {
        let tree = &c.node(id).engine().state_machine().tree;
        assert_eq!((tree.session_count(), tree.ephemeral_count()), (1, 1));
    }
}

#[test]
fn divergent_replica_breaks_only_its_own_node() {
    use synod_node::bugs::DIVERGENT_NODE;
    use synod_paxos::StateMachine;
    let mut c = with_bug(NodeBug::DivergentReplica);
    let leader = c.elect();
    let conn = c.zk_session(leader);
    c.zk_request(leader, conn, wire::op::CREATE, create("/x"));
    c.zk_request(
        leader,
        conn,
        wire::op::SET_DATA,
        harness::set_data("/x", b"v"),
    );
    c.run();
    let digest = |c: &Cluster, id| c.node(id).engine().state_machine().digest();
    let others: Vec<NodeId> = (1..=3).filter(|id| *id != DIVERGENT_NODE).collect();
    assert_eq!(digest(&c, others[0]), digest(&c, others[1]));
    assert_ne!(digest(&c, DIVERGENT_NODE), digest(&c, others[0]));
}
