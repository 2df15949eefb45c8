//! The snapshot of the tree's replicated state: compact, canonical, and
//! quick to rebuild from.
//!
//! Layout (bincode, varint integers, after the version byte): the distinct
//! ACL lists, each once, numbered in the order the nodes first use them;
//! the nodes in path order, each as path, data (an `Option`: `None` is
//! null data), ACL number and stored stat (child count included); then the
//! session table and the counters. The
//! bytes depend on the logical state alone, never on the in-memory ACL ids,
//! so equal trees have equal snapshots and digests.
//!
//! A restore checks what it reads back: paths absolute, without a
//! trailing '/', strictly increasing from "/", every node's parent present, every child count equal to the
//! children present, every ACL number naming a list, every list used once
//! or more. It builds the node table from the sorted nodes in one pass, so
//! a restored table is packed tight.
//!
//! Last comes the lock table (`lock::Locks`: the last generation handed
//! out, then each lock record in path order), checked on restore as
//! `LockTable::check` and `lock::check_ties` state; after it the caching
//! sessions (`CoordOp::CacheSession`), in id order, each a live session.
//!
//! Version 4 is the same without the caching sessions (it restores with
//! none); version 3 without the lock table either (it restores with none);
//! version 2 is version 3 but for the data, plain bytes, since it predates
//! null data (every node's data not null). Both are still read, never
//! written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;

use bincode::Options as _;
use std::io::Read as _;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;
use synod_paxos::{SnapshotData, SnapshotReader};

use crate::acl_cache::AclCache;
use crate::lock::{self, LockTable, Locks};
use crate::node::{NodeKey, NodeStat, Znode};
use crate::path;
use crate::table::NodeTable;
use crate::tree::{SessionInfo, State};
use crate::types::Acl;

/// Leads every snapshot; bump it when the encoding changes. Version 1 was
/// `State` as bincode wrote it, with a child set and an ACL list per node;
/// version 2 had no null data; version 3 no locks; version 4 no caching
/// sessions.
pub(crate) const SNAPSHOT_VERSION: u8 = 5;

/// The older versions this build still reads.
const SNAPSHOT_VERSION_NO_CACHING: u8 = 4;
const SNAPSHOT_VERSION_NO_LOCKS: u8 = 3;
const SNAPSHOT_VERSION_NO_NULL: u8 = 2;

/// Nodes a restore reserves room for before it has seen them, so a corrupt
/// count cannot make it allocate without bound.
const NODES_RESERVED_MAX: usize = 1 << 20;

fn options() -> impl bincode::Options {
    // Varint integers, little-endian, no size limit, trailing bytes refused.
    bincode::DefaultOptions::new()
}

