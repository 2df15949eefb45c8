//! Submitting at any node (`Input::Propose`), each test named after the
//! sentence it checks.
//!
//! A follower takes the command in, holds it (at most `forwarded_max`,
//! beyond that `Busy`) and forwards it to the leader it follows in one
//! `Forward` per step; with no leader known it holds it until one appears.
//! It sends again to a new leader at once and to the same leader every
//! `forward_retry_us`. The leader proposes a forwarded command once, however
//! often it arrives, and answers nobody for it; anyone else drops it. The
//! follower answers when it applies the command itself (or when a snapshot
//! it installs covers it), never when the leader applied it. A follower
//! that becomes leader proposes what it held, or, with
//! `return_held_on_takeover`, answers it `NotLeader` naming itself.
//!
//! Every test asserts the exact actions of the step under test.

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_paxos::{
    Action, Ballot, ClientRecord, EngineConfig, Input, Message, NodeId, Outcome, Record, Snapshot,
    StateMachine,
};

fn forward(cmds: &[&synod_paxos::Command]) -> Message {
    Message::Forward {
        commands: cmds.iter().map(|c| (*c).clone()).collect(),
    }
}

fn heartbeat_ack(b: Ballot, seq: u64, commit: u64) -> Message {
    Message::HeartbeatAck {
        ballot: b,
        seq,
        commit,
    }
}

fn replies_of(c: &Cluster, node: NodeId) -> Vec<Action> {
    c.replies
        .iter()
        .filter(|(n, _)| *n == node)
        .map(|(_, a)| a.clone())
        .collect()
}

/// Node 2 of {1, 2, 3}, following leader 1 in ballot 1.1 since `T0`.
fn follower_of_1(cfg: EngineConfig) -> TestNode {
    let mut n = new_node(2, cfg, voters(&[1, 2, 3]));
    let actions = n.step(T0, from(1, heartbeat(ballot(1, 1), 0, 1)));
    assert_actions(&actions, &[send(1, heartbeat_ack(ballot(1, 1), 1, 0))]);
    n
}

/// Lets leader 1 send a heartbeat carrying its commit point and delivers
/// it to `to`, returning `to`'s actions.
fn commit_point_to(c: &mut Cluster, to: NodeId) -> Vec<Action> {
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    let actions = c.deliver(1, to);
    c.settle();
    actions
}

// ---- a follower forwards ----

#[test]
fn follower_forwards_a_proposed_command_to_the_leader_it_follows() {
    let mut n = follower_of_1(cfg());
    let x = command(7, 1, "x");
    let actions = n.step(T0, Input::Propose(x.clone()));
    assert_actions(&actions, &[send(1, forward(&[&x]))]);
    assert_eq!(n.forwarded_len(), 1);

    // A client retry of a held command sends nothing more.
    assert_actions(&n.step(T0, Input::Propose(x)), &[]);
}

#[test]
fn command_on_a_follower_still_answers_not_leader() {
    let mut n = follower_of_1(cfg());
    let actions = n.step(T0, Input::Command(command(7, 1, "x")));
    assert_actions(
        &actions,
        &[reply(7, 1, Outcome::NotLeader { leader: Some(1) })],
    );
    assert_eq!(n.forwarded_len(), 0);
}

#[test]
fn propose_on_the_leader_is_a_command() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    let actions = c.step(1, Input::Propose(x.clone()));
    let b = ballot(1, 1);
    let accept = Message::Accept {
        ballot: b,
        entries: vec![(2, one(&x))],
        commit: 1,
    };
    assert_actions(
        &actions,
        &[
            persist(
                3,
                vec![
                    Record::Accept {
                        slot: 2,
                        ballot: b,
                        value: one(&x),
                    },
                    // The commit point rides on the next write.
                    Record::Commit(1),
                ],
            ),
            send(2, accept.clone()),
            send(3, accept),
        ],
    );
    c.settle();
    assert_actions(&replies_of(&c, 1), &[reply(7, 1, ok("1"))]);
}

#[test]
fn proposed_command_with_no_leader_known_is_held_and_sent_when_a_leader_appears() {
    // A fresh node has heard no leader yet.
    let mut n = node3(2);
    let (x, y) = (command(7, 1, "x"), command(8, 1, "y"));
    assert_actions(&n.step(T0, Input::Propose(x.clone())), &[]);
    assert_actions(&n.step(T0, Input::Propose(y.clone())), &[]);
    assert_eq!(n.forwarded_len(), 2);

    // Both go to the leader as soon as it is heard, in one message.
    let b = ballot(1, 1);
    let actions = n.step(T0, from(1, heartbeat(b, 0, 1)));
    assert_actions(
        &actions,
        &[send(1, heartbeat_ack(b, 1, 0)), send(1, forward(&[&x, &y]))],
    );
}

