//! What a node keeps on disk, as records appended to a log, and the fold
//! that rebuilds the durable state from them on restart.
//!
//! Invariant: the in-memory state a node acts on is never "ahead" of this
//! durable state in anything another node was told. A promise or an
//! accepted value leaves the node only after the record that holds it is
//! durable (see `Node::on_persisted`).

use crate::snapshot_data::SnapshotData;
use crate::types::{Ballot, ClientId, Config, Slot, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The last reply given to one client, for exactly-once commands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientRecord {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub reply: Vec<u8>,
    /// Slot of the client's last command: the oldest are evicted first
    /// when the table is full.
    pub slot: Slot,
}

/// The state machine and everything the replica derives from the log, as
/// of `last_slot`. Everything in it is chosen.
///
/// `state` can be gigabytes. It is held in chunks of bounded size
/// (`SnapshotData`), shared, never as one buffer: cloning a snapshot (into
/// a `Record`, a catch-up message, storage's mirror of the durable state)
/// shares the chunks instead of copying them. It encodes as a sequence of
/// byte strings, one per chunk (protocol 8, storage state format 3,
/// backup format 2; before them it was one byte string).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_slot: Slot,
    pub config: Config,
    pub clients: BTreeMap<ClientId, ClientRecord>,
    pub state: SnapshotData,
}

/// One durable record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Record {
    /// The acceptor promised not to accept below `ballot`.
    Promise(Ballot),
    /// The acceptor accepted `value` in `ballot` at `slot` (implies a
    /// promise of `ballot`).
    Accept {
        slot: Slot,
        ballot: Ballot,
        value: Value,
    },
    /// A value learned as chosen from another replica (catch-up).
    Learned { slot: Slot, value: Value },
    /// Every slot up to here is chosen. Written lazily (with the next
    /// record, or a heartbeat interval later): the durable commit point may
    /// lag the one the node acted on, and recovery relearns the rest.
    Commit(Slot),
    /// A snapshot; log entries at or below its slot are dropped.
    Snapshot(Box<Snapshot>),
}

/// One slot of the acceptor's log as it is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurableEntry {
    pub ballot: Ballot,
    pub value: Value,
    pub chosen: bool,
}

/// Everything a node recovers from disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurableState {
    pub promised: Ballot,
    pub snapshot: Option<Snapshot>,
    pub log: BTreeMap<Slot, DurableEntry>,
    pub commit: Slot,
}

impl DurableState {
    /// Folds one record into the state. Replaying every record of a log in
    /// order gives the state that log describes.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Promise(b) => self.promised = self.promised.max(*b),
            Record::Accept {
                slot,
                ballot,
                value,
            } => {
                self.promised = self.promised.max(*ballot);
                if *slot <= self.snapshot_slot() {
                    return;
                }
                // Every slot up to the commit point is chosen (the engine
                // never accepts there, but the fold keeps the rule itself).
                let chosen = *slot <= self.commit || self.log.get(slot).is_some_and(|e| e.chosen);
                self.log.insert(
                    *slot,
                    DurableEntry {
                        ballot: *ballot,
                        value: value.clone(),
                        chosen,
                    },
                );
            }
            Record::Learned { slot, value } => {
                if *slot <= self.snapshot_slot() {
                    return;
                }
                let ballot = self.log.get(slot).map(|e| e.ballot).unwrap_or_default();
                self.log.insert(
                    *slot,
                    DurableEntry {
                        ballot,
                        value: value.clone(),
                        chosen: true,
                    },
                );
            }
            Record::Commit(slot) => {
                // Entries at or below the old commit point are marked
                // already (see Accept), so only the new stretch is walked:
                // walking the whole log made every commit cost O(log).
                if *slot > self.commit {
                    for (_, e) in self.log.range_mut(self.commit + 1..=*slot) {
                        e.chosen = true;
                    }
                    self.commit = *slot;
                }
            }
            Record::Snapshot(snap) => {
                if snap.last_slot <= self.snapshot_slot() {
                    return;
                }
                self.log = self.log.split_off(&(snap.last_slot + 1));
                self.commit = self.commit.max(snap.last_slot);
                self.snapshot = Some((**snap).clone());
            }
        }
    }

    pub fn snapshot_slot(&self) -> Slot {
        self.snapshot.as_ref().map_or(0, |s| s.last_slot)
    }

    /// The state a list of records describes.
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut state = DurableState::default();
        for r in records {
            state.apply(r);
        }
        state
    }
}

/// The encodings before snapshot state was chunked (protocol 7, storage
/// state format 1, WAL record format 1, backup format 1), when it was one
/// byte string. Only read, to load what older versions wrote; the variants
/// and fields are those of the current types, in the same order.
pub mod v1 {
    use super::{ClientRecord, DurableEntry};
    use crate::types::{Ballot, ClientId, Config, Slot, Value};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    /// A snapshot whose state is one byte string.
    #[derive(Deserialize)]
    pub struct Snapshot {
        last_slot: Slot,
        config: Config,
        clients: BTreeMap<ClientId, ClientRecord>,
        #[serde(with = "serde_bytes")]
        state: Vec<u8>,
    }

    impl From<Snapshot> for super::Snapshot {
        /// The old state becomes one chunk: a snapshot of the old format is
        /// read whole once, and written chunked from then on.
        fn from(s: Snapshot) -> Self {
            super::Snapshot {
                last_slot: s.last_slot,
                config: s.config,
                clients: s.clients,
                state: s.state.into(),
            }
        }
    }

    #[derive(Deserialize)]
    pub enum Record {
        Promise(Ballot),
        Accept {
            slot: Slot,
            ballot: Ballot,
            value: Value,
        },
        Learned {
            slot: Slot,
            value: Value,
        },
        Commit(Slot),
        Snapshot(Box<Snapshot>),
    }

    impl From<Record> for super::Record {
        fn from(r: Record) -> Self {
            match r {
                Record::Promise(b) => super::Record::Promise(b),
                Record::Accept {
                    slot,
                    ballot,
                    value,
                } => super::Record::Accept {
                    slot,
                    ballot,
                    value,
                },
                Record::Learned { slot, value } => super::Record::Learned { slot, value },
                Record::Commit(slot) => super::Record::Commit(slot),
                Record::Snapshot(s) => super::Record::Snapshot(Box::new((*s).into())),
            }
        }
    }

    #[derive(Deserialize)]
    pub struct DurableState {
        promised: Ballot,
        snapshot: Option<Snapshot>,
        log: BTreeMap<Slot, DurableEntry>,
        commit: Slot,
    }

    impl From<DurableState> for super::DurableState {
        fn from(d: DurableState) -> Self {
            super::DurableState {
                promised: d.promised,
                snapshot: d.snapshot.map(Into::into),
                log: d.log,
                commit: d.commit,
            }
        }
    }
}
