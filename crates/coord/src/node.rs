//! A znode as stored, and the Stat a client sees of it.
//!
//! ZooKeeper stores a little differently from what it reports (DataNode's
//! `copyStat`): the stored cversion counts child creates only, and the
//! reported one is `2 * stored - numChildren`, which counts creates and
//! deletes; the stored ephemeral owner encodes containers and TTL nodes,
//! and clients see 0 for both. We keep the stored form and derive the
//! reported one, so sequential suffixes and container rules use the same
//! numbers ZooKeeper uses.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::types::{Acl, Stat};

/// `ephemeral_owner` of a container (ZooKeeper's `Long.MIN_VALUE`).
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// High byte that marks an extended ephemeral owner (a TTL node).
const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000_u64 as i64;
/// Reserved bits that select the extended type; zero means TTL.
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;

/// The largest TTL, in milliseconds, that the owner encoding can hold.
pub const TTL_MAX_MS: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// What kind of owner an `ephemeral_owner` value denotes (EphemeralType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerKind {
    /// Not ephemeral: owner 0.
    Void,
    /// A session's ephemeral.
    Session,
    Container,
    /// A TTL node, with its TTL in milliseconds.
    Ttl(i64),
}

impl OwnerKind {
    /// Classifies a stored owner as ZooKeeper does with extended types on.
    pub fn of(owner: i64) -> Self {
        if owner & EXTENDED_MASK == EXTENDED_MASK {
            // Only the TTL extended type exists (reserved bits zero); session
            // ids never reach the top byte, so anything else is unreachable.
            return OwnerKind::Ttl(owner & TTL_MAX_MS);
        }
        match owner {
            CONTAINER_OWNER => OwnerKind::Container,
            0 => OwnerKind::Void,
            _ => OwnerKind::Session,
        }
    }
}

/// The owner encoding of a TTL node, `None` when the TTL is out of range.
pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
    if ttl_ms <= 0 || ttl_ms > TTL_MAX_MS {
        return None;
    }
    Some(EXTENDED_MASK | ttl_ms)
}

/// The stored part of a Stat (ZooKeeper's StatPersisted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Child creates, not creates and deletes (see the module docs).
    pub cversion: i32,
    pub aversion: i32,
    /// Raw owner: session id, `CONTAINER_OWNER`, a TTL encoding, or 0.
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

impl NodeStat {
    /// The stat of a node created at `zxid` and `time_ms`.
    pub fn created(zxid: i64, time_ms: i64, ephemeral_owner: i64) -> Self {
        NodeStat {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        }
    }
}

/// A znode: data, ACL, stored stat and child names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Znode {
    pub data: Vec<u8>,
    pub acl: Vec<Acl>,
    pub stat: NodeStat,
    pub children: BTreeSet<String>,
}

impl Znode {
    pub fn new(data: Vec<u8>, acl: Vec<Acl>, stat: NodeStat) -> Self {
        Znode {
            data,
            acl,
            stat,
            children: BTreeSet::new(),
        }
    }

    pub fn owner_kind(&self) -> OwnerKind {
        OwnerKind::of(self.stat.ephemeral_owner)
    }

    /// The Stat a client sees. Java int arithmetic wraps; so does ours.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = i32::try_from(self.children.len()).unwrap_or(i32::MAX);
        let ephemeral_owner = match self.owner_kind() {
            OwnerKind::Session => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner,
            data_length: i32::try_from(self.data.len()).unwrap_or(i32::MAX),
            num_children,
            pzxid: s.pzxid,
        }
    }
}
