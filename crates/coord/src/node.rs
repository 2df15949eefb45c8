//! A znode as stored, and the Stat a client sees of it.
//!
//! ZooKeeper stores a little differently from what it reports (DataNode's
//! `copyStat`): the stored cversion counts child creates only, and the
//! reported one is `2 * stored - numChildren`, which counts creates and
//! deletes; the stored ephemeral owner encodes containers and TTL nodes,
//! and clients see 0 for both. We keep the stored form and derive the
//! reported one, so sequential suffixes and container rules use the same
//! numbers ZooKeeper uses.
//!
//! A million znodes must fit in a couple of hundred megabytes, so a node
//! is one allocation, its `NodeKey` (path and data), plus a 20-byte entry
//! in the node table and a slab slot: a 72-byte `Znode` (stat, interned
//! ACL id, data length), or 24 bytes while it is unchanged since its
//! create (see `table`).

use serde::{Deserialize, Serialize};

use crate::acl_cache::AclId;
use crate::types::Stat;

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

/// The stored part of a Stat (ZooKeeper's StatPersisted), plus the child
/// count ZooKeeper gets from its child set: the table keeps no child sets
/// (see `Tree::child_names`), so the count lives here, and restoring a
/// parent's stat on rollback restores its count with it. Exactly 64 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Children the node has now.
    pub num_children: u32,
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
            num_children: 0,
        }
    }
}

/// A znode's path and data in one allocation: a header, the path, then
/// the data. The header is an LEB128 varint of the path's length shifted
/// left by one, its low bit set when the data is null (ZooKeeper keeps a
/// null buffer apart from an empty one; a null node has no data bytes).
/// The path orders the node table
/// (comparisons and `Borrow<[u8]>` see only the path); the data rides in
/// the key's allocation, which saves an allocation, its malloc header and
/// a pointer per znode. The price is that a setData re-keys the node's
/// entry instead of writing through a `&mut`.
#[derive(Clone)]
pub struct NodeKey(Box<[u8]>);

impl NodeKey {
    /// A key for a node whose data is `data` (not null).
    pub fn new(path: &str, data: &[u8]) -> Self {
        Self::nullable(path, Some(data))
    }

    /// A key for a node whose data is `data`, `None` being null.
    pub fn nullable(path: &str, data: Option<&[u8]>) -> Self {
        let data_bytes = data.map_or(0, <[u8]>::len);
        let mut header = (path.len() << 1) | usize::from(data.is_none());
        let mut bytes = Vec::with_capacity(varint_len(header) + path.len() + data_bytes);
        while header >= 0x80 {
            bytes.push((header as u8) | 0x80);
            header >>= 7;
        }
        bytes.push(header as u8);
        bytes.extend_from_slice(path.as_bytes());
        bytes.extend_from_slice(data.unwrap_or_default());
        NodeKey(bytes.into_boxed_slice())
    }

    /// The decoded header: where the path starts, how long it is, and
    /// whether the data is null.
    fn header(&self) -> (usize, usize, bool) {
        let mut header = 0usize;
        for (i, b) in self.0.iter().enumerate() {
            header |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return (i + 1, header >> 1, header & 1 == 1);
            }
        }
        unreachable!("a node key starts with a complete varint")
    }

    /// Where the path starts and how long it is.
    fn path_span(&self) -> (usize, usize) {
        let (start, len, _) = self.header();
        (start, len)
    }

    pub fn path_bytes(&self) -> &[u8] {
        let (start, len) = self.path_span();
        &self.0[start..start + len]
    }

    pub fn path(&self) -> &str {
        std::str::from_utf8(self.path_bytes()).expect("a node key's path was a &str")
    }

    /// The data's bytes; none for null data (see `nullable_data`).
    pub fn data(&self) -> &[u8] {
        let (start, len) = self.path_span();
        &self.0[start + len..]
    }

    /// Whether the data is null rather than bytes (empty or not).
    pub fn is_null(&self) -> bool {
        self.header().2
    }

    /// The data as a client reads it: `None` when null.
    pub fn nullable_data(&self) -> Option<&[u8]> {
        (!self.is_null()).then(|| self.data())
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut bytes = 1;
    while n >= 0x80 {
        n >>= 7;
        bytes += 1;
    }
    bytes
}

impl PartialEq for NodeKey {
    fn eq(&self, other: &Self) -> bool {
        self.path_bytes() == other.path_bytes()
    }
}

impl Eq for NodeKey {}

impl PartialOrd for NodeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.path_bytes().cmp(other.path_bytes())
    }
}

impl std::borrow::Borrow<[u8]> for NodeKey {
    fn borrow(&self) -> &[u8] {
        self.path_bytes()
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("path", &self.path())
            .field("data_len", &self.data().len())
            .field("null", &self.is_null())
            .finish()
    }
}

/// A znode's value in the node table: its stored stat, its interned ACL
/// and its data length (the data itself is in its `NodeKey`). 72 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Znode {
    pub stat: NodeStat,
    pub(crate) acl: AclId,
    /// The data's length, saturated at `u32::MAX`; only reported.
    pub data_len: u32,
}

impl Znode {
    pub(crate) fn new(data: &[u8], acl: AclId, stat: NodeStat) -> Self {
        Znode {
            stat,
            acl,
            data_len: data_len(data),
        }
    }

    pub fn owner_kind(&self) -> OwnerKind {
        OwnerKind::of(self.stat.ephemeral_owner)
    }

    /// The Stat a client sees. Java int arithmetic wraps; so does ours.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = i32::try_from(s.num_children).unwrap_or(i32::MAX);
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
            data_length: i32::try_from(self.data_len).unwrap_or(i32::MAX),
            num_children,
            pzxid: s.pzxid,
        }
    }
}

/// The length `Znode::data_len` records for `data`.
pub(crate) fn data_len(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_entry_stays_small() {
        assert_eq!(std::mem::size_of::<NodeStat>(), 64);
        assert_eq!(std::mem::size_of::<Znode>(), 72);
        assert_eq!(std::mem::size_of::<NodeKey>(), 16);
    }

    #[test]
    fn a_key_holds_path_and_data() {
        for len in [0, 1, 127, 128, 300, 20_000] {
            let path = format!("/{}", "p".repeat(len));
            let k = NodeKey::new(&path, b"data");
            assert_eq!(k.path(), path);
            assert_eq!(k.data(), b"data");
        }
    }

    #[test]
    fn a_key_keeps_null_data_apart_from_empty_data() {
        for len in [0, 1, 63, 64, 127, 128, 20_000] {
            let path = format!("/{}", "p".repeat(len));
            let null = NodeKey::nullable(&path, None);
            let empty = NodeKey::nullable(&path, Some(b""));
            assert_eq!((null.path(), empty.path()), (path.as_str(), path.as_str()));
            assert_eq!(null.nullable_data(), None, "{len}");
            assert_eq!(empty.nullable_data(), Some(&b""[..]), "{len}");
            assert_eq!((null.data(), empty.data()), (&b""[..], &b""[..]));
            assert_eq!(null, empty, "nullness is data, not part of the order");
        }
    }

    #[test]
    fn keys_order_by_path_alone() {
        let a = NodeKey::new("/a", b"zzz");
        let b = NodeKey::new("/a-x", b"");
        let c = NodeKey::new("/a/b", b"");
        assert!(a < b && b < c);
        assert_eq!(a, NodeKey::new("/a", b"other data"));
    }
}
