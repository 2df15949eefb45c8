//! Caps on what the key-value store may hold, so that it never grows
//! silently into the snapshot's byte limit (`snapshot_bytes_max`, 4 GiB),
//! where every replica's persist would fail at the same slot and the
//! cluster would stop for good: a write that would take the store past
//! `keys_max` keys or `bytes_max` bytes (keys plus values,
//! [`KvStore::data_bytes`]) is refused with [`QuotaExceeded`] before it is
//! proposed, and the store stays as it is. Deletes, reads, and writes that
//! do not grow the store are always taken, so a full store can be emptied.
//!
//! The judge is the store a node has applied. Writes in flight at the same
//! moment (other clients', or this client's own pipelined ones) are not
//! counted, so the store can end up past a cap by at most what the log has
//! in flight (the engine's window of commands, each at most
//! `command_bytes_max`). The caps are a node's config, not replicated
//! state: a replica never refuses a write the log chose, so replicas with
//! different caps still apply the same log.

use crate::{KvOp, KvStore};

/// The caps one node enforces (`[kv] keys_max`, `[kv] bytes_max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvLimits {
    /// Writes that would take the store past this many keys are refused.
    pub keys_max: u64,
    /// Writes that would take the store's keys plus values past this many
    /// bytes are refused.
    pub bytes_max: u64,
}

impl KvLimits {
    /// The default `keys_max`: 10 million keys, whose snapshot lengths take
    /// 80 MB (8 bytes an entry) beside their bytes.
    pub const KEYS_MAX_DEFAULT: u64 = 10_000_000;
    /// The default `bytes_max`: 512 MiB. Beside a full ZooKeeper tree at
    /// its defaults (2 GiB of paths and data and about 100 bytes of
    /// overhead for each of 10 million znodes, ~3.1 GB), a full store
    /// (~0.62 GB with its lengths) leaves about 0.5 GB of the 4 GiB
    /// snapshot limit for writes in flight. 1 GiB would leave almost none.
    pub const BYTES_MAX_DEFAULT: u64 = 512 << 20;
}

impl Default for KvLimits {
    fn default() -> Self {
        KvLimits {
            keys_max: Self::KEYS_MAX_DEFAULT,
            bytes_max: Self::BYTES_MAX_DEFAULT,
        }
    }
}

/// Why a write was refused: it would take the store past a cap. Nothing
/// was proposed, so nothing changed; deleting keys makes room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    #[error(
        "the key-value store would hold {keys} keys, more than [kv] keys_max ({keys_max}); \
         delete keys, or raise [kv] keys_max on every node"
    )]
    Keys { keys: u64, keys_max: u64 },
    #[error(
        "the key-value store would hold {bytes} bytes of keys and values, more than [kv] \
         bytes_max ({bytes_max}); delete or shrink values, or raise [kv] bytes_max on every node"
    )]
    Bytes { bytes: u64, bytes_max: u64 },
}

/// What applying a write may add to the store, as an upper bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Growth {
    pub keys: u64,
    pub bytes: u64,
}

/// The largest growth `op` can cause on `store`: a write of an absent key
/// adds the key and its key and value bytes; a write of a present key adds
/// what the new value is longer than the current one (an append: all of
/// what it appends). A compare-and-set counts as the put it would be if
/// it succeeded. Reads and deletes add nothing.
pub fn growth(store: &KvStore, op: &KvOp) -> Growth {
    let (key, new_value_bytes) = match op {
        KvOp::Get { .. } | KvOp::Delete { .. } => return Growth::default(),
        KvOp::Put { key, value } => (key, value.len() as u64),
        KvOp::Cas { key, new, .. } => (key, new.len() as u64),
        KvOp::Append { key, value } => {
            let current = store.get(key).map_or(0, <[u8]>::len) as u64;
            (key, current + value.len() as u64)
        }
    };
    match store.get(key) {
        Some(current) => Growth {
            keys: 0,
            bytes: new_value_bytes.saturating_sub(current.len() as u64),
        },
        None => Growth {
            keys: 1,
            bytes: key.len() as u64 + new_value_bytes,
        },
    }
}

