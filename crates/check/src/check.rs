//! The search for a linearization, one partition at a time.

use std::collections::HashMap;

use crate::bitset::HashedBitset;
use crate::entries::Entries;
use crate::explain::Explanation;
use crate::hash::{hash_one, mix64, BuildIdentityHasher};
use crate::model::{Model, Operation};

/// How much search a check may spend before it gives up with
/// [`CheckResult::Unknown`].
///
/// A step is one candidate tried or one return reached. A linearizable
/// history takes a few steps per operation with a handful of concurrent
/// clients per key (about 4 with 4 clients, 30 with 8, 100 with 10), but
/// the search is exponential in the number of operations concurrent on one
/// key, so a pathological history can take any number. Every step may add
/// an entry to the cache, so the budget also bounds memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most steps the search may take in any one partition.
    pub steps_per_partition_max: u64,
}

impl Budget {
    /// At most `steps_per_partition_max` steps in each partition.
    pub const fn steps(steps_per_partition_max: u64) -> Self {
        Budget {
            steps_per_partition_max,
        }
    }

    /// No limit: the search runs until it has an answer, however long.
    pub const fn unlimited() -> Self {
        Budget::steps(u64::MAX)
    }
}

impl Default for Budget {
    /// Two million steps per partition: about a second and a few hundred
    /// megabytes of cache at worst, and several times what a linearizable
    /// history of 3,000 operations on one key by 10 concurrent clients
    /// needs.
    fn default() -> Self {
        Budget::steps(2_000_000)
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Every partition has a linearization of all its completed operations.
    Ok,
    /// Some partition has none; the explanation shows the first such one.
    Illegal(Explanation),
    /// The search ran out of budget in some partition before it found a
    /// linearization, and no partition was found illegal. Not a pass.
    Unknown {
        /// The partition where the budget ran out, as the model names it.
        partition: String,
    },
    /// The history itself is inconsistent (a bug in whoever recorded it).
    Malformed(MalformedHistory),
}

impl CheckResult {
    /// True only for [`CheckResult::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    /// True only for [`CheckResult::Illegal`].
    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal(_))
    }
}

/// A history that cannot have been observed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedHistory {
    #[error("operation {index} (client {client}) returned at {ret}, before its call at {call}; check the history recorder's clock")]
    ReturnBeforeCall {
        index: usize,
        client: u64,
        call: u64,
        ret: u64,
    },
}

/// Checks that `history` is linearizable with respect to `model`.
///
/// Completed operations must all be linearized, each between its call and
/// its return; pending ones (`ret: None`) may be linearized anywhere after
/// their call or left out. Partitions are checked in the order the model
/// returns them; the first illegal one ends the check.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> CheckResult {
    if let Err(malformed) = validate(history) {
        return CheckResult::Malformed(malformed);
    }
    let partitions = model.partition(history);
    let mut unknown = None;
    for (index, partition) in partitions.iter().enumerate() {
        // An unobserved read constrains nothing: any point in its window
        // and any output would do. Dropping it shrinks the search.
        let mut keep = vec![true; partition.len()];
        for index in model.droppable_pending(partition) {
            assert!(
                partition[index].is_pending(),
                "only pending operations may be dropped"
            );
            keep[index] = false;
        }
        let ops: Vec<_> = partition
            .iter()
            .zip(keep)
            .filter(|(op, keep)| *keep && (op.output.is_some() || !model.is_read_only(&op.input)))
            .map(|(op, _)| op.clone())
            .collect();
        match search(model, &ops, budget.steps_per_partition_max) {
            Outcome::Linearizable => {}
            Outcome::Exhausted => {
                unknown.get_or_insert_with(|| model.describe_partition(partition));
            }
            Outcome::Illegal { prefix, state } => {
                return CheckResult::Illegal(Explanation::new(
                    model,
                    model.describe_partition(partition),
                    (index, partitions.len()),
                    &ops,
                    &prefix,
                    &state,
                ));
            }
        }
    }
    match unknown {
        Some(partition) => CheckResult::Unknown { partition },
        None => CheckResult::Ok,
    }
}

fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), MalformedHistory> {
    for (index, op) in history.iter().enumerate() {
        if let Some(ret) = op.ret {
            if ret < op.call {
                return Err(MalformedHistory::ReturnBeforeCall {
                    index,
                    client: op.client,
                    call: op.call,
                    ret,
                });
            }
        }
    }
    Ok(())
}

enum Outcome<S> {
    Linearizable,
    /// No linearization exists. `prefix` is the longest sequence of
    /// operations (indices) the search linearized, `state` the model state
    /// after it.
    Illegal {
        prefix: Vec<usize>,
        state: S,
    },
    Exhausted,
}

/// Which operations are linearized, split in two: the completed ones
/// (numbered by call order, so the set is nearly always "all of the first
/// k, plus a few") and the pending ones (which may stay out forever).
struct Linearized {
    completed: HashedBitset,
    pending: HashedBitset,
}

/// Where an operation's bit lives in [`Linearized`].
#[derive(Clone, Copy)]
struct Slot {
    pending: bool,
    ordinal: usize,
}

