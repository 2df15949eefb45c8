//! Persistence rules, each test named after the sentence it checks.
//!
//! From DESIGN.md: durability is an explicit handshake; a promise or an
//! accepted value never leaves before it is on disk, and completing write
//! `id` completes every earlier one. From durable.rs: replaying every record
//! of a log in order gives the state that log describes (the highest
//! promise, accepted values, what is chosen, the newest snapshot with the
//! log below it dropped), and a node recovered from it acts on exactly that.

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_paxos::durable::DurableEntry;
use synod_paxos::{Ballot, DurableState, Input, Message, Record, Snapshot, StateMachine, Value};

fn accept_record(slot: u64, b: Ballot, value: Value) -> Record {
    Record::Accept {
        slot,
        ballot: b,
        value,
    }
}

fn prepare(b: Ballot) -> Message {
    Message::Prepare {
        ballot: b,
        from_slot: 1,
    }
}

fn empty_promise(b: Ballot) -> Message {
    Message::Promise {
        ballot: b,
        from_slot: 1,
        compacted_upto: 0,
        commit: 0,
        more: None,
        accepted: vec![],
    }
}

// ---- replay ----

#[test]
fn replay_keeps_the_highest_promise() {
    let state =
        DurableState::replay(&[Record::Promise(ballot(2, 1)), Record::Promise(ballot(1, 3))]);
    assert_eq!(state.promised, ballot(2, 1));
}

#[test]
fn replay_counts_an_accept_as_a_promise_of_its_ballot() {
    let state = DurableState::replay(&[
        Record::Promise(ballot(1, 1)),
        accept_record(1, ballot(3, 2), Value::Noop),
    ]);
    assert_eq!(state.promised, ballot(3, 2));
    assert_eq!(
        state.log,
        BTreeMap::from([(
            1,
            DurableEntry {
                ballot: ballot(3, 2),
                value: Value::Noop,
                chosen: false,
            },
        )])
    );
}

#[test]
fn replay_of_a_commit_marks_every_entry_at_or_below_it_chosen() {
    let b = ballot(1, 1);
    let state = DurableState::replay(&[
        accept_record(1, b, Value::Noop),
        accept_record(2, b, Value::Noop),
        accept_record(3, b, Value::Noop),
        Record::Commit(2),
    ]);
    assert_eq!(state.commit, 2);
    let chosen: Vec<bool> = state.log.values().map(|e| e.chosen).collect();
    assert_eq!(chosen, [true, true, false]);
}

#[test]
fn replay_of_a_learned_value_marks_it_chosen_and_keeps_the_accepted_ballot() {
    let b = ballot(1, 3);
    let learned = batch(&[command(7, 1, "z")]);
    let state = DurableState::replay(&[
        accept_record(1, b, Value::Noop),
        Record::Learned {
            slot: 1,
            value: learned.clone(),
        },
    ]);
    assert_eq!(
        state.log[&1],
        DurableEntry {
            ballot: b,
            value: learned,
            chosen: true,
        }
    );
}

#[test]
fn replay_of_a_snapshot_drops_log_entries_at_or_below_it() {
    let b = ballot(1, 1);
    let snap = Snapshot {
        last_slot: 2,
        config: voters(&[1, 2, 3]),
        clients: BTreeMap::new(),
        state: AppendLog::of(&["a"]).snapshot_data(),
    };
    let state = DurableState::replay(&[
        accept_record(1, b, Value::Noop),
        accept_record(2, b, Value::Noop),
        accept_record(3, b, Value::Noop),
        Record::Snapshot(Box::new(snap.clone())),
        // An older write for a slot inside the snapshot stays dropped.
        accept_record(2, ballot(2, 1), Value::Noop),
    ]);
    assert_eq!(state.snapshot, Some(snap));
    assert_eq!(state.snapshot_slot(), 2);
    assert_eq!(state.commit, 2);
    assert_eq!(state.log.keys().copied().collect::<Vec<_>>(), [3]);
    assert_eq!(state.promised, ballot(2, 1));
}

