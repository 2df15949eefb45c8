//! The acceptor's rules, each test named after the sentence it checks.
//!
//! From "Paxos Made Simple" (phase 1b and 2b) and DESIGN.md: an acceptor
//! promises only ballots above what it promised, never accepts below its
//! promise, and lets neither a promise nor an accepted value leave before it
//! is on disk. From DESIGN.md's production additions: while an acceptor
//! hears a live leader, and for a whole lease after a restart, it helps no
//! challenger.
//!
//! Every test drives one node by hand and asserts the exact actions.

mod common;

use common::*;
use synod_paxos::message::Reported;
use synod_paxos::{Ballot, DurableState, Input, Message, Record, Value};

#[test]
fn acceptor_sends_its_promise_only_after_the_promise_record_is_durable() {
    let mut n = node3(2);
    let b = ballot(1, 1);

    let actions = n.step(
        T0,
        from(
            1,
            Message::Prepare {
                ballot: b,
                from_slot: 1,
            },
        ),
    );
    // The write comes first; the Promise waits for it.
    assert_actions(&actions, &[persist(1, vec![Record::Promise(b)])]);

    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(
        &actions,
        &[send(
            1,
            Message::Promise {
                ballot: b,
                from_slot: 1,
                compacted_upto: 0,
                commit: 0,
                more: None,
                accepted: vec![],
            },
        )],
    );
    assert_eq!(n.promised(), b);
}

#[test]
fn acceptor_nacks_a_prepare_below_its_promise_and_names_the_promised_ballot() {
    let mut n = node3(2);
    let promised = ballot(2, 3);
    step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: promised,
                from_slot: 1,
            },
        ),
    );

    let low = ballot(1, 1);
    let actions = n.step(
        T0,
        from(
            1,
            Message::Prepare {
                ballot: low,
                from_slot: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            1,
            Message::Nack {
                ballot: low,
                promised,
                leader_alive: false,
            },
        )],
    );
    assert_eq!(n.promised(), promised);
}

#[test]
fn acceptor_nacks_an_accept_below_its_promise_and_names_the_promised_ballot() {
    let mut n = node3(2);
    let promised = ballot(2, 3);
    step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: promised,
                from_slot: 1,
            },
        ),
    );

    let low = ballot(1, 1);
    let actions = n.step(
        T0,
        from(
            1,
            Message::Accept {
                ballot: low,
                entries: vec![(1, Value::Noop)],
                commit: 0,
            },
        ),
    );
    // No write: nothing was accepted.
    assert_actions(
        &actions,
        &[send(
            1,
            Message::Nack {
                ballot: low,
                promised,
                leader_alive: false,
            },
        )],
    );
    assert_eq!(n.promised(), promised);
}

#[test]
fn acceptor_accepts_at_its_promise_and_sends_accepted_only_after_the_accept_is_durable() {
    let mut n = node3(2);
    let b = ballot(2, 3);
    step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: b,
                from_slot: 1,
            },
        ),
    );
    let v = batch(&[command(7, 1, "x")]);

    let actions = n.step(
        T0,
        from(
            3,
            Message::Accept {
                ballot: b,
                entries: vec![(1, v.clone())],
                commit: 0,
            },
        ),
    );
    assert_actions(
        &actions,
        &[persist(
            2,
            vec![Record::Accept {
                slot: 1,
                ballot: b,
                value: v,
            }],
        )],
    );

    let actions = n.step(T0, Input::Persisted { id: 2 });
    assert_actions(
        &actions,
        &[send(
            3,
            Message::Accepted {
                ballot: b,
                slots: vec![1],
                commit: 0,
            },
        )],
    );
}

#[test]
fn acceptor_hearing_a_live_leader_refuses_pre_vote_and_prepare_from_another_node() {
    let mut n = node3(2);
    let leader = ballot(1, 1);
    step_durably(
        &mut n,
        T0,
        from(
            1,
            Message::Accept {
                ballot: leader,
                entries: vec![(1, Value::Noop)],
                commit: 0,
            },
        ),
    );
    let challenger = ballot(2, 3);
    let refusal = Message::Nack {
        ballot: challenger,
        promised: leader,
        leader_alive: true,
    };

    let actions = n.step(T0 + 1, from(3, Message::PreVote { ballot: challenger }));
    assert_actions(&actions, &[send(3, refusal.clone())]);

    let last_moment = T0 + cfg().lease_us - 1;
    let actions = n.step(
        last_moment,
        from(
            3,
            Message::Prepare {
                ballot: challenger,
                from_slot: 1,
            },
        ),
    );
    assert_actions(&actions, &[send(3, refusal)]);
    assert_eq!(n.promised(), leader, "a refused prepare changes no promise");
}

