//! One shard's data: its keys, its revision counter and its exactly-once
//! table. All three move together when the shard changes group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::recent::{Recent, Weigh};
use crate::txn::{AbortReason, Cond, ReadResult, TxnId, TxnOutcome};

/// A key's value and the revision of the write that made it. A delete
/// keeps the key with `value: None`, so revisions never go back: a read of
/// a deleted key names the delete.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    pub rev: u64,
}

impl Entry {
    fn bytes(&self, key: &[u8]) -> u64 {
        (key.len() + self.value.as_ref().map_or(0, |v| v.len()) + 16) as u64
    }
}

/// A client's latest transaction touching the shard and its outcome, so a
/// retry is answered, never run twice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientEntry {
    pub seq: u64,
    pub outcome: TxnOutcome,
}

impl Weigh for ClientEntry {
    fn weight(&self) -> u64 {
        8 + self.outcome.weight()
    }
}

/// A shard's exactly-once table: bounded by `Limits::shard_clients_max`
/// and `shard_clients_bytes_max`, so that it fits in the last piece of a
/// hand-over.
pub type ClientTable = Recent<ClientEntry>;

/// What the exactly-once table says of a transaction.
pub enum Seen<'a> {
    New,
    /// The same transaction ran already: its outcome.
    Done(&'a TxnOutcome),
    /// The client has since run a newer one.
    Stale,
}

/// One shard's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardData {
    pub entries: BTreeMap<Vec<u8>, Entry>,
    /// The last revision given out in this shard (reserved or written).
    pub rev: u64,
    pub clients: ClientTable,
    /// Bytes of keys and values held (a limit counts them).
    pub bytes: u64,
}

impl ShardData {
    /// Reads `key` as it is now; an absent key reads as revision 0 (never
    /// written) or its delete's revision.
    pub fn read(&self, key: &[u8]) -> ReadResult {
        let entry = self.entries.get(key);
        ReadResult {
            key: key.to_vec(),
            value: entry.and_then(|e| e.value.clone()),
            rev: entry.map_or(0, |e| e.rev),
        }
    }

    /// Checks one condition against the current state.
    pub fn holds(&self, cond: &Cond) -> Result<(), AbortReason> {
        let now = self.read(cond.key());
        let holds = match cond {
            Cond::Equals { value, .. } => now.value.as_deref() == Some(value.as_slice()),
            Cond::Absent { .. } => now.value.is_none(),
            Cond::Revision { rev, .. } => now.rev == *rev,
        };
        if holds {
            Ok(())
        } else {
            Err(AbortReason::ConditionFailed {
                key: cond.key().to_vec(),
            })
        }
    }

    /// Gives out the next revision.
    pub fn reserve_rev(&mut self) -> u64 {
        self.rev += 1;
        self.rev
    }

    /// Stores a write under a revision given out by `reserve_rev`.
    pub fn write(&mut self, key: &[u8], value: Option<Vec<u8>>, rev: u64) {
        assert!(rev <= self.rev, "revision {rev} was never given out");
        let entry = Entry { value, rev };
        self.bytes += entry.bytes(key);
        if let Some(old) = self.entries.insert(key.to_vec(), entry) {
            assert!(old.rev < rev, "revisions of a key only grow");
            self.bytes -= old.bytes(key);
        }
    }

    /// Adds handed-over entries (the receiver's side of a migration).
    pub fn insert_entry(&mut self, key: Vec<u8>, entry: Entry) {
        self.bytes += entry.bytes(&key);
        if let Some(old) = self.entries.insert(key.clone(), entry) {
            self.bytes -= old.bytes(&key);
        }
    }

    pub fn seen(&self, id: TxnId) -> Seen<'_> {
        match self.clients.get(id.client) {
            Some(entry) if entry.seq == id.seq => Seen::Done(&entry.outcome),
            Some(entry) if entry.seq > id.seq => Seen::Stale,
            _ => Seen::New,
        }
    }

    pub fn remember(&mut self, id: TxnId, outcome: &TxnOutcome, limits: &Limits) {
        let newer = self.clients.get(id.client).is_none_or(|e| e.seq < id.seq);
        if newer {
            let entry = ClientEntry {
                seq: id.seq,
                outcome: outcome.clone(),
            };
            let (count_max, bytes_max) = (limits.shard_clients_max, limits.shard_clients_bytes_max);
            self.clients.insert(id.client, entry, count_max, bytes_max);
        }
    }
}
