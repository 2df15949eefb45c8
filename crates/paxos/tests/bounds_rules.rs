//! Byte bounds, each test named after the rule it checks (issue 10,
//! finding 2: a promise or an accept carrying many large values could
//! never be delivered, so no election could ever finish).
//!
//! Every message carries at most `message_bytes_max` of entries: a promise
//! goes in pages the leader asks for one by one and counts only once its
//! last page is in; resent accepts and catch-up replies stop at the budget
//! and go on in the next round. A command larger than `command_bytes_max`
//! never enters the log. Queues are bounded in bytes as well as counts. A
//! peer's ballot round or slot beyond `ROUND_MAX` / `SLOT_MAX` is dropped,
//! never a panic.

mod common;

use common::*;
use synod_paxos::message::Reported;
use synod_paxos::{
    Action, DurableState, EngineConfig, Input, Message, Outcome, Record, Value, ROUND_MAX, SLOT_MAX,
};

/// Commands of 1,000 bytes; a message holds two of them (1,036 bytes of
/// entry each, with the value's and the entry's overhead).
const OP_BYTES: usize = 1_000;

fn small_messages() -> EngineConfig {
    EngineConfig {
        message_bytes_max: 2_200,
        batch_bytes_max: 1_100,
        command_bytes_max: 1_500,
        ..cfg()
    }
}

fn big(client: u64, seq: u64) -> synod_paxos::Command {
    synod_paxos::Command {
        client,
        seq,
        op: vec![b'x'; OP_BYTES],
    }
}

/// Node 2 of {1, 2, 3} with five large values accepted in ballot 1.1 at
/// slots 1..=5, none known chosen.
fn acceptor_with_five_values(cfg: EngineConfig) -> TestNode {
    let records: Vec<Record> = (1..=5)
        .map(|slot| Record::Accept {
            slot,
            ballot: ballot(1, 1),
            value: Value::Batch(vec![big(7, slot)]),
        })
        .collect();
    recover(
        2,
        cfg,
        voters(&[1, 2, 3]),
        DurableState::replay(&records),
        T0,
    )
}

fn reported(slot: u64) -> Reported {
    Reported {
        slot,
        ballot: ballot(1, 1),
        value: Value::Batch(vec![big(7, slot)]),
        chosen: false,
    }
}

fn page(b: synod_paxos::Ballot, from_slot: u64, slots: &[u64], more: Option<u64>) -> Message {
    Message::Promise {
        ballot: b,
        from_slot,
        compacted_upto: 0,
        commit: 0,
        accepted: slots.iter().map(|s| reported(*s)).collect(),
        more,
    }
}

#[test]
fn promise_larger_than_message_bytes_max_goes_in_pages_from_the_slot_asked() {
    let mut n = acceptor_with_five_values(small_messages());
    let b = ballot(2, 3);
    let prepare = |from_slot| {
        from(
            3,
            Message::Prepare {
                ballot: b,
                from_slot,
            },
        )
    };
    let actions = step_durably(&mut n, T0 + 1_000_000, prepare(1));
    assert_actions(
        &actions,
        &[
            persist(1, vec![Record::Promise(b)]),
            send(3, page(b, 1, &[1, 2], Some(3))),
        ],
    );
    // The next page is asked for with a Prepare of the same ballot from
    // the first slot left out: it only reports, and writes nothing.
    let actions = n.step(T0 + 1_000_000, prepare(3));
    assert_actions(&actions, &[send(3, page(b, 3, &[3, 4], Some(5)))]);
    let actions = n.step(T0 + 1_000_000, prepare(5));
    assert_actions(&actions, &[send(3, page(b, 5, &[5], None))]);
}

/// Node 1 of {1, 2, 3}, empty, preparing ballot 2.1 from slot 1 with its
/// own promise durable.
fn leader_preparing(cfg: EngineConfig) -> (TestNode, synod_paxos::Ballot) {
    let mut n = recover(
        1,
        cfg,
        voters(&[1, 2, 3]),
        DurableState::replay(&[Record::Promise(ballot(1, 1))]),
        0,
    );
    let actions = n.step(T0, Input::Tick);
    let Some((_, Message::PreVote { ballot: b })) = sends(&actions).first().cloned() else {
        panic!("no pre-vote: {actions:?}");
    };
    let granted = Message::PreVoteReply {
        ballot: b,
        granted: true,
    };
    let actions = n.step(T0, from(2, granted));
    let id = persist_id(&actions).expect("the promise is written");
    n.step(T0, Input::Persisted { id });
    (n, b)
}