#[test]
fn acceptor_helps_a_candidate_once_lease_us_passed_without_hearing_the_leader() {
    let mut n = node3(2);
    let leader = ballot(1, 1);
    step_durably(
        &mut n,
        T0,
        from(
            1,
            Message::Accept {
                ballot: leader,
                entries: vec![(1, Value::Noop)],
                commit: 0,
            },
        ),
    );
    let challenger = ballot(2, 3);
    let later = T0 + cfg().lease_us;

    let actions = n.step(later, from(3, Message::PreVote { ballot: challenger }));
    assert_actions(
        &actions,
        &[send(
            3,
            Message::PreVoteReply {
                ballot: challenger,
                granted: true,
            },
        )],
    );

    let actions = n.step(
        later,
        from(
            3,
            Message::Prepare {
                ballot: challenger,
                from_slot: 1,
            },
        ),
    );
    assert_actions(&actions, &[persist(2, vec![Record::Promise(challenger)])]);
    let actions = n.step(later, Input::Persisted { id: 2 });
    assert_actions(
        &actions,
        &[send(
            3,
            Message::Promise {
                ballot: challenger,
                from_slot: 1,
                compacted_upto: 0,
                commit: 0,
                more: None,
                accepted: vec![Reported {
                    slot: 1,
                    ballot: leader,
                    value: Value::Noop,
                    chosen: false,
                }],
            },
        )],
    );
}

#[test]
fn acceptor_lease_is_renewed_by_every_heartbeat() {
    let mut n = node3(2);
    let leader = ballot(1, 1);
    step_durably(
        &mut n,
        T0,
        from(
            1,
            Message::Accept {
                ballot: leader,
                entries: vec![(1, Value::Noop)],
                commit: 0,
            },
        ),
    );
    let beat = T0 + 300_000;
    let actions = n.step(
        beat,
        from(
            1,
            Message::Heartbeat {
                ballot: leader,
                commit: 0,
                seq: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            1,
            Message::HeartbeatAck {
                ballot: leader,
                seq: 1,
                commit: 0,
            },
        )],
    );

    let challenger = ballot(2, 3);
    let actions = n.step(
        beat + cfg().lease_us - 1,
        from(3, Message::PreVote { ballot: challenger }),
    );
    assert_actions(
        &actions,
        &[send(
            3,
            Message::Nack {
                ballot: challenger,
                promised: leader,
                leader_alive: true,
            },
        )],
    );
    let actions = n.step(
        beat + cfg().lease_us,
        from(3, Message::PreVote { ballot: challenger }),
    );
    assert_actions(
        &actions,
        &[send(
            3,
            Message::PreVoteReply {
                ballot: challenger,
                granted: true,
            },
        )],
    );
}

#[test]
fn acceptor_answers_a_pre_vote_without_changing_or_persisting_anything() {
    let mut n = node3(2);
    let b = ballot(4, 3);
    let actions = n.step(T0, from(3, Message::PreVote { ballot: b }));
    assert_actions(
        &actions,
        &[send(
            3,
            Message::PreVoteReply {
                ballot: b,
                granted: true,
            },
        )],
    );
    assert_eq!(n.promised(), Ballot::ZERO);
    assert_eq!(n.persist_backlog(), 0);
}

#[test]
fn acceptor_heartbeat_below_its_promise_is_nacked() {
    let mut n = node3(2);
    let promised = ballot(2, 3);
    step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: promised,
                from_slot: 1,
            },
        ),
    );
    let old = ballot(1, 1);
    let actions = n.step(
        T0,
        from(
            1,
            Message::Heartbeat {
                ballot: old,
                commit: 0,
                seq: 9,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            1,
            Message::Nack {
                ballot: old,
                promised,
                leader_alive: false,
            },
        )],
    );
}

#[test]
fn acceptor_refuses_a_prepare_from_a_node_outside_the_configuration() {
    let mut n = node3(2);
    let stranger = ballot(1, 9);
    let actions = n.step(
        T0,
        from(
            9,
            Message::Prepare {
                ballot: stranger,
                from_slot: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            9,
            Message::Nack {
                ballot: stranger,
                promised: Ballot::ZERO,
                leader_alive: false,
            },
        )],
    );
    assert_eq!(n.promised(), Ballot::ZERO);
}

