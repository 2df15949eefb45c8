//! The leader's rules, each test named after the sentence it checks.
//!
//! From "Paxos Made Moderately Complex" and DESIGN.md: a follower that hears
//! no leader asks for pre-votes, then runs phase 1 once for every slot from
//! its first unchosen one; with its own durable promise and a majority it
//! re-proposes the highest-ballot value reported for each slot, fills holes
//! with no-ops and opens its leadership with one no-op. A value is chosen
//! when a majority accepted it in one ballot; the commit point rides on the
//! next message. Proposals are pipelined within a window, commands batched
//! per slot. A leader that hears no majority, or hears of a higher ballot,
//! steps down. Reads are served under a lease shortened by the drift bound,
//! and only once the opening no-op is applied.
//!
//! Every test asserts the exact actions of the step under test.

mod common;

use common::*;
use synod_paxos::message::Reported;
use synod_paxos::{
    Action, Ballot, DurableState, EngineConfig, Input, Message, Micros, Node, Outcome, Record,
    Value,
};

/// Node 1 of {1, 2, 3}, recovered from `durable`, asks for pre-votes at
/// `T0` and gets node 2's: it is now preparing `ballot` with its own
/// promise written (id 1) but not yet durable.
fn candidate_preparing(durable: DurableState) -> (TestNode, Ballot) {
    let mut n = recover(1, cfg(), voters(&[1, 2, 3]), durable, 0);
    let actions = n.step(T0, Input::Tick);
    let Some((_, Message::PreVote { ballot })) = sends(&actions).first().cloned() else {
        panic!("no pre-vote in {actions:?}");
    };
    n.step(
        T0,
        from(
            2,
            Message::PreVoteReply {
                ballot,
                granted: true,
            },
        ),
    );
    (n, ballot)
}

fn promise(b: Ballot, accepted: Vec<Reported>) -> Message {
    Message::Promise {
        ballot: b,
        from_slot: 1,
        compacted_upto: 0,
        commit: 0,
        more: None,
        accepted,
    }
}

fn accept(b: Ballot, slot: u64, value: Value, commit: u64) -> Message {
    Message::Accept {
        ballot: b,
        entries: vec![(slot, value)],
        commit,
    }
}

fn accept_record(slot: u64, b: Ballot, value: Value) -> Record {
    Record::Accept {
        slot,
        ballot: b,
        value,
    }
}

// ---- election ----

#[test]
fn follower_past_its_election_deadline_sends_pre_vote_to_the_other_voters() {
    let mut n = node3(1);
    // The deadline is at least one election timeout after creation.
    let before = cfg().election_timeout_us - 1;
    assert_actions(&n.step(before, Input::Tick), &[]);

    let b = ballot(1, 1);
    let actions = n.step(T0, Input::Tick);
    assert_actions(
        &actions,
        &[
            send(2, Message::PreVote { ballot: b }),
            send(3, Message::PreVote { ballot: b }),
        ],
    );
    assert_eq!(n.promised(), Ballot::ZERO, "a pre-vote promises nothing");
    assert_eq!(n.role_name(), "candidate");
}

#[test]
fn follower_that_hears_no_leader_campaigns_between_one_and_one_and_a_half_election_timeouts() {
    // Over many seeds: never before one election timeout, always by 1.5 of
    // them (a dead leader is replaced within two timeouts, election
    // round trips included), and spread over that window.
    let t = cfg().election_timeout_us;
    let campaigns = |seed: u64, at: Micros| {
        let mut n = Node::new(1, cfg(), voters(&[1, 2, 3]), AppendLog::default(), seed, 0);
        let actions = n.step(at, Input::Tick);
        !actions.is_empty()
    };
    let seeds = 0..200u64;
    assert!(seeds.clone().all(|seed| !campaigns(seed, t - 1)));
    assert!(seeds.clone().all(|seed| campaigns(seed, t + t / 2)));
    let early = seeds.filter(|&seed| campaigns(seed, t + t / 4)).count();
    assert!(
        (40..=160).contains(&early),
        "{early} of 200 seeds campaigned in the first half of the window"
    );
}

