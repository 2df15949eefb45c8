//! Snapshots too large for one message, sent in chunks.
//!
//! A replica that must catch up from a snapshot larger than
//! `EngineConfig::snapshot_chunk_bytes` (its state and its head, the
//! configuration and client table, which can be large too) gets it in
//! pieces instead of in one `CatchupReply`: one stream, the encoded head
//! then the state, cut in chunks. The sender answers the `CatchupRequest`
//! with the first `SnapshotChunk`, and the receiver asks for every next
//! chunk with a `SnapshotChunkRequest`.
//! One chunk is in flight per transfer, so a transfer never floods the
//! transport, and the receiver holds one transfer at a time.
//!
//! The receiver takes a chunk only if it is the next one of the transfer
//! it holds, or the first one of a snapshot newer than its commit point
//! that replaces the transfer it holds: when it holds none, when the chunk
//! comes from the same sender (who started over), or when the snapshot is
//! newer than the one it holds. Anything else, duplicates, reordered
//! chunks and chunks of a snapshot it does not need, is dropped. A chunk that does not arrive is asked for again every
//! `snapshot_chunk_retry_us`; after `SNAPSHOT_CHUNK_RETRIES_MAX` retries in
//! a row the transfer is given up and catch-up starts over. The snapshot is
//! installed, exactly as one that came whole, only once every byte is in.
//!
//! The sender keeps nothing per receiver. It remembers the snapshot it last
//! started sending (`Outgoing`, sharing the state's bytes) for as long as
//! someone asks for its chunks, so taking a newer snapshot does not restart
//! a transfer in progress; a request for a snapshot it no longer has is
//! answered with the first chunk of its current one.
//!
//! Everything in a snapshot is chosen, so it does not matter who sends it:
//! any replica answers, in any role.

use crate::action::Event;
use crate::config::SNAPSHOT_CHUNK_RETRIES_MAX;
use crate::durable::Snapshot;
use crate::message::{Message, SnapshotHead};
use crate::node::Node;
use crate::snapshot_data::SnapshotData;
use crate::state_machine::StateMachine;
use crate::types::{Micros, NodeId, Slot};
use bytes::Bytes;

/// A snapshot this replica is receiving in chunks.
#[derive(Clone, Debug, Hash)]
pub(crate) struct Incoming {
    pub from: NodeId,
    pub last_slot: Slot,
    /// The stream's length: the encoded head, then the state.
    pub total_bytes: u64,
    pub head_bytes: u64,
    /// The stream received so far, kept in the chunks it came in (never
    /// one buffer of `total_bytes`).
    pub data: SnapshotData,
    /// When the chunk at `data.len()` was last asked for.
    pub asked_at: Micros,
    /// Times in a row it was asked for again.
    pub retries: u32,
}

/// The snapshot this node last started sending in chunks.
#[derive(Clone, Debug, Hash)]
pub(crate) struct Outgoing {
    pub snapshot: Snapshot,
    /// Its head (configuration and client table), encoded once.
    pub head: Bytes,
    /// When a chunk of it was last asked for.
    pub asked_at: Micros,
}

impl Outgoing {
    fn new(snapshot: Snapshot, now: Micros) -> Self {
        let head = encode_head(&snapshot);
        Outgoing {
            snapshot,
            head,
            asked_at: now,
        }
    }

    fn total_bytes(&self) -> u64 {
        self.head.len() as u64 + self.snapshot.state.len()
    }

    /// The stream's bytes from `offset`, at most `max` of them, never
    /// across the end of the head; shared with the snapshot when they lie
    /// in one of its chunks, copied (at most `max` bytes) when they span
    /// two.
    fn chunk(&self, offset: u64, max: usize) -> Bytes {
        let head = self.head.len() as u64;
        if offset < head {
            let end = head.min(offset + max as u64);
            return self.head.slice(offset as usize..end as usize);
        }
        self.snapshot.state.bytes_at(offset - head, max)
    }
}

/// The bincode options of a snapshot head: fixed-width integers, the
/// format of everything else the engine's peers exchange.
fn head_options() -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new().with_fixint_encoding()
}

/// A snapshot's configuration and client table, encoded: the first part
/// of the stream a snapshot is sent in chunks as.
pub fn encode_head(snap: &Snapshot) -> Bytes {
    use bincode::Options;
    let head = SnapshotHead {
        config: snap.config.clone(),
        clients: snap.clients.clone(),
    };
    head_options()
        .serialize(&head)
        .expect("a snapshot head always encodes")
        .into()
}

