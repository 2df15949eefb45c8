//! The node table: znodes by path, in path order.
//!
//! It is laid out for memory, since a million znodes must fit in a few
//! hundred megabytes:
//!
//! - A B-tree leaf holds eleven entries and, filled by inserts, runs a
//!   little over half full, so every byte of an entry costs nearly two.
//!   The map therefore goes from `NodeKey` (path and data, 16 bytes) to a
//!   4-byte `Slot`, and the znodes live densely in slabs that reuse the
//!   slots of deleted nodes.
//! - Most znodes are persistent and never change after their create.
//!   Until one does, it is kept as a 24-byte `Fresh` (czxid, ctime, ACL,
//!   data length: the rest of its stat follows from those) instead of a
//!   72-byte `Znode`. `get_mut` promotes it for good; a promoted node is
//!   never demoted. Ephemeral, container and TTL nodes are never fresh.
//!
//! Slot numbers and the choice of slab are not replicated state (a
//! restored table lays out its nodes afresh); nothing outside this module
//! sees them, and every read hands out a whole `Znode` by value.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::acl_cache::AclId;
use crate::node::{self, NodeKey, NodeStat, Znode};

/// Where a node lives: the high bit picks the slab, the rest is the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u32);

const FRESH_BIT: u32 = 1 << 31;

impl Slot {
    fn fresh(index: u32) -> Self {
        Slot(index | FRESH_BIT)
    }

    fn full(index: u32) -> Self {
        Slot(index)
    }

    /// The index in the fresh slab, if the node is fresh.
    fn fresh_index(self) -> Option<u32> {
        (self.0 & FRESH_BIT != 0).then_some(self.0 & !FRESH_BIT)
    }

    fn index(self) -> u32 {
        self.0 & !FRESH_BIT
    }
}

/// A persistent znode unchanged since its create: mzxid and pzxid equal
/// czxid, mtime equals ctime, every version, the child count and the
/// owner are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fresh {
    czxid: i64,
    ctime: i64,
    acl: AclId,
    data_len: u32,
}

impl Fresh {
    fn of(z: &Znode) -> Option<Self> {
        let s = &z.stat;
        let fresh = Fresh {
            czxid: s.czxid,
            ctime: s.ctime,
            acl: z.acl,
            data_len: z.data_len,
        };
        (fresh.znode() == *z).then_some(fresh)
    }

    fn znode(&self) -> Znode {
        Znode {
            stat: NodeStat::created(self.czxid, self.ctime, 0),
            acl: self.acl,
            data_len: self.data_len,
        }
    }
}