#[test]
fn candidate_with_a_majority_of_pre_votes_persists_its_promise_and_prepares_from_commit_plus_one() {
    // Slots 1 and 2 are chosen here already: phase 1 starts at slot 3.
    let durable = DurableState::replay(&[
        Record::Accept {
            slot: 1,
            ballot: ballot(1, 1),
            value: Value::Noop,
        },
        Record::Accept {
            slot: 2,
            ballot: ballot(1, 1),
            value: Value::Noop,
        },
        Record::Commit(2),
    ]);
    let mut n = recover(1, cfg(), voters(&[1, 2, 3]), durable, 0);
    assert_eq!(n.commit(), 2);
    let b = ballot(2, 1);
    let actions = n.step(T0, Input::Tick);
    assert_actions(
        &actions,
        &[
            send(2, Message::PreVote { ballot: b }),
            send(3, Message::PreVote { ballot: b }),
        ],
    );

    let refused = n.step(
        T0,
        from(
            3,
            Message::PreVoteReply {
                ballot: b,
                granted: false,
            },
        ),
    );
    assert_actions(&refused, &[]);

    let actions = n.step(
        T0,
        from(
            2,
            Message::PreVoteReply {
                ballot: b,
                granted: true,
            },
        ),
    );
    let prepare = Message::Prepare {
        ballot: b,
        from_slot: 3,
    };
    assert_actions(
        &actions,
        &[
            persist(1, vec![Record::Promise(b)]),
            send(2, prepare.clone()),
            send(3, prepare),
        ],
    );
}

#[test]
fn leader_proposes_only_after_its_own_promise_is_durable_and_a_majority_promised() {
    let (mut n, b) = candidate_preparing(DurableState::default());
    assert_eq!(b, ballot(1, 1));

    // A majority of others promised, but our own promise is not on disk.
    assert_actions(&n.step(T0, from(2, promise(b, vec![]))), &[]);
    assert_actions(&n.step(T0, from(3, promise(b, vec![]))), &[]);
    assert!(!n.is_active_leader());

    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(
        &actions,
        &[
            persist(2, vec![accept_record(1, b, Value::Noop)]),
            send(2, accept(b, 1, Value::Noop, 0)),
            send(3, accept(b, 1, Value::Noop, 0)),
            send(2, heartbeat(b, 0, 1)),
            send(3, heartbeat(b, 0, 1)),
        ],
    );
    assert!(n.is_active_leader());
}

#[test]
fn new_leader_reproposes_the_highest_ballot_value_per_slot_fills_holes_with_noops_then_one_noop() {
    // Having seen round 1, the node campaigns in round 2.
    let (mut n, b) = candidate_preparing(DurableState::replay(&[Record::Promise(ballot(1, 3))]));
    assert_eq!(b, ballot(2, 1));
    let va = batch(&[command(7, 1, "a")]);
    let vb = batch(&[command(8, 1, "b")]);
    let vc = batch(&[command(9, 1, "c")]);
    let reported = |slot, by: Ballot, value: &Value| Reported {
        slot,
        ballot: by,
        value: value.clone(),
        chosen: false,
    };
    n.step(
        T0,
        from(
            2,
            promise(
                b,
                vec![
                    reported(1, ballot(1, 2), &va),
                    reported(3, ballot(1, 2), &vc),
                ],
            ),
        ),
    );
    n.step(
        T0,
        from(3, promise(b, vec![reported(1, ballot(1, 3), &vb)])),
    );

    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(
        &actions,
        &[
            persist(
                2,
                vec![
                    accept_record(1, b, vb.clone()),
                    accept_record(2, b, Value::Noop),
                    accept_record(3, b, vc.clone()),
                    accept_record(4, b, Value::Noop),
                ],
            ),
            send(2, accept(b, 1, vb.clone(), 0)),
            send(3, accept(b, 1, vb, 0)),
            send(2, accept(b, 2, Value::Noop, 0)),
            send(3, accept(b, 2, Value::Noop, 0)),
            send(2, accept(b, 3, vc.clone(), 0)),
            send(3, accept(b, 3, vc, 0)),
            send(2, accept(b, 4, Value::Noop, 0)),
            send(3, accept(b, 4, Value::Noop, 0)),
            send(2, heartbeat(b, 0, 1)),
            send(3, heartbeat(b, 0, 1)),
        ],
    );
}

