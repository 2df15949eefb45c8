//! Snapshots sent in chunks, each test named after the sentence it checks.
//!
//! A replica that must catch up from a snapshot larger than
//! `snapshot_chunk_bytes` gets it in chunks of one stream, the encoded head
//! (configuration and client table) then the state: the first chunk
//! answers its catch-up request, and the replica asks for each next chunk
//! itself, one in flight. It installs
//! the snapshot only once every byte is in. A chunk that does not come is
//! asked for again every `snapshot_chunk_retry_us`, and after
//! `SNAPSHOT_CHUNK_RETRIES_MAX` retries in a row the transfer is given up
//! and catch-up starts over. Chunks that are not the next of the transfer
//! it holds are dropped, unless one starts a newer snapshot, or its sender
//! starts over. The sender keeps the snapshot it is sending while it is fetched,
//! even after it takes a newer one.
//!
//! Every test asserts the exact actions of the step under test.

mod common;

use common::*;
use std::collections::BTreeMap;
use synod_paxos::config::SNAPSHOT_CHUNK_RETRIES_MAX;
use synod_paxos::{
    encode_snapshot_head, Bytes, ClientRecord, DurableState, EngineConfig, Input, Message, Micros,
    Record, Snapshot, StateMachine,
};

/// Bytes per chunk: the test snapshot's head takes several, its 15 bytes
/// of state three more.
const CHUNK_BYTES: usize = 6;
const RETRY_US: Micros = 100_000;

fn chunk_cfg() -> EngineConfig {
    EngineConfig {
        snapshot_chunk_bytes: CHUNK_BYTES,
        snapshot_chunk_retry_us: RETRY_US,
        ..cfg()
    }
}

/// The snapshot at slot 3 of {1, 2, 3}: "a", "b", "c" applied, the last
/// by client 7. Its state is 15 bytes.
fn snapshot_at(last_slot: u64, items: &[&str]) -> Snapshot {
    Snapshot {
        last_slot,
        config: voters(&[1, 2, 3]),
        clients: BTreeMap::from([(
            7,
            ClientRecord {
                seq: last_slot,
                reply: last_slot.to_string().into_bytes(),
                slot: last_slot,
            },
        )]),
        state: AppendLog::of(items).snapshot_data(),
    }
}

fn snap3() -> Snapshot {
    snapshot_at(3, &["a", "b", "c"])
}

/// Node 1 restarted from a disk holding `snap` and nothing above it.
fn sender_with(snap: &Snapshot, cfg: EngineConfig) -> TestNode {
    let durable = DurableState {
        snapshot: Some(snap.clone()),
        commit: snap.last_slot,
        ..DurableState::default()
    };
    recover(1, cfg, voters(&[1, 2, 3]), durable, T0)
}

/// The stream a snapshot travels as: its encoded head, then its state.
fn stream(snap: &Snapshot) -> (Bytes, usize) {
    let head = encode_snapshot_head(snap);
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(&snap.state.to_vec());
    (bytes.into(), head.len())
}

/// The offsets of the chunks `snap` is sent in, in order: chunks of
/// `chunk_bytes`, none crossing from the head into the state.
fn offsets_with(snap: &Snapshot, chunk_bytes: usize) -> Vec<u64> {
    let (bytes, head) = stream(snap);
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        out.push(at as u64);
        let limit = if at < head { head } else { bytes.len() };
        at = limit.min(at + chunk_bytes);
    }
    out
}

fn offsets(snap: &Snapshot) -> Vec<u64> {
    offsets_with(snap, CHUNK_BYTES)
}

/// The chunk of `snap` at `offset`, as node 1 with commit `commit` sends it.
fn chunk_with(snap: &Snapshot, offset: u64, commit: u64, chunk_bytes: usize) -> Message {
    let (bytes, head) = stream(snap);
    let at = offset as usize;
    let limit = if at < head { head } else { bytes.len() };
    let end = limit.min(at + chunk_bytes);
    Message::SnapshotChunk {
        last_slot: snap.last_slot,
        total_bytes: bytes.len() as u64,
        head_bytes: head as u64,
        offset,
        data: bytes.slice(at..end),
        commit,
    }
}

