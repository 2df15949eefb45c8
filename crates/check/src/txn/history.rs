//! The recorded history of transactions, and the rules a history must keep
//! to be checked at all.

use std::collections::HashMap;

use crate::hash::BuildFxHasher;

/// One transaction as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRecord {
    /// Unique within the history.
    pub id: u64,
    /// When the client invoked it, in any monotonic unit.
    pub call: u64,
    /// When the client saw its outcome; `None` if it never did.
    pub ret: Option<u64>,
    pub outcome: TxnOutcome,
    /// What a committed transaction read. Empty for aborted and unknown
    /// ones: their client never saw what they read.
    pub reads: Vec<TxnRead>,
    /// What it wrote, or tried to; at most one write per key.
    pub writes: Vec<TxnWrite>,
}

/// How a transaction ended, as far as its client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnOutcome {
    /// It took effect; the client saw the commit.
    Committed,
    /// It definitely did not take effect.
    Aborted,
    /// It may or may not have taken effect (a timeout, a lost reply).
    Unknown,
}

/// A read of one key: the version it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRead {
    pub key: Vec<u8>,
    /// The rev of the write it saw; 0 for the initial, never-written state.
    pub rev: u64,
    /// The tag of the write it saw; `None` for an absent key (the initial
    /// state or a delete).
    pub tag: Option<u64>,
}

/// A write of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnWrite {
    pub key: Vec<u8>,
    /// The rev the store gave it: `Some` exactly when the transaction
    /// committed.
    pub rev: Option<u64>,
    /// `Some(tag)` for a put (tags are unique per key across the history),
    /// `None` for a delete.
    pub tag: Option<u64>,
}

/// A history that cannot have been recorded from a real run: a bug in the
/// recorder, not in the store under test.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedTxnHistory {
    #[error("txn id {id} appears twice; give every transaction its own id")]
    DuplicateId { id: u64 },
    #[error("txn {id} returned at {ret}, before its call at {call}; check the recorder's clock")]
    ReturnBeforeCall { id: u64, call: u64, ret: u64 },
    #[error("txn {id} is {outcome:?} but has no return time; a client that saw the outcome saw it at some time (use Unknown if it never did)")]
    OutcomeWithoutReturn { id: u64, outcome: TxnOutcome },
    #[error("txn {id} is {outcome:?} but records reads; only a committed transaction's reads were seen by its client")]
    ReadsWithoutCommit { id: u64, outcome: TxnOutcome },
    #[error("txn {id} committed a write of {} without a rev; record the rev the store replied with", key.escape_ascii())]
    CommittedWriteWithoutRev { id: u64, key: Vec<u8> },
    #[error("txn {id} committed a write of {} at rev 0, the rev of the never-written state", key.escape_ascii())]
    CommittedWriteAtInitialRev { id: u64, key: Vec<u8> },
    #[error("txn {id} is {outcome:?} but its write of {} has rev {rev}; only a committed write has a rev the client learned", key.escape_ascii())]
    UncommittedWriteWithRev {
        id: u64,
        outcome: TxnOutcome,
        key: Vec<u8>,
        rev: u64,
    },
    #[error("txn {id} writes {} twice; record only its last write of a key", key.escape_ascii())]
    KeyWrittenTwice { id: u64, key: Vec<u8> },
    #[error("txns {first} and {second} both committed {} at rev {rev}; revs are unique per key", key.escape_ascii())]
    DuplicateRev {
        key: Vec<u8>,
        rev: u64,
        first: u64,
        second: u64,
    },
    #[error("txns {first} and {second} both write tag {tag} to {}; tags must be unique per key", key.escape_ascii())]
    DuplicateTag {
        key: Vec<u8>,
        tag: u64,
        first: u64,
        second: u64,
    },
}

