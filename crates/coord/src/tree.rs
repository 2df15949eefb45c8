//! The tree's replicated state, its derived indexes, and local reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::acl;
use crate::acl_cache::AclCache;
use crate::lock::LockTable;
use crate::node::{NodeKey, NodeStat, OwnerKind, Znode};
use crate::path;
use crate::table::NodeTable;
use crate::types::{perms, Acl, ErrorCode, EventKind, Id, Stat};

/// A live session as the tree records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    /// Log time at which the session expires unless touched.
    pub expires_at_ms: i64,
}

/// Something an apply did that watches may care about. Not state: drained
/// by `take_triggers`, never snapshotted or digested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Node {
        path: String,
        kind: EventKind,
        zxid: i64,
        /// The ACL of the node the event is about (the deleted node's, the
        /// parent's for a child-list change): a watcher without READ on it
        /// is not told, as in ZooKeeper 3.8 with the CVE-2024-23944 fix.
        /// Shared with the tree's ACL cache.
        acl: Arc<[Acl]>,
    },
    SessionClosed {
        session: i64,
        zxid: i64,
    },
}

/// Everything that replicas must agree on; the snapshot is exactly this
/// (with ACL lists written by value, see `snapshot`).
#[derive(Clone, Debug)]
pub(crate) struct State {
    /// Nodes by full path; the root is "/". A node's key holds its data too.
    pub nodes: NodeTable,
    /// The ACL lists the nodes use.
    pub acls: AclCache,
    pub sessions: BTreeMap<i64, SessionInfo>,
    /// The id the next session gets; 0 until the first session derives it
    /// from its time.
    pub next_session_id: i64,
    pub last_zxid: i64,
    /// Log time: the largest Tick time seen.
    pub now_ms: i64,
    /// The term of the last Tick, to notice a new leader.
    pub last_term: Option<u64>,
    /// Chubby's locks (`lock`); the snapshot holds their replicated part.
    pub locks: LockTable,
    /// Live sessions whose clients cache (`CoordOp::CacheSession`).
    pub caching: BTreeSet<i64>,
}

/// Indexes derived from `State`, rebuilt on restore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    pub ephemerals: BTreeMap<i64, BTreeSet<String>>,
    pub containers: BTreeSet<String>,
    pub ttls: BTreeSet<String>,
    /// Sum of path length and data length over nodes, ZooKeeper's
    /// approximate data size.
    pub data_bytes: u64,
}

/// The coordination tree: ZooKeeper's DataTree plus its session table.
#[derive(Clone, Debug)]
pub struct Tree {
    pub(crate) state: State,
    pub(crate) index: Indexes,
    pub(crate) triggers: Vec<Trigger>,
    /// Counts changes that may have added a caching session (an apply of
    /// `CacheSession`, a restore); not state.
    pub(crate) caching_marks: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// The tree ZooKeeper 3.8 starts with: `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`, every stat zero, ACLs
    /// open except `/zookeeper/config` (world:anyone READ, and aversion -1
    /// because ZooKeeper sets that ACL with version -1).
    pub fn new() -> Self {
        let mut tree = Tree {
            state: State {
                nodes: NodeTable::default(),
                acls: AclCache::default(),
                sessions: BTreeMap::new(),
                next_session_id: 0,
                last_zxid: 0,
                now_ms: 0,
                last_term: None,
                locks: LockTable::default(),
                caching: BTreeSet::new(),
            },
            index: Indexes::default(),
            triggers: Vec::new(),
            caching_marks: 0,
        };
        let with_children = |num_children| NodeStat {
            num_children,
            ..NodeStat::default()
        };
        let config_stat = NodeStat {
            aversion: -1,
            ..NodeStat::default()
        };
        let open = Acl::open_unsafe();
        tree.insert_node(NodeKey::new("/", b""), &open, with_children(1));
        tree.insert_node(NodeKey::new("/zookeeper", b""), &open, with_children(2));
        tree.insert_node(
            NodeKey::new("/zookeeper/quota", b""),
            &open,
            NodeStat::default(),
        );
        tree.insert_node(
            NodeKey::new("/zookeeper/config", b""),
            &Acl::read_unsafe(),
            config_stat,
        );
        tree
    }

