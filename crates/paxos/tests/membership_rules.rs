//! Membership change rules, each test named after the sentence it checks.
//!
//! From DESIGN.md: the cluster changes one node at a time; a new node joins
//! as a learner and catches up before it votes. A change is proposed alone
//! (it governs every slot after its own), answered once applied, and only
//! one change is in progress at a time. A learner that lags too far behind
//! is not promoted.

mod common;

use common::*;
use synod_paxos::message::Reported;
use synod_paxos::{Action, ConfigChange, EngineConfig, Input, Message, Outcome, Record, Value};

fn reconfigure(id: u64, change: ConfigChange) -> Input {
    Input::Reconfigure { id, change }
}

fn reconfig_reply(id: u64, outcome: Outcome) -> Action {
    Action::ReconfigReply { id, outcome }
}

fn accept(slot: u64, value: Value, commit: u64) -> Message {
    Message::Accept {
        ballot: ballot(1, 1),
        entries: vec![(slot, value)],
        commit,
    }
}

fn accept_record(slot: u64, value: Value) -> Record {
    Record::Accept {
        slot,
        ballot: ballot(1, 1),
        value,
    }
}

fn accepted(slot: u64, commit: u64) -> Input {
    from(
        2,
        Message::Accepted {
            ballot: ballot(1, 1),
            slots: vec![slot],
            commit,
        },
    )
}

#[test]
fn add_learner_is_proposed_alone_and_answered_after_it_is_applied() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let add = Value::Reconfig(ConfigChange::AddLearner(4));

    // The change governs later slots, so the new learner gets it too.
    let actions = c.step(1, reconfigure(9, ConfigChange::AddLearner(4)));
    assert_actions(
        &actions,
        &[
            persist(3, vec![accept_record(2, add.clone()), Record::Commit(1)]),
            send(2, accept(2, add.clone(), 1)),
            send(3, accept(2, add.clone(), 1)),
            send(4, accept(2, add, 1)),
        ],
    );

    // Nothing shares the change's slot or follows it before it is chosen.
    let x = command(7, 1, "a");
    assert_actions(&c.step(1, Input::Command(x.clone())), &[]);
    c.drop_messages();
    assert_actions(&c.complete_writes(1), &[]);

    let actions = c.step(1, accepted(2, 1));
    assert_actions(
        &actions,
        &[
            persist(4, vec![accept_record(3, one(&x)), Record::Commit(2)]),
            reconfig_reply(9, Outcome::Ok(2u64.to_be_bytes().to_vec())),
            send(2, accept(3, one(&x), 2)),
            send(3, accept(3, one(&x), 2)),
            send(4, accept(3, batch(&[x]), 2)),
        ],
    );
    let mut expected = voters(&[1, 2, 3]);
    expected.learners.insert(4);
    assert_eq!(c.node(1).config(), &expected);
}

#[test]
fn membership_change_waits_until_every_proposal_in_flight_is_chosen() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "a");
    c.step(1, Input::Command(x));
    assert_actions(&c.step(1, reconfigure(9, ConfigChange::AddLearner(4))), &[]);
    c.drop_messages();
    c.complete_writes(1);

    let add = Value::Reconfig(ConfigChange::AddLearner(4));
    let actions = c.step(1, accepted(2, 1));
    assert_actions(
        &actions,
        &[
            persist(4, vec![accept_record(3, add.clone()), Record::Commit(2)]),
            reply(7, 1, ok("1")),
            send(2, accept(3, add.clone(), 2)),
            send(3, accept(3, add.clone(), 2)),
            send(4, accept(3, add, 2)),
        ],
    );
}

#[test]
fn second_membership_change_while_one_is_in_progress_is_rejected() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, reconfigure(9, ConfigChange::AddLearner(4)));
    let actions = c.step(1, reconfigure(10, ConfigChange::AddLearner(5)));
    assert_actions(
        &actions,
        &[reconfig_reply(
            10,
            Outcome::Rejected("another membership change is in progress".into()),
        )],
    );
}

