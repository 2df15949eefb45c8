//! synod's durable storage: the write-ahead log and the snapshot store.
//!
//! # What it owns
//!
//! The files of one node's data directory:
//!
//! - `wal-<first index, 20 digits>.log`: log segments. Each holds records
//!   `first index, first index + 1, ...` in the format of [`record`]
//!   (16-byte header: u32 LE length, u32 LE CRC32C over length, index and
//!   payload, u64 LE index; then the payload).
//! - `snap-<index, 20 digits>.snap`: state-machine snapshots (format at
//!   [`SnapshotStore`]), and their `.snap.tmp` files while being written.
//!
//! Record payloads are opaque bytes: the Paxos runtime serializes its
//! persist records (promises, accepted values, chosen commands) into them.
//! Indices are this node's own record numbers, assigned by the log from 1,
//! not Paxos slots.
//!
//! # The file-system seam
//!
//! Every file operation goes through an [`Fs`] ([`fs`] module): [`RealFs`]
//! (`std::fs`, the default of `FileWal::open` and `SnapshotStore::open`)
//! in production, [`SimFs`] ([`sim_fs`] module) in tests and the
//! simulator, through `FileWal::open_with_fs` and
//! `SnapshotStore::open_with_fs`. `SimFs` loses, tears and fails writes the
//! way the invariants below assume a Linux disk can, so the crash tests
//! run this code, not a model of it.
//!
//! # Invariants
//!
//! - Indices are contiguous, across segments too: no hole, ever.
//! - Durable means fsynced: [`LogStorage::durable_index`] rises only after
//!   the fsync returned. [`LogStorage::sync`] is group commit: one fsync for
//!   every record appended since the last one.
//! - A segment is fsynced whole before the next one is created, and every
//!   creation, rename or removal of a file is followed by an fsync of the
//!   directory before anything relies on it (one fsync per removed
//!   segment: a directory's changes may reach the disk in any order). So
//!   only the last segment can end in a torn write, and segments leave
//!   oldest first.
//! - Opening makes durable what it found: the last segment and the
//!   directory of the log, the directory of the snapshots, and the name of
//!   every directory level (created top-down, each parent fsynced), since
//!   the process before may have died between a write and its fsync.
//! - A torn write at the end of the last segment is cut on open and
//!   reported; damage anywhere else makes open fail with an error naming
//!   the file and byte offset. The rule that tells the two apart follows.
//! - Every record's size is checked against `record_bytes_max` and its
//!   checksum verified when written and again whenever it is read.
//! - After a failed write or fsync the log refuses all further writes
//!   ([`WalError::Poisoned`]): the page cache may have dropped the failed
//!   pages, so only a restart and recovery from disk tells what survived.
//!   Known limit: after a failed fsync Linux keeps the failed pages
//!   readable but never writes them, so only a reboot (not a process
//!   restart alone) makes recovery see the disk; a restarted process may
//!   recover, and report durable, records of the failed call that a later
//!   power loss takes back. Those records were never acknowledged.
//!
//! # The torn-tail rule
//!
//! The first damaged record R (offset `o`, expected index `e`) of a segment
//! is a torn tail, and is cut, only if (1) it is in the last segment, (2) it
//! failed as an unfinished write can (truncated header or payload, length
//! over the limit, checksum mismatch; not a checksum-valid record with the
//! wrong index), and (3) no valid record, with an index in the range the
//! records after R could carry, starts at any byte offset after `o` in that
//! segment. A sync makes everything written before it durable, so an
//! unfinished R means nothing from R on was ever reported durable; a durable
//! R that rotted is followed by the valid records written after it, which
//! (3) finds. Known blind spots (out-of-order writeback of an unsynced
//! batch looks like corruption; a rotted last record looks torn) are
//! discussed in the `scan` module source.
//!
//! # What it never does
//!
//! - It never reports a record durable before its fsync returned, and never
//!   silently skips a damaged record that valid data follows.
//! - It never interprets payloads, and never depends on other synod crates.
//! - It does no async I/O and spawns no thread; the runtime calls it from
//!   its disk task. One process owns a data directory (no file locking yet).
//! - It never touches a file except through its [`Fs`]; the seam adds one
//!   virtual call per operation and never copies record bytes.
//! - It never decides *when* to truncate: the caller truncates the log only
//!   after the snapshot covering it was saved (which is durable on return).

#[doc(hidden)]
pub mod bugs;
mod error;
mod file_wal;
pub mod fs;
mod fsutil;
mod mem_log;
pub mod record;
mod rng;
mod scan;
pub mod sim_fs;
mod snapshot;
mod storage;

#[doc(hidden)]
pub mod conformance;
#[doc(hidden)]
pub mod test_disk;

pub use error::{CorruptReason, SnapshotError, WalError, RESTORE_ADVICE};
pub use file_wal::{FileWal, WalOptions};
pub use fs::{Fs, OpenMode, ReadFile, RealFs, WriteFile};
pub use mem_log::{MemDisk, MemLog};
pub use rng::SplitMix64;
pub use sim_fs::{CrashPlan, CrashReport, FsOp, SimFs, SimFsStats};
pub use snapshot::{Snapshot, SnapshotOptions, SnapshotStore, Streamed};
pub use storage::{LogStorage, Records, Recovery, TornTail};
