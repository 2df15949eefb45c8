//! A synod node's durable storage for the Paxos engine, on real files.
//!
//! # What it owns
//!
//! One node's data directory, laid out as:
//!
//! - `wal/wal-<first index, 20 digits>.log`: the write-ahead log
//!   ([`synod_wal::FileWal`]). Each WAL record holds one engine
//!   [`synod_paxos::Record`] in a versioned envelope (see [`codec`]).
//! - `snap/snap-<WAL index, 20 digits>.snap`: storage snapshots
//!   ([`synod_wal::SnapshotStore`]). Each holds the node's *entire*
//!   [`synod_paxos::DurableState`] as of that WAL index: the promised
//!   ballot, the engine's own snapshot, every log entry above it (ballot,
//!   value, chosen) and the commit point.
//!
//! The runtime calls [`NodeStorage::persist`] with the records of the
//! engine's `Persist` actions (from a blocking thread, off the engine's
//! task) and steps `Persisted` once it returned; on start it calls
//! [`NodeStorage::open`] and hands the returned state to `Node::recover`.
//!
//! # Invariants
//!
//! - **Persist before acknowledge.** `persist` returns Ok only after the
//!   fsync that covers every record it was given (one fsync per call: group
//!   commit over several engine batches).
//! - **Recovery is replay.** The state `open` returns equals
//!   `DurableState::replay` of every record whose `persist` returned Ok,
//!   possibly followed by records of a `persist` a crash interrupted, in
//!   order, never a record that was not written.
//! - **Truncation never forgets.** The WAL is truncated only below the WAL
//!   index of a storage snapshot that is already durable, and that
//!   snapshot holds the whole durable state, so no promise, accepted value
//!   or chosen mark lives only in removed segments. (The engine's own
//!   `Record::Snapshot` is not enough: it omits the promise and the
//!   accepted entries above its slot.)
//! - **Bounded compaction.** A storage snapshot is written when a persisted
//!   batch holds an engine snapshot, or when the WAL took in at least
//!   `max(compact_wal_bytes_min, size of the last storage snapshot)` bytes
//!   since the last one, so the bytes compaction writes stay within about
//!   twice the bytes the WAL took in (plus one rewrite per engine snapshot).
//! - **Fail stop.** Bytes that passed their checksum but do not decode,
//!   damage the WAL's torn-tail rule cannot explain, a damaged newest
//!   snapshot, or a WAL that does not cover the snapshot make `open` fail
//!   with an error naming the file and telling the operator what to do.
//!   After any error `NodeStorage` refuses every call
//!   ([`StorageError::Poisoned`]): the node must restart and recover.
//!
//! # What it never does
//!
//! - It never interprets records beyond folding them with
//!   `DurableState::apply`, the engine's own definition of replay.
//! - It does no async I/O and spawns no thread. One process owns a data
//!   directory.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod codec;
mod error;
mod node_storage;

pub use codec::DecodeError;
pub use error::{StorageError, DECODE_ADVICE};
pub use node_storage::{
    LoadedSnapshot, NodeStorage, OpenReport, StorageOptions, SNAPSHOT_DIR, WAL_DIR,
};
pub use synod_wal::{SnapshotOptions, TornTail, WalOptions};