#[test]
fn new_leader_reproposes_a_value_reported_chosen_over_a_higher_ballot_one() {
    let (mut n, b) = candidate_preparing(DurableState::replay(&[Record::Promise(ballot(1, 3))]));
    let chosen = batch(&[command(7, 1, "chosen")]);
    let other = batch(&[command(8, 1, "other")]);
    n.step(
        T0,
        from(
            2,
            promise(
                b,
                vec![Reported {
                    slot: 1,
                    ballot: ballot(1, 2),
                    value: chosen.clone(),
                    chosen: true,
                }],
            ),
        ),
    );
    n.step(
        T0,
        from(
            3,
            promise(
                b,
                vec![Reported {
                    slot: 1,
                    ballot: ballot(1, 3),
                    value: other,
                    chosen: false,
                }],
            ),
        ),
    );
    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(
        &actions,
        &[
            persist(
                2,
                vec![
                    accept_record(1, b, chosen.clone()),
                    accept_record(2, b, Value::Noop),
                ],
            ),
            send(2, accept(b, 1, chosen.clone(), 0)),
            send(3, accept(b, 1, chosen, 0)),
            send(2, accept(b, 2, Value::Noop, 0)),
            send(3, accept(b, 2, Value::Noop, 0)),
            send(2, heartbeat(b, 0, 1)),
            send(3, heartbeat(b, 0, 1)),
        ],
    );
}

// ---- phase 2: choosing and learning ----

#[test]
fn value_is_chosen_only_with_a_majority_of_accepted_counting_the_leaders_own_once_durable() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    let x = command(7, 1, "x");

    // The commit point (the no-op in slot 1) rides on the next Accept, and
    // on the next write.
    let actions = c.step(1, Input::Command(x.clone()));
    assert_actions(
        &actions,
        &[
            persist(3, vec![accept_record(2, b, one(&x)), Record::Commit(1)]),
            send(2, accept(b, 2, one(&x), 1)),
            send(3, accept(b, 2, batch(&[x]), 1)),
        ],
    );

    // One follower accepted; the leader's own accept is not yet durable.
    let actions = c.step(
        1,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![2],
                commit: 0,
            },
        ),
    );
    assert_actions(&actions, &[]);
    assert_eq!(c.node(1).commit(), 1);

    let actions = c.complete_writes(1);
    assert_actions(
        &actions,
        &[
            // The new commit point waits for the next write.
            reply(7, 1, ok("1")),
            // No Accept carries the new commit point: a heartbeat does.
            send(2, heartbeat(b, 2, 3)),
            send(3, heartbeat(b, 2, 3)),
        ],
    );
    assert_eq!(c.node(1).commit(), 2);
}

#[test]
fn value_accepted_by_the_leader_alone_is_not_chosen() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.drop_messages();
    assert_actions(&c.complete_writes(1), &[]);
    assert_eq!(c.node(1).commit(), 1);
}

#[test]
fn commit_point_no_accept_carries_is_heartbeated_at_once_and_followers_learn_it() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    // The step that chose the no-op told the followers at once.
    assert_eq!(c.node(2).commit(), 1);
    assert_eq!(c.node(3).applied(), 1);

    // x is chosen and nothing follows it: the followers still learn it
    // without a tick (a heartbeat interval later, before this rule).
    c.step(1, Input::Command(command(7, 1, "x")));
    c.settle();
    assert_eq!(c.node(1).commit(), 2);
    for id in [2, 3] {
        assert_eq!(c.node(id).commit(), 2, "node {id}");
        assert_eq!(c.node(id).applied(), 2, "node {id}");
    }
}

#[test]
fn follower_learns_entries_accepted_in_the_leaders_ballot_and_requests_catchup_for_the_rest() {
    let mut n = node3(2);
    let b = ballot(1, 1);
    let va = batch(&[command(7, 1, "a")]);
    step_durably(&mut n, T0, from(1, accept(b, 1, va, 0)));

    // The leader says slots up to 3 are chosen; we hold only slot 1.
    let actions = n.step(T0, from(1, heartbeat(b, 3, 1)));
    assert_actions(
        &actions,
        &[
            send(1, Message::CatchupRequest { from_slot: 2 }),
            // The ack reports the commit point just learned.
            send(
                1,
                Message::HeartbeatAck {
                    ballot: b,
                    seq: 1,
                    commit: 1,
                },
            ),
        ],
    );
    assert_eq!(n.commit(), 1);
    assert_eq!(n.state_machine(), &AppendLog::of(&["a"]));
}