/// Writes the version byte and the encoded state to `out`.
pub(crate) fn encode_into<W: io::Write>(state: &State, mut out: W) -> io::Result<()> {
    out.write_all(&[SNAPSHOT_VERSION])?;
    let mut numbers: Vec<Option<u32>> = vec![None; state.acls.id_bound()];
    let mut acls: Vec<&[Acl]> = Vec::with_capacity(state.acls.len());
    for (_, n) in state.nodes.iter() {
        let number = &mut numbers[n.acl.index()];
        if number.is_none() {
            *number = Some(u32::try_from(acls.len()).expect("under 2^32 ACL lists"));
            acls.push(state.acls.get(n.acl));
        }
    }
    let snapshot = SnapshotOut {
        acls,
        nodes: NodesOut { state, numbers },
        sessions: &state.sessions,
        next_session_id: state.next_session_id,
        last_zxid: state.last_zxid,
        now_ms: state.now_ms,
        last_term: state.last_term,
        locks: state.locks.replicated(),
        caching: &state.caching,
    };
    options()
        .serialize_into(out, &snapshot)
        .map_err(|e| match *e {
            bincode::ErrorKind::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
}

/// The state a snapshot (version byte included) holds, or what is wrong
/// with it. Read through the snapshot's chunks: one node's bytes at a time
/// are copied out, never the whole snapshot.
pub(crate) fn decode(snapshot: &SnapshotData) -> Result<State, String> {
    let mut reader = snapshot.reader();
    let mut version = [0u8; 1];
    reader
        .read_exact(&mut version)
        .map_err(|_| "empty coordination snapshot".to_string())?;
    let version = version[0];
    // A struct is its fields one after the other, so version 4 reads as
    // version 3 followed by the lock table, and version 5 as version 4
    // followed by the caching sessions.
    let (s, locks, caching): (SnapshotIn, Locks, BTreeSet<i64>) = match version {
        SNAPSHOT_VERSION => deserialize::<(SnapshotIn<true>, Locks, BTreeSet<i64>)>(&mut reader)?,
        SNAPSHOT_VERSION_NO_CACHING => {
            let (s, locks) = deserialize::<(SnapshotIn<true>, Locks)>(&mut reader)?;
            (s, locks, BTreeSet::new())
        }
        SNAPSHOT_VERSION_NO_LOCKS => (
            deserialize::<SnapshotIn<true>>(&mut reader)?,
            Locks::default(),
            BTreeSet::new(),
        ),
        SNAPSHOT_VERSION_NO_NULL => (
            deserialize::<SnapshotIn<false>>(&mut reader)?.into_current(),
            Locks::default(),
            BTreeSet::new(),
        ),
        _ => {
            return Err(format!(
                "coordination snapshot version {version}, this build reads \
                 {SNAPSHOT_VERSION_NO_NULL} to {SNAPSHOT_VERSION}; \
                 restore from a snapshot this build wrote"
            ))
        }
    };
    let locks =
        LockTable::from_replicated(locks).map_err(|e| format!("coordination snapshot: {e}"))?;
    let mut acls = AclCache::from_lists(s.acls)
        .ok_or_else(|| "coordination snapshot lists an ACL twice".to_string())?;
    check_structure(&s.nodes.0)?;
    let mut nodes = Vec::with_capacity(s.nodes.0.len());
    for n in s.nodes.0 {
        let acl = acls.attach(n.acl).ok_or_else(|| {
            format!(
                "coordination snapshot: node {} has unknown ACL {}",
                n.key.path(),
                n.acl
            )
        })?;
        let z = Znode::new(n.key.data(), acl, n.stat);
        nodes.push((n.key, z));
    }
    if !acls.all_used() {
        return Err("coordination snapshot lists an ACL no node uses".into());
    }
    if let Some(s) = caching.iter().find(|id| !s.sessions.contains_key(id)) {
        return Err(format!(
            "coordination snapshot: caching session {s:#x} is not a live session"
        ));
    }
    let state = State {
        nodes: NodeTable::from_sorted(nodes),
        acls,
        sessions: s.sessions,
        next_session_id: s.next_session_id,
        last_zxid: s.last_zxid,
        now_ms: s.now_ms,
        last_term: s.last_term,
        locks,
        caching,
    };
    lock::check_ties(&state).map_err(|e| format!("coordination snapshot: {e}"))?;
    Ok(state)
}

/// Decodes `T` from the rest of the snapshot, which it must use up. What
/// it may allocate is bounded by the bytes that remain, so a corrupt
/// length is an error, never a huge allocation.
fn deserialize<T: DeserializeOwned>(reader: &mut SnapshotReader<'_>) -> Result<T, String> {
    let remaining = reader.remaining();
    let value = options()
        .with_limit(remaining)
        .deserialize_from(&mut *reader)
        .map_err(|e| format!("coordination snapshot: {e}"))?;
    match reader.remaining() {
        0 => Ok(value),
        n => Err(format!("coordination snapshot: {n} trailing bytes")),
    }
}

/// Paths strictly increasing from "/", every parent present and every
/// child count right.
fn check_structure(nodes: &[NodeIn]) -> Result<(), String> {
    if nodes.first().map(|n| n.key.path()) != Some("/") {
        return Err("coordination snapshot has no root node".into());
    }
    let mut counted = vec![0u32; nodes.len()];
    // Siblings are mostly adjacent in path order: remember the last parent.
    let mut last_parent = 0;
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let p = n.key.path();
        if !p.starts_with('/') || p.ends_with('/') {
            return Err(format!("coordination snapshot: bad path {p:?}"));
        }
        if nodes[i - 1].key.path_bytes() >= p.as_bytes() {
            return Err(format!("coordination snapshot: node {p} out of order"));
        }
        let parent = path::key(path::split(p).0);
        if nodes[last_parent].key.path() != parent {
            // A parent is a proper prefix, so it sorts before the child.
            last_parent = nodes[..i]
                .binary_search_by(|m| m.key.path_bytes().cmp(parent.as_bytes()))
                .map_err(|_| format!("coordination snapshot: node {p} has no parent"))?;
        }
        counted[last_parent] += 1;
    }
    for (n, counted) in nodes.iter().zip(counted) {
        if n.stat.num_children != counted {
            return Err(format!(
                "coordination snapshot: node {} counts {} children, has {counted}",
                n.key.path(),
                n.stat.num_children
            ));
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    acls: Vec<&'a [Acl]>,
    nodes: NodesOut<'a>,
    sessions: &'a BTreeMap<i64, SessionInfo>,
    next_session_id: i64,
    last_zxid: i64,
    now_ms: i64,
    last_term: Option<u64>,
    locks: &'a Locks,
    caching: &'a BTreeSet<i64>,
}

/// The nodes in path order, with ACL ids mapped to snapshot numbers.
struct NodesOut<'a> {
    state: &'a State,
    /// Snapshot number by ACL id, for every id a node uses.
    numbers: Vec<Option<u32>>,
}

impl Serialize for NodesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.state.nodes.iter().map(|(k, n)| NodeOut {
            path: k.path(),
            data: k.nullable_data().map(Bytes),
            acl: self.numbers[n.acl.index()].expect("numbered above"),
            stat: n.stat,
        }))
    }
}