#[test]
fn promote_of_a_lagging_learner_is_rejected_with_a_message() {
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            promote_lag_slots_max: 1,
            ..cfg()
        },
    );
    c.elect(1);
    c.step(1, reconfigure(9, ConfigChange::AddLearner(4)));
    // Node 4 is not running: it hears nothing and stays at slot 0.
    c.settle();
    assert_eq!(c.node(1).commit(), 2);

    let actions = c.step(1, reconfigure(10, ConfigChange::Promote(4)));
    assert_actions(
        &actions,
        &[reconfig_reply(
            10,
            Outcome::Rejected("learner 4 lags 2 slots behind; wait until it catches up".into()),
        )],
    );
}

#[test]
fn promote_of_a_node_that_is_not_a_learner_is_rejected() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let actions = c.step(1, reconfigure(10, ConfigChange::Promote(4)));
    assert_actions(
        &actions,
        &[reconfig_reply(
            10,
            Outcome::Rejected("node 4 is not a learner".into()),
        )],
    );
}

#[test]
fn reconfigure_at_a_follower_is_answered_not_leader() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    c.settle();
    let actions = c.step(2, reconfigure(9, ConfigChange::AddLearner(4)));
    assert_actions(
        &actions,
        &[reconfig_reply(9, Outcome::NotLeader { leader: Some(1) })],
    );
}

/// Leader 1 of {1, 2, 3} added learner 4, which is now running and has
/// caught up through heartbeats and catch-up.
fn cluster_with_caught_up_learner() -> Cluster {
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            promote_lag_slots_max: 1,
            ..cfg()
        },
    );
    c.elect(1);
    c.step(1, reconfigure(9, ConfigChange::AddLearner(4)));
    c.settle();
    c.add_node(4, cfg());
    for _ in 0..2 {
        c.now += cfg().heartbeat_interval_us;
        c.tick(1);
        c.settle();
    }
    c
}

#[test]
fn learner_that_caught_up_knows_the_whole_configuration_and_state() {
    let c = cluster_with_caught_up_learner();
    assert_eq!(c.node(4).applied(), 2);
    assert_eq!(c.node(4).config(), c.node(1).config());
    assert_eq!(c.node(4).state_digest(), c.node(1).state_digest());
}

#[test]
fn caught_up_learner_is_promoted_and_then_votes() {
    let mut c = cluster_with_caught_up_learner();
    let promote = Value::Reconfig(ConfigChange::Promote(4));
    let actions = c.step(1, reconfigure(10, ConfigChange::Promote(4)));
    assert_actions(
        &actions,
        &[
            persist(5, vec![accept_record(3, promote.clone())]),
            send(2, accept(3, promote.clone(), 2)),
            send(3, accept(3, promote.clone(), 2)),
            send(4, accept(3, promote, 2)),
        ],
    );
    c.settle();
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    c.settle();
    let all = voters(&[1, 2, 3, 4]);
    for id in [1, 2, 3, 4] {
        assert_eq!(c.node(id).config(), &all, "node {id}");
    }
    assert!(c.replies.iter().any(|(n, a)| *n == 1
        && format!("{a:?}")
            == format!(
                "{:?}",
                reconfig_reply(10, Outcome::Ok(3u64.to_be_bytes().to_vec()))
            )));
}

/// Raft's rule, carried over: elections use the latest configuration in the
/// log, chosen or not. Voters {1, 2} promote learner 3; the leader applies
/// the change and dies before the others learn it is chosen. Nodes 2 and 3
/// are a majority of the new configuration and must elect a leader; phase 1
/// with {2, 3} meets every majority of the old configuration {1, 2} too.
#[test]
fn after_the_leader_dies_right_after_a_promote_the_new_majority_elects() {
    let mut c = Cluster::new(
        &[1, 2],
        EngineConfig {
            promote_lag_slots_max: 1,
            ..cfg()
        },
    );
    c.elect(1);
    c.step(1, reconfigure(9, ConfigChange::AddLearner(3)));
    c.settle();
    c.add_node(3, cfg());
    for _ in 0..2 {
        c.now += cfg().heartbeat_interval_us;
        c.tick(1);
        c.settle();
    }
    c.step(1, reconfigure(10, ConfigChange::Promote(3)));
    // Node 2 and learner 3 accept the promotion; node 1 learns it is
    // chosen and applies it; nobody else hears that before node 1 dies.
    for _ in 0..4 {
        let ids: Vec<u64> = c.pending.keys().copied().collect();
        for id in ids {
            c.complete_writes(id);
        }
        let in_flight: Vec<_> = c.net.drain(..).collect();
        for (src, dst, msg) in in_flight {
            if src == 1 || dst == 1 {
                c.step(dst, from(src, msg));
            }
        }
        c.net.clear();
    }
    assert_eq!(c.node(1).config(), &voters(&[1, 2, 3]));
    assert_eq!(
        c.node(2).config().voters.len(),
        2,
        "node 2 has not applied it"
    );
    c.nodes.remove(&1);
    c.drop_messages();
    c.pending.remove(&1);

    c.now += 3 * cfg().election_timeout_us;
    c.tick(2);
    c.settle();
    let leaders: Vec<u64> = [2, 3]
        .into_iter()
        .filter(|id| c.node(*id).is_active_leader())
        .collect();
    assert_eq!(
        leaders.len(),
        1,
        "nodes 2 and 3 elect one leader: {leaders:?}"
    );
    // The promotion the old leader began is chosen by the new majority
    // (it governs its own slot), and writes commit again.
    let l = leaders[0];
    c.step(l, Input::Command(command(7, 1, "after")));
    c.settle();
    assert_eq!(c.node(l).config(), &voters(&[1, 2, 3]));
    assert!(
        c.replies.iter().any(|(n, a)| *n == l
            && matches!(
                a,
                Action::Reply {
                    client: 7,
                    seq: 1,
                    outcome: Outcome::Ok(_)
                }
            )),
        "the write after the failover was not answered: {:?}",
        c.replies
    );
}

