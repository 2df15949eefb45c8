//! The replica's rules, each test named after the sentence it checks.
//!
//! From DESIGN.md: chosen commands are applied in slot order, exactly once
//! per (client, sequence number); the replicated state keeps each client's
//! last reply and drops duplicates. Every `snapshot_interval_slots` applied
//! slots the replica persists a snapshot and truncates its log; a lagging
//! replica catches up from the log or, below the truncation, from the
//! snapshot, and ends in the same state.
//!
//! The state machine is an append-only list, so a second apply of one
//! command would show as a second item.

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_paxos::{
    Action, ClientRecord, EngineConfig, Input, Message, NodeId, Outcome, Record, Snapshot,
    StateMachine,
};

fn replies_of(c: &Cluster, node: NodeId) -> Vec<Action> {
    c.replies
        .iter()
        .filter(|(n, _)| *n == node)
        .map(|(_, a)| a.clone())
        .collect()
}

// ---- exactly-once ----

#[test]
fn command_is_applied_once_and_a_retry_after_it_applied_gets_the_stored_reply() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.settle();
    assert_actions(&replies_of(&c, 1), &[reply(7, 1, ok("1"))]);

    // The retry is answered from the client table: no write, no proposal.
    let actions = c.step(1, Input::Command(command(7, 1, "x")));
    assert_actions(&actions, &[reply(7, 1, ok("1"))]);
    c.settle();
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x"]));
}

#[test]
fn command_retried_while_on_its_way_into_the_log_is_not_proposed_again() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    assert_actions(&c.step(1, Input::Command(command(7, 1, "x"))), &[]);
    c.settle();
    assert_actions(&replies_of(&c, 1), &[reply(7, 1, ok("1"))]);
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x"]));
}

#[test]
fn command_older_than_the_clients_latest_gets_stale() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.settle();
    c.step(1, Input::Command(command(7, 2, "y")));
    c.settle();

    let actions = c.step(1, Input::Command(command(7, 1, "x")));
    assert_actions(&actions, &[reply(7, 1, Outcome::Stale)]);
    assert_eq!(c.node(1).state_machine(), &AppendLog::of(&["x", "y"]));
}

#[test]
fn duplicate_command_chosen_in_two_slots_is_applied_once() {
    let mut n = node3(2);
    let b = ballot(1, 1);
    let x = command(7, 1, "x");
    for slot in [1, 2] {
        step_durably(
            &mut n,
            T0,
            from(
                1,
                Message::Accept {
                    ballot: b,
                    entries: vec![(slot, one(&x))],
                    commit: 0,
                },
            ),
        );
    }
    let actions = n.step(
        T0,
        from(
            1,
            Message::Heartbeat {
                ballot: b,
                commit: 2,
                seq: 1,
            },
        ),
    );
    assert_actions(
        &actions,
        &[send(
            1,
            Message::HeartbeatAck {
                ballot: b,
                seq: 1,
                commit: 2,
            },
        )],
    );
    assert_eq!(n.applied(), 2);
    assert_eq!(n.state_machine(), &AppendLog::of(&["x"]));
}

#[test]
fn command_older_than_one_applied_before_it_in_the_same_batch_is_answered_stale() {
    // The window holds one slot, so both commands of client 7 wait and go
    // into one batch, the newer first.
    let mut c = Cluster::new(
        &[1, 2, 3],
        EngineConfig {
            window_slots: 1,
            ..cfg()
        },
    );
    c.elect(1);
    c.step(1, Input::Command(command(5, 1, "first")));
    c.step(1, Input::Command(command(7, 2, "new")));
    c.step(1, Input::Command(command(7, 1, "old")));
    c.settle();

    assert_eq!(
        c.node(1).state_machine(),
        &AppendLog::of(&["first", "new"]),
        "the older command is never applied"
    );
    // Every command this leader took in gets exactly one answer.
    assert_actions(
        &replies_of(&c, 1),
        &[
            reply(5, 1, ok("1")),
            reply(7, 2, ok("2")),
            reply(7, 1, Outcome::Stale),
        ],
    );
}

// ---- snapshots and catch-up ----

fn snapshot_cfg() -> EngineConfig {
    EngineConfig {
        snapshot_interval_slots: 3,
        log_retain_slots: 0,
        ..cfg()
    }
}

/// Leader 1 of {1, 2, 3} applied the no-op (slot 1), "a" (slot 2) and "b"
/// (slot 3) of client 7, and snapshotted at slot 3. Returns the snapshot.
fn cluster_with_snapshot() -> (Cluster, Snapshot) {
    let mut c = Cluster::new(&[1, 2, 3], snapshot_cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "a")));
    c.settle();
    c.step(1, Input::Command(command(7, 2, "b")));
    c.drop_messages();
    c.complete_writes(1);
    let b = ballot(1, 1);

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
    let snap = Snapshot {
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
    };
    assert_actions(
        &actions,
        &[
            // The snapshot implies commit point 3: no Commit record.
            persist(5, vec![Record::Snapshot(Box::new(snap.clone()))]),
            reply(7, 2, ok("2")),
            // Nothing else carries commit 3 to the followers.
            send(2, heartbeat(b, 3, 4)),
            send(3, heartbeat(b, 3, 4)),
        ],
    );
    c.complete_writes(1);
    (c, snap)
}

