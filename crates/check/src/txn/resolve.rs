//! Which write each read saw: the version order per key, the reads it
//! explains, and the anomalies of reads and transactions taken one at a
//! time (G1a, garbage reads, rev mismatches, internal ones).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use super::anomaly::{InternalViolation, RevConflict, TxnAnomaly};
use super::history::{TxnOutcome, TxnRead, TxnRecord};
use crate::hash::BuildFxHasher;

/// A key, numbered in order of first appearance in the history.
pub(crate) type KeyId = u32;

/// A version whose writer is known: `writer` is an index into the history.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Version {
    pub rev: u64,
    pub writer: usize,
}

/// A read some version explains. `writer` is `None` for the initial state
/// and for a delete by an unknown transaction that cannot be told apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeenRead {
    pub reader: usize,
    pub key: KeyId,
    pub rev: u64,
    pub writer: Option<usize>,
}

/// What the reads of a history say, before any graph is built.
pub(crate) struct Resolution<'h> {
    /// Key bytes by [`KeyId`].
    pub keys: Vec<&'h [u8]>,
    /// Which transactions the graph holds: the committed ones, and the
    /// unknown ones some read saw a write of (so they took effect).
    pub in_graph: Vec<bool>,
    /// Per key, the versions with a known writer, in rev order.
    pub versions: Vec<Vec<Version>>,
    pub reads: Vec<SeenRead>,
    pub anomalies: Vec<TxnAnomaly>,
}

/// A write of the history, with the rev it took: committed writes know it,
/// unknown writes learn it from the first read that sees them.
struct WriteSlot {
    txn: usize,
    outcome: TxnOutcome,
    rev: Option<u64>,
}

/// What is known of the version at one (key, rev).
#[derive(Clone, Copy)]
struct Known {
    writer: Option<usize>,
    tag: Option<u64>,
}

struct Resolver<'h> {
    history: &'h [TxnRecord],
    key_ids: HashMap<&'h [u8], KeyId, BuildFxHasher>,
    keys: Vec<&'h [u8]>,
    slots: Vec<WriteSlot>,
    slot_by_tag: HashMap<(KeyId, u64), usize, BuildFxHasher>,
    /// Per key, the unknown transactions' deletes of it (slots).
    unknown_deletes: HashMap<KeyId, Vec<usize>, BuildFxHasher>,
    /// Per key, the versions read that are deletes by one of several
    /// unknown transactions, which one unknown.
    unattributed_deletes: HashMap<KeyId, usize, BuildFxHasher>,
    known: HashMap<(KeyId, u64), Known, BuildFxHasher>,
    in_graph: Vec<bool>,
    reads: Vec<SeenRead>,
    anomalies: Vec<TxnAnomaly>,
}

/// Resolves every read of a well-formed history.
pub(crate) fn resolve(history: &[TxnRecord]) -> Resolution<'_> {
    let mut resolver = Resolver::new(history);
    for (index, txn) in history.iter().enumerate() {
        resolver.index_writes(index, txn);
    }
    for (index, txn) in history.iter().enumerate() {
        for read in &txn.reads {
            resolver.on_read(index, read);
        }
        resolver.anomalies.extend(internal_anomalies(txn));
    }
    resolver.finish()
}

impl<'h> Resolver<'h> {
    fn new(history: &'h [TxnRecord]) -> Self {
        let in_graph = history
            .iter()
            .map(|txn| txn.outcome == TxnOutcome::Committed)
            .collect();
        Resolver {
            history,
            key_ids: HashMap::default(),
            keys: Vec::new(),
            slots: Vec::new(),
            slot_by_tag: HashMap::default(),
            unknown_deletes: HashMap::default(),
            unattributed_deletes: HashMap::default(),
            known: HashMap::default(),
            in_graph,
            reads: Vec::new(),
            anomalies: Vec::new(),
        }
    }