    /// A copy of the node at `p`.
    pub(crate) fn node(&self, p: &str) -> Option<Znode> {
        self.state.nodes.get(path::key(p).as_bytes())
    }

    pub(crate) fn node_mut(&mut self, p: &str) -> Option<&mut Znode> {
        self.state.nodes.get_mut(path::key(p).as_bytes())
    }

    /// A node's ACL list.
    pub(crate) fn acl_of(&self, n: &Znode) -> &Arc<[Acl]> {
        self.state.acls.get(n.acl)
    }

    /// getData: the node's data (`None` when null) and Stat; needs READ.
    pub fn get_data(&self, path: &str, auth: &[Id]) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
        let (key, n) = self
            .state
            .nodes
            .get_key_value(path::key(path).as_bytes())
            .ok_or(ErrorCode::NoNode)?;
        acl::check(self.acl_of(&n), perms::READ, auth)?;
        Ok((key.nullable_data().map(<[u8]>::to_vec), n.client_stat()))
    }

    /// Whether the znode at `path` is absent or plainly persistent (not a
    /// session's ephemeral, a container or a TTL node): what only a
    /// client's write can change, never a tick (the client cache's rule).
    pub fn changes_only_by_writes(&self, path: &str) -> bool {
        self.node(path)
            .is_none_or(|n| n.owner_kind() == crate::node::OwnerKind::Void)
    }

    /// The node's Stat, without an ACL check.
    pub fn exists(&self, path: &str) -> Option<Stat> {
        self.node(path).map(|n| n.client_stat())
    }

    /// exists as ZooKeeper 3.8 answers it: a NUL in the path is
    /// BadArguments, and an existing node needs READ (NoAuth otherwise).
    pub fn exists_checked(&self, path: &str, auth: &[Id]) -> Result<Option<Stat>, ErrorCode> {
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        match self.node(path) {
            Some(n) => {
                acl::check(self.acl_of(&n), perms::READ, auth)?;
                Ok(Some(n.client_stat()))
            }
            None => Ok(None),
        }
    }

    /// getChildren/getChildren2: child names, sorted (ZooKeeper returns
    /// HashSet order, which clients must not rely on), and the Stat; needs
    /// READ.
    pub fn get_children(&self, path: &str, auth: &[Id]) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(self.acl_of(&n), perms::READ, auth)?;
        Ok((self.child_names(path::key(path)), n.client_stat()))
    }

    /// The names of a node's children in byte order. The table keeps no
    /// child sets: ordered by full path, it holds a node's children as the
    /// keys that extend `path/` by one segment, interleaved with their own
    /// subtrees ("/a/b" < "/a/b-x" < "/a/b/c" < "/a/b0"). The scan steps
    /// over each child's subtree by restarting at `path/child0`, '0'
    /// being the byte after '/', so it visits the children and one
    /// descendant of each child that has any.
    pub(crate) fn child_names(&self, key: &str) -> Vec<String> {
        let prefix = if key.ends_with('/') {
            key.to_string()
        } else {
            format!("{key}/")
        };
        let mut names = Vec::new();
        let mut from = prefix.clone().into_bytes();
        loop {
            let mut next = None;
            for k in self.state.nodes.keys_from(&from) {
                let Some(rest) = k.path().strip_prefix(&prefix) else {
                    break;
                };
                match rest.find('/') {
                    // The root itself, when listing the root.
                    None if rest.is_empty() => {}
                    None => names.push(rest.to_string()),
                    Some(slash) => {
                        next = Some(format!("{prefix}{}0", &rest[..slash]).into_bytes());
                        break;
                    }
                }
            }
            match next {
                Some(n) => from = n,
                None => return names,
            }
        }
    }

    /// getACL: needs READ or ADMIN; without ADMIN the digest hashes come
    /// back as `user:x` (ZooKeeper 3.8).
    pub fn get_acl(&self, path: &str, auth: &[Id]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        let node_acl = self.acl_of(&n);
        acl::check(node_acl, perms::READ | perms::ADMIN, auth)?;
        let list = match acl::check(node_acl, perms::ADMIN, auth) {
            Ok(()) => node_acl.to_vec(),
            Err(_) => acl::redact(node_acl),
        };
        Ok((list, n.client_stat()))
    }

    /// getEphemerals: the session's ephemeral paths under a prefix (a plain
    /// string prefix; empty or "/" after trimming means all), sorted.
    pub fn ephemerals(&self, session: i64, prefix: &str) -> Vec<String> {
        let Some(paths) = self.index.ephemerals.get(&session) else {
            return Vec::new();
        };
        let all = prefix.trim().is_empty() || prefix.trim() == "/";
        paths
            .iter()
            .filter(|p| all || p.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// getAllChildrenNumber: every descendant, without an ACL check.
    pub fn all_children_number(&self, path: &str) -> Result<i32, ErrorCode> {
        if self.node(path).is_none() {
            return Err(ErrorCode::NoNode);
        }
        let count = if path::key(path) == "/" {
            self.state.nodes.len() - 1
        } else {
            let prefix = format!("{path}/");
            self.state
                .nodes
                .keys_from(prefix.as_bytes())
                .take_while(|k| k.path_bytes().starts_with(prefix.as_bytes()))
                .count()
        };
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// getAllChildrenNumber as ZooKeeper 3.8 answers it: needs READ.
    pub fn all_children_number_checked(&self, path: &str, auth: &[Id]) -> Result<i32, ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(self.acl_of(&n), perms::READ, auth)?;
        self.all_children_number(path)
    }

    pub fn session(&self, id: i64) -> Option<SessionInfo> {
        self.state.sessions.get(&id).cloned()
    }

    /// Live sessions whose clients cache what they read
    /// (`CoordOp::CacheSession`), in id order.
    pub fn caching_sessions(&self) -> impl Iterator<Item = i64> + '_ {
        self.state.caching.iter().copied()
    }

    /// A number that changes whenever a session may have become a
    /// caching session (not state: two replicas may differ).
    pub fn caching_marks(&self) -> u64 {
        self.caching_marks
    }

    /// Whether `session` is a live caching session.
    pub fn is_caching(&self, session: i64) -> bool {
        self.state.caching.contains(&session)
    }

    /// Live sessions in id order.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, &SessionInfo)> + '_ {
        self.state.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// The zxid of the last transaction applied.
    pub fn last_zxid(&self) -> i64 {
        self.state.last_zxid
    }

    /// Log time: the largest Tick time applied.
    pub fn now_ms(&self) -> i64 {
        self.state.now_ms
    }

    pub fn node_count(&self) -> usize {
        self.state.nodes.len()
    }

    pub fn session_count(&self) -> usize {
        self.state.sessions.len()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.index.ephemerals.values().map(BTreeSet::len).sum()
    }

    pub fn container_count(&self) -> usize {
        self.index.containers.len()
    }

    pub fn ttl_count(&self) -> usize {
        self.index.ttls.len()
    }

    /// Sum over nodes of path length plus data length.
    pub fn data_bytes(&self) -> u64 {
        self.index.data_bytes
    }

    /// The triggers produced by applies since the last `take_triggers`,
    /// left in place (for an observer that must not take them from the
    /// drive loop).
    pub fn pending_triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Drains the triggers produced by applies since the last call.
    pub fn take_triggers(&mut self) -> Vec<Trigger> {
        std::mem::take(&mut self.triggers)
    }

    pub(crate) fn rebuild_indexes(&mut self) {
        let mut index = Indexes::default();
        for (k, n) in self.state.nodes.iter() {
            index.add(k, &n);
        }
        self.index = index;
    }

    /// Inserts a node whose parent already counts it, keeping indexes and
    /// the ACL cache; returns the node as stored.
    pub(crate) fn insert_node(&mut self, key: NodeKey, acl: &[Acl], stat: NodeStat) -> Znode {
        let n = Znode::new(key.data(), self.state.acls.acquire(acl), stat);
        self.index.add(&key, &n);
        let inserted = self.state.nodes.insert(key, n);
        assert!(inserted, "insert_node over an existing node");
        n
    }

    /// Removes a node, keeping indexes and the ACL cache; the caller fixes
    /// the parent.
    pub(crate) fn remove_node(&mut self, p: &str) -> Removed {
        let (key, n) = self
            .state
            .nodes
            .remove_entry(p.as_bytes())
            .expect("remove_node of a missing node");
        self.index.remove(&key, &n);
        let acl = self.state.acls.get(n.acl).clone();
        self.state.acls.release(n.acl);
        Removed {
            key,
            acl,
            stat: n.stat,
        }
    }

    /// Puts back a node `remove_node` took out.
    pub(crate) fn reinsert_node(&mut self, r: Removed) {
        self.insert_node(r.key, &r.acl, r.stat);
    }

    /// Replaces a node's key, and so its data, with `key`, which names
    /// the same path; keeps the byte count and returns the old key.
    pub(crate) fn replace_key(&mut self, key: NodeKey) -> NodeKey {
        let new_len = key.data().len() as u64;
        let old = self
            .state
            .nodes
            .replace_key(key)
            .expect("replace_key of a missing node");
        self.index.data_bytes = self.index.data_bytes - old.data().len() as u64 + new_len;
        old
    }
}

