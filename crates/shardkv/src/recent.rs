//! A table of each client's latest entry, bounded in count and in bytes:
//! when either bound is passed, the least recently written entries go
//! first. An evicted client that retries an old transaction is no longer
//! recognized (the engine's own exactly-once table has the same rule).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use synod_paxos::ClientId;

/// What an entry weighs against a table's byte bound.
pub trait Weigh {
    fn weight(&self) -> u64;
}

/// Each client's latest entry, oldest evicted first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recent<V> {
    /// client -> (when written, entry).
    entries: BTreeMap<ClientId, (u64, V)>,
    by_age: BTreeSet<(u64, ClientId)>,
    clock: u64,
    bytes: u64,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Recent {
            entries: BTreeMap::new(),
            by_age: BTreeSet::new(),
            clock: 0,
            bytes: 0,
        }
    }
}

/// Per-entry overhead counted with the entry's own weight.
const ENTRY_BYTES: u64 = 32;

impl<V: Weigh> Recent<V> {
    pub fn get(&self, client: ClientId) -> Option<&V> {
        self.entries.get(&client).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Sets `client`'s entry, then evicts the oldest entries while more
    /// than `count_max` or `bytes_max` are held. An entry heavier than
    /// `bytes_max` by itself is not kept at all.
    pub fn insert(&mut self, client: ClientId, value: V, count_max: usize, bytes_max: u64) {
        self.remove(client);
        self.clock += 1;
        self.bytes += value.weight() + ENTRY_BYTES;
        self.entries.insert(client, (self.clock, value));
        self.by_age.insert((self.clock, client));
        while self.entries.len() > count_max || self.bytes > bytes_max {
            let Some(&(_, oldest)) = self.by_age.first() else {
                break;
            };
            self.remove(oldest);
        }
    }

    fn remove(&mut self, client: ClientId) {
        if let Some((at, old)) = self.entries.remove(&client) {
            self.by_age.remove(&(at, client));
            self.bytes -= old.weight() + ENTRY_BYTES;
        }
    }

    /// Checks the index and the byte count against the entries.
    pub fn check(&self) -> Result<(), String> {
        let ages: BTreeSet<(u64, ClientId)> =
            self.entries.iter().map(|(&c, (at, _))| (*at, c)).collect();
        if ages != self.by_age {
            return Err("a client table's age index disagrees with its entries".into());
        }
        let bytes: u64 = self
            .entries
            .values()
            .map(|(_, v)| v.weight() + ENTRY_BYTES)
            .sum();
        if bytes != self.bytes {
            return Err(format!(
                "a client table counts {} bytes, holds {bytes}",
                self.bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for u64 {
        fn weight(&self) -> u64 {
            *self
        }
    }

    #[test]
    fn the_oldest_go_first_when_a_count_or_byte_bound_is_passed() {
        let mut table = Recent::default();
        for client in 1..=5 {
            table.insert(client, 8, 3, 1_000);
        }
        assert_eq!(table.len(), 3);
        assert!(table.get(2).is_none() && table.get(3).is_some());
        table.insert(3, 8, 3, 1_000); // 3 is now the newest
        table.insert(6, 8, 3, 1_000);
        assert!(table.get(4).is_none() && table.get(3).is_some());
        table.insert(7, 60, 3, 100); // 40 + 40 + 40 + 92 > 100: the rest go
        assert_eq!(table.len(), 1);
        table.insert(8, 500, 3, 100);
        assert!(table.is_empty(), "heavier than the bound alone: not kept");
        table.check().unwrap();
        assert_eq!(table.bytes(), 0);
    }
}