fn chunk(snap: &Snapshot, offset: u64, commit: u64) -> Message {
    chunk_with(snap, offset, commit, CHUNK_BYTES)
}

/// Delivers every chunk of `snap` from node 1 to `n` but the last, each
/// answered by a request for the next; returns the last chunk's offset.
#[track_caller]
fn take_all_but_last(n: &mut TestNode, now: Micros, snap: &Snapshot, commit: u64) -> u64 {
    let offs = offsets(snap);
    for w in offs.windows(2) {
        take_chunk(n, now, chunk(snap, w[0], commit), snap.last_slot, w[1]);
    }
    *offs.last().expect("a snapshot has chunks")
}

fn ask(last_slot: u64, offset: u64) -> Message {
    Message::SnapshotChunkRequest { last_slot, offset }
}

fn heartbeat(seq: u64, commit: u64) -> Message {
    Message::Heartbeat {
        ballot: ballot(1, 1),
        commit,
        seq,
    }
}

/// Node 2 of {1, 2, 3}, empty, hearing at `T0` that leader 1 in ballot
/// 1.1 committed slot 3: it asks to catch up and acknowledges.
fn lagging_follower(cfg: EngineConfig) -> TestNode {
    let mut n = new_node(2, cfg, voters(&[1, 2, 3]));
    let actions = n.step(T0, from(1, heartbeat(1, 3)));
    assert_actions(
        &actions,
        &[
            send(1, Message::CatchupRequest { from_slot: 1 }),
            send(
                1,
                Message::HeartbeatAck {
                    ballot: ballot(1, 1),
                    seq: 1,
                    commit: 0,
                },
            ),
        ],
    );
    n
}

/// Delivers `msg` from node 1 to `n` at `now`, expecting it to ask for
/// the chunk at `next`.
#[track_caller]
fn take_chunk(n: &mut TestNode, now: Micros, msg: Message, last_slot: u64, next: u64) {
    let actions = n.step(now, from(1, msg));
    assert_actions(&actions, &[send(1, ask(last_slot, next))]);
}

#[test]
fn a_snapshot_larger_than_a_chunk_goes_in_chunks_each_asked_for_and_installs_when_complete() {
    let snap = snap3();
    let mut sender = sender_with(&snap, chunk_cfg());
    let mut n = lagging_follower(chunk_cfg());

    let actions = sender.step(T0, from(2, Message::CatchupRequest { from_slot: 1 }));
    assert_actions(&actions, &[send(2, chunk(&snap, 0, 3))]);
    let offs = offsets(&snap);
    assert!(offs.len() > 3, "head and state take several chunks");
    for w in offs.windows(2) {
        take_chunk(&mut n, T0, chunk(&snap, w[0], 3), 3, w[1]);
        assert_eq!(n.applied(), 0, "nothing installed before the last chunk");
        let actions = sender.step(T0, from(2, ask(3, w[1])));
        assert_actions(&actions, &[send(2, chunk(&snap, w[1], 3))]);
    }
    let last = *offs.last().unwrap();
    let actions = n.step(T0, from(1, chunk(&snap, last, 3)));
    assert_actions(
        &actions,
        &[persist(1, vec![Record::Snapshot(Box::new(snap.clone()))])],
    );
    assert_eq!((n.applied(), n.commit(), n.snapshot_slot()), (3, 3, 3));
    assert_eq!(n.state_machine(), &AppendLog::of(&["a", "b", "c"]));
    assert_eq!(n.state_digest(), sender.state_digest());
}