/// The encoded size of a snapshot sent whole in a `CatchupReply`.
pub(crate) fn snapshot_encoded_bytes(snap: &Snapshot) -> u64 {
    use bincode::Options;
    let head = SnapshotHead {
        config: snap.config.clone(),
        clients: snap.clients.clone(),
    };
    head_options()
        .serialized_size(&head)
        .unwrap_or(u64::MAX)
        .saturating_add(8 + snap.state.encoded_bytes())
}

fn decode_head(bytes: &[u8]) -> Option<SnapshotHead> {
    use bincode::Options;
    head_options()
        .with_limit(bytes.len() as u64)
        .deserialize(bytes)
        .ok()
}

/// One `SnapshotChunk` as its receiver sees it.
pub(crate) struct Chunk {
    pub last_slot: Slot,
    pub total_bytes: u64,
    pub head_bytes: u64,
    pub offset: u64,
    pub data: Bytes,
}

impl<S: StateMachine> Node<S> {
    // ---- sender ----

    /// Starts sending `snap` to `to` in chunks: remembers it and sends the
    /// first chunk.
    pub(crate) fn start_snapshot_transfer(&mut self, to: NodeId, snap: Snapshot) {
        let last_slot = snap.last_slot;
        self.outgoing = Some(Outgoing::new(snap, self.now));
        self.send_snapshot_chunk(to, last_slot, 0);
    }

    pub(crate) fn on_snapshot_chunk_request(&mut self, from: NodeId, last_slot: Slot, offset: u64) {
        let now = self.now;
        let has = |o: &Outgoing| o.snapshot.last_slot == last_slot && offset < o.total_bytes();
        if !self.outgoing.as_ref().is_some_and(has) {
            // Forgotten after a pause in the requests, but still ours.
            if let Some(snap) = self.snapshot.as_ref().filter(|s| s.last_slot == last_slot) {
                let o = Outgoing::new(snap.clone(), now);
                if has(&o) {
                    self.outgoing = Some(o);
                }
            }
        }
        if let Some(outgoing) = self.outgoing.as_mut().filter(|o| has(o)) {
            outgoing.asked_at = now;
            self.send_snapshot_chunk(from, last_slot, offset);
            return;
        }
        // We no longer have that snapshot (a newer transfer replaced it, or
        // we restarted): start over with the current one. The receiver
        // drops it if it no longer needs a snapshot.
        if let Some(snap) = self.snapshot_to_send() {
            self.start_snapshot_transfer(from, snap);
        }
    }

    /// Sends the chunk at `offset` of the outgoing snapshot at `last_slot`.
    fn send_snapshot_chunk(&mut self, to: NodeId, last_slot: Slot, offset: u64) {
        let Some(outgoing) = &self.outgoing else {
            return;
        };
        assert_eq!(
            outgoing.snapshot.last_slot, last_slot,
            "chunks of the outgoing snapshot"
        );
        let total_bytes = outgoing.total_bytes();
        assert!(offset < total_bytes, "a chunk inside the stream");
        let msg = Message::SnapshotChunk {
            last_slot,
            total_bytes,
            head_bytes: outgoing.head.len() as u64,
            offset,
            data: outgoing.chunk(offset, self.cfg.snapshot_chunk_bytes),
            commit: self.commit,
        };
        self.send(to, msg);
    }

    /// The snapshot to send a replica that needs one: our own, or the one
    /// we are already sending, or one of the current state (a node that
    /// has not taken a snapshot yet, catching up a new member). `None`
    /// when there is nothing to send.
    pub(crate) fn snapshot_to_send(&self) -> Option<Snapshot> {
        if let Some(snap) = &self.snapshot {
            return Some(snap.clone());
        }
        if let Some(outgoing) = &self.outgoing {
            return Some(outgoing.snapshot.clone());
        }
        if self.applied == 0 {
            return None;
        }
        Some(Snapshot {
            last_slot: self.applied,
            config: self.config.clone(),
            clients: self.clients.clone(),
            state: self.state_snapshot(),
        })
    }

    // ---- receiver ----