/// A node taken out of the table, with its ACL by value (its id may be
/// gone from the cache by the time it is put back).
#[derive(Debug)]
pub(crate) struct Removed {
    pub key: NodeKey,
    pub acl: Arc<[Acl]>,
    pub stat: NodeStat,
}

impl Indexes {
    fn add(&mut self, k: &NodeKey, n: &Znode) {
        let p = k.path();
        self.data_bytes += (p.len() + k.data().len()) as u64;
        match n.owner_kind() {
            OwnerKind::Session => {
                self.ephemerals
                    .entry(n.stat.ephemeral_owner)
                    .or_default()
                    .insert(p.to_string());
            }
            OwnerKind::Container => {
                self.containers.insert(p.to_string());
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(p.to_string());
            }
            OwnerKind::Void => {}
        }
    }

    fn remove(&mut self, k: &NodeKey, n: &Znode) {
        let p = k.path();
        self.data_bytes -= (p.len() + k.data().len()) as u64;
        match n.owner_kind() {
            OwnerKind::Session => {
                let owner = n.stat.ephemeral_owner;
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            OwnerKind::Container => {
                self.containers.remove(p);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(p);
            }
            OwnerKind::Void => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeKey;

    /// The children a per-node child set would hold: every key one segment
    /// below `parent`, in byte order.
    fn naive_children(tree: &Tree, parent: &str) -> Vec<String> {
        let prefix = if parent == "/" {
            "/".to_string()
        } else {
            format!("{parent}/")
        };
        let mut names: Vec<String> = tree
            .state
            .nodes
            .iter()
            .filter_map(|(k, _)| k.path().strip_prefix(&prefix).map(str::to_string))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn child_names_skip_subtrees_that_sort_between_siblings() {
        let mut tree = Tree::new();
        let paths = [
            "/a",
            "/a/b",
            "/a/b-x",
            "/a/b/c",
            "/a/b/c/d",
            "/a/b.y",
            "/a/b0",
            "/a/b0/z",
            "/a/c",
            "/a-",
            "/a-/q",
            "/a0",
            "/b",
            "/b/\u{e9}",
            "/b/\u{e9}/x",
            "/b/z",
        ];
        for p in paths {
            let (parent, _) = path::split(p);
            tree.node_mut(parent)
                .expect("parents come first")
                .stat
                .num_children += 1;
            tree.insert_node(
                NodeKey::new(p, b""),
                &Acl::open_unsafe(),
                NodeStat::default(),
            );
        }
        for parent in [
            "/",
            "/a",
            "/a/b",
            "/a/b/c",
            "/a/b/c/d",
            "/a-",
            "/b",
            "/zookeeper",
        ] {
            let names = tree.child_names(parent);
            assert_eq!(names, naive_children(&tree, parent), "{parent}");
            let count = tree.node(parent).expect("exists").stat.num_children;
            assert_eq!(names.len(), count as usize, "{parent}");
        }
        assert_eq!(tree.child_names("/a"), ["b", "b-x", "b.y", "b0", "c"]);
        assert_eq!(tree.child_names("/"), ["a", "a-", "a0", "b", "zookeeper"]);
    }
}
