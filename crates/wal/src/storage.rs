//! The storage contract the Paxos runtime and the simulator program against.

use std::path::PathBuf;

use crate::error::WalError;

/// Records read back from a log: `(index, payload)` in index order.
pub type Records<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), WalError>> + 'a>;

/// A durable, append-only log of opaque records with group commit.
///
/// Invariants every implementation keeps (checked by [`crate::conformance`]):
///
/// - **Indices are assigned by the log, start at 1 and are contiguous.** The
///   log holds exactly the indices `first_index() ..= last_index()`, with no
///   hole; an empty log has `last_index() == first_index() - 1`. Indices are
///   this node's local record numbers, not Paxos slots.
/// - **Durable means fsynced.** `durable_index()` never exceeds
///   `last_index()` and only grows (until a crash, after which it equals the
///   recovered `last_index()`). It is raised only after the fsync (or the
///   simulated equivalent) returned success, never before.
/// - **A crash loses only what was not durable.** After a crash and reopen
///   the log holds every record up to the durable index it had reported,
///   byte for byte, and possibly some later records that happened to reach
///   the disk, never a damaged one.
/// - **Reads see every appended record**, durable or not, so a node can read
///   its own writes; whether a record may be acted upon outside this node is
///   decided by `durable_index()` alone.
/// - **Truncation only removes a prefix**, only durable records, and only
///   below the bound it was given. Call it only after the snapshot covering
///   those records is itself durable.
/// - **Errors are returned, not panicked**, and a failed write or fsync
///   leaves the log refusing further writes ([`WalError::Poisoned`]) rather
///   than guessing what reached the disk.
pub trait LogStorage {
    /// Buffers one record and returns its index. Not durable until a later
    /// [`LogStorage::sync`] returns an index at least this one.
    fn append(&mut self, payload: &[u8]) -> Result<u64, WalError>;

    /// Makes every appended record durable with one fsync (group commit) and
    /// returns the durable index, which is then `last_index()`.
    fn sync(&mut self) -> Result<u64, WalError>;

    /// First index held; records below it were truncated away.
    fn first_index(&self) -> u64;

    /// Last index held, durable or not; `first_index() - 1` when empty.
    fn last_index(&self) -> u64;

    /// Highest index known to be on stable storage; 0 if none.
    fn durable_index(&self) -> u64;

    /// Iterates the records from `from` through `last_index()`.
    /// `from == last_index() + 1` gives an empty iterator; below
    /// `first_index()` is [`WalError::Compacted`], beyond the end
    /// [`WalError::PastEnd`].
    fn read_from(&self, from: u64) -> Result<Records<'_>, WalError>;

    /// Removes records below `below` at a granularity of the
    /// implementation's choosing (the file log removes whole segments and
    /// keeps the active one). Never removes `below` or anything after it.
    /// Refuses with [`WalError::TruncateBeyondDurable`] when
    /// `below > durable_index() + 1`. Returns the new `first_index()`.
    fn truncate_prefix(&mut self, below: u64) -> Result<u64, WalError>;
}

/// What recovery found when a log was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// First index held after recovery.
    pub first_index: u64,
    /// Last index held after recovery; everything up to it is durable.
    pub last_index: u64,
    /// Number of segment files (1 for the in-memory log).
    pub segments: usize,
    /// The torn write that was cut off, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// An unfinished last write that recovery cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file (`<memory>` for the in-memory log).
    pub path: PathBuf,
    /// Byte offset where the file now ends.
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes_cut: u64,
    /// Why the first cut record failed validation.
    pub reason: String,
}

/// The range rule of [`LogStorage::read_from`], shared by both logs.
pub(crate) fn check_read_range(
    from: u64,
    first_index: u64,
    last_index: u64,
) -> Result<(), WalError> {
    if from < first_index {
        return Err(WalError::Compacted {
            index: from,
            first_index,
        });
    }
    if from > last_index + 1 {
        return Err(WalError::PastEnd {
            index: from,
            last_index,
        });
    }
    Ok(())
}