#[test]
fn follower_does_not_learn_an_entry_accepted_in_another_ballot_and_fetches_it() {
    let mut n = node3(2);
    let old = ballot(1, 3);
    let b = ballot(2, 1);
    let stale = batch(&[command(7, 1, "stale")]);
    let vb = batch(&[command(7, 2, "b")]);
    step_durably(&mut n, T0, from(3, accept(old, 1, stale, 0)));

    // Accepting in a ballot above the promise also promises it.
    let actions = n.step(T0, from(1, accept(b, 2, vb.clone(), 2)));
    assert_actions(
        &actions,
        &[
            persist(2, vec![Record::Promise(b), accept_record(2, b, vb.clone())]),
            send(1, Message::CatchupRequest { from_slot: 1 }),
        ],
    );
    assert_eq!(n.commit(), 0);

    let actions = n.step(T0, Input::Persisted { id: 2 });
    assert_actions(
        &actions,
        &[send(
            1,
            Message::Accepted {
                ballot: b,
                slots: vec![2],
                commit: 0,
            },
        )],
    );

    let chosen = batch(&[command(8, 1, "z")]);
    let actions = n.step(
        T0,
        from(
            1,
            Message::CatchupReply {
                snapshot: None,
                entries: vec![(1, chosen.clone()), (2, vb.clone())],
                commit: 2,
            },
        ),
    );
    assert_actions(
        &actions,
        &[persist(
            3,
            vec![
                Record::Learned {
                    slot: 1,
                    value: chosen,
                },
                Record::Learned { slot: 2, value: vb },
                Record::Commit(2),
            ],
        )],
    );
    assert_eq!(n.state_machine(), &AppendLog::of(&["z", "b"]));
}

// ---- pipelining and batching ----

#[test]
fn pipelining_keeps_at_most_window_slots_proposals_in_flight() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            window_slots: 2,
            ..cfg()
        },
    );
    c.elect(1);
    let b = ballot(1, 1);
    let (x1, x2, x3) = (command(1, 1, "a"), command(2, 1, "b"), command(3, 1, "c"));

    let actions = c.step(1, Input::Command(x1.clone()));
    assert_actions(
        &actions,
        &[
            persist(3, vec![accept_record(2, b, one(&x1)), Record::Commit(1)]),
            send(2, accept(b, 2, one(&x1), 1)),
            send(3, accept(b, 2, batch(&[x1]), 1)),
        ],
    );
    let actions = c.step(1, Input::Command(x2.clone()));
    assert_actions(
        &actions,
        &[
            persist(4, vec![accept_record(3, b, one(&x2))]),
            send(2, accept(b, 3, one(&x2), 1)),
            send(3, accept(b, 3, batch(&[x2]), 1)),
        ],
    );
    // The window is full: the third command waits.
    assert_actions(&c.step(1, Input::Command(x3.clone())), &[]);
    c.drop_messages();
    assert_actions(&c.complete_writes(1), &[]);

    // Slot 2 is chosen: one proposal leaves the window, the waiting command
    // takes its place.
    let actions = c.step(
        1,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![2],
                commit: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[
            persist(5, vec![accept_record(4, b, one(&x3)), Record::Commit(2)]),
            reply(1, 1, ok("1")),
            send(2, accept(b, 4, one(&x3), 2)),
            send(3, accept(b, 4, batch(&[x3]), 2)),
        ],
    );
}

#[test]
fn commands_waiting_together_are_batched_into_one_slot_up_to_batch_commands_max() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            window_slots: 1,
            batch_commands_max: 2,
            ..cfg()
        },
    );
    c.elect(1);
    let b = ballot(1, 1);
    let x1 = command(1, 1, "a");
    let waiting = [command(2, 1, "b"), command(3, 1, "c"), command(4, 1, "d")];
    c.step(1, Input::Command(x1));
    for x in &waiting {
        assert_actions(&c.step(1, Input::Command(x.clone())), &[]);
    }
    c.drop_messages();
    c.complete_writes(1);

    let first = batch(&waiting[..2]);
    let actions = c.step(
        1,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![2],
                commit: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[
            persist(
                4,
                vec![accept_record(3, b, first.clone()), Record::Commit(2)],
            ),
            reply(1, 1, ok("1")),
            send(2, accept(b, 3, first.clone(), 2)),
            send(3, accept(b, 3, first, 2)),
        ],
    );

    c.drop_messages();
    c.complete_writes(1);
    let second = batch(&waiting[2..]);
    let actions = c.step(
        1,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![3],
                commit: 2,
            },
        ),
    );
    assert_actions(
        &actions,
        &[
            persist(
                5,
                vec![accept_record(4, b, second.clone()), Record::Commit(3)],
            ),
            reply(2, 1, ok("2")),
            reply(3, 1, ok("3")),
            send(2, accept(b, 4, second.clone(), 3)),
            send(3, accept(b, 4, second, 3)),
        ],
    );
}