#[test]
fn proposed_commands_beyond_forwarded_max_are_refused_busy() {
    let mut n = follower_of_1(EngineConfig {
        forwarded_max: 2,
        ..cfg()
    });
    n.step(T0, Input::Propose(command(7, 1, "x")));
    n.step(T0, Input::Propose(command(8, 1, "y")));
    let actions = n.step(T0, Input::Propose(command(9, 1, "z")));
    assert_actions(&actions, &[reply(9, 1, Outcome::Busy)]);
    assert_eq!(n.forwarded_len(), 2);
}

// ---- the leader's side ----

#[test]
fn leader_proposes_a_forwarded_command_and_answers_nobody_for_it() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    let b = ballot(1, 1);
    let actions = c.step(1, from(2, forward(&[&x])));
    let accept = Message::Accept {
        ballot: b,
        entries: vec![(2, one(&x))],
        commit: 1,
    };
    assert_actions(
        &actions,
        &[
            persist(
                3,
                vec![
                    Record::Accept {
                        slot: 2,
                        ballot: b,
                        value: one(&x),
                    },
                    // The commit point rides on the next write.
                    Record::Commit(1),
                ],
            ),
            send(2, accept.clone()),
            send(3, accept),
        ],
    );
    c.settle();
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x"]));
    assert_actions(&replies_of(&c, 1), &[]);
}

#[test]
fn node_that_does_not_lead_drops_a_forward() {
    let mut n = follower_of_1(cfg());
    let actions = n.step(T0, from(3, forward(&[&command(7, 1, "x")])));
    assert_actions(&actions, &[]);
    assert_eq!(n.forwarded_len(), 0);
}

#[test]
fn client_retrying_at_the_leader_a_command_a_follower_forwarded_is_answered_there_too() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    c.deliver(2, 1);
    // On its way into the log already: not proposed again.
    assert_actions(&c.step(1, Input::Command(x)), &[]);
    c.settle();
    commit_point_to(&mut c, 2);
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x"]));
    assert_actions(&replies_of(&c, 1), &[reply(7, 1, ok("1"))]);
    assert_actions(&replies_of(&c, 2), &[reply(7, 1, ok("1"))]);
}

// ---- the follower answers after its own apply ----

#[test]
fn follower_answers_a_forwarded_command_when_it_applies_it_which_the_leader_tells_it_at_once() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    c.deliver(2, 1);
    c.complete_writes(1);
    // The leader proposes it; node 3 accepts, so it is chosen and the
    // leader applies it. It does not answer (the client is node 2's), and
    // it tells every follower the new commit point at once instead of at
    // the next heartbeat.
    c.deliver(1, 3);
    c.complete_writes(3);
    let mut actions = c.deliver(3, 1);
    actions.extend(c.complete_writes(1));
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x"]));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                to: 2,
                msg: Message::Heartbeat { commit: 2, .. }
            }
        )),
        "the leader tells node 2 the commit point now: {actions:?}"
    );
    assert!(c.replies.is_empty(), "answered before node 2 applied it");
    c.settle();
    assert_eq!(c.node(2).state_machine(), &AppendLog::of(&["x"]));
    assert_actions(&replies_of(&c, 2), &[reply(7, 1, ok("1"))]);
    assert_eq!(c.node(2).forwarded_len(), 0);

    // A retry after the apply is answered from node 2's own table.
    let actions = c.step(2, Input::Propose(x));
    assert_actions(&actions, &[reply(7, 1, ok("1"))]);
}

#[test]
fn duplicate_forwards_of_one_command_are_applied_once_and_answered_once() {
    let retry = 100_000;
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            forward_retry_us: retry,
            ..cfg()
        },
    );
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    // The network duplicates the forward; node 2 also retries it before
    // anything applied.
    let dup = c.net.back().cloned().expect("a forward in flight");
    c.net.push_back(dup);
    c.now += retry;
    let actions = c.tick(2);
    // (The tick also writes node 2's commit point, unwritten for longer
    // than a heartbeat interval.)
    assert_actions(
        &actions,
        &[persist(3, vec![Record::Commit(1)]), send(1, forward(&[&x]))],
    );
    c.settle();
    // And once more after the leader applied it.
    assert_actions(&c.step(1, from(2, forward(&[&x]))), &[]);
    commit_point_to(&mut c, 2);

    // Proposed in one slot only, applied once everywhere.
    let slots: Vec<u64> = c
        .node(1)
        .chosen_values()
        .filter(|(_, v)| **v == one(&x))
        .map(|(s, _)| s)
        .collect();
    assert_eq!(slots, vec![2]);
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).state_machine(), &AppendLog::of(&["x"]));
    }
    assert_actions(&replies_of(&c, 1), &[]);
    assert_actions(&replies_of(&c, 2), &[reply(7, 1, ok("1"))]);
}