/// Checks every rule of the history format; the first broken one is the
/// error.
pub(crate) fn validate(history: &[TxnRecord]) -> Result<(), MalformedTxnHistory> {
    history.iter().try_for_each(validate_record)?;
    validate_unique_ids(history)?;
    validate_unique_revs(history)?;
    validate_unique_tags(history)
}

fn validate_record(txn: &TxnRecord) -> Result<(), MalformedTxnHistory> {
    let id = txn.id;
    match txn.ret {
        Some(ret) if ret < txn.call => {
            return Err(MalformedTxnHistory::ReturnBeforeCall {
                id,
                call: txn.call,
                ret,
            })
        }
        None if txn.outcome != TxnOutcome::Unknown => {
            return Err(MalformedTxnHistory::OutcomeWithoutReturn {
                id,
                outcome: txn.outcome,
            })
        }
        _ => {}
    }
    if txn.outcome != TxnOutcome::Committed && !txn.reads.is_empty() {
        return Err(MalformedTxnHistory::ReadsWithoutCommit {
            id,
            outcome: txn.outcome,
        });
    }
    txn.writes
        .iter()
        .try_for_each(|write| validate_write_rev(txn, write))?;
    validate_keys_written_once(txn)
}

fn validate_write_rev(txn: &TxnRecord, write: &TxnWrite) -> Result<(), MalformedTxnHistory> {
    let (id, key) = (txn.id, || write.key.clone());
    match (txn.outcome, write.rev) {
        (TxnOutcome::Committed, None) => {
            Err(MalformedTxnHistory::CommittedWriteWithoutRev { id, key: key() })
        }
        (TxnOutcome::Committed, Some(0)) => {
            Err(MalformedTxnHistory::CommittedWriteAtInitialRev { id, key: key() })
        }
        (TxnOutcome::Committed, Some(_)) | (_, None) => Ok(()),
        (outcome, Some(rev)) => Err(MalformedTxnHistory::UncommittedWriteWithRev {
            id,
            outcome,
            key: key(),
            rev,
        }),
    }
}

fn validate_keys_written_once(txn: &TxnRecord) -> Result<(), MalformedTxnHistory> {
    let mut keys: Vec<&[u8]> = txn.writes.iter().map(|w| w.key.as_slice()).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(MalformedTxnHistory::KeyWrittenTwice {
            id: txn.id,
            key: pair[0].to_vec(),
        }),
        None => Ok(()),
    }
}

fn validate_unique_ids(history: &[TxnRecord]) -> Result<(), MalformedTxnHistory> {
    let mut seen = HashMap::with_capacity_and_hasher(history.len(), BuildFxHasher::default());
    for txn in history {
        if seen.insert(txn.id, ()).is_some() {
            return Err(MalformedTxnHistory::DuplicateId { id: txn.id });
        }
    }
    Ok(())
}

fn validate_unique_revs(history: &[TxnRecord]) -> Result<(), MalformedTxnHistory> {
    let mut owner: HashMap<(&[u8], u64), u64, BuildFxHasher> = HashMap::default();
    for txn in history {
        for write in &txn.writes {
            let Some(rev) = write.rev else { continue };
            if let Some(first) = owner.insert((&write.key, rev), txn.id) {
                return Err(MalformedTxnHistory::DuplicateRev {
                    key: write.key.clone(),
                    rev,
                    first,
                    second: txn.id,
                });
            }
        }
    }
    Ok(())
}

fn validate_unique_tags(history: &[TxnRecord]) -> Result<(), MalformedTxnHistory> {
    let mut owner: HashMap<(&[u8], u64), u64, BuildFxHasher> = HashMap::default();
    for txn in history {
        for write in &txn.writes {
            let Some(tag) = write.tag else { continue };
            if let Some(first) = owner.insert((&write.key, tag), txn.id) {
                return Err(MalformedTxnHistory::DuplicateTag {
                    key: write.key.clone(),
                    tag,
                    first,
                    second: txn.id,
                });
            }
        }
    }
    Ok(())
}