// ---- stepping down ----

#[test]
fn leader_that_hears_no_majority_for_election_timeout_steps_down_and_answers_not_leader() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.drop_messages();
    c.complete_writes(1);

    c.now = T0 + cfg().election_timeout_us - 1;
    c.tick(1);
    c.drop_messages();
    assert!(c.node(1).is_leader(), "it heard everyone at T0");

    c.now = T0 + cfg().election_timeout_us;
    let actions = c.tick(1);
    assert_actions(
        &actions,
        &[reply(7, 1, Outcome::NotLeader { leader: None })],
    );
    assert!(!c.node(1).is_leader());
    assert_eq!(c.node(1).leader(), None);
}

#[test]
fn leader_that_hears_a_majority_keeps_leading() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    c.now = T0 + 300_000;
    c.step(
        1,
        from(
            2,
            Message::HeartbeatAck {
                ballot: b,
                seq: 1,
                commit: 1,
            },
        ),
    );
    c.now = T0 + cfg().election_timeout_us;
    c.tick(1);
    assert!(c.node(1).is_active_leader());
}

#[test]
fn leader_preempted_by_a_nack_with_a_higher_promised_ballot_steps_down() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.drop_messages();

    let actions = c.step(
        1,
        from(
            2,
            Message::Nack {
                ballot: b,
                promised: ballot(2, 3),
                leader_alive: false,
            },
        ),
    );
    assert_actions(
        &actions,
        &[reply(7, 1, Outcome::NotLeader { leader: None })],
    );
    assert!(!c.node(1).is_leader());

    // Its next campaign outbids the ballot it heard of.
    c.now += 2 * cfg().election_timeout_us;
    let actions = c.tick(1);
    let next = ballot(3, 1);
    assert_actions(
        &actions,
        &[
            send(2, Message::PreVote { ballot: next }),
            send(3, Message::PreVote { ballot: next }),
        ],
    );
}

#[test]
fn leader_ignores_a_nack_that_names_no_higher_ballot() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    let actions = c.step(
        1,
        from(
            2,
            Message::Nack {
                ballot: b,
                promised: b,
                leader_alive: true,
            },
        ),
    );
    assert_actions(&actions, &[]);
    assert!(c.node(1).is_active_leader());
}

// ---- lease and reads ----

#[test]
fn leader_lease_is_lease_us_shortened_by_the_drift_bound() {
    let c = EngineConfig::default();
    assert_eq!((c.lease_us, c.drift_ppm_max), (400_000, 50_000));
    // 400 ms * (1 - 0.05) / (1 + 0.05), rounded down.
    assert_eq!(c.leader_lease_us(), 361_904);
    assert!(c.validate().is_ok());
}

/// Node 1 just became leader of {1, 2, 3} in ballot 1.1 at `T0`: its no-op
/// (slot 1, write id 2) and heartbeat #1 are out, nothing answered yet.
fn fresh_leader() -> (TestNode, Ballot) {
    let (mut n, b) = candidate_preparing(DurableState::default());
    n.step(T0, Input::Persisted { id: 1 });
    n.step(T0, from(2, promise(b, vec![])));
    assert!(n.is_active_leader());
    (n, b)
}

fn read(id: u64) -> Input {
    Input::Read {
        client: 9,
        id,
        op: Vec::new(),
    }
}

fn read_reply(id: u64, outcome: Outcome) -> Action {
    Action::ReadReply {
        client: 9,
        id,
        outcome,
    }
}

#[test]
fn leader_serves_a_read_only_after_its_noop_is_applied_even_with_a_lease() {
    let (mut n, b) = fresh_leader();
    assert_actions(&n.step(T0, read(1)), &[]);

    // A majority (node 2 and itself) acknowledged heartbeat #1: a lease,
    // but the opening no-op is not applied yet.
    let actions = n.step(
        T0 + 10,
        from(
            2,
            Message::HeartbeatAck {
                ballot: b,
                seq: 1,
                commit: 0,
            },
        ),
    );
    assert_actions(&actions, &[]);
    assert_eq!(
        n.lease_until().map(|(_, t)| t),
        Some(T0 + cfg().leader_lease_us())
    );

    assert_actions(&n.step(T0 + 20, Input::Persisted { id: 2 }), &[]);
    let actions = n.step(
        T0 + 30,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![1],
                commit: 0,
            },
        ),
    );
    assert_actions(
        &actions,
        &[
            read_reply(1, ok("")),
            send(2, heartbeat(b, 1, 2)),
            send(3, heartbeat(b, 1, 2)),
        ],
    );
}