// ---- retries and leader changes ----

#[test]
fn forwarded_command_is_sent_again_after_forward_retry_us_and_at_once_to_a_new_leader() {
    let retry = 100_000;
    let mut n = follower_of_1(EngineConfig {
        forward_retry_us: retry,
        ..cfg()
    });
    let x = command(7, 1, "x");
    n.step(T0, Input::Propose(x.clone()));

    // The forward was lost: nothing before the retry interval, then again.
    assert_actions(&n.step(T0 + retry - 1, Input::Tick), &[]);
    assert_actions(&n.step(T0 + retry, Input::Tick), &[send(1, forward(&[&x]))]);

    // Leadership moves to node 3: the command goes there at once...
    let b3 = ballot(2, 3);
    let t = T0 + retry + 10_000;
    let actions = n.step(t, from(3, heartbeat(b3, 0, 1)));
    assert_actions(
        &actions,
        &[send(3, heartbeat_ack(b3, 1, 0)), send(3, forward(&[&x]))],
    );
    // ...and its retries too.
    assert_actions(&n.step(t + retry - 1, Input::Tick), &[]);
    assert_actions(&n.step(t + retry, Input::Tick), &[send(3, forward(&[&x]))]);
}

#[test]
fn retried_forward_reaches_the_new_leader_after_a_leader_change_and_is_answered() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    c.drop_messages();

    // Leader 1 goes quiet; node 3 is elected once the leases ran out.
    c.nodes.remove(&1);
    c.now += 2 * cfg().election_timeout_us;
    c.elect(3);
    c.now += cfg().heartbeat_interval_us;
    c.tick(3);
    c.settle();
    assert_eq!(c.node(3).state_machine(), &AppendLog::of(&["x"]));
    assert_eq!(c.node(2).state_machine(), &AppendLog::of(&["x"]));
    assert_actions(&replies_of(&c, 2), &[reply(7, 1, ok("1"))]);
}

#[test]
fn follower_that_becomes_leader_proposes_what_it_held() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    c.drop_messages();

    c.nodes.remove(&1);
    c.now += 2 * cfg().election_timeout_us;
    c.tick(2);
    // Deliver until node 2 finishes phase 1; that step proposes x.
    let mut led = None;
    while let Some((_, to, actions)) = c.deliver_next() {
        if to == 2 && c.node(2).is_active_leader() {
            led = Some(actions);
            break;
        }
        let ids: Vec<NodeId> = c.pending.keys().copied().collect();
        for id in ids {
            c.complete_writes(id);
        }
    }
    let actions = led.expect("node 2 leads");
    let b = c.node(2).promised();
    let proposed: Vec<(NodeId, Message)> = sends(&actions)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Accept { entries, .. } if entries[0].1 == one(&x)))
        .collect();
    // Slot 1 is leader 1's no-op; slot 2 opens node 2's leadership. Node 2
    // knows slot 1 is chosen: leader 1 told its commit point at once.
    let accept = Message::Accept {
        ballot: b,
        entries: vec![(3, one(&x))],
        commit: 1,
    };
    assert_eq!(proposed, vec![(1, accept.clone()), (3, accept)]);
    assert_eq!(c.node(2).forwarded_len(), 0);
    c.settle();
    assert_eq!(c.node(2).state_machine(), &AppendLog::of(&["x"]));
    assert_actions(&replies_of(&c, 2), &[reply(7, 1, ok("1"))]);
}

/// With `return_held_on_takeover` (the service node's setting), the same
/// takeover proposes nothing it held: each held command is answered
/// `NotLeader` naming the node itself, for its host to propose again.
#[test]
fn follower_that_becomes_leader_returns_what_it_held_when_told_to() {
    let told = EngineConfig {
        return_held_on_takeover: true,
        ..cfg()
    };
    let mut c = Cluster::new(&[1, 2, 3], told.clone());
    c.elect(1);
    let x = command(7, 1, "x");
    c.step(2, Input::Propose(x.clone()));
    c.drop_messages();

    c.nodes.remove(&1);
    c.now += 2 * told.election_timeout_us;
    c.tick(2);
    while let Some((_, to, _)) = c.deliver_next() {
        if to == 2 && c.node(2).is_active_leader() {
            break;
        }
        let ids: Vec<NodeId> = c.pending.keys().copied().collect();
        for id in ids {
            c.complete_writes(id);
        }
    }
    assert!(c.node(2).is_active_leader(), "node 2 leads");
    assert_eq!(c.node(2).forwarded_len(), 0);
    assert!(!c.node(2).in_flight(7, 1), "x was not taken in");
    assert_actions(
        &replies_of(&c, 2),
        &[reply(7, 1, Outcome::NotLeader { leader: Some(2) })],
    );
    c.settle();
    assert_eq!(c.node(2).state_machine(), &AppendLog::of(&[]));
    // Proposed again, it is a command like any other.
    c.step(2, Input::Propose(x.clone()));
    assert!(c.node(2).in_flight(7, 1));
    c.settle();
    assert_eq!(c.node(2).state_machine(), &AppendLog::of(&["x"]));
}

