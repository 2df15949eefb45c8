//! Transactions as clients write them: conditions, reads and writes over
//! keys, named by the client's (id, seq).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use synod_paxos::ClientId;
use synod_shard::{shard_of, ShardId};

/// A transaction's name: its client and the client's sequence number. A
/// client runs one transaction at a time, with increasing seqs, so the
/// name is unique and a retry carries the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnId {
    pub client: ClientId,
    pub seq: u64,
}

/// A condition a transaction commits under. A failed condition aborts the
/// whole transaction (`AbortReason::ConditionFailed`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cond {
    /// The key holds exactly `value`.
    Equals {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// The key is absent.
    Absent {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// The key's revision is `rev` (0: never written in its shard).
    Revision {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        rev: u64,
    },
}

impl Cond {
    pub fn key(&self) -> &[u8] {
        match self {
            Cond::Equals { key, .. } | Cond::Absent { key } | Cond::Revision { key, .. } => key,
        }
    }
}

/// One write: a put (`Some`) or a delete (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Write {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
}

/// A transaction: every condition holds and every read sees the state the
/// writes then replace, atomically across shards. A single `get`, `put`,
/// `del` or `cas` is a transaction of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Txn {
    pub conds: Vec<Cond>,
    pub reads: Vec<Vec<u8>>,
    pub writes: Vec<Write>,
}

impl Txn {
    /// Every key the transaction touches, once each, in order.
    pub fn keys(&self) -> BTreeSet<&[u8]> {
        let conds = self.conds.iter().map(Cond::key);
        let reads = self.reads.iter().map(|k| k.as_slice());
        let writes = self.writes.iter().map(|w| w.key.as_slice());
        conds.chain(reads).chain(writes).collect()
    }

    /// The keys it only reads (shared locks); the rest are written.
    pub fn written_keys(&self) -> BTreeSet<&[u8]> {
        self.writes.iter().map(|w| w.key.as_slice()).collect()
    }

    /// The shards the transaction touches among `shard_count`.
    pub fn shards(&self, shard_count: u32) -> BTreeSet<ShardId> {
        self.keys()
            .into_iter()
            .map(|k| shard_of(k, shard_count))
            .collect()
    }

    /// The part of the transaction on `shards`: what one participant does.
    pub fn part(&self, shards: &BTreeSet<ShardId>, shard_count: u32) -> Txn {
        let mine = |key: &[u8]| shards.contains(&shard_of(key, shard_count));
        Txn {
            conds: self
                .conds
                .iter()
                .filter(|c| mine(c.key()))
                .cloned()
                .collect(),
            reads: self.reads.iter().filter(|k| mine(k)).cloned().collect(),
            writes: self
                .writes
                .iter()
                .filter(|w| mine(&w.key))
                .cloned()
                .collect(),
        }
    }

    /// Bytes of keys and values: what a limit counts.
    pub fn bytes(&self) -> u64 {
        let conds: usize = self
            .conds
            .iter()
            .map(|c| match c {
                Cond::Equals { key, value } => key.len() + value.len(),
                Cond::Absent { key } | Cond::Revision { key, .. } => key.len() + 8,
            })
            .sum();
        let reads: usize = self.reads.iter().map(|k| k.len()).sum();
        let writes: usize = self
            .writes
            .iter()
            .map(|w| w.key.len() + w.value.as_ref().map_or(0, |v| v.len()))
            .sum();
        (conds + reads + writes) as u64
    }
}

/// What a read saw: the value (absent: `None`) and its revision.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadResult {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    pub rev: u64,
}

impl crate::recent::Weigh for TxnOutcome {
    /// Bytes of what a retry would be answered with.
    fn weight(&self) -> u64 {
        match self {
            TxnOutcome::Committed { reads, writes } => {
                let reads: u64 = reads.iter().map(|r| r.bytes() + 8).sum();
                let writes: u64 = writes.iter().map(|w| w.key.len() as u64 + 8).sum();
                reads + writes
            }
            TxnOutcome::Aborted(reason) => 16 + reason.to_string().len() as u64,
        }
    }
}

impl ReadResult {
    /// Bytes of key and value: what `reads_bytes_max` counts.
    pub fn bytes(&self) -> u64 {
        (self.key.len() + self.value.as_ref().map_or(0, |v| v.len())) as u64
    }
}

/// The revision a committed write made.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteResult {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    pub rev: u64,
}

/// A transaction's outcome, as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnOutcome {
    Committed {
        reads: Vec<ReadResult>,
        writes: Vec<WriteResult>,
    },
    Aborted(AbortReason),
}

/// Why a transaction aborted. Nothing it asked for took effect.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum AbortReason {
    #[error("condition on {} failed", String::from_utf8_lossy(.key))]
    ConditionFailed { key: Vec<u8> },
    #[error("{} is locked by another transaction (retry)", String::from_utf8_lossy(.key))]
    Conflict { key: Vec<u8> },
    #[error("a shard moved while the transaction ran (retry)")]
    WrongGroup,
    #[error("the coordinator lost the transaction (retry)")]
    CoordinatorLost,
    #[error("a newer transaction of this client came first")]
    Stale,
    #[error("transaction over a limit: {0}")]
    TooLarge(String),
    #[error("an earlier attempt through another coordinator holds its locks (retry)")]
    EarlierAttempt,
}

impl AbortReason {
    /// True when the same transaction may commit if run again (as a new
    /// transaction): a lock conflict, a shard move, a lost coordinator, an
    /// earlier attempt still holding locks. A failed condition, a limit or
    /// a stale sequence would abort again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AbortReason::Conflict { .. }
                | AbortReason::WrongGroup
                | AbortReason::CoordinatorLost
                | AbortReason::EarlierAttempt
        )
    }
}