    fn key_id(&mut self, key: &'h [u8]) -> KeyId {
        match self.key_ids.entry(key) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                let id = KeyId::try_from(self.keys.len()).expect("fewer than 2^32 keys");
                self.keys.push(key);
                *entry.insert(id)
            }
        }
    }

    fn index_writes(&mut self, index: usize, txn: &'h TxnRecord) {
        for write in &txn.writes {
            let key = self.key_id(&write.key);
            let slot = self.slots.len();
            self.slots.push(WriteSlot {
                txn: index,
                outcome: txn.outcome,
                rev: write.rev,
            });
            if let Some(tag) = write.tag {
                self.slot_by_tag.insert((key, tag), slot);
            }
            if let Some(rev) = write.rev {
                let known = Known {
                    writer: Some(index),
                    tag: write.tag,
                };
                self.known.insert((key, rev), known);
            }
            if write.tag.is_none() && txn.outcome == TxnOutcome::Unknown {
                self.unknown_deletes.entry(key).or_default().push(slot);
            }
        }
    }

    fn on_read(&mut self, reader: usize, read: &'h TxnRead) {
        let key = self.key_id(&read.key);
        match self.explain(key, read) {
            Ok(writer) => self.reads.push(SeenRead {
                reader,
                key,
                rev: read.rev,
                writer,
            }),
            Err(anomaly) => {
                let anomaly = self.describe(reader, read, anomaly);
                self.anomalies.push(anomaly);
            }
        }
    }

    /// The writer of the version `read` saw (`None`: the initial state, or
    /// an unknown delete that cannot be told apart), or why none can be.
    fn explain(&mut self, key: KeyId, read: &TxnRead) -> Result<Option<usize>, ReadProblem> {
        if read.rev == 0 {
            return match read.tag {
                None => Ok(None),
                Some(_) => Err(ReadProblem::Mismatch(RevConflict::InitialWithTag)),
            };
        }
        let slot = read
            .tag
            .and_then(|tag| self.slot_by_tag.get(&(key, tag)).copied());
        if let Some(slot) = slot.filter(|&slot| self.slots[slot].outcome == TxnOutcome::Aborted) {
            return Err(ReadProblem::Aborted {
                writer: self.slots[slot].txn,
            });
        }
        if let Some(known) = self.known.get(&(key, read.rev)) {
            return match known.tag == read.tag {
                true => Ok(known.writer),
                false => Err(ReadProblem::Mismatch(RevConflict::RevHasOtherTag {
                    writer: known.writer.map(|w| self.history[w].id),
                    tag: known.tag,
                })),
            };
        }
        match (read.tag, slot) {
            (Some(_), Some(slot)) => self.explain_by_put(key, read, slot),
            (Some(_), None) => Err(ReadProblem::Garbage),
            (None, _) => self.explain_by_unknown_delete(key, read),
        }
    }

    /// `read` saw the put in `slot`, at a rev no known version holds.
    fn explain_by_put(
        &mut self,
        key: KeyId,
        read: &TxnRead,
        slot: usize,
    ) -> Result<Option<usize>, ReadProblem> {
        match self.slots[slot].rev {
            Some(rev) => Err(ReadProblem::Mismatch(RevConflict::TagAtOtherRev {
                writer: self.history[self.slots[slot].txn].id,
                rev,
            })),
            None => Ok(Some(self.observe(key, read, slot))),
        }
    }

    /// `read` saw a delete at a rev no known version holds: an unknown
    /// transaction's delete. With one candidate, not yet seen at another
    /// rev, it is that one (the history holds every transaction). With
    /// several, the version is real but its writer cannot be told: one of
    /// them, as long as no more such versions are read than there are
    /// candidates.
    fn explain_by_unknown_delete(
        &mut self,
        key: KeyId,
        read: &TxnRead,
    ) -> Result<Option<usize>, ReadProblem> {
        let candidates = self
            .unknown_deletes
            .get(&key)
            .map_or(&[][..], |c| c.as_slice());
        match *candidates {
            [] => Err(ReadProblem::Garbage),
            [slot] if self.slots[slot].rev.is_none() => Ok(Some(self.observe(key, read, slot))),
            [_] => Err(ReadProblem::Garbage),
            _ => {
                let unattributed = self.unattributed_deletes.entry(key).or_default();
                if *unattributed == candidates.len() {
                    return Err(ReadProblem::Garbage);
                }
                *unattributed += 1;
                let known = Known {
                    writer: None,
                    tag: None,
                };
                self.known.insert((key, read.rev), known);
                Ok(None)
            }
        }
    }

    /// The unknown write in `slot` took effect at `read.rev`, so its
    /// transaction did.
    fn observe(&mut self, key: KeyId, read: &TxnRead, slot: usize) -> usize {
        let writer = self.slots[slot].txn;
        assert_eq!(self.slots[slot].outcome, TxnOutcome::Unknown);
        self.slots[slot].rev = Some(read.rev);
        let known = Known {
            writer: Some(writer),
            tag: read.tag,
        };
        self.known.insert((key, read.rev), known);
        self.in_graph[writer] = true;
        writer
    }

    fn describe(&self, reader: usize, read: &TxnRead, problem: ReadProblem) -> TxnAnomaly {
        let (reader, key, rev) = (self.history[reader].id, read.key.clone(), read.rev);
        match problem {
            ReadProblem::Aborted { writer } => TxnAnomaly::AbortedRead {
                reader,
                writer: self.history[writer].id,
                key,
                rev,
                tag: read.tag.expect("only a put's tag names an aborted write"),
            },
            ReadProblem::Garbage => TxnAnomaly::GarbageRead {
                reader,
                key,
                rev,
                tag: read.tag,
            },
            ReadProblem::Mismatch(conflict) => TxnAnomaly::RevMismatch {
                reader,
                key,
                rev,
                tag: read.tag,
                conflict,
            },
        }
    }

    fn finish(self) -> Resolution<'h> {
        let mut versions = vec![Vec::new(); self.keys.len()];
        for (&(key, rev), known) in &self.known {
            if let Some(writer) = known.writer {
                versions[key as usize].push(Version { rev, writer });
            }
        }
        // The map's order is arbitrary; sorting makes the result not
        // depend on it (revs are unique per key).
        versions
            .iter_mut()
            .for_each(|v| v.sort_unstable_by_key(|v| v.rev));
        Resolution {
            keys: self.keys,
            in_graph: self.in_graph,
            versions,
            reads: self.reads,
            anomalies: self.anomalies,
        }
    }
}