#[test]
fn a_snapshot_that_fits_in_one_chunk_still_goes_whole_in_the_catchup_reply() {
    let snap = snap3();
    let cfg = EngineConfig {
        // The stream plus what a whole snapshot adds: its slot, the state's
        // chunk count and its one chunk's length.
        snapshot_chunk_bytes: stream(&snap).0.len() + 24,
        ..chunk_cfg()
    };
    let mut sender = sender_with(&snap, cfg);
    let actions = sender.step(T0, from(2, Message::CatchupRequest { from_slot: 1 }));
    assert_actions(
        &actions,
        &[send(
            2,
            Message::CatchupReply {
                snapshot: Some(Box::new(snap)),
                entries: vec![],
                commit: 3,
            },
        )],
    );
}

#[test]
fn a_lost_chunk_is_asked_for_again_every_snapshot_chunk_retry_us() {
    let snap = snap3();
    let mut sender = sender_with(&snap, chunk_cfg());
    let mut n = lagging_follower(chunk_cfg());
    let offs = offsets(&snap);
    take_chunk(&mut n, T0, chunk(&snap, 0, 3), 3, offs[1]);
    // The second chunk is lost. Nothing happens before the retry interval;
    // then the replica asks again, and neither asks the leader to catch
    // up from the start, which would restart the transfer.
    assert_actions(&n.step(T0 + RETRY_US - 1, Input::Tick), &[]);
    assert_actions(
        &n.step(T0 + RETRY_US, Input::Tick),
        &[send(1, ask(3, offs[1]))],
    );
    assert_actions(&n.step(T0 + RETRY_US + 1, Input::Tick), &[]);

    let actions = sender.step(T0 + RETRY_US, from(2, ask(3, offs[1])));
    assert_actions(&actions, &[send(2, chunk(&snap, offs[1], 3))]);
    for w in offs[1..].windows(2) {
        take_chunk(&mut n, T0 + RETRY_US, chunk(&snap, w[0], 3), 3, w[1]);
    }
    let last = *offs.last().unwrap();
    let actions = n.step(T0 + RETRY_US, from(1, chunk(&snap, last, 3)));
    assert_eq!(records_of(&actions), vec![Record::Snapshot(Box::new(snap))]);
    assert_eq!(n.applied(), 3);
}

#[test]
fn a_transfer_without_progress_is_given_up_after_the_retries_and_catchup_starts_over() {
    let snap = snap3();
    let mut n = lagging_follower(chunk_cfg());
    let offs = offsets(&snap);
    take_chunk(&mut n, T0, chunk(&snap, 0, 3), 3, offs[1]);
    let mut now = T0;
    for retry in 1..=SNAPSHOT_CHUNK_RETRIES_MAX as u64 {
        now += RETRY_US;
        // The leader is alive all along.
        n.step(now, from(1, heartbeat(1 + retry, 3)));
        assert_actions(&n.step(now, Input::Tick), &[send(1, ask(3, offs[1]))]);
    }
    now += RETRY_US;
    let actions = n.step(now, Input::Tick);
    assert_actions(
        &actions,
        &[send(1, Message::CatchupRequest { from_slot: 1 })],
    );
    // The chunk that finally comes belongs to no transfer: dropped.
    assert_actions(&n.step(now, from(1, chunk(&snap, offs[1], 3))), &[]);
    // A new transfer starts from its first chunk.
    take_chunk(&mut n, now, chunk(&snap, 0, 3), 3, offs[1]);
}

#[test]
fn chunks_that_are_not_the_next_of_the_transfer_are_dropped() {
    let snap = snap3();
    let mut n = lagging_follower(chunk_cfg());
    let offs = offsets(&snap);
    take_chunk(&mut n, T0, chunk(&snap, 0, 3), 3, offs[1]);
    // A duplicate of the first chunk, a chunk that overtook the next one,
    // a middle chunk of another snapshot, a chunk of ours from another
    // node: none is the next of this transfer.
    assert_actions(&n.step(T0, from(1, chunk(&snap, 0, 3))), &[]);
    assert_actions(&n.step(T0, from(1, chunk(&snap, offs[2], 3))), &[]);
    let other = snapshot_at(5, &["a", "b", "c", "d", "e"]);
    assert_actions(&n.step(T0, from(1, chunk(&other, offs[1], 5))), &[]);
    assert_actions(&n.step(T0, from(3, chunk(&snap, offs[1], 3))), &[]);
    // Nor is the start of the same snapshot from another node, which
    // would throw the progress away.
    assert_actions(&n.step(T0, from(3, chunk(&snap, 0, 3))), &[]);
    // The transfer goes on where it was.
    for w in offs[1..].windows(2) {
        take_chunk(&mut n, T0, chunk(&snap, w[0], 3), 3, w[1]);
    }
    let last = *offs.last().unwrap();
    let actions = n.step(T0, from(1, chunk(&snap, last, 3)));
    assert_eq!(records_of(&actions), vec![Record::Snapshot(Box::new(snap))]);
}

