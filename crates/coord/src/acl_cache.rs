//! Interned ACL lists, as ZooKeeper's ReferenceCountedACLCache keeps them.
//!
//! Nearly every znode shares one of a handful of lists, so a node holds a
//! 4-byte `AclId` and the cache holds each distinct list once, with the
//! number of nodes using it; a list goes when its last node does. Ids are
//! not replicated state: two replicas with the same nodes may number their
//! lists differently (a restored tree numbers them afresh), so nothing
//! outside this module may depend on an id's value, and the snapshot
//! writes lists, not ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::types::Acl;

/// A node's handle on its ACL list in the `AclCache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AclId(u32);

impl AclId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Debug)]
struct Entry {
    list: Arc<[Acl]>,
    /// Nodes using the list; an entry with none is removed at once.
    nodes: u64,
}

/// Distinct ACL lists by id, and ids by list.
#[derive(Clone, Debug, Default)]
pub(crate) struct AclCache {
    entries: Vec<Option<Entry>>,
    ids: BTreeMap<Arc<[Acl]>, AclId>,
    /// Ids of removed entries, reused before the table grows.
    free: Vec<AclId>,
}

impl AclCache {
    /// The id of `list` for one more node.
    pub(crate) fn acquire(&mut self, list: &[Acl]) -> AclId {
        if let Some(&id) = self.ids.get(list) {
            self.entry_mut(id).nodes += 1;
            return id;
        }
        let list: Arc<[Acl]> = list.into();
        let id = self.add(list.clone(), 1);
        self.ids.insert(list, id);
        id
    }

    /// One node fewer uses `id`'s list.
    pub(crate) fn release(&mut self, id: AclId) {
        let entry = self.entry_mut(id);
        assert!(
            entry.nodes > 0,
            "ACL list {id:?} released more than acquired"
        );
        entry.nodes -= 1;
        if entry.nodes == 0 {
            let entry = self.entries[id.index()]
                .take()
                .expect("entry checked above");
            self.ids.remove(&entry.list);
            self.free.push(id);
        }
    }

    pub(crate) fn get(&self, id: AclId) -> &Arc<[Acl]> {
        &self.entry(id).list
    }

    /// Distinct lists in use.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Slots in the id space, live or free: every id is below this.
    pub(crate) fn id_bound(&self) -> usize {
        self.entries.len()
    }

    /// A cache holding `lists` as ids 0, 1, ... with no nodes yet, for a
    /// restore to `attach` nodes to; `None` if a list repeats.
    pub(crate) fn from_lists(lists: Vec<Vec<Acl>>) -> Option<Self> {
        let mut cache = AclCache::default();
        for list in lists {
            let list: Arc<[Acl]> = list.into();
            let id = cache.add(list.clone(), 0);
            if cache.ids.insert(list, id).is_some() {
                return None;
            }
        }
        Some(cache)
    }

    /// The id at `index` for one more node, for a restore; `None` if the
    /// cache has no such list.
    pub(crate) fn attach(&mut self, index: u32) -> Option<AclId> {
        let entry = self.entries.get_mut(index as usize)?.as_mut()?;
        entry.nodes += 1;
        Some(AclId(index))
    }

    /// Whether every list has a node, as after any sequence of applies.
    pub(crate) fn all_used(&self) -> bool {
        self.entries.iter().flatten().all(|e| e.nodes > 0)
    }

    fn add(&mut self, list: Arc<[Acl]>, nodes: u64) -> AclId {
        let entry = Some(Entry { list, nodes });
        if let Some(id) = self.free.pop() {
            self.entries[id.index()] = entry;
            return id;
        }
        let id = AclId(u32::try_from(self.entries.len()).expect("under 2^32 distinct ACL lists"));
        self.entries.push(entry);
        id
    }

    fn entry(&self, id: AclId) -> &Entry {
        self.entries[id.index()]
            .as_ref()
            .expect("a node's ACL id names a live list")
    }

    fn entry_mut(&mut self, id: AclId) -> &mut Entry {
        self.entries[id.index()]
            .as_mut()
            .expect("a node's ACL id names a live list")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_lists_share_one_entry_until_the_last_release() {
        let mut cache = AclCache::default();
        let open = Acl::open_unsafe();
        let a = cache.acquire(&open);
        let b = cache.acquire(&open);
        let r = cache.acquire(&Acl::read_unsafe());
        assert_eq!(a, b);
        assert_ne!(a, r);
        assert_eq!(cache.len(), 2);
        cache.release(a);
        assert_eq!(&cache.get(b)[..], &open[..]);
        cache.release(b);
        assert_eq!(cache.len(), 1);
        // The freed id is reused for the next new list.
        let c = cache.acquire(&[Acl::new(1, "digest", "u:p")]);
        assert_eq!(c, a);
        assert!(cache.all_used());
    }

    #[test]
    fn a_restore_rejects_repeated_and_unknown_lists() {
        assert!(AclCache::from_lists(vec![Acl::open_unsafe(), Acl::open_unsafe()]).is_none());
        let mut cache = AclCache::from_lists(vec![Acl::open_unsafe()]).expect("distinct");
        assert!(!cache.all_used());
        assert!(cache.attach(1).is_none());
        assert!(cache.attach(0).is_some());
        assert!(cache.all_used());
    }
}
