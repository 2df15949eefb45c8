//! Typed errors of a node's storage.
//!
//! Every error about a file names it, and every error about a position in
//! a file names the byte offset or the record index. Errors that mean "this
//! data directory cannot be trusted or read" say what the operator should do.

use std::io;
use std::path::PathBuf;

use synod_wal::{SnapshotError, WalError, RESTORE_ADVICE};

use crate::codec::DecodeError;

/// What to do when bytes that passed their checksum do not decode.
pub const DECODE_ADVICE: &str = "the bytes passed their checksum, so this is a bug or a \
     data directory written by a synod version with another storage format; start the \
     version that wrote it, or wipe the data directory and let the node rejoin as a new \
     replica";

/// Errors of [`crate::NodeStorage`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call on the data directory itself failed.
    #[error("storage I/O error: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The write-ahead log failed; its message names the segment file and
    /// byte offset of any damage, and what to do.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The snapshot store failed; its message names the snapshot file.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A WAL record with a valid checksum does not decode as an engine record.
    #[error(
        "WAL record {index} in {path} cannot be decoded as an engine record: {reason}; {advice}",
        advice = DECODE_ADVICE
    )]
    RecordDecode {
        /// The segment file that holds the record.
        path: PathBuf,
        /// The record's WAL index.
        index: u64,
        /// What is wrong with it.
        reason: DecodeError,
    },
    /// A storage snapshot with a valid checksum does not decode as a durable state.
    #[error(
        "storage snapshot {path} cannot be decoded as a durable state: {reason}; {advice}",
        advice = DECODE_ADVICE
    )]
    SnapshotDecode {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: DecodeError,
    },
    /// The newest storage snapshot covers WAL records the WAL does not hold:
    /// the WAL lost records that were durable before the snapshot was taken
    /// (or its directory was wiped). Appending now would reuse their indices.
    #[error(
        "storage snapshot {path} covers the WAL up to index {snapshot_index} but the WAL \
         ends at index {wal_last_index}; {advice}",
        advice = RESTORE_ADVICE
    )]
    SnapshotAheadOfWal {
        /// The snapshot file.
        path: PathBuf,
        /// Last WAL index the snapshot covers.
        snapshot_index: u64,
        /// Last index the WAL holds.
        wal_last_index: u64,
    },
    /// The WAL starts after the record that should follow the newest storage
    /// snapshot (or after index 1 when there is no snapshot): records in
    /// between are gone, e.g. the snapshot directory was wiped.
    #[error(
        "the WAL in {wal_dir} starts at index {wal_first_index} but the newest storage \
         snapshot ({snapshot}) covers only up to index {snapshot_index}, so records in \
         between are missing; {advice}",
        snapshot = match .snapshot { Some(p) => p.display().to_string(), None => "none".into() },
        advice = RESTORE_ADVICE
    )]
    WalGap {
        /// The WAL directory.
        wal_dir: PathBuf,
        /// The newest snapshot file, if any.
        snapshot: Option<PathBuf>,
        /// Last WAL index that snapshot covers (0 without one).
        snapshot_index: u64,
        /// First index the WAL holds.
        wal_first_index: u64,
    },
    /// An engine record or the durable state could not be serialized.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serializer's message.
        reason: String,
    },
    /// An earlier call failed, so what reached the disk is unknown. Nothing
    /// more is written; restart the node so recovery reads the disk back.
    #[error(
        "node storage is unusable after an earlier failure; restart the node so recovery \
         reads its data directory back from disk"
    )]
    Poisoned,
    /// Options that cannot work.
    #[error("invalid storage options: {0}")]
    InvalidOptions(String),
}