#[test]
fn leader_asks_for_each_next_page_and_counts_a_promise_only_when_its_last_page_is_in() {
    let (mut n, b) = leader_preparing(small_messages());
    let actions = n.step(T0, from(2, page(b, 1, &[1, 2], Some(3))));
    assert_actions(
        &actions,
        &[send(
            2,
            Message::Prepare {
                ballot: b,
                from_slot: 3,
            },
        )],
    );
    assert!(!n.is_active_leader(), "a partial promise does not count");
    // A duplicate of the first page changes nothing but starts it over.
    n.step(T0, from(2, page(b, 1, &[1, 2], Some(3))));
    n.step(T0, from(2, page(b, 3, &[3, 4], Some(5))));
    assert!(!n.is_active_leader());
    // A stale page (not the one asked for) is dropped.
    assert_actions(&n.step(T0, from(2, page(b, 1 + 1, &[2], None))), &[]);
    n.step(T0, from(2, page(b, 5, &[5], None)));
    assert!(n.is_active_leader(), "the last page completes the promise");
    for slot in 1..=5 {
        assert_eq!(
            n.log_entry(slot).map(|(bal, v, _)| (bal, v.clone())),
            Some((b, Value::Batch(vec![big(7, slot)]))),
            "slot {slot} re-proposed verbatim"
        );
    }
}

#[test]
fn a_lost_promise_page_is_asked_for_again_every_resend_interval() {
    let cfg = small_messages();
    let resend = cfg.resend_interval_us;
    let (mut n, b) = leader_preparing(cfg);
    n.step(T0, from(2, page(b, 1, &[1, 2], Some(3))));
    // The page from slot 3 is lost; node 3 never answered at all.
    let actions = n.step(T0 + resend - 1, Input::Tick);
    assert!(sends(&actions).is_empty(), "{actions:?}");
    let actions = n.step(T0 + resend, Input::Tick);
    let mut asked: Vec<(u64, Message)> = sends(&actions)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Prepare { .. }))
        .collect();
    asked.sort_by_key(|(to, _)| *to);
    assert_eq!(
        asked,
        vec![
            (
                2,
                Message::Prepare {
                    ballot: b,
                    from_slot: 3
                }
            ),
            (
                3,
                Message::Prepare {
                    ballot: b,
                    from_slot: 1
                }
            ),
        ]
    );
}

#[test]
fn candidate_far_behind_a_promise_catches_up_before_phase_1_ends() {
    let cfg = EngineConfig {
        prepare_catchup_slots: 10,
        ..cfg()
    };
    let (mut n, b) = leader_preparing(cfg);
    let ahead = Message::Promise {
        ballot: b,
        from_slot: 1,
        compacted_upto: 0,
        commit: 50,
        accepted: vec![],
        more: None,
    };
    let actions = n.step(T0, from(2, ahead));
    assert_actions(
        &actions,
        &[send(2, Message::CatchupRequest { from_slot: 1 })],
    );
    assert!(!n.is_active_leader(), "it catches up first");
}

#[test]
fn resent_accepts_to_a_peer_stay_within_message_bytes_max() {
    let cfg = EngineConfig {
        window_slots: 8,
        ..small_messages()
    };
    let resend = cfg.resend_interval_us;
    let mut c = Cluster::new(&[1, 2, 3], cfg.clone());
    c.elect(1);
    for seq in 1..=5 {
        c.step(1, Input::Command(big(7, seq)));
    }
    c.drop_messages();
    c.complete_writes(1);
    c.now += resend;
    let actions = c.tick(1);
    let accepts: Vec<(u64, Vec<u64>)> = sends(&actions)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Accept { entries, .. } => {
                Some((to, entries.iter().map(|(s, _)| *s).collect()))
            }
            _ => None,
        })
        .collect();
    // Two values fit a message: one message per peer this round, the
    // rest next round.
    assert_eq!(accepts, vec![(2, vec![2, 3]), (3, vec![2, 3])]);
    c.drop_messages();
    c.now += resend;
    let actions = c.tick(1);
    let next: Vec<Vec<u64>> = sends(&actions)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Accept { entries, .. } => Some(entries.iter().map(|(s, _)| *s).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(next, vec![vec![4, 5], vec![4, 5]]);
}

#[test]
fn proposals_in_flight_stay_within_window_bytes_max() {
    let cfg = EngineConfig {
        window_bytes_max: 2_100,
        ..small_messages()
    };
    let mut c = Cluster::new(&[1, 2, 3], cfg);
    c.elect(1);
    let mut proposed = Vec::new();
    for seq in 1..=4 {
        let actions = c.step(1, Input::Command(big(7, seq)));
        proposed.push(!records_of(&actions).is_empty());
    }
    // Two values of 1,048 bytes fit 2,100 bytes; the others wait.
    assert_eq!(proposed, vec![true, true, false, false]);
    c.settle();
    assert_eq!(c.node(1).commit(), 5, "all four chosen in the end");
}

#[test]
fn catchup_reply_carries_at_most_message_bytes_max_of_entries() {
    let mut c = Cluster::new(&[1, 2, 3], small_messages());
    c.elect(1);
    for seq in 1..=5 {
        c.step(1, Input::Command(big(7, seq)));
        c.settle();
    }
    assert_eq!(c.node(1).commit(), 6);
    let actions = c.step(1, from(3, Message::CatchupRequest { from_slot: 2 }));
    let Some((3, Message::CatchupReply { entries, .. })) = sends(&actions).pop() else {
        panic!("expected a catch-up reply: {actions:?}");
    };
    let slots: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
    assert_eq!(slots, vec![2, 3], "two large values fit, the rest follow");
}

