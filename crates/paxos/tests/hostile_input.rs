//! Forged or extreme peer input never panics a node (issue 10): random
//! messages with the largest and smallest numbers the wire can carry, sent
//! to nodes in every role, interleaved with ticks, disk completions and
//! restarts from what the node wrote. A message beyond `ROUND_MAX` or
//! `SLOT_MAX` is dropped; everything else is handled or ignored, and the
//! node's invariants hold after every step.
//!
//! `SYNOD_HOSTILE_STEPS` sets how many messages each seed sends (default
//! 2,000; 100,000 for a nightly run).

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_paxos::message::Reported;
use synod_paxos::{
    Action, Ballot, Bytes, ClientRecord, Command, Config, ConfigChange, DurableState, EngineConfig,
    Input, Message, Record, Rng, Snapshot, SnapshotData, Value, ROUND_MAX, SLOT_MAX,
};

fn steps() -> u64 {
    std::env::var("SYNOD_HOSTILE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

/// A number from the edges of its range most of the time.
fn number(rng: &mut Rng) -> u64 {
    match rng.range(0, 10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u64::MAX - 1,
        4 => ROUND_MAX,
        5 => ROUND_MAX + 1,
        6 => 1 << 63,
        7 => rng.next_u64(),
        _ => rng.range(0, 40),
    }
}

fn ballot(rng: &mut Rng) -> Ballot {
    Ballot::new(number(rng), rng.range(0, 6))
}

fn value(rng: &mut Rng) -> Value {
    match rng.range(0, 4) {
        0 => Value::Noop,
        1 => Value::Reconfig(match rng.range(0, 3) {
            0 => ConfigChange::AddLearner(number(rng)),
            1 => ConfigChange::Promote(number(rng)),
            _ => ConfigChange::Remove(number(rng)),
        }),
        _ => Value::Batch(
            (0..rng.range(0, 4))
                .map(|_| Command {
                    client: number(rng),
                    seq: number(rng),
                    op: vec![b'x'; rng.range(0, 64) as usize],
                })
                .collect(),
        ),
    }
}

fn snapshot(rng: &mut Rng) -> Snapshot {
    Snapshot {
        last_slot: number(rng),
        config: Config::new([1, 2, 3]),
        clients: BTreeMap::from([(
            number(rng),
            ClientRecord {
                seq: number(rng),
                reply: vec![1, 2, 3],
                slot: number(rng),
            },
        )]),
        state: AppendLog::of(&["a"]).snapshot_bytes(),
    }
}

fn message(rng: &mut Rng) -> Message {
    match rng.range(0, 15) {
        0 => Message::PreVote {
            ballot: ballot(rng),
        },
        1 => Message::PreVoteReply {
            ballot: ballot(rng),
            granted: rng.chance(0.5),
        },
        2 => Message::Prepare {
            ballot: ballot(rng),
            from_slot: number(rng),
        },
        3 => Message::Promise {
            ballot: ballot(rng),
            from_slot: number(rng),
            compacted_upto: number(rng),
            commit: number(rng),
            accepted: (0..rng.range(0, 4))
                .map(|_| Reported {
                    slot: number(rng),
                    ballot: ballot(rng),
                    value: value(rng),
                    chosen: rng.chance(0.5),
                })
                .collect(),
            more: rng.chance(0.5).then(|| number(rng)),
        },
        4 => Message::Nack {
            ballot: ballot(rng),
            promised: ballot(rng),
            leader_alive: rng.chance(0.5),
        },
        5 => Message::Accept {
            ballot: ballot(rng),
            entries: (0..rng.range(0, 4))
                .map(|_| (number(rng), value(rng)))
                .collect(),
            commit: number(rng),
        },
        6 => Message::Accepted {
            ballot: ballot(rng),
            slots: (0..rng.range(0, 4)).map(|_| number(rng)).collect(),
            commit: number(rng),
        },
        7 => Message::Heartbeat {
            ballot: ballot(rng),
            commit: number(rng),
            seq: number(rng),
        },
        8 => Message::HeartbeatAck {
            ballot: ballot(rng),
            seq: number(rng),
            commit: number(rng),
        },
        9 => Message::CatchupRequest {
            from_slot: number(rng),
        },
        10 => Message::CatchupReply {
            snapshot: rng.chance(0.3).then(|| Box::new(snapshot(rng))),
            entries: (0..rng.range(0, 4))
                .map(|_| (number(rng), value(rng)))
                .collect(),
            commit: number(rng),
        },
        11 => Message::Forward {
            commands: (0..rng.range(0, 4))
                .map(|_| Command {
                    client: number(rng),
                    seq: number(rng),
                    op: vec![0; rng.range(0, 32) as usize],
                })
                .collect(),
        },
        12 => {
            let total = number(rng);
            Message::SnapshotChunk {
                last_slot: number(rng),
                total_bytes: total,
                head_bytes: if rng.chance(0.5) { number(rng) } else { total },
                offset: number(rng),
                data: Bytes::from(vec![7u8; rng.range(0, 64) as usize]),
                commit: number(rng),
            }
        }
        _ => Message::SnapshotChunkRequest {
            last_slot: number(rng),
            offset: number(rng),
        },
    }
}

impl AppendLog {
    fn snapshot_bytes(&self) -> SnapshotData {
        use synod_paxos::StateMachine;
        self.snapshot_data()
    }
}

/// A node that has led, followed and written, so every role's handlers are
/// reachable: node 1 of a settled cluster that chose a few commands.
fn seasoned(id: u64) -> (TestNode, Vec<Record>) {
    let cfg = EngineConfig {
        snapshot_interval_slots: 4,
        log_retain_slots: 1,
        ..cfg()
    };
    let mut c = Cluster::new(&[1, 2, 3], cfg);
    c.elect(1);
    for seq in 1..=6 {
        c.step(1, Input::Command(command(7, seq, "v")));
        c.settle();
    }
    let records = c.durable.get(&id).cloned().unwrap_or_default();
    let node = c.nodes.remove(&id).expect("node exists");
    (node, records)
}

#[test]
fn random_and_extreme_peer_messages_never_panic_a_node_in_any_role() {
    for seed in 0..8u64 {
        let mut rng = Rng::new(0x0705_711e ^ seed);
        let id = 1 + seed % 3;
        let (mut node, mut disk) = seasoned(id);
        let mut now = T0 * 10;
        for step in 0..steps() {
            now += rng.range(0, 20_000);
            let input = match rng.range(0, 20) {
                0 => Input::Tick,
                1 => Input::Command(command(number(&mut rng), number(&mut rng), "c")),
                _ => Input::Message {
                    from: rng.range(0, 6),
                    msg: message(&mut rng),
                },
            };
            let described = format!("{input:?}");
            let mut actions = node.step(now, input);
            // The disk completes everything at once.
            let mut persisted = None;
            for a in &actions {
                if let Action::Persist { id, records } = a {
                    disk.extend(records.iter().cloned());
                    persisted = Some(*id);
                }
            }
            if let Some(pid) = persisted {
                actions = node.step(now, Input::Persisted { id: pid });
            }
            drop(actions);
            if let Err(v) = node.check_invariants(false) {
                panic!("seed {seed} step {step}: {v} after {described}");
            }
            if rng.chance(0.01) {
                // A restart from what it wrote: nothing it took in may
                // make recovery panic either.
                let durable = DurableState::replay(&disk);
                assert!(durable.promised.round <= ROUND_MAX);
                assert!(durable.log.keys().all(|s| *s <= SLOT_MAX));
                node = recover(id, cfg(), voters(&[1, 2, 3]), durable, now);
            }
        }
    }
}