#[derive(Serialize)]
struct NodeOut<'a> {
    path: &'a str,
    data: Option<Bytes<'a>>,
    acl: u32,
    stat: NodeStat,
}

/// Bytes written as one run (serde writes a `&[u8]` byte by byte).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A snapshot as read back; `NULLABLE` is whether its node data is an
/// `Option` (version 3) or plain bytes (version 2).
#[derive(Deserialize)]
struct SnapshotIn<const NULLABLE: bool = true> {
    acls: Vec<Vec<Acl>>,
    nodes: NodesIn<NULLABLE>,
    sessions: BTreeMap<i64, SessionInfo>,
    next_session_id: i64,
    last_zxid: i64,
    now_ms: i64,
    last_term: Option<u64>,
}

/// A node as read back.
struct NodeIn {
    key: NodeKey,
    acl: u32,
    stat: NodeStat,
}

/// A node of a version-3 snapshot.
#[derive(Deserialize)]
struct NodeRecord {
    path: String,
    data: Option<ByteBuf>,
    acl: u32,
    stat: NodeStat,
}

/// A node of a version-2 snapshot: its data is never null.
#[derive(Deserialize)]
struct NodeRecordNoNull {
    path: String,
    data: ByteBuf,
    acl: u32,
    stat: NodeStat,
}

impl<const NULLABLE: bool> SnapshotIn<NULLABLE> {
    /// The same snapshot as one of version 3: its nodes' keys already
    /// say whether their data is null.
    fn into_current(self) -> SnapshotIn {
        SnapshotIn {
            acls: self.acls,
            nodes: NodesIn(self.nodes.0),
            sessions: self.sessions,
            next_session_id: self.next_session_id,
            last_zxid: self.last_zxid,
            now_ms: self.now_ms,
            last_term: self.last_term,
        }
    }
}

struct NodesIn<const NULLABLE: bool>(Vec<NodeIn>);

impl<'de, const NULLABLE: bool> Deserialize<'de> for NodesIn<NULLABLE> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(NodesVisitor::<NULLABLE>)
    }
}

struct NodesVisitor<const NULLABLE: bool>;