#[test]
fn replica_persists_a_snapshot_after_snapshot_interval_slots_applied_slots() {
    let (c, snap) = cluster_with_snapshot();
    assert_eq!(c.node(1).snapshot_slot(), 3);
    assert_eq!(c.durable_state(1).snapshot, Some(snap));
    // log_retain_slots = 0: nothing of the log stays below the snapshot.
    assert_eq!(c.node(1).chosen_values().count(), 0);
}

#[test]
fn catchup_request_for_a_compacted_slot_is_answered_with_the_snapshot() {
    let (mut c, snap) = cluster_with_snapshot();
    let actions = c.step(1, from(3, Message::CatchupRequest { from_slot: 2 }));
    assert_actions(
        &actions,
        &[send(
            3,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap)),
                entries: vec![],
                commit: 3,
            },
        )],
    );
}

#[test]
fn catchup_request_below_compaction_gets_the_snapshot_and_the_chosen_entries_after_it() {
    let (mut c, snap) = cluster_with_snapshot();
    c.step(1, Input::Command(command(8, 1, "c")));
    c.settle();
    assert_eq!(c.node(1).commit(), 4);

    let actions = c.step(1, from(3, Message::CatchupRequest { from_slot: 2 }));
    assert_actions(
        &actions,
        &[send(
            3,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap)),
                entries: vec![(4, batch(&[command(8, 1, "c")]))],
                commit: 4,
            },
        )],
    );
}

#[test]
fn node_receiving_a_snapshot_restores_the_same_state() {
    let (mut c, snap) = cluster_with_snapshot();
    c.step(1, Input::Command(command(8, 1, "c")));
    c.settle();
    let c_value = batch(&[command(8, 1, "c")]);

    let mut fresh = new_node(4, snapshot_cfg(), synod_paxos::Config::default());
    let actions = fresh.step(
        T0,
        from(
            1,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap.clone())),
                entries: vec![(4, c_value.clone())],
                commit: 4,
            },
        ),
    );
    assert_actions(
        &actions,
        &[persist(
            1,
            vec![
                Record::Snapshot(Box::new(snap)),
                Record::Learned {
                    slot: 4,
                    value: c_value,
                },
                Record::Commit(4),
            ],
        )],
    );
    assert_eq!(fresh.applied(), 4);
    assert_eq!(fresh.snapshot_slot(), 3);
    assert_eq!(fresh.config(), c.node(1).config());
    assert_eq!(fresh.state_digest(), c.node(1).state_digest());
    assert_eq!(fresh.state_machine(), &AppendLog::of(&["a", "b", "c"]));
}

#[test]
fn catchup_request_is_answered_with_the_chosen_entries_from_from_slot() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "a")));
    c.settle();
    c.step(1, Input::Command(command(7, 2, "b")));
    c.settle();
    assert_eq!(c.node(1).commit(), 3);

    let actions = c.step(1, from(3, Message::CatchupRequest { from_slot: 2 }));
    assert_actions(
        &actions,
        &[send(
            3,
            Message::CatchupReply {
                snapshot: None,
                entries: vec![
                    (2, batch(&[command(7, 1, "a")])),
                    (3, batch(&[command(7, 2, "b")])),
                ],
                commit: 3,
            },
        )],
    );
}

#[test]
fn catchup_request_beyond_the_commit_point_is_answered_with_nothing() {
    // A peer that is ahead (or follows a stale leader hint) asks for slots
    // this node has not committed: nothing to send, and no panic.
    let mut n = node3(2);
    assert_actions(
        &n.step(T0, from(3, Message::CatchupRequest { from_slot: 1 })),
        &[],
    );
    assert_actions(
        &n.step(T0, from(3, Message::CatchupRequest { from_slot: 5 })),
        &[],
    );
}

#[test]
fn lagging_follower_catches_up_and_reaches_the_leaders_state() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    for seq in 1..=3 {
        c.step(1, Input::Command(command(7, seq, &format!("v{seq}"))));
        c.settle();
    }
    // Node 3 missed nothing but the final commit point; node 2 gets a
    // heartbeat saying 4 slots are chosen and asks for what it lacks.
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    c.settle();
    for id in [2, 3] {
        assert_eq!(c.node(id).commit(), 4);
        assert_eq!(c.node(id).state_digest(), c.node(1).state_digest());
    }
}