    pub(crate) fn on_snapshot_chunk(&mut self, from: NodeId, chunk: Chunk, commit: Slot) {
        if self.is_active_leader() {
            // See `on_catchup_reply`: a leader learns only from its ballot.
            return;
        }
        self.known_commit = self.known_commit.max(commit);
        if chunk.last_slot <= self.commit {
            // We already have everything it holds.
            return;
        }
        let current = self.incoming.as_ref().is_some_and(|t| {
            t.from == from
                && t.last_slot == chunk.last_slot
                && t.total_bytes == chunk.total_bytes
                && t.head_bytes == chunk.head_bytes
        });
        if !current && !self.start_incoming(from, &chunk) {
            return;
        }
        let now = self.now;
        let t = self.incoming.as_mut().expect("a transfer is in progress");
        if chunk.offset != t.data.len() {
            // A duplicate or a chunk that overtook one: not the next.
            return;
        }
        let rest = t.total_bytes - chunk.offset;
        if chunk.data.len() as u64 > rest || chunk.data.is_empty() {
            // Malformed: past the end, or no progress. Give up; catch-up
            // starts over.
            self.incoming = None;
            return;
        }
        t.data.push(chunk.data.clone());
        t.asked_at = now;
        t.retries = 0;
        let (last_slot, received, total) = (t.last_slot, t.data.len(), t.total_bytes);
        self.event(Event::SnapshotChunkReceived {
            slot: last_slot,
            offset: chunk.offset,
            bytes: chunk.data.len() as u64,
        });
        if received < total {
            let offset = received;
            self.send(from, Message::SnapshotChunkRequest { last_slot, offset });
            return;
        }
        let t = self.incoming.take().expect("a transfer is in progress");
        let head = t.data.slice(0..t.head_bytes).to_vec();
        let Some(head) = decode_head(&head) else {
            // A sender that cannot encode its own head is broken or not
            // one of ours; catch-up starts over.
            return;
        };
        let snap = Snapshot {
            last_slot: t.last_slot,
            config: head.config,
            clients: head.clients,
            state: t.data.slice(t.head_bytes..t.total_bytes),
        };
        self.install_snapshot(snap);
        // Ask for the entries after it at once.
        self.catchup_sent_at = None;
        self.advance_commit();
        self.maybe_request_catchup();
    }

    /// Replaces the transfer in progress, if any, with the one `chunk`
    /// starts. Returns false, changing nothing, if `chunk` starts none.
    fn start_incoming(&mut self, from: NodeId, chunk: &Chunk) -> bool {
        if chunk.offset != 0
            || chunk.head_bytes > chunk.total_bytes
            || chunk.total_bytes > self.cfg.snapshot_bytes_max
        {
            // Part of a transfer we do not hold (given up, or replaced), or
            // sizes no snapshot of ours has.
            return false;
        }
        // Progress is kept against another node's answer to an older
        // catch-up request; the sender of the transfer starting over (it no
        // longer has that snapshot) or a newer snapshot replaces it.
        let replaces = self
            .incoming
            .as_ref()
            .is_none_or(|t| t.from == from || t.last_slot < chunk.last_slot);
        if !replaces {
            return false;
        }
        self.incoming = Some(Incoming {
            from,
            last_slot: chunk.last_slot,
            total_bytes: chunk.total_bytes,
            head_bytes: chunk.head_bytes,
            data: SnapshotData::new(),
            asked_at: self.now,
            retries: 0,
        });
        true
    }

    /// Timers of both sides: asks again for a chunk that did not come,
    /// gives a stalled transfer up, forgets a snapshot nobody fetches.
    pub(crate) fn transfer_tick(&mut self) {
        let (now, retry) = (self.now, self.cfg.snapshot_chunk_retry_us);
        // As long as its receiver keeps retrying before it gives up.
        let keep_us = retry * (u64::from(SNAPSHOT_CHUNK_RETRIES_MAX) + 1);
        if self
            .outgoing
            .as_ref()
            .is_some_and(|o| o.asked_at + keep_us <= now)
        {
            self.outgoing = None;
        }
        if let Some(t) = &self.incoming {
            if t.last_slot <= self.commit {
                // Caught up by other means.
                self.incoming = None;
            }
        }
        let Some(t) = &mut self.incoming else {
            return;
        };
        if t.asked_at + retry > now {
            return;
        }
        if t.retries >= SNAPSHOT_CHUNK_RETRIES_MAX {
            self.incoming = None;
            return;
        }
        t.retries += 1;
        t.asked_at = now;
        let (to, last_slot, offset) = (t.from, t.last_slot, t.data.len());
        self.send(to, Message::SnapshotChunkRequest { last_slot, offset });
    }
}