enum ReadProblem {
    Aborted { writer: usize },
    Garbage,
    Mismatch(RevConflict),
}

/// A transaction's reads all happen before its writes: two reads of a key
/// see one version, and it is older than the transaction's own write.
fn internal_anomalies(txn: &TxnRecord) -> Vec<TxnAnomaly> {
    let mut anomalies = Vec::new();
    let mut first_read: BTreeMap<&[u8], &TxnRead> = BTreeMap::new();
    for read in &txn.reads {
        let first = *first_read.entry(&read.key).or_insert(read);
        if (first.rev, first.tag) != (read.rev, read.tag) {
            anomalies.push(TxnAnomaly::Internal {
                txn: txn.id,
                key: read.key.clone(),
                violation: InternalViolation::ReadsDisagree {
                    first_rev: first.rev,
                    first_tag: first.tag,
                    second_rev: read.rev,
                    second_tag: read.tag,
                },
            });
        }
    }
    for write in &txn.writes {
        let (Some(read), Some(write_rev)) = (first_read.get(write.key.as_slice()), write.rev)
        else {
            continue;
        };
        if read.rev >= write_rev {
            anomalies.push(TxnAnomaly::Internal {
                txn: txn.id,
                key: write.key.clone(),
                violation: InternalViolation::ReadOwnOrLaterWrite {
                    read_rev: read.rev,
                    write_rev,
                },
            });
        }
    }
    anomalies
}
