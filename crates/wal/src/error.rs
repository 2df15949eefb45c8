//! Typed errors of the log and the snapshot store.
//!
//! Every error that concerns a file names it, and every error that concerns a
//! position in a file names the byte offset, so an operator can look at the
//! exact bytes. Errors that mean "this node's disk can no longer be trusted"
//! say what to do about it.

use std::io;
use std::path::PathBuf;

use crate::fs::FsFailure;

/// What the operator should do when the log or a snapshot is damaged.
///
/// A damaged log cannot be repaired locally without risking that this node
/// forgets a promise or an accepted value it already told a peer about, so
/// the only safe repair is to rebuild the node from its peers.
pub const RESTORE_ADVICE: &str = "the node must not start from this data: \
     restore it from a peer by wiping its data directory and letting it rejoin \
     as a new replica";

/// Why one record failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    /// Fewer bytes remain than a record header needs.
    #[error("only {available} bytes left, a record header needs {needed}")]
    TruncatedHeader {
        /// Bytes left in the file at this offset.
        available: u64,
        /// Bytes a header needs.
        needed: u64,
    },
    /// The header's length field exceeds `record_bytes_max`.
    #[error("record length {len} exceeds record_bytes_max {max}")]
    TooLarge {
        /// Length from the header.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// The payload runs past the end of the file.
    #[error("record length {len} but only {available} payload bytes left in the file")]
    TruncatedPayload {
        /// Length from the header.
        len: u64,
        /// Bytes left after the header.
        available: u64,
    },
    /// The stored CRC32C does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// CRC32C from the header.
        stored: u32,
        /// CRC32C of the bytes on disk.
        computed: u32,
    },
    /// A record with a valid checksum carries the wrong index: a record is
    /// missing or a file was renamed or copied wrongly.
    #[error("record carries index {stored} where index {expected} was expected")]
    IndexMismatch {
        /// Index from the header.
        stored: u64,
        /// Index the position implies.
        expected: u64,
    },
    /// Bytes follow the last record of a segment that is not the last one.
    /// Segments are fsynced before the next one is created, so a closed
    /// segment never has a torn tail.
    #[error("{len} unexpected bytes after the last record of a closed segment")]
    TrailingBytes {
        /// How many bytes follow.
        len: u64,
    },
}

/// Errors of the write-ahead log ([`crate::FileWal`], [`crate::MemLog`]).
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call failed.
    #[error("WAL I/O error: {op} {path}: {source}")]
    Io {
        /// What was being done ("open", "fsync", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A record in the middle of the log is damaged. This is never a torn
    /// write from a crash (see the crate doc for the rule), so data that was
    /// reported durable may be lost.
    #[error(
        "WAL corrupt: {path} at byte offset {offset} (record index {index}): {reason}{after}; {advice}",
        after = match .valid_record_after { Some(o) => format!(
            "; a valid record follows at byte offset {o}, so this is not a torn tail"), None => String::new() },
        advice = RESTORE_ADVICE
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record in that file.
        offset: u64,
        /// Index the damaged record should carry.
        index: u64,
        /// What is wrong with it.
        reason: CorruptReason,
        /// Offset of a valid record found after the damaged one, if any.
        valid_record_after: Option<u64>,
    },
    /// Segments do not follow each other without a hole.
    #[error(
        "WAL has a hole: segment {path} starts at index {found} but the previous segment \
         ends at index {previous_last}; {advice}",
        advice = RESTORE_ADVICE
    )]
    Gap {
        /// The segment that starts at the wrong index.
        path: PathBuf,
        /// Last index of the segment before it.
        previous_last: u64,
        /// First index from this segment's name.
        found: u64,
    },
    /// A file looks like a segment but its name does not parse.
    #[error(
        "WAL directory holds {path}, which looks like a segment but is not named \
         wal-<20-digit first index>.log with an index of at least 1; move it away"
    )]
    BadSegmentName {
        /// The offending file.
        path: PathBuf,
    },
    /// The caller tried to append a record above `record_bytes_max`.
    #[error("record of {len} bytes exceeds record_bytes_max {max}")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// The configured limit.
        max: u32,
    },
    /// Records below the first index were removed by `truncate_prefix`.
    #[error("index {index} was compacted away; the log starts at index {first_index}")]
    Compacted {
        /// The requested index.
        index: u64,
        /// The first index still held.
        first_index: u64,
    },
    /// A read asked for an index past the end of the log.
    #[error("index {index} is past the end of the log (last index {last_index})")]
    PastEnd {
        /// The requested index.
        index: u64,
        /// The last index held.
        last_index: u64,
    },
    /// `truncate_prefix` was asked to remove records that are not durable.
    #[error(
        "refusing to truncate below index {below}: only indices up to {durable_index} are durable"
    )]
    TruncateBeyondDurable {
        /// The requested bound.
        below: u64,
        /// The durable index at the time.
        durable_index: u64,
    },
    /// A write or fsync failed earlier, so the page cache and the disk may
    /// disagree (an fsync error can drop dirty pages). Nothing more is
    /// written; the node must restart and recover from what is on disk.
    #[error(
        "WAL is unusable after an earlier write or fsync failure; restart the node so \
         recovery reads the log back from disk"
    )]
    Poisoned,
    /// Options that cannot work.
    #[error("invalid WAL options: {0}")]
    InvalidOptions(String),
}

/// Errors of the [`crate::SnapshotStore`].
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An operating-system call failed.
    #[error("snapshot I/O error: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The newest snapshot file fails validation.
    #[error("snapshot corrupt: {path}: {reason}; {advice}", advice = RESTORE_ADVICE)]
    Corrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The snapshot is bigger than `snapshot_bytes_max`.
    #[error("snapshot of {len} bytes exceeds snapshot_bytes_max {max}")]
    TooLarge {
        /// Snapshot length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A file looks like a snapshot but its name does not parse.
    #[error(
        "snapshot directory holds {path}, which looks like a snapshot but is not named \
         snap-<20-digit index>.snap; move it away"
    )]
    BadName {
        /// The offending file.
        path: PathBuf,
    },
    /// Options that cannot work.
    #[error("invalid snapshot options: {0}")]
    InvalidOptions(String),
}

impl From<FsFailure> for WalError {
    fn from(failure: FsFailure) -> Self {
        WalError::Io {
            op: failure.op,
            path: failure.path,
            source: failure.source,
        }
    }
}

impl From<FsFailure> for SnapshotError {
    fn from(failure: FsFailure) -> Self {
        SnapshotError::Io {
            op: failure.op,
            path: failure.path,
            source: failure.source,
        }
    }
}