#[test]
fn command_larger_than_command_bytes_max_is_rejected_and_never_enters_the_log() {
    let cfg = small_messages();
    let max = cfg.command_bytes_max;
    let mut c = Cluster::new(&[1, 2, 3], cfg);
    c.elect(1);
    let huge = synod_paxos::Command {
        client: 7,
        seq: 1,
        op: vec![0; max + 1],
    };
    for input in [Input::Command(huge.clone()), Input::Propose(huge)] {
        let actions = c.step(1, input);
        assert_actions(
            &actions,
            &[reply(
                7,
                1,
                Outcome::Rejected(format!(
                    "a command of {} bytes exceeds command_bytes_max ({max} bytes)",
                    max + 1
                )),
            )],
        );
    }
    // At a follower too, before it is held or forwarded.
    let actions = c.step(
        2,
        Input::Propose(synod_paxos::Command {
            client: 8,
            seq: 1,
            op: vec![0; max + 1],
        }),
    );
    assert!(matches!(
        actions.as_slice(),
        [Action::Reply {
            outcome: Outcome::Rejected(_),
            ..
        }]
    ));
    assert_eq!(c.node(2).forwarded_len(), 0);
}

#[test]
fn commands_beyond_queue_bytes_max_are_refused_busy() {
    let cfg = EngineConfig {
        queue_bytes_max: 2_100,
        window_slots: 1,
        ..small_messages()
    };
    let mut c = Cluster::new(&[1, 2, 3], cfg);
    c.elect(1);
    // The first takes the window's one slot, two more wait in the queue
    // (2,048 bytes), the next would pass 2,100 bytes.
    for seq in 1..=3 {
        let actions = c.step(1, Input::Command(big(7 + seq, 1)));
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Reply { .. })),
            "{actions:?}"
        );
    }
    let actions = c.step(1, Input::Command(big(20, 1)));
    assert_actions(&actions, &[reply(20, 1, Outcome::Busy)]);
}

#[test]
fn commands_beyond_forwarded_bytes_max_are_refused_busy() {
    let cfg = EngineConfig {
        forwarded_bytes_max: 2_100,
        ..small_messages()
    };
    let mut n = new_node(2, cfg.clone(), voters(&[1, 2, 3]));
    // No leader known: a follower holds what it is given.
    for client in 1..=2 {
        assert_actions(&n.step(T0 / 2, Input::Propose(big(client, 1))), &[]);
    }
    assert_actions(
        &n.step(T0 / 2, Input::Propose(big(3, 1))),
        &[reply(3, 1, Outcome::Busy)],
    );
    assert_eq!(n.forwarded_len(), 2);
}

#[test]
fn a_peer_message_beyond_round_max_or_slot_max_is_dropped_and_nothing_panics() {
    let mut n = node3(2);
    let forged = [
        Message::Prepare {
            ballot: ballot(u64::MAX, 1),
            from_slot: 1,
        },
        Message::Prepare {
            ballot: ballot(ROUND_MAX + 1, 1),
            from_slot: 1,
        },
        Message::Prepare {
            ballot: ballot(1, 1),
            from_slot: u64::MAX,
        },
        Message::Accept {
            ballot: ballot(1, 1),
            entries: vec![(u64::MAX, Value::Noop)],
            commit: 0,
        },
        Message::Heartbeat {
            ballot: ballot(1, 1),
            commit: SLOT_MAX + 1,
            seq: 1,
        },
        Message::Nack {
            ballot: ballot(1, 2),
            promised: ballot(u64::MAX, 3),
            leader_alive: false,
        },
        Message::CatchupRequest {
            from_slot: u64::MAX,
        },
        Message::SnapshotChunkRequest {
            last_slot: 1,
            offset: u64::MAX,
        },
    ];
    for msg in forged {
        let actions = n.step(T0, from(1, msg.clone()));
        assert_actions(&actions, &[]);
    }
    assert_eq!(n.promised(), ballot(0, 0));
    // It campaigns normally afterwards: no round near u64::MAX was taken.
    let actions = n.step(T0 * 2, Input::Tick);
    assert!(sends(&actions)
        .iter()
        .all(|(_, m)| matches!(m, Message::PreVote { ballot } if ballot.round == 1)));
    // A round at the bound itself is a real ballot.
    let actions = step_durably(
        &mut n,
        T0 * 2,
        from(
            1,
            Message::Prepare {
                ballot: ballot(ROUND_MAX, 1),
                from_slot: 1,
            },
        ),
    );
    assert!(records_of(&actions).contains(&Record::Promise(ballot(ROUND_MAX, 1))));
    n.step(T0 * 4, Input::Tick);
}

#[test]
fn validate_requires_a_message_to_hold_the_largest_value() {
    let cfg = EngineConfig {
        message_bytes_max: 1 << 20,
        command_bytes_max: 2 << 20,
        ..cfg()
    };
    let err = cfg.validate().unwrap_err();
    assert!(err.contains("message_bytes_max"), "{err}");
    assert_eq!(small_messages().validate(), Ok(()));
}