#[test]
fn replay_ignores_a_snapshot_older_than_the_one_it_has() {
    let snap = |last_slot| Snapshot {
        last_slot,
        config: voters(&[1, 2, 3]),
        clients: BTreeMap::new(),
        state: Vec::new().into(),
    };
    let state = DurableState::replay(&[
        Record::Snapshot(Box::new(snap(5))),
        Record::Snapshot(Box::new(snap(3))),
    ]);
    assert_eq!(state.snapshot_slot(), 5);
}

// ---- recovery ----

#[test]
fn recovered_node_has_the_state_its_durable_records_describe() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    for seq in 1..=3 {
        c.step(1, Input::Command(command(7, seq, &format!("v{seq}"))));
        c.settle();
    }
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    c.settle();
    // Node 2 learnt commit point 4 from that heartbeat; its own tick a
    // heartbeat interval later writes it.
    c.now += cfg().heartbeat_interval_us;
    c.tick(2);
    c.settle();
    let before = c.node(2);
    assert_eq!(before.commit(), 4);

    let after = recover(2, cfg(), voters(&[1, 2, 3]), c.durable_state(2), c.now);
    assert_eq!(after.promised(), before.promised());
    assert_eq!(after.commit(), before.commit());
    assert_eq!(after.applied(), before.applied());
    assert_eq!(after.state_machine(), before.state_machine());
    assert_eq!(
        after.chosen_values().collect::<Vec<_>>(),
        before.chosen_values().collect::<Vec<_>>()
    );
    assert_eq!(after.leader(), None, "it does not know who leads now");
}

#[test]
fn commit_point_rides_on_the_next_write_instead_of_a_write_of_its_own() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let b = ballot(1, 1);
    // Node 2 learns commit point 1 (the no-op) and writes nothing for it.
    assert_eq!(c.node(2).commit(), 1);
    assert_eq!(c.durable_state(2).commit, 0);

    // The next Accept's write carries it, after the accepted entry.
    c.step(1, Input::Command(command(7, 1, "x")));
    let actions = c.deliver(1, 2);
    assert_eq!(
        records_of(&actions),
        vec![
            accept_record(2, b, one(&command(7, 1, "x"))),
            Record::Commit(1)
        ]
    );
}

#[test]
fn unwritten_commit_point_is_written_on_a_tick_a_heartbeat_interval_later() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    let learnt_at = c.now;
    c.now = learnt_at + cfg().heartbeat_interval_us - 1;
    assert_eq!(records_of(&c.tick(2)), vec![]);
    c.now = learnt_at + cfg().heartbeat_interval_us;
    assert_eq!(records_of(&c.tick(2)), vec![Record::Commit(1)]);
    c.settle();
    assert_eq!(c.durable_state(2).commit, 1);
    // Written once: the next tick has nothing to write.
    c.now += cfg().heartbeat_interval_us;
    assert_eq!(records_of(&c.tick(2)), vec![]);
}

#[test]
fn node_that_lost_its_unwritten_commit_point_recovers_below_it_and_learns_it_again() {
    let mut c = Cluster::new(&[1, 2, 3], cfg());
    c.elect(1);
    c.step(1, Input::Command(command(7, 1, "x")));
    c.settle();
    let before = c.node(2).clone();
    assert_eq!(before.commit(), 2);
    let durable = c.durable_state(2);
    assert_eq!(durable.commit, 1, "commit point 2 is not written yet");

    // Node 2 crashes now: it recovers at commit point 1, with slot 2
    // accepted but not known chosen, and has applied only the no-op.
    let restarted = recover(2, cfg(), voters(&[1, 2, 3]), durable, c.now);
    assert_eq!(restarted.commit(), 1);
    assert_eq!(restarted.applied(), 1);
    c.nodes.insert(2, restarted);

    // The leader's next heartbeat tells it again; it applies slot 2.
    c.now += cfg().heartbeat_interval_us;
    c.tick(1);
    c.settle();
    let after = c.node(2);
    assert_eq!(after.commit(), 2);
    assert_eq!(after.applied(), 2);
    assert_eq!(after.state_machine(), before.state_machine());
}