/// Issue 10, finding 1 (`synod sim --seed 91015062 --profile all`): voters
/// {1, 2, 3, 4} with learner 5. An earlier leader's `Promote(5)` at slot 1
/// may have been chosen by {1, 2, 5}: a change governs its own slot, so
/// there it needed 3 of the 5 voters. Node 4 never saw it; its log holds
/// an unchosen `Remove(2)` at slot 2. Promises from {3, 4} meet every
/// majority of {1, 2, 3, 4} (Flexible Paxos) but not {1, 2, 5}: phase 1
/// must not end there, or node 4 fills slot 1 with a no-op and two values
/// are chosen for it. It needs a majority of the configuration before each
/// open slot (a majority meets every majority of a one-node neighbour,
/// whatever unseen change the slot holds), finds the promotion, and
/// re-proposes it verbatim.
#[test]
fn phase_1_needs_a_majority_of_the_configuration_before_each_open_slot_and_reproposes_an_unseen_change(
) {
    let mut config = voters(&[1, 2, 3, 4]);
    config.learners.insert(5);
    let remove = Value::Reconfig(ConfigChange::Remove(2));
    let promote = Value::Reconfig(ConfigChange::Promote(5));
    let durable = synod_paxos::DurableState::replay(&[Record::Accept {
        slot: 2,
        ballot: ballot(3, 1),
        value: remove.clone(),
    }]);
    let mut n = recover(4, cfg(), config, durable, 0);
    let b = ballot(4, 4);

    // Elections use the latest configuration in the log, {1, 3, 4}.
    let actions = n.step(T0, Input::Tick);
    assert_actions(
        &actions,
        &[
            send(1, Message::PreVote { ballot: b }),
            send(3, Message::PreVote { ballot: b }),
        ],
    );
    let granted = Message::PreVoteReply {
        ballot: b,
        granted: true,
    };
    let actions = n.step(T0, from(3, granted));
    let prepare = Message::Prepare {
        ballot: b,
        from_slot: 1,
    };
    assert_actions(
        &actions,
        &[
            persist(1, vec![Record::Promise(b)]),
            send(1, prepare.clone()),
            send(3, prepare.clone()),
        ],
    );
    // Its own promise is durable: {1, 2, 3, 4} governs slot 1, so node 2
    // is asked too.
    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(&actions, &[send(2, prepare)]);

    let promise = |accepted: Vec<Reported>| Message::Promise {
        ballot: b,
        from_slot: 1,
        compacted_upto: 0,
        commit: 0,
        more: None,
        accepted,
    };
    let actions = n.step(T0, from(3, promise(vec![])));
    assert!(
        sends(&actions).is_empty() && !n.is_active_leader(),
        "promises from {{3, 4}} are not a majority of {{1, 2, 3, 4}}: {actions:?}"
    );

    // Node 2 reports the promotion: slot 2 is then governed by
    // {1, 2, 3, 4, 5} and later slots by {1, 3, 4, 5}, of which only
    // {3, 4} promised. Learner 5 is asked.
    let reported = Reported {
        slot: 1,
        ballot: ballot(2, 1),
        value: promote.clone(),
        chosen: false,
    };
    let actions = n.step(T0, from(2, promise(vec![reported.clone()])));
    assert_actions(
        &actions,
        &[send(
            5,
            Message::Prepare {
                ballot: b,
                from_slot: 1,
            },
        )],
    );
    assert!(!n.is_active_leader());

    n.step(T0, from(5, promise(vec![reported])));
    assert!(n.is_active_leader(), "{{3, 4, 5}} completes phase 1");
    assert_eq!(n.log_entry(1).map(|(_, v, _)| v.clone()), Some(promote));
    assert_eq!(n.log_entry(2).map(|(_, v, _)| v.clone()), Some(remove));
    assert_eq!(n.log_entry(3).map(|(_, v, _)| v.clone()), Some(Value::Noop));
}