impl Linearized {
    fn insert(&mut self, slot: Slot) {
        match slot.pending {
            false => self.completed.insert(slot.ordinal),
            true => self.pending.insert(slot.ordinal),
        }
    }

    fn remove(&mut self, slot: Slot) {
        match slot.pending {
            false => self.completed.remove(slot.ordinal),
            true => self.pending.remove(slot.ordinal),
        }
    }
}

/// A cached configuration, stored compactly: the completed set as a count
/// of leading full words plus the words after them up to the last non-zero
/// one, the pending set without trailing zero words.
struct Seen<S> {
    completed_full_words: usize,
    completed_rest: Box<[u64]>,
    pending: Box<[u64]>,
    state: S,
}

fn trim_trailing_zeros(words: &[u64]) -> &[u64] {
    let len = words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
    &words[..len]
}

impl<S: Eq> Seen<S> {
    fn new(linearized: &Linearized, state: S) -> Self {
        let words = linearized.completed.bits().words();
        let full = words.iter().take_while(|&&w| w == u64::MAX).count();
        Seen {
            completed_full_words: full,
            completed_rest: trim_trailing_zeros(&words[full..]).into(),
            pending: trim_trailing_zeros(linearized.pending.bits().words()).into(),
            state,
        }
    }

    /// True if this configuration makes `linearized` in `state` pointless
    /// to explore: the same state, the same completed operations, and a
    /// subset of its pending ones. Whatever can be linearized from the
    /// larger pending set can be from the smaller one, by leaving the extra
    /// pending operations out (they never returned, so they constrain no
    /// real-time order).
    fn dominates(&self, linearized: &Linearized, state: &S) -> bool {
        let words = linearized.completed.bits().words();
        let (full, rest) = words.split_at(self.completed_full_words);
        full.iter().all(|&w| w == u64::MAX)
            && trim_trailing_zeros(rest) == &*self.completed_rest
            && {
                let pending = linearized.pending.bits().words();
                self.pending
                    .iter()
                    .zip(pending)
                    .all(|(&mine, &theirs)| mine & !theirs == 0)
            }
            && self.state == *state
    }
}

/// The configurations already explored: reaching one again, or one it
/// dominates, cannot lead anywhere new (Lowe's memoization, extended to
/// pending operations). Keyed by a hash of the completed set and the state.
struct Cache<S> {
    seen: HashMap<u64, Vec<Seen<S>>, BuildIdentityHasher>,
}

impl<S: Eq + std::hash::Hash + Clone> Cache<S> {
    fn new() -> Self {
        Cache {
            seen: HashMap::default(),
        }
    }

    /// Records the configuration; false if it was already explored.
    fn insert(&mut self, linearized: &Linearized, state: &S) -> bool {
        let key = linearized.completed.hash() ^ mix64(hash_one(state));
        let bucket = self.seen.entry(key).or_default();
        if bucket.iter().any(|seen| seen.dominates(linearized, state)) {
            return false;
        }
        bucket.push(Seen::new(linearized, state.clone()));
        true
    }
}

/// One step of the linearization being built, as the undo stack keeps it.
struct Linearization<S> {
    /// The operation (an index into the partition).
    op: usize,
    /// Its call entry, lifted from its list.
    call: usize,
    /// The model state before the operation.
    previous: S,
    /// True if no alternative to this choice need be tried.
    forced: bool,
}

/// Which candidates the search is walking: completed operations' calls,
/// or, once those are exhausted, pending operations' calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Completed,
    Pending,
}

/// One list of call and return entries, and the partition's index of the
/// operation at each of its positions.
struct List {
    entries: Entries,
    ops: Vec<usize>,
}

impl List {
    fn new<I, O>(ops: &[Operation<I, O>], pending: bool) -> Self {
        // Call order keeps linearized sets compact (see `Seen`).
        let mut chosen: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].is_pending() == pending)
            .collect();
        chosen.sort_by_key(|&i| (ops[i].call, i));
        List {
            entries: Entries::new(chosen.iter().map(|&i| (ops[i].call, ops[i].ret))),
            ops: chosen,
        }
    }

    fn op(&self, entry: usize) -> usize {
        self.ops[self.entries.op(entry)]
    }
}