impl<'de, const NULLABLE: bool> Visitor<'de> for NodesVisitor<NULLABLE> {
    type Value = NodesIn<NULLABLE>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of znodes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let reserve = seq.size_hint().unwrap_or(0).min(NODES_RESERVED_MAX);
        let mut nodes = Vec::with_capacity(reserve);
        loop {
            let node = if NULLABLE {
                seq.next_element::<NodeRecord>()?.map(|r| NodeIn {
                    key: NodeKey::nullable(&r.path, r.data.as_ref().map(|d| d.as_slice())),
                    acl: r.acl,
                    stat: r.stat,
                })
            } else {
                seq.next_element::<NodeRecordNoNull>()?.map(|r| NodeIn {
                    key: NodeKey::new(&r.path, &r.data),
                    acl: r.acl,
                    stat: r.stat,
                })
            };
            match node {
                Some(node) => nodes.push(node),
                None => return Ok(NodesIn(nodes)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeKey;
    use crate::tree::Tree;

    fn encode(state: &State) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(state, &mut out).expect("encodes");
        out
    }

    /// `bytes` in chunks of 5, so every field is read across chunks.
    fn decode(bytes: &[u8]) -> Result<State, String> {
        let mut out = synod_paxos::SnapshotWriter::new(5);
        std::io::Write::write_all(&mut out, bytes).unwrap();
        super::decode(&out.finish())
    }

    fn tree_with_nodes() -> Tree {
        let mut tree = Tree::new();
        for (p, acl) in [
            ("/a", Acl::read_unsafe()),
            ("/a/b", Acl::open_unsafe()),
            ("/c", vec![Acl::new(31, "digest", "u:x")]),
        ] {
            let (parent, _) = path::split(p);
            tree.node_mut(parent).expect("exists").stat.num_children += 1;
            tree.insert_node(NodeKey::new(p, b"v"), &acl, NodeStat::created(9, 1, 0));
        }
        tree
    }

    #[test]
    fn a_round_trip_gives_the_same_bytes() {
        let tree = tree_with_nodes();
        let bytes = encode(&tree.state);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(encode(&back), bytes);
        assert_eq!(back.acls.len(), 3);
    }

    #[test]
    fn the_bytes_do_not_depend_on_acl_ids() {
        // Same nodes and lists; the cache numbers them differently.
        let a = tree_with_nodes();
        let mut b = tree_with_nodes();
        let id = b.state.acls.acquire(&[Acl::new(1, "ip", "10.0.0.1")]);
        b.remove_node("/c");
        b.state.acls.release(id);
        b.insert_node(
            NodeKey::new("/c", b"v"),
            &[Acl::new(31, "digest", "u:x")],
            NodeStat::created(9, 1, 0),
        );
        assert_eq!(encode(&a.state), encode(&b.state));
    }

    #[test]
    fn a_restore_rejects_what_applies_cannot_produce() {
        let mut tree = tree_with_nodes();
        tree.node_mut("/a").expect("exists").stat.num_children = 5;
        let err = decode(&encode(&tree.state)).expect_err("wrong count");
        assert!(err.contains("/a counts 5 children, has 1"), "{err}");

        let mut tree = tree_with_nodes();
        tree.insert_node(
            NodeKey::new("/q/r", b""),
            &Acl::open_unsafe(),
            NodeStat::default(),
        );
        let err = decode(&encode(&tree.state)).expect_err("orphan");
        assert!(err.contains("/q/r has no parent"), "{err}");

        let mut old = encode(&tree_with_nodes().state);
        old[0] = 1;
        let err = decode(&old).expect_err("old version");
        assert!(err.contains("version 1, this build reads 2 to 5"), "{err}");

        let bytes = encode(&tree_with_nodes().state);
        for cut in [1, 2, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).is_err(), "trailing bytes");
    }

    #[test]
    fn a_restore_refuses_locks_on_missing_znodes_or_of_ended_sessions() {
        let locked = || {
            let mut tree = tree_with_nodes();
            tree.state.sessions.insert(
                7,
                SessionInfo {
                    passwd: vec![],
                    timeout_ms: 1,
                    expires_at_ms: 1,
                },
            );
            let r =
                tree.state
                    .locks
                    .acquire(0, "/c", 7, crate::lock::LockMode::Exclusive, 0, false);
            assert!(r.is_ok());
            tree
        };
        decode(&encode(&locked().state)).expect("a lock applies can make");

        let mut tree = locked();
        tree.state.sessions.remove(&7);
        let err = decode(&encode(&tree.state)).expect_err("dead holder");
        assert!(err.contains("session 0x7, which is not live"), "{err}");

        let mut tree = locked();
        tree.state.locks.on_session_end(0, 7, true);
        // That holder chose no lock-delay: take the lock again with one,
        // and expire its session at log time 0.
        tree.state.locks.on_tick(0);
        let r = tree
            .state
            .locks
            .acquire(0, "/c", 7, crate::lock::LockMode::Exclusive, 500, false);
        assert!(r.is_ok());
        tree.state.locks.on_session_end(0, 7, true);
        tree.state.locks.on_tick(0);
        tree.state.sessions.remove(&7);
        decode(&encode(&tree.state)).expect("a delay running past log time");
        tree.state.now_ms = 500;
        let err = decode(&encode(&tree.state)).expect_err("a delay over");
        assert!(
            err.contains("a lock-delay ended at 500, log time is 500"),
            "{err}"
        );

        let mut tree = locked();
        tree.remove_node("/c");
        tree.node_mut("/").expect("root").stat.num_children -= 1;
        let err = decode(&encode(&tree.state)).expect_err("no znode");
        assert!(err.contains("lock /c has no persistent znode"), "{err}");
    }

    #[test]
    fn caching_sessions_round_trip_and_a_version_4_snapshot_has_none() {
        let mut tree = tree_with_nodes();
        let live = SessionInfo {
            passwd: vec![],
            timeout_ms: 1,
            expires_at_ms: 1,
        };
        tree.state.sessions.insert(7, live);
        tree.state.caching.insert(7);
        let back = decode(&encode(&tree.state)).expect("caching session restores");
        assert_eq!(back.caching, BTreeSet::from([7]));

        // Version 4 is version 5 without the set: cut its last byte (an
        // empty set's length) and it reads back with no caching session.
        tree.state.caching.clear();
        let mut v4 = encode(&tree.state);
        assert_eq!(v4.pop(), Some(0));
        v4[0] = SNAPSHOT_VERSION_NO_CACHING;
        let back = decode(&v4).expect("a version 4 snapshot restores");
        assert!(back.caching.is_empty());
        assert_eq!(back.sessions.len(), 1);

        tree.state.caching.insert(9);
        let err = decode(&encode(&tree.state)).expect_err("a dead caching session");
        assert!(
            err.contains("caching session 0x9 is not a live session"),
            "{err}"
        );
    }
}
