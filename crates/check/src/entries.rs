//! The history as a doubly-linked list of call and return entries in time
//! order, from which the search lifts an operation (both its entries) when
//! it linearizes it and to which it restores them on backtrack, each in
//! O(1).

/// No entry: the end of the list.
const NIL: usize = usize::MAX;

/// The sentinel before the first entry.
const HEAD: usize = 0;

struct Entry {
    op: usize,
    is_call: bool,
    /// The other entry of the same operation.
    partner: usize,
    prev: usize,
    next: usize,
}

/// When an entry happens, for sorting. Returns of operations that never
/// returned come after everything else; at equal times calls come before
/// returns, so operations that touch in time count as concurrent (the
/// permissive reading: the checker never blames a history for a tie).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    at_infinity: bool,
    time: u64,
    is_return: bool,
    op: usize,
}

pub(crate) struct Entries {
    entries: Vec<Entry>,
}

impl Entries {
    /// Builds the list from each operation's call time and return time
    /// (`None`: never returned). Every `ret` must be at or after its `call`.
    pub(crate) fn new(times: impl ExactSizeIterator<Item = (u64, Option<u64>)>) -> Self {
        let mut keys = Vec::with_capacity(2 * times.len());
        for (op, (call, ret)) in times.enumerate() {
            debug_assert!(ret.is_none_or(|ret| ret >= call));
            keys.push(SortKey {
                at_infinity: false,
                time: call,
                is_return: false,
                op,
            });
            keys.push(SortKey {
                at_infinity: ret.is_none(),
                time: ret.unwrap_or(0),
                is_return: true,
                op,
            });
        }
        keys.sort_unstable();

        let mut entries = Vec::with_capacity(keys.len() + 1);
        entries.push(Entry {
            op: usize::MAX,
            is_call: false,
            partner: NIL,
            prev: NIL,
            next: if keys.is_empty() { NIL } else { 1 },
        });
        // Where each operation's call entry is, to pair it with its return.
        let mut call_of = vec![NIL; keys.len() / 2];
        for (i, key) in keys.iter().enumerate() {
            let index = i + 1;
            let partner = if key.is_return { call_of[key.op] } else { NIL };
            if key.is_return {
                assert_ne!(partner, NIL, "return entry before its call");
                entries[partner].partner = index;
            } else {
                call_of[key.op] = index;
            }
            entries.push(Entry {
                op: key.op,
                is_call: !key.is_return,
                partner,
                prev: index - 1,
                next: if index == keys.len() { NIL } else { index + 1 },
            });
        }
        Entries { entries }
    }

    /// The first entry still in the list, if any.
    pub(crate) fn first(&self) -> Option<usize> {
        self.next(HEAD)
    }

    /// The entry after `entry`, if any.
    pub(crate) fn next(&self, entry: usize) -> Option<usize> {
        let next = self.entries[entry].next;
        (next != NIL).then_some(next)
    }

    pub(crate) fn op(&self, entry: usize) -> usize {
        self.entries[entry].op
    }

    pub(crate) fn is_call(&self, entry: usize) -> bool {
        self.entries[entry].is_call
    }

    fn unlink(&mut self, entry: usize) {
        let Entry { prev, next, .. } = self.entries[entry];
        self.entries[prev].next = next;
        if next != NIL {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, entry: usize) {
        let Entry { prev, next, .. } = self.entries[entry];
        self.entries[prev].next = entry;
        if next != NIL {
            self.entries[next].prev = entry;
        }
    }

    /// Removes a call entry and its return entry.
    pub(crate) fn lift(&mut self, call: usize) {
        assert!(self.entries[call].is_call);
        self.unlink(call);
        self.unlink(self.entries[call].partner);
    }

    /// Restores a call entry and its return entry removed by `lift`. Lifts
    /// and unlifts must nest like a stack (Knuth's dancing links).
    pub(crate) fn unlift(&mut self, call: usize) {
        assert!(self.entries[call].is_call);
        self.relink(self.entries[call].partner);
        self.relink(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(entries: &Entries) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        let mut at = entries.first();
        while let Some(entry) = at {
            out.push((entries.op(entry), entries.is_call(entry)));
            at = entries.next(entry);
        }
        out
    }

    #[test]
    fn entries_sort_calls_before_returns_at_equal_times_and_pending_last() {
        let entries = Entries::new([(0, None), (1, Some(5)), (5, Some(6))].into_iter());
        assert_eq!(
            walk(&entries),
            vec![
                (0, true),
                (1, true),
                (2, true),
                (1, false),
                (2, false),
                (0, false)
            ]
        );
    }

    #[test]
    fn lift_and_unlift_restore_the_list() {
        let mut entries = Entries::new([(0, Some(3)), (1, Some(2)), (4, Some(5))].into_iter());
        let before = walk(&entries);
        let call_1 = 2;
        assert_eq!(entries.op(call_1), 1);
        entries.lift(call_1);
        assert_eq!(
            walk(&entries),
            vec![(0, true), (0, false), (2, true), (2, false)]
        );
        let call_0 = entries.first().unwrap();
        entries.lift(call_0);
        assert_eq!(walk(&entries), vec![(2, true), (2, false)]);
        entries.unlift(call_0);
        entries.unlift(call_1);
        assert_eq!(walk(&entries), before);
    }
}