#[test]
fn chunks_of_a_snapshot_the_replica_already_has_are_dropped() {
    let snap = snap3();
    let mut n = lagging_follower(chunk_cfg());
    let last = take_all_but_last(&mut n, T0, &snap, 3);
    n.step(T0, from(1, chunk(&snap, last, 3)));
    assert_eq!(n.commit(), 3);
    // Late duplicates, and the start of an older snapshot.
    assert_actions(&n.step(T0, from(1, chunk(&snap, 0, 3))), &[]);
    assert_actions(&n.step(T0, from(1, chunk(&snap, last, 3))), &[]);
    let older = snapshot_at(2, &["a", "b"]);
    assert_actions(&n.step(T0, from(1, chunk(&older, 0, 3))), &[]);
    assert_eq!(n.snapshot_slot(), 3);
}

#[test]
fn the_first_chunk_of_a_newer_snapshot_replaces_the_transfer_in_progress() {
    let snap = snap3();
    let newer = snapshot_at(5, &["a", "b", "c", "d", "e"]);
    let mut n = lagging_follower(chunk_cfg());
    let offs = offsets(&snap);
    let newer_offs = offsets(&newer);
    take_chunk(&mut n, T0, chunk(&snap, 0, 3), 3, offs[1]);
    take_chunk(&mut n, T0, chunk(&newer, 0, 5), 5, newer_offs[1]);
    // The older transfer is gone: its next chunk is dropped.
    assert_actions(&n.step(T0, from(1, chunk(&snap, offs[1], 3))), &[]);
    for w in newer_offs[1..].windows(2) {
        take_chunk(&mut n, T0, chunk(&newer, w[0], 5), 5, w[1]);
    }
    let last = *newer_offs.last().unwrap();
    let actions = n.step(T0, from(1, chunk(&newer, last, 5)));
    assert_eq!(
        records_of(&actions),
        vec![Record::Snapshot(Box::new(newer))]
    );
    assert_eq!(
        n.state_machine(),
        &AppendLog::of(&["a", "b", "c", "d", "e"])
    );
}

#[test]
fn the_sender_starting_over_with_another_snapshot_replaces_the_transfer() {
    let snap = snap3();
    let newer = snapshot_at(5, &["a", "b", "c", "d", "e"]);
    let mut n = lagging_follower(chunk_cfg());
    take_chunk(&mut n, T0, chunk(&newer, 0, 5), 5, offsets(&newer)[1]);
    // Node 1 restarted and no longer has the snapshot at 5: it answers
    // with its own, older one, which replaces the transfer.
    let last = take_all_but_last(&mut n, T0, &snap, 3);
    let actions = n.step(T0, from(1, chunk(&snap, last, 3)));
    assert_eq!(records_of(&actions), vec![Record::Snapshot(Box::new(snap))]);
}

#[test]
fn a_request_for_a_snapshot_the_sender_no_longer_has_restarts_with_its_current_one() {
    let snap = snap3();
    let mut sender = sender_with(&snap, chunk_cfg());
    // Node 2 fetches a snapshot at slot 2 that node 1 never sent (it
    // restarted since): node 1 starts over with the one it has.
    let actions = sender.step(T0, from(2, ask(2, 6)));
    assert_actions(&actions, &[send(2, chunk(&snap, 0, 3))]);
    // An offset past the end is no chunk either.
    let total = stream(&snap).0.len() as u64;
    let actions = sender.step(T0, from(2, ask(3, total)));
    assert_actions(&actions, &[send(2, chunk(&snap, 0, 3))]);
}