/// Values by index; freed indexes are reused first and hold stale values
/// until then.
#[derive(Clone, Debug)]
struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    fn add(&mut self, item: T) -> u32 {
        if let Some(i) = self.free.pop() {
            self.items[i as usize] = item;
            return i;
        }
        let i = u32::try_from(self.items.len())
            .ok()
            .filter(|i| i & FRESH_BIT == 0)
            .expect("under 2^31 znodes of a kind");
        self.items.push(item);
        i
    }

    fn get(&self, i: u32) -> &T {
        &self.items[i as usize]
    }

    fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.items[i as usize]
    }

    fn free(&mut self, i: u32) {
        self.free.push(i);
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct NodeTable {
    slots: BTreeMap<NodeKey, Slot>,
    fresh: Slab<Fresh>,
    full: Slab<Znode>,
}

impl NodeTable {
    /// A table of `nodes`, which are in strictly increasing path order.
    pub(crate) fn from_sorted(nodes: Vec<(NodeKey, Znode)>) -> Self {
        let mut table = NodeTable::default();
        let len = nodes.len();
        let mut keys = Vec::with_capacity(len);
        for (k, z) in nodes {
            keys.push((k, table.add(z)));
        }
        // Sorted input: from_iter's sort is a single pass, and it builds
        // the tree bottom-up with full leaves.
        table.slots = keys.into_iter().collect();
        assert_eq!(table.slots.len(), len, "from_sorted given a repeated path");
        table
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn get(&self, path: &[u8]) -> Option<Znode> {
        self.slots.get(path).map(|&s| self.znode(s))
    }

    /// The node to change in place; promotes a fresh node first.
    pub(crate) fn get_mut(&mut self, path: &[u8]) -> Option<&mut Znode> {
        let slot = self.slots.get_mut(path)?;
        if let Some(i) = slot.fresh_index() {
            let z = self.fresh.get(i).znode();
            self.fresh.free(i);
            *slot = Slot::full(self.full.add(z));
        }
        Some(self.full.get_mut(slot.index()))
    }

    pub(crate) fn get_key_value(&self, path: &[u8]) -> Option<(&NodeKey, Znode)> {
        self.slots
            .get_key_value(path)
            .map(|(k, &s)| (k, self.znode(s)))
    }

    /// Adds a node; false (and no change) if its path is taken.
    pub(crate) fn insert(&mut self, key: NodeKey, z: Znode) -> bool {
        if self.slots.contains_key(key.path_bytes()) {
            return false;
        }
        let slot = self.add(z);
        self.slots.insert(key, slot);
        true
    }

    pub(crate) fn remove_entry(&mut self, path: &[u8]) -> Option<(NodeKey, Znode)> {
        let (key, slot) = self.slots.remove_entry(path)?;
        let z = self.znode(slot);
        match slot.fresh_index() {
            Some(i) => self.fresh.free(i),
            None => self.full.free(slot.index()),
        }
        Some((key, z))
    }

    /// Replaces the key of the node at `key`'s path, and so its data;
    /// returns the old key, `None` (and no change) if there is no node.
    pub(crate) fn replace_key(&mut self, key: NodeKey) -> Option<NodeKey> {
        let (old, slot) = self.slots.remove_entry(key.path_bytes())?;
        let data_len = node::data_len(key.data());
        match slot.fresh_index() {
            Some(i) => self.fresh.get_mut(i).data_len = data_len,
            None => self.full.get_mut(slot.index()).data_len = data_len,
        }
        self.slots.insert(key, slot);
        Some(old)
    }

    /// Every node in path order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&NodeKey, Znode)> + '_ {
        self.slots.iter().map(|(k, &s)| (k, self.znode(s)))
    }

    /// The keys from `from` on, in path order.
    pub(crate) fn keys_from<'a>(&'a self, from: &[u8]) -> impl Iterator<Item = &'a NodeKey> + 'a {
        self.slots
            .range::<[u8], _>((Bound::Included(from), Bound::Unbounded))
            .map(|(k, _)| k)
    }

    fn add(&mut self, z: Znode) -> Slot {
        match Fresh::of(&z) {
            Some(f) => Slot::fresh(self.fresh.add(f)),
            None => Slot::full(self.full.add(z)),
        }
    }

    fn znode(&self, slot: Slot) -> Znode {
        match slot.fresh_index() {
            Some(i) => self.fresh.get(i).znode(),
            None => *self.full.get(slot.index()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl_cache::AclCache;
    use crate::types::Acl;

    fn acl() -> AclId {
        AclCache::default().acquire(&Acl::open_unsafe())
    }

    #[test]
    fn a_fresh_node_is_small_and_reads_back_whole() {
        assert_eq!(std::mem::size_of::<Fresh>(), 24);
        let z = Znode::new(b"abc", acl(), NodeStat::created(7, 1_000, 0));
        let f = Fresh::of(&z).expect("a created node is fresh");
        assert_eq!(f.znode(), z);
        let mut changed = z;
        changed.stat.pzxid = 8;
        assert!(Fresh::of(&changed).is_none());
        let ephemeral = Znode::new(b"abc", acl(), NodeStat::created(7, 1_000, 42));
        assert!(Fresh::of(&ephemeral).is_none());
    }

    #[test]
    fn get_mut_promotes_and_the_change_sticks() {
        let mut t = NodeTable::default();
        let z = Znode::new(b"", acl(), NodeStat::created(7, 1_000, 0));
        assert!(t.insert(NodeKey::new("/a", b""), z));
        assert!(t.insert(NodeKey::new("/b", b""), z));
        assert!(!t.insert(NodeKey::new("/a", b"again"), z));
        t.get_mut(b"/a").expect("present").stat.version = 3;
        assert_eq!(t.get(b"/a").expect("present").stat.version, 3);
        assert_eq!(t.get(b"/b"), Some(z));
        let old = t.replace_key(NodeKey::new("/b", b"four")).expect("present");
        assert_eq!(old.data(), b"");
        assert_eq!(t.get(b"/b").expect("present").data_len, 4);
        let (k, removed) = t.remove_entry(b"/a").expect("present");
        assert_eq!((k.path(), removed.stat.version), ("/a", 3));
        assert_eq!(t.len(), 1);
        // Both slabs reuse freed slots.
        assert!(t.insert(NodeKey::new("/c", b""), removed));
        assert_eq!(t.full.items.len(), 1);
    }
}