/// `synod sim --seed 117446 --profile all` (one seed of 63,600 in a sweep):
/// node 1 of voters {1, 2, 3, 4} (learner 5) was cut off at commit 0. Node
/// 2 reports `Promote(5)` chosen at slot 1, so slots from 2 are governed
/// by {1, 2, 3, 4, 5}, of which {1, 2, 5} promised: a majority. But node 5
/// has compacted up to slot 10: those slots are chosen (there, unseen by
/// node 1, `Remove(2)` and later writes), and its promise cannot say with
/// what. Phase 1 must not end before node 1 has caught up to node 5's
/// compaction point, or it fills slot 2 with a no-op over a chosen value.
/// The catch-up used to wait for a majority of the configuration at node
/// 1's commit point ({1, 2, 3, 4}), which {1, 2, 5} is not, while phase 1
/// itself ended on the majority of the configuration it learned.
#[test]
fn phase_1_does_not_end_below_a_promises_compaction_point_whatever_majority_it_holds() {
    let mut config = voters(&[1, 2, 3, 4]);
    config.learners.insert(5);
    let mut n = recover(1, cfg(), config, synod_paxos::DurableState::default(), 0);
    let actions = n.step(T0, Input::Tick);
    let Some(b) = sends(&actions).iter().find_map(|(_, m)| match m {
        Message::PreVote { ballot } => Some(*ballot),
        _ => None,
    }) else {
        panic!("node 1 asks for pre-votes: {actions:?}");
    };
    let granted = Message::PreVoteReply {
        ballot: b,
        granted: true,
    };
    n.step(T0, from(2, granted.clone()));
    n.step(T0, from(3, granted));
    n.step(T0, Input::Persisted { id: 1 });
    let promise = |compacted_upto: u64, accepted: Vec<Reported>| Message::Promise {
        ballot: b,
        from_slot: 1,
        compacted_upto,
        commit: compacted_upto,
        more: None,
        accepted,
    };
    let promoted = Reported {
        slot: 1,
        ballot: ballot(2, 2),
        value: Value::Reconfig(ConfigChange::Promote(5)),
        chosen: true,
    };
    n.step(T0, from(2, promise(0, vec![promoted])));
    let actions = n.step(T0, from(5, promise(10, vec![])));
    assert!(
        !n.is_active_leader(),
        "phase 1 ended below node 5's compaction point: slot 2 is {:?}",
        n.log_entry(2)
    );
    assert!(
        sends(&actions)
            .iter()
            .any(|(to, m)| *to == 5 && matches!(m, Message::CatchupRequest { .. })),
        "node 1 catches up from node 5 first: {actions:?}"
    );
}

#[test]
fn a_change_submitted_at_a_follower_is_made_by_the_leader_and_answered_there_with_its_slot() {
    let mut c = cluster_with_caught_up_learner();
    let actions = c.step(
        2,
        Input::SubmitReconfigure {
            id: 11,
            change: ConfigChange::Promote(4),
        },
    );
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                to: 1,
                msg: Message::ReconfigForward { id: 11, .. }
            }
        )),
        "{actions:?}"
    );
    c.settle();
    assert!(c.node(1).config().voters.contains(&4));
    let answered = reconfig_reply(11, Outcome::Ok(3u64.to_be_bytes().to_vec()));
    assert!(c
        .replies
        .iter()
        .any(|(n, a)| *n == 2 && format!("{a:?}") == format!("{answered:?}")));
}
