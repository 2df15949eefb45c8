//! Transaction histories for the strict-serializability checker: builders
//! for hand-written ones, and a correct serial store that generates them.

use std::collections::BTreeMap;

use synod_check::{TxnOutcome, TxnRead, TxnRecord, TxnWrite};

use super::Rng;

/// A read of `key` that saw `rev` with `tag`.
pub fn read(key: &str, rev: u64, tag: Option<u64>) -> TxnRead {
    TxnRead {
        key: key.as_bytes().to_vec(),
        rev,
        tag,
    }
}

/// A committed write of `key` at `rev`: a put of `tag`, or a delete.
pub fn wrote(key: &str, rev: u64, tag: Option<u64>) -> TxnWrite {
    TxnWrite {
        key: key.as_bytes().to_vec(),
        rev: Some(rev),
        tag,
    }
}

/// A write whose rev the client never learned (aborted or unknown).
pub fn tried(key: &str, tag: Option<u64>) -> TxnWrite {
    TxnWrite {
        key: key.as_bytes().to_vec(),
        rev: None,
        tag,
    }
}

pub fn committed(
    id: u64,
    (call, ret): (u64, u64),
    reads: Vec<TxnRead>,
    writes: Vec<TxnWrite>,
) -> TxnRecord {
    TxnRecord {
        id,
        call,
        ret: Some(ret),
        outcome: TxnOutcome::Committed,
        reads,
        writes,
    }
}

pub fn aborted(id: u64, (call, ret): (u64, u64), writes: Vec<TxnWrite>) -> TxnRecord {
    TxnRecord {
        id,
        call,
        ret: Some(ret),
        outcome: TxnOutcome::Aborted,
        reads: Vec::new(),
        writes,
    }
}

pub fn unknown(id: u64, call: u64, ret: Option<u64>, writes: Vec<TxnWrite>) -> TxnRecord {
    TxnRecord {
        id,
        call,
        ret,
        outcome: TxnOutcome::Unknown,
        reads: Vec::new(),
        writes,
    }
}

/// Shape of a generated history.
#[derive(Clone, Copy, Debug)]
pub struct TxnWorkload {
    pub txns: usize,
    pub keys: u64,
    /// Most keys one transaction reads, and writes.
    pub reads_max: u64,
    pub writes_max: u64,
    /// How far, in transactions, a call may start before its commit point
    /// and a return come after it: the real-time overlap.
    pub overlap: u64,
    pub aborted_percent: u64,
    pub unknown_percent: u64,
}

/// A generated history and every version each key went through, in rev
/// order, the initial state (rev 0, no tag) first.
pub struct SerialHistory {
    pub history: Vec<TxnRecord>,
    pub versions: BTreeMap<Vec<u8>, Vec<(u64, Option<u64>)>>,
}

/// A correct store: transactions take effect one at a time, the `i`th at
/// time `10 i`, each called before and returning after that point. So a
/// transaction that returned before another was called took effect first,
/// and every history it produces is strictly serializable. Revs come from
/// one counter over all keys, so each key's revs have gaps.
pub fn simulate_serial(rng: &mut Rng, workload: TxnWorkload) -> SerialHistory {
    let mut store = SerialStore::new(workload.keys);
    let history = (0..workload.txns)
        .map(|i| store.run(rng, &workload, i as u64))
        .collect();
    SerialHistory {
        history,
        versions: store.versions,
    }
}

struct SerialStore {
    keys: u64,
    rev: u64,
    tag: u64,
    versions: BTreeMap<Vec<u8>, Vec<(u64, Option<u64>)>>,
}

impl SerialStore {
    fn new(keys: u64) -> Self {
        let versions = (0..keys).map(|k| (key_name(k), vec![(0, None)])).collect();
        SerialStore {
            keys,
            rev: 0,
            tag: 0,
            versions,
        }
    }

    fn run(&mut self, rng: &mut Rng, workload: &TxnWorkload, index: u64) -> TxnRecord {
        let point = 10 * (index + workload.overlap);
        let call = point - rng.below(10 * workload.overlap + 1);
        let ret = point + rng.below(10 * workload.overlap + 1);
        let read_keys = self.distinct_keys(rng, workload.reads_max);
        let write_keys = self.distinct_keys(rng, workload.writes_max);
        let roll = rng.below(100);
        let outcome = match roll {
            _ if roll < workload.aborted_percent => TxnOutcome::Aborted,
            _ if roll < workload.aborted_percent + workload.unknown_percent => TxnOutcome::Unknown,
            _ => TxnOutcome::Committed,
        };
        let applied = match outcome {
            TxnOutcome::Committed => true,
            TxnOutcome::Aborted => false,
            TxnOutcome::Unknown => rng.chance(50),
        };
        let reads = match outcome {
            TxnOutcome::Committed => read_keys.iter().map(|key| self.read(key)).collect(),
            _ => Vec::new(),
        };
        let writes = write_keys
            .iter()
            .map(|key| self.write(rng, key, applied, outcome))
            .collect();
        TxnRecord {
            id: index,
            call,
            ret: match outcome {
                TxnOutcome::Unknown if rng.chance(50) => None,
                _ => Some(ret),
            },
            outcome,
            reads,
            writes,
        }
    }

    fn distinct_keys(&self, rng: &mut Rng, max: u64) -> Vec<Vec<u8>> {
        let mut keys: Vec<u64> = (0..rng.below(max + 1))
            .map(|_| rng.below(self.keys))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter().map(key_name).collect()
    }

    fn read(&self, key: &[u8]) -> TxnRead {
        let &(rev, tag) = self.versions[key]
            .last()
            .expect("every key has its initial state");
        TxnRead {
            key: key.to_vec(),
            rev,
            tag,
        }
    }

    /// A put of a fresh tag or (one time in ten) a delete, applied or not.
    fn write(&mut self, rng: &mut Rng, key: &[u8], applied: bool, outcome: TxnOutcome) -> TxnWrite {
        self.tag += 1;
        let tag = (!rng.chance(10)).then_some(self.tag);
        let mut rev = None;
        if applied {
            self.rev += 1;
            self.versions
                .get_mut(key)
                .expect("a key of the store")
                .push((self.rev, tag));
            rev = Some(self.rev);
        }
        TxnWrite {
            key: key.to_vec(),
            rev: rev.filter(|_| outcome == TxnOutcome::Committed),
            tag,
        }
    }
}

fn key_name(k: u64) -> Vec<u8> {
    format!("k{k}").into_bytes()
}