/// Whether `op` may be proposed to a store that has applied `store`:
/// refused only if it grows the store past a cap of `limits`.
pub fn admit(store: &KvStore, op: &KvOp, limits: KvLimits) -> Result<(), QuotaExceeded> {
    let g = growth(store, op);
    let keys = store.len() as u64 + g.keys;
    if g.keys > 0 && keys > limits.keys_max {
        return Err(QuotaExceeded::Keys {
            keys,
            keys_max: limits.keys_max,
        });
    }
    let bytes = store.data_bytes() + g.bytes;
    if g.bytes > 0 && bytes > limits.bytes_max {
        return Err(QuotaExceeded::Bytes {
            bytes,
            bytes_max: limits.bytes_max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn put(k: &str, v: &str) -> KvOp {
        KvOp::Put {
            key: b(k),
            value: b(v),
        }
    }

    /// A store holding `a` = `1234` and `b` = `56`: 2 keys, 8 bytes.
    fn full_store() -> KvStore {
        let mut store = KvStore::new();
        store.execute(&put("a", "1234"));
        store.execute(&put("b", "56"));
        assert_eq!((store.len(), store.data_bytes()), (2, 8));
        store
    }

    /// Exactly as large as `full_store`.
    const AT_CAP: KvLimits = KvLimits {
        keys_max: 2,
        bytes_max: 8,
    };

    #[test]
    fn a_new_key_past_keys_max_is_refused() {
        let store = full_store();
        let limits = KvLimits {
            keys_max: 2,
            bytes_max: 1000,
        };
        assert_eq!(
            admit(&store, &put("c", ""), limits),
            Err(QuotaExceeded::Keys {
                keys: 3,
                keys_max: 2
            })
        );
        let cas = KvOp::Cas {
            key: b("c"),
            expected: None,
            new: b("x"),
        };
        assert!(matches!(
            admit(&store, &cas, limits),
            Err(QuotaExceeded::Keys { .. })
        ));
        let append = KvOp::Append {
            key: b("c"),
            value: b("x"),
        };
        assert!(matches!(
            admit(&store, &append, limits),
            Err(QuotaExceeded::Keys { .. })
        ));
    }

    #[test]
    fn a_value_that_grows_past_bytes_max_is_refused() {
        let store = full_store();
        let limits = KvLimits {
            keys_max: 1000,
            bytes_max: 8,
        };
        assert_eq!(
            admit(&store, &put("b", "567"), limits),
            Err(QuotaExceeded::Bytes {
                bytes: 9,
                bytes_max: 8
            })
        );
        let append = KvOp::Append {
            key: b("a"),
            value: b("5"),
        };
        assert!(matches!(
            admit(&store, &append, limits),
            Err(QuotaExceeded::Bytes { bytes: 9, .. })
        ));
        let cas = KvOp::Cas {
            key: b("a"),
            expected: Some(b("1234")),
            new: b("12345"),
        };
        assert!(matches!(
            admit(&store, &cas, limits),
            Err(QuotaExceeded::Bytes { bytes: 9, .. })
        ));
        // A new key's bytes count its key as well as its value.
        let roomy_keys = KvLimits {
            keys_max: 3,
            bytes_max: 9,
        };
        assert!(admit(&store, &put("c", ""), roomy_keys).is_ok());
        assert_eq!(
            admit(&store, &put("cc", ""), roomy_keys),
            Err(QuotaExceeded::Bytes {
                bytes: 10,
                bytes_max: 9
            })
        );
    }

    #[test]
    fn at_the_cap_shrinking_equal_overwrites_deletes_and_reads_are_taken() {
        let store = full_store();
        let taken = [
            put("a", "12"),
            put("a", "abcd"),
            put("b", ""),
            KvOp::Cas {
                key: b("a"),
                expected: Some(b("1234")),
                new: b("wxyz"),
            },
            KvOp::Append {
                key: b("a"),
                value: Vec::new(),
            },
            KvOp::Delete { key: b("a") },
            KvOp::Delete { key: b("absent") },
            KvOp::Get { key: b("absent") },
        ];
        for op in taken {
            assert_eq!(admit(&store, &op, AT_CAP), Ok(()), "{op:?}");
        }
    }

    #[test]
    fn a_delete_makes_room_again() {
        let mut store = full_store();
        assert!(admit(&store, &put("c", "x"), AT_CAP).is_err());
        store.execute(&KvOp::Delete { key: b("b") });
        assert_eq!(admit(&store, &put("c", "x"), AT_CAP), Ok(()));
    }

    #[test]
    fn the_refusal_names_the_cap_and_its_value() {
        let keys = QuotaExceeded::Keys {
            keys: 3,
            keys_max: 2,
        }
        .to_string();
        assert!(keys.contains("[kv] keys_max (2)"), "{keys}");
        let bytes = QuotaExceeded::Bytes {
            bytes: 9,
            bytes_max: 8,
        }
        .to_string();
        assert!(bytes.contains("[kv] bytes_max (8)"), "{bytes}");
    }

    #[test]
    fn the_defaults_leave_room_beside_a_full_tree_under_the_snapshot_limit() {
        let snapshot_bytes_max: u64 = 4 << 30;
        // The ZooKeeper tree at its defaults: 2 GiB and ~100 bytes a node.
        let tree_bytes: u64 = (2 << 30) + 100 * 10_000_000;
        let kv_bytes = KvLimits::BYTES_MAX_DEFAULT + 8 * KvLimits::KEYS_MAX_DEFAULT;
        assert!(tree_bytes + kv_bytes + (256 << 20) < snapshot_bytes_max);
    }
}