/// Wing-Gong-Lowe depth-first search over one partition.
///
/// Completed operations live in one list of call and return entries, in
/// time order. The operations that may go next are the calls before the
/// first return; the search tries them in order, and when it reaches that
/// return it has run out of choices and backtracks. Pending operations
/// (which never returned, so constrain nothing after them) live in a
/// second list of calls; those called no later than that first return are
/// tried after the completed candidates. Trying completed operations first
/// means the cache already holds the configurations without a pending
/// operation when the ones with it come up, and those dominate them.
fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    steps_max: u64,
) -> Outcome<M::State> {
    let mut completed = List::new(ops, false);
    let mut pending = List::new(ops, true);
    let mut slots = vec![
        Slot {
            pending: false,
            ordinal: 0
        };
        ops.len()
    ];
    for (ordinal, &i) in completed.ops.iter().enumerate() {
        slots[i] = Slot {
            pending: false,
            ordinal,
        };
    }
    for (ordinal, &i) in pending.ops.iter().enumerate() {
        slots[i] = Slot {
            pending: true,
            ordinal,
        };
    }

    let mut required_left = completed.ops.len();
    let mut state = model.init();
    let mut linearized = Linearized {
        completed: HashedBitset::new(completed.ops.len()),
        pending: HashedBitset::new(pending.ops.len()),
    };
    let mut cache = Cache::new();
    let mut calls: Vec<Linearization<M::State>> = Vec::new();
    let mut best: Option<(Vec<usize>, M::State)> = None;
    let mut steps: u64 = 0;
    let mut pass = Pass::Completed;
    let mut at = completed.entries.first();

    // Once no completed operation is left, the pending ones can be
    // linearized at the end or not at all: done.
    while required_left > 0 {
        if steps >= steps_max {
            return Outcome::Exhausted;
        }
        steps += 1;

        // The next candidate in this pass, if any is left.
        let candidate = match pass {
            Pass::Completed => {
                let entry =
                    at.expect("a completed operation's return precedes the end of its list");
                if !completed.entries.is_call(entry) {
                    // The first return: the completed candidates are done.
                    pass = Pass::Pending;
                    at = pending.entries.first();
                    continue;
                }
                Some((entry, completed.op(entry)))
            }
            Pass::Pending => at
                .filter(|&entry| pending.entries.is_call(entry))
                .map(|entry| (entry, pending.op(entry)))
                .filter(|&(_, index)| ops[index].call <= first_return(&completed, ops)),
        };

        let mut dead_end = candidate.is_none();
        if let Some((entry, index)) = candidate {
            let op = &ops[index];
            let list = if op.is_pending() {
                &mut pending
            } else {
                &mut completed
            };
            let next = match &op.output {
                Some(output) => model.step(&state, &op.input, output),
                None => Some(model.step_unobserved(&state, &op.input)),
            };
            // A read that is legal now may as well go now: it changes no
            // state, and it can go next, so any linearization that places
            // it later also works with it moved here. Not trying the
            // alternatives prunes most of the search in read-heavy
            // histories; if the read leads nowhere, neither does this
            // configuration.
            let forced = next.is_some() && model.is_read_only(&op.input);
            if let Some(next) = next {
                let absorbed = is_absorbed(model, ops, &calls, op, &next);
                linearized.insert(slots[index]);
                if !absorbed && cache.insert(&linearized, &next) {
                    calls.push(Linearization {
                        op: index,
                        call: entry,
                        previous: std::mem::replace(&mut state, next),
                        forced,
                    });
                    required_left -= usize::from(!op.is_pending());
                    list.entries.lift(entry);
                    pass = Pass::Completed;
                    at = completed.entries.first();
                    continue;
                }
                linearized.remove(slots[index]);
            }
            dead_end = forced;
            at = list.entries.next(entry);
        }

        if dead_end {
            if best
                .as_ref()
                .is_none_or(|(prefix, _)| calls.len() > prefix.len())
            {
                let prefix = calls.iter().map(|lin| lin.op).collect();
                best = Some((prefix, state.clone()));
            }
            // Undo the last free choice, and every forced one after it.
            loop {
                let Some(undo) = calls.pop() else {
                    let (prefix, state) = best.expect("recorded just above");
                    return Outcome::Illegal { prefix, state };
                };
                let op = &ops[undo.op];
                let list = if op.is_pending() {
                    &mut pending
                } else {
                    &mut completed
                };
                linearized.remove(slots[undo.op]);
                required_left += usize::from(!op.is_pending());
                state = undo.previous;
                list.entries.unlift(undo.call);
                at = list.entries.next(undo.call);
                pass = if op.is_pending() {
                    Pass::Pending
                } else {
                    Pass::Completed
                };
                if !undo.forced {
                    break;
                }
            }
        }
    }
    Outcome::Linearizable
}

/// The return time of the first return entry in the completed list: a
/// pending operation called after it cannot go next.
fn first_return<I, O>(completed: &List, ops: &[Operation<I, O>]) -> u64 {
    let mut at = completed.entries.first();
    while let Some(entry) = at {
        if !completed.entries.is_call(entry) {
            return ops[completed.op(entry)].ret.expect("a completed operation");
        }
        at = completed.entries.next(entry);
    }
    u64::MAX
}

/// True if linearizing the pending `op` right after the pending operation
/// on top of the stack ends in the same `next` state as linearizing `op`
/// instead of it (a write overwriting another). Then this configuration is
/// dominated by that sibling, which the search tries anyway, with one
/// pending operation fewer. Without this, a run of pending writes would be
/// tried in every subset and order.
fn is_absorbed<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    calls: &[Linearization<M::State>],
    op: &Operation<M::Input, M::Output>,
    next: &M::State,
) -> bool {
    let Some(top) = calls.last() else {
        return false;
    };
    op.is_pending()
        && op.output.is_none()
        && ops[top.op].is_pending()
        && model.step_unobserved(&top.previous, &op.input) == *next
}
