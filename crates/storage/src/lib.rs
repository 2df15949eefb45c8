//! A synod node's durable storage for the Paxos engine.
//!
//! It runs on real files ([`NodeStorage::open`]) or on any other
//! [`synod_wal::Fs`] ([`NodeStorage::open_with_fs`]): the deterministic
//! simulator and the crash tests run this very code on a
//! [`synod_wal::SimFs`], which loses, tears and fails unsynced writes.
//!
//! # What it owns
//!
//! One node's data directory, laid out as:
//!
//! - `wal/wal-<first index, 20 digits>.log`: the write-ahead log
//!   ([`synod_wal::FileWal`]). Each WAL record holds one engine
//!   [`synod_paxos::Record`] in a versioned envelope (see [`codec`]), never
//!   an engine snapshot (see below). WAL indices are storage's own record
//!   numbers: they count the records logged, not the records persisted.
//! - `snap/snap-<WAL index, 20 digits>.snap`: storage snapshots
//!   ([`synod_wal::SnapshotStore`]). Each holds the node's *entire*
//!   [`synod_paxos::DurableState`] as of that WAL index: the promised
//!   ballot, the engine's own snapshot, every log entry above it (ballot,
//!   value, chosen) and the commit point.
//!
//! # Engine snapshots bypass the WAL
//!
//! An engine [`synod_paxos::Record::Snapshot`] holds the whole state
//! machine, hundreds of megabytes for a large tree: far above what one WAL
//! record may hold (`record_bytes_max`), and writing it into the WAL only
//! to write it again into a storage snapshot would double the bytes
//! written. So `persist` splits the records it is given at the last engine
//! snapshot among them. Everything up to and including it is folded into
//! the in-memory mirror of the durable state, and the mirror is saved as a
//! storage snapshot at the WAL's current last index (replacing the newest
//! snapshot if the WAL took in nothing since). Only the records after it are
//! appended to the WAL, on top of that snapshot. A crash during the save
//! leaves the previous snapshot and WAL, the state before the call; a crash
//! after it leaves the new snapshot and a prefix of the logged records.
//! Either way recovery finds a prefix of the persisted records, as replay
//! requires. A storage snapshot is bounded by `snapshot_bytes_max` (4 GiB
//! by default), not by `record_bytes_max`, and is streamed from the mirror
//! into its file, so the state is not encoded into a second buffer.
//! (Engine snapshots in the WAL, written by earlier versions, still replay.)
//!
//! The engine, the records it hands to `persist` and the mirror share one
//! copy of the snapshot's state, in chunks ([`synod_paxos::SnapshotData`]),
//! so a node holds its serialized state once however many of them refer
//! to it, and never as one buffer. Recovery streams the newest storage
//! snapshot from its file (`SnapshotStore::latest_with`): the state comes
//! back chunk by chunk as it decodes, and the file's checksum is checked
//! as the bytes pass, before anything is used.
//!
//! The runtime calls [`NodeStorage::persist`] with the records of the
//! engine's `Persist` actions (from a blocking thread, off the engine's
//! task) and steps `Persisted` once it returned; on start it calls
//! [`NodeStorage::open`] and hands the returned state to `Node::recover`.
//!
//! # Invariants
//!
//! - **Persist before acknowledge.** `persist` returns Ok only after the
//!   fsync that covers every record it was given (one WAL fsync per call:
//!   group commit over several engine batches; plus the storage snapshot's
//!   own fsyncs when the call holds an engine snapshot).
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
//! - **Bounded compaction.** A storage snapshot is written when a persist
//!   call holds an engine snapshot (in place of logging it), or when the WAL
//!   took in at least
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
pub use synod_wal::{Fs, RealFs, SimFs, SnapshotOptions, TornTail, WalOptions};
