//! The tree's replicated state, its derived indexes, and local reads.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::acl;
use crate::node::{NodeStat, OwnerKind, Znode};
use crate::path;
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
        acl: Vec<Acl>,
    },
    SessionClosed {
        session: i64,
        zxid: i64,
    },
}

/// Everything that replicas must agree on; the snapshot is exactly this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Nodes by full path; the root is "/".
    pub nodes: BTreeMap<String, Znode>,
    pub sessions: BTreeMap<i64, SessionInfo>,
    /// The id the next session gets; 0 until the first session derives it
    /// from its time.
    pub next_session_id: i64,
    pub last_zxid: i64,
    /// Log time: the largest Tick time seen.
    pub now_ms: i64,
    /// The term of the last Tick, to notice a new leader.
    pub last_term: Option<u64>,
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
        let open = || Znode::new(Vec::new(), Acl::open_unsafe(), NodeStat::default());
        let mut config = Znode::new(Vec::new(), Acl::read_unsafe(), NodeStat::default());
        config.stat.aversion = -1;
        let mut root = open();
        root.children.insert("zookeeper".to_string());
        let mut zookeeper = open();
        zookeeper.children.insert("quota".to_string());
        zookeeper.children.insert("config".to_string());
        let mut tree = Tree {
            state: State {
                nodes: BTreeMap::new(),
                sessions: BTreeMap::new(),
                next_session_id: 0,
                last_zxid: 0,
                now_ms: 0,
                last_term: None,
            },
            index: Indexes::default(),
            triggers: Vec::new(),
        };
        tree.state.nodes.insert("/".into(), root);
        tree.state.nodes.insert("/zookeeper".into(), zookeeper);
        tree.state.nodes.insert("/zookeeper/quota".into(), open());
        tree.state.nodes.insert("/zookeeper/config".into(), config);
        tree.rebuild_indexes();
        tree
    }

    pub(crate) fn node(&self, p: &str) -> Option<&Znode> {
        self.state.nodes.get(path::key(p))
    }

    pub(crate) fn node_mut(&mut self, p: &str) -> Option<&mut Znode> {
        self.state.nodes.get_mut(path::key(p))
    }

    /// getData: the node's data and Stat; needs READ.
    pub fn get_data(&self, path: &str, auth: &[Id]) -> Result<(Vec<u8>, Stat), ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&n.acl, perms::READ, auth)?;
        Ok((n.data.clone(), n.client_stat()))
    }

    /// The node's Stat, without an ACL check.
    pub fn exists(&self, path: &str) -> Option<Stat> {
        self.node(path).map(Znode::client_stat)
    }

    /// exists as ZooKeeper 3.8 answers it: a NUL in the path is
    /// BadArguments, and an existing node needs READ (NoAuth otherwise).
    pub fn exists_checked(&self, path: &str, auth: &[Id]) -> Result<Option<Stat>, ErrorCode> {
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        match self.node(path) {
            Some(n) => {
                acl::check(&n.acl, perms::READ, auth)?;
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
        acl::check(&n.acl, perms::READ, auth)?;
        Ok((n.children.iter().cloned().collect(), n.client_stat()))
    }

    /// getACL: needs READ or ADMIN; without ADMIN the digest hashes come
    /// back as `user:x` (ZooKeeper 3.8).
    pub fn get_acl(&self, path: &str, auth: &[Id]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&n.acl, perms::READ | perms::ADMIN, auth)?;
        let list = match acl::check(&n.acl, perms::ADMIN, auth) {
            Ok(()) => n.acl.clone(),
            Err(_) => acl::redact(&n.acl),
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
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .count()
        };
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// getAllChildrenNumber as ZooKeeper 3.8 answers it: needs READ.
    pub fn all_children_number_checked(&self, path: &str, auth: &[Id]) -> Result<i32, ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&n.acl, perms::READ, auth)?;
        self.all_children_number(path)
    }

    pub fn session(&self, id: i64) -> Option<SessionInfo> {
        self.state.sessions.get(&id).cloned()
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

    /// Drains the triggers produced by applies since the last call.
    pub fn take_triggers(&mut self) -> Vec<Trigger> {
        std::mem::take(&mut self.triggers)
    }

    pub(crate) fn rebuild_indexes(&mut self) {
        let mut index = Indexes::default();
        for (p, n) in &self.state.nodes {
            index.add(p, n);
        }
        self.index = index;
    }

    /// Inserts a node that its parent already lists, keeping indexes.
    pub(crate) fn insert_node(&mut self, p: String, n: Znode) {
        self.index.add(&p, &n);
        let old = self.state.nodes.insert(p, n);
        assert!(old.is_none(), "insert_node over an existing node");
    }

    /// Removes a node, keeping indexes; the caller fixes the parent.
    pub(crate) fn remove_node(&mut self, p: &str) -> Znode {
        let n = self
            .state
            .nodes
            .remove(p)
            .expect("remove_node of a missing node");
        self.index.remove(p, &n);
        n
    }

    /// Replaces a node's data, keeping the byte count; returns the old data.
    pub(crate) fn replace_data(&mut self, p: &str, data: Vec<u8>) -> Vec<u8> {
        let n = self
            .state
            .nodes
            .get_mut(p)
            .expect("replace_data of a missing node");
        self.index.data_bytes = self.index.data_bytes - n.data.len() as u64 + data.len() as u64;
        std::mem::replace(&mut n.data, data)
    }
}

impl Indexes {
    fn add(&mut self, p: &str, n: &Znode) {
        self.data_bytes += (p.len() + n.data.len()) as u64;
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

    fn remove(&mut self, p: &str, n: &Znode) {
        self.data_bytes -= (p.len() + n.data.len()) as u64;
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