#[test]
fn recovered_node_restores_its_snapshot() {
    let snap = Snapshot {
        last_slot: 3,
        config: voters(&[1, 2, 3]),
        clients: BTreeMap::new(),
        state: AppendLog::of(&["a", "b"]).snapshot_data(),
    };
    let b = ballot(1, 1);
    let durable = DurableState::replay(&[
        Record::Snapshot(Box::new(snap)),
        accept_record(4, b, batch(&[command(7, 3, "c")])),
        Record::Commit(4),
    ]);
    let n = recover(2, cfg(), voters(&[1, 2, 3]), durable, 0);
    assert_eq!(n.snapshot_slot(), 3);
    assert_eq!(n.commit(), 4);
    assert_eq!(n.applied(), 4);
    assert_eq!(n.state_machine(), &AppendLog::of(&["a", "b", "c"]));
}

#[test]
fn promise_lost_in_a_crash_before_its_write_completed_was_never_sent() {
    let mut n = node3(2);
    let b = ballot(3, 3);
    let actions = n.step(T0, from(3, prepare(b)));
    assert!(sends(&actions).is_empty());
    // Crash: the write never completed, so the disk holds nothing.
    let n = recover(
        2,
        cfg(),
        voters(&[1, 2, 3]),
        DurableState::default(),
        T0 + 1,
    );
    assert_eq!(n.promised(), Ballot::ZERO);
}

// ---- the handshake ----

#[test]
fn completing_a_write_completes_every_earlier_write_and_releases_in_order() {
    let mut n = node3(2);
    let b = ballot(1, 1);
    assert_actions(
        &n.step(T0, from(1, prepare(b))),
        &[persist(1, vec![Record::Promise(b)])],
    );
    let accept = Message::Accept {
        ballot: b,
        entries: vec![(1, Value::Noop)],
        commit: 0,
    };
    assert_actions(
        &n.step(T0, from(1, accept)),
        &[persist(2, vec![accept_record(1, b, Value::Noop)])],
    );
    assert_eq!(n.persist_backlog(), 2);

    let actions = n.step(T0, Input::Persisted { id: 2 });
    assert_actions(
        &actions,
        &[
            send(1, empty_promise(b)),
            send(
                1,
                Message::Accepted {
                    ballot: b,
                    slots: vec![1],
                    commit: 0,
                },
            ),
        ],
    );
    assert_eq!(n.persist_backlog(), 0);
}

#[test]
fn repeated_prepare_waits_for_the_write_of_the_promise_it_repeats() {
    let mut n = node3(2);
    let b = ballot(1, 1);
    n.step(T0, from(1, prepare(b)));
    // Nothing new to write, but the promise it repeats is not durable yet.
    assert_actions(&n.step(T0, from(1, prepare(b))), &[]);
    let actions = n.step(T0, Input::Persisted { id: 1 });
    assert_actions(
        &actions,
        &[send(1, empty_promise(b)), send(1, empty_promise(b))],
    );
}

#[test]
fn completion_of_a_write_never_asked_for_releases_nothing() {
    let mut n = node3(2);
    let b = ballot(1, 1);
    assert_actions(&n.step(T0, Input::Persisted { id: 5 }), &[]);
    n.step(T0, from(1, prepare(b)));
    assert_actions(&n.step(T0, Input::Persisted { id: 5 }), &[]);
    assert_eq!(n.persist_backlog(), 1);
    assert_actions(
        &n.step(T0, Input::Persisted { id: 1 }),
        &[send(1, empty_promise(b))],
    );
}

#[test]
fn empty_accept_in_a_higher_ballot_persists_the_promise_before_acknowledging() {
    let mut n = node3(2);
    let b = ballot(2, 1);
    let actions = n.step(
        T0,
        from(
            1,
            Message::Accept {
                ballot: b,
                entries: vec![],
                commit: 0,
            },
        ),
    );
    assert_actions(&actions, &[persist(1, vec![Record::Promise(b)])]);
    assert_actions(
        &n.step(T0, Input::Persisted { id: 1 }),
        &[send(
            1,
            Message::Accepted {
                ballot: b,
                slots: vec![],
                commit: 0,
            },
        )],
    );
    assert_eq!(n.promised(), b);
}