#[test]
fn leader_serves_a_read_only_after_a_majority_acknowledged_a_heartbeat() {
    let (mut n, b) = fresh_leader();
    n.step(T0, Input::Persisted { id: 2 });
    n.step(
        T0,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![1],
                commit: 0,
            },
        ),
    );
    assert_eq!(n.applied(), 1);
    assert_actions(&n.step(T0 + 10, read(1)), &[]);

    let actions = n.step(
        T0 + 20,
        from(
            3,
            Message::HeartbeatAck {
                ballot: b,
                seq: 1,
                commit: 0,
            },
        ),
    );
    assert_actions(&actions, &[read_reply(1, ok(""))]);
}

#[test]
fn leader_stops_serving_reads_when_leader_lease_us_has_passed() {
    let (mut n, b) = fresh_leader();
    n.step(T0, Input::Persisted { id: 2 });
    n.step(
        T0,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![1],
                commit: 0,
            },
        ),
    );
    n.step(
        T0,
        from(
            2,
            Message::HeartbeatAck {
                ballot: b,
                seq: 1,
                commit: 1,
            },
        ),
    );
    let end = T0 + 361_904;
    assert_eq!(n.lease_until().map(|(_, t)| t), Some(end));
    assert_actions(&n.step(end - 1, read(1)), &[read_reply(1, ok(""))]);
    assert_actions(&n.step(end, read(2)), &[]);

    // A heartbeat sent now and acknowledged renews the lease from its send
    // time, and the waiting read is served.
    // (The tick also writes the commit point, unwritten since the no-op
    // was chosen more than a heartbeat interval ago.)
    let actions = n.step(end, Input::Tick);
    assert_actions(
        &actions,
        &[
            persist(3, vec![Record::Commit(1)]),
            send(2, heartbeat(b, 1, 3)),
            send(3, heartbeat(b, 1, 3)),
        ],
    );
    let actions = n.step(
        end + 5,
        from(
            3,
            Message::HeartbeatAck {
                ballot: b,
                seq: 3,
                commit: 1,
            },
        ),
    );
    assert_actions(&actions, &[read_reply(2, ok(""))]);
    assert_eq!(n.lease_until().map(|(_, t)| t), Some(end + 361_904));
}

#[test]
fn follower_answers_a_read_with_the_leader_it_follows() {
    let mut n = node3(2);
    step_durably(&mut n, T0, from(1, heartbeat(ballot(1, 1), 0, 1)));
    let actions = n.step(T0, read(1));
    assert_actions(
        &actions,
        &[read_reply(1, Outcome::NotLeader { leader: Some(1) })],
    );
}

#[test]
fn proposal_not_chosen_after_resend_interval_is_sent_again_to_those_that_have_not_accepted() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    let x = batch(&[command(7, 1, "x")]);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.drop_messages();
    c.step(
        1,
        from(
            2,
            Message::Accepted {
                ballot: b,
                slots: vec![2],
                commit: 1,
            },
        ),
    );
    c.now += cfg().resend_interval_us;
    let actions = c.tick(1);
    assert_actions(
        &actions,
        &[
            send(2, heartbeat(b, 1, 3)),
            send(3, heartbeat(b, 1, 3)),
            send(3, accept(b, 2, x, 1)),
        ],
    );
}

#[test]
fn command_beyond_queue_commands_max_is_refused_busy() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            window_slots: 1,
            queue_commands_max: 1,
            ..cfg()
        },
    );
    c.elect(1);
    c.step(1, Input::Command(command(1, 1, "a")));
    assert_actions(&c.step(1, Input::Command(command(2, 1, "b"))), &[]);
    assert_actions(
        &c.step(1, Input::Command(command(3, 1, "c"))),
        &[reply(3, 1, Outcome::Busy)],
    );
}

#[test]
fn follower_answers_a_command_with_the_leader_it_follows() {
    let mut n = node3(2);
    n.step(T0, from(1, heartbeat(ballot(1, 1), 0, 1)));
    assert_actions(
        &n.step(T0, Input::Command(command(7, 1, "x"))),
        &[reply(7, 1, Outcome::NotLeader { leader: Some(1) })],
    );
}