#[test]
fn candidate_that_fails_phase_one_keeps_holding_its_proposed_commands() {
    let mut n = node3(2);
    let x = command(7, 1, "x");
    n.step(T0, Input::Propose(x));
    let actions = n.step(T0, Input::Tick);
    let Some((_, Message::PreVote { ballot: b })) = sends(&actions).first().cloned() else {
        panic!("no pre-vote in {actions:?}");
    };
    step_durably(
        &mut n,
        T0,
        from(
            3,
            Message::PreVoteReply {
                ballot: b,
                granted: true,
            },
        ),
    );
    assert_eq!(n.role_name(), "preparing");
    let actions = n.step(T0 + cfg().election_timeout_us, Input::Tick);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Reply { .. })),
        "a held command was answered: {actions:?}"
    );
    assert_eq!(n.role_name(), "follower");
    assert_eq!(n.forwarded_len(), 1);
}

// ---- snapshots ----

/// A snapshot at slot 3 in which client 7's latest command is #2 (reply
/// "2"), over the items "a" and "b".
fn snapshot_with_client_7_at_2() -> Snapshot {
    Snapshot {
        last_slot: 3,
        config: voters(&[1, 2, 3]),
        clients: BTreeMap::from([(
            7,
            ClientRecord {
                seq: 2,
                reply: b"2".to_vec(),
                slot: 3,
            },
        )]),
        state: AppendLog::of(&["a", "b"]).snapshot_data(),
    }
}

#[test]
fn follower_installing_a_snapshot_answers_the_held_commands_it_covers() {
    let mut n = follower_of_1(cfg());
    n.step(T0, Input::Propose(command(7, 1, "a")));
    n.step(T0, Input::Propose(command(7, 2, "b")));
    n.step(T0, Input::Propose(command(8, 1, "c")));
    let snap = snapshot_with_client_7_at_2();
    let actions = n.step(
        T0,
        from(
            1,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap.clone())),
                entries: vec![],
                commit: 3,
            },
        ),
    );
    assert_actions(
        &actions,
        &[
            persist(1, vec![Record::Snapshot(Box::new(snap))]),
            reply(7, 1, Outcome::Stale),
            reply(7, 2, ok("2")),
        ],
    );
    // Client 8's command is not in the snapshot: still held.
    assert_eq!(n.forwarded_len(), 1);
}

#[test]
fn preparing_leader_installing_a_snapshot_answers_the_commands_it_covers() {
    // Node 1 is preparing; a client's command waits in its queue; a
    // promise says slots were compacted, so it catches up from a snapshot
    // that already holds the command.
    let mut n = node3(1);
    let actions = n.step(T0, Input::Tick);
    let Some((_, Message::PreVote { ballot: b })) = sends(&actions).first().cloned() else {
        panic!("no pre-vote in {actions:?}");
    };
    step_durably(
        &mut n,
        T0,
        from(
            2,
            Message::PreVoteReply {
                ballot: b,
                granted: true,
            },
        ),
    );
    assert_actions(&n.step(T0, Input::Command(command(7, 2, "b"))), &[]);
    let actions = n.step(
        T0,
        from(
            2,
            Message::Promise {
                ballot: b,
                from_slot: 1,
                compacted_upto: 3,
                commit: 0,
                more: None,
                accepted: vec![],
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(2, Message::CatchupRequest { from_slot: 1 })],
    );

    let snap = snapshot_with_client_7_at_2();
    let actions = n.step(
        T0,
        from(
            2,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap.clone())),
                entries: vec![],
                commit: 3,
            },
        ),
    );
    let prepare = Message::Prepare {
        ballot: b,
        from_slot: 4,
    };
    assert_actions(
        &actions,
        &[
            persist(2, vec![Record::Snapshot(Box::new(snap))]),
            reply(7, 2, ok("2")),
            send(2, prepare.clone()),
            send(3, prepare),
        ],
    );
}
