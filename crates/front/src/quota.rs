//! Caps on what the tree may hold, so that it never grows silently into the
//! snapshot's byte limit (`snapshot_bytes_max`, 4 GiB), where the node
//! would stop: a write that would take the tree past `znodes_max` nodes or
//! `data_bytes_max` bytes (paths plus data, `Tree::data_bytes`) is refused
//! with ZooKeeper's `QuotaExceeded` (-125) before it is proposed, and the
//! tree stays as it is. Deletes, and writes that do not grow the tree, are
//! always taken, so a full tree can be emptied.
//!
//! The front door judges against the tree it has applied plus the writes
//! of the batch it is building. Writes of other connections or servers in
//! flight at the same moment are not counted, so the tree can end up past
//! a cap by at most what the log has in flight (the engine's window of
//! commands, each at most `command_bytes_max`); the defaults leave that
//! and the snapshot's per-node overhead far below 4 GiB. The caps are a
//! node's config, not replicated state: a replica never refuses a write
//! the log chose.

use synod_coord::{Tree, Write};

/// A sequential create's path grows by its ten-digit counter.
const SEQUENCE_SUFFIX_BYTES: u64 = 10;

/// What applying a write may add to the tree, as an upper bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Growth {
    pub nodes: u64,
    pub bytes: u64,
}

impl Growth {
    fn add(self, other: Growth) -> Growth {
        Growth {
            nodes: self.nodes + other.nodes,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// The largest growth `write` can cause on `tree`: a create adds a node
/// and its path and data; a setData adds what its data is longer than the
/// node's current data (all of it if the node is not there); a multi adds
/// the sum of its parts.
/// Null data counts as 0 bytes.
pub fn growth(tree: &Tree, write: &Write) -> Growth {
    match write {
        Write::Create { path, mode, .. } | Write::CreateNull { path, mode, .. } => Growth {
            nodes: 1,
            bytes: (path.len() + write.data_bytes()) as u64
                + if mode.is_sequential() {
                    SEQUENCE_SUFFIX_BYTES
                } else {
                    0
                },
        },
        Write::SetData { path, .. } | Write::SetNullData { path, .. } => {
            let old = tree
                .exists(path)
                .map_or(0, |stat| u64::try_from(stat.data_length).unwrap_or(0));
            Growth {
                nodes: 0,
                bytes: (write.data_bytes() as u64).saturating_sub(old),
            }
        }
        Write::Multi(writes) => writes
            .iter()
            .fold(Growth::default(), |sum, w| sum.add(growth(tree, w))),
        Write::Delete { .. } | Write::SetAcl { .. } | Write::Check { .. } | Write::Sync { .. } => {
            Growth::default()
        }
    }
}

/// Why `write` may not join a batch that already adds `pending` to `tree`,
/// or `None` if it may. On `None`, `pending` includes the write.
pub fn admit(
    tree: &Tree,
    write: &Write,
    pending: &mut Growth,
    znodes_max: u64,
    data_bytes_max: u64,
) -> Option<String> {
    let g = growth(tree, write);
    if g == Growth::default() {
        return None;
    }
    let nodes = tree.node_count() as u64 + pending.nodes + g.nodes;
    if g.nodes > 0 && nodes > znodes_max {
        return Some(format!(
            "the tree would hold {nodes} znodes, more than [zk] znodes_max ({znodes_max})"
        ));
    }
    let bytes = tree.data_bytes() + pending.bytes + g.bytes;
    if g.bytes > 0 && bytes > data_bytes_max {
        return Some(format!(
            "the tree would hold {bytes} bytes of paths and data, more than [zk] data_bytes_max ({data_bytes_max})"
        ));
    }
    *pending = pending.add(g);
    None
}