#[test]
fn restarted_acceptor_refuses_every_candidate_for_lease_us_after_restart() {
    let promised = ballot(5, 2);
    let durable = DurableState::replay(&[Record::Promise(promised)]);
    let restart = 5_000_000;
    let mut n = recover(2, cfg(), voters(&[1, 2, 3]), durable, restart);
    let candidate = ballot(6, 3);
    let refusal = Message::Nack {
        ballot: candidate,
        promised,
        leader_alive: true,
    };

    let actions = n.step(restart + 1, from(3, Message::PreVote { ballot: candidate }));
    assert_actions(&actions, &[send(3, refusal.clone())]);
    let actions = n.step(
        restart + cfg().lease_us - 1,
        from(
            3,
            Message::Prepare {
                ballot: candidate,
                from_slot: 1,
            },
        ),
    );
    assert_actions(&actions, &[send(3, refusal)]);

    let actions = n.step(
        restart + cfg().lease_us,
        from(3, Message::PreVote { ballot: candidate }),
    );
    assert_actions(
        &actions,
        &[send(
            3,
            Message::PreVoteReply {
                ballot: candidate,
                granted: true,
            },
        )],
    );
}

#[test]
fn restarted_acceptor_keeps_its_durable_promise() {
    let mut n = node3(2);
    let promised = ballot(5, 3);
    let actions = step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: promised,
                from_slot: 1,
            },
        ),
    );
    let durable = DurableState::replay(&records_of(&actions));

    let restart = T0 + 10;
    let mut n = recover(2, cfg(), voters(&[1, 2, 3]), durable, restart);
    assert_eq!(n.promised(), promised);

    let after_lease = restart + cfg().lease_us;
    let low = ballot(4, 1);
    let nack = Message::Nack {
        ballot: low,
        promised,
        leader_alive: false,
    };
    let actions = n.step(
        after_lease,
        from(
            1,
            Message::Prepare {
                ballot: low,
                from_slot: 1,
            },
        ),
    );
    assert_actions(&actions, &[send(1, nack.clone())]);
    let actions = n.step(
        after_lease,
        from(
            1,
            Message::Accept {
                ballot: low,
                entries: vec![(1, Value::Noop)],
                commit: 0,
            },
        ),
    );
    assert_actions(&actions, &[send(1, nack)]);
}

#[test]
fn promise_reports_accepted_values_from_from_slot_on_with_ballots_and_chosen_flag() {
    let a = batch(&[command(7, 1, "a")]);
    let b = batch(&[command(7, 2, "b")]);
    let durable = DurableState::replay(&[
        Record::Accept {
            slot: 1,
            ballot: ballot(1, 1),
            value: Value::Noop,
        },
        Record::Accept {
            slot: 2,
            ballot: ballot(1, 1),
            value: a.clone(),
        },
        Record::Accept {
            slot: 3,
            ballot: ballot(2, 2),
            value: b.clone(),
        },
        Record::Commit(1),
    ]);
    let mut n = recover(1, cfg(), voters(&[1, 2, 3]), durable, 0);
    let candidate = ballot(3, 3);

    let actions = step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::Prepare {
                ballot: candidate,
                from_slot: 2,
            },
        ),
    );
    let reported_2 = Reported {
        slot: 2,
        ballot: ballot(1, 1),
        value: a,
        chosen: false,
    };
    let reported_3 = Reported {
        slot: 3,
        ballot: ballot(2, 2),
        value: b,
        chosen: false,
    };
    assert_actions(
        &actions,
        &[
            persist(1, vec![Record::Promise(candidate)]),
            send(
                3,
                Message::Promise {
                    ballot: candidate,
                    from_slot: 2,
                    compacted_upto: 0,
                    commit: 1,
                    more: None,
                    accepted: vec![reported_2.clone(), reported_3.clone()],
                },
            ),
        ],
    );

    // The same candidate asking again from slot 1 also hears of the chosen
    // slot 1; the promise is already durable, so it leaves at once.
    let actions = n.step(
        T0,
        from(
            3,
            Message::Prepare {
                ballot: candidate,
                from_slot: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            3,
            Message::Promise {
                ballot: candidate,
                from_slot: 1,
                compacted_upto: 0,
                commit: 1,
                more: None,
                accepted: vec![
                    Reported {
                        slot: 1,
                        ballot: ballot(1, 1),
                        value: Value::Noop,
                        chosen: true,
                    },
                    reported_2,
                    reported_3,
                ],
            },
        )],
    );
}