#[test]
fn a_sender_finishes_a_transfer_after_taking_a_newer_snapshot() {
    let cfg = EngineConfig {
        snapshot_interval_slots: 3,
        log_retain_slots: 0,
        snapshot_chunk_bytes: 4,
        ..chunk_cfg()
    };
    let mut c = Cluster::new(&[1, 2, 3], cfg);
    c.elect(1);
    for (seq, op) in [(1, "a"), (2, "b")] {
        c.step(1, Input::Command(command(7, seq, op)));
        c.settle();
    }
    assert_eq!(c.node(1).snapshot_slot(), 3);
    let actions = c.step(1, from(3, Message::CatchupRequest { from_slot: 1 }));
    let Some((3, Message::SnapshotChunk { last_slot: 3, .. })) = sends(&actions).pop() else {
        panic!("expected the first chunk of the snapshot at 3: {actions:?}");
    };
    c.drop_messages();
    for (seq, op) in [(3, "c"), (4, "d"), (5, "e")] {
        c.step(1, Input::Command(command(7, seq, op)));
        c.settle();
    }
    assert_eq!(c.node(1).snapshot_slot(), 6, "a newer snapshot");
    // Chunks of the snapshot at 3 are still served, from its buffer.
    let actions = c.step(1, from(3, ask(3, 4)));
    let at_3 = Snapshot {
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
    assert_actions(&actions, &[send(3, chunk_with(&at_3, 4, 6, 4))]);
    // Once nobody asked for it for as long as a receiver retries, it is
    // forgotten: a late request starts over with the current snapshot.
    c.now += RETRY_US * (SNAPSHOT_CHUNK_RETRIES_MAX as u64 + 1);
    c.tick(1);
    c.drop_messages();
    let actions = c.step(1, from(3, ask(3, 8)));
    let Some((
        3,
        Message::SnapshotChunk {
            last_slot: 6,
            offset: 0,
            ..
        },
    )) = sends(&actions).pop()
    else {
        panic!("expected the first chunk of the snapshot at 6: {actions:?}");
    };
}

#[test]
fn a_new_member_gets_a_large_snapshot_in_chunks_and_then_the_entries_after_it() {
    let cfg = EngineConfig {
        snapshot_interval_slots: 3,
        log_retain_slots: 0,
        snapshot_chunk_bytes: 4,
        ..chunk_cfg()
    };
    let mut c = Cluster::new(&[1, 2, 3], cfg.clone());
    c.elect(1);
    for (seq, op) in [(1, "a"), (2, "b"), (3, "c")] {
        c.step(1, Input::Command(command(7, seq, op)));
        c.settle();
    }
    assert_eq!((c.node(1).snapshot_slot(), c.node(1).commit()), (3, 4));
    c.add_node(4, cfg);
    // It hears of leader 1 and its commit point, and asks to catch up.
    c.step(4, from(1, heartbeat(1, 4)));
    c.settle();
    let n = c.node(4);
    assert_eq!((n.snapshot_slot(), n.commit(), n.applied()), (3, 4, 4));
    assert_eq!(n.state_machine(), &AppendLog::of(&["a", "b", "c"]));
    assert_eq!(n.state_digest(), c.node(1).state_digest());
}

#[test]
fn validate_refuses_a_zero_chunk_size_or_retry_interval() {
    for cfg in [
        EngineConfig {
            snapshot_chunk_bytes: 0,
            ..cfg()
        },
        EngineConfig {
            snapshot_chunk_retry_us: 0,
            ..cfg()
        },
    ] {
        assert!(cfg.validate().unwrap_err().contains("snapshot_chunk"));
    }
    assert_eq!(cfg().validate(), Ok(()));
    assert_eq!(cfg().snapshot_chunk_bytes, 4 << 20);
}
