//! [`SimFs`]: a deterministic in-memory disk for tests and the simulator,
//! under the real log, snapshot store and node storage (see [`crate::fs`]).
//!
//! A `SimFs` is a cheap handle (clones share one disk), so a simulator
//! keeps the "device" while a node's storage is dropped (the process
//! dies), [`SimFs::crash`]es it (the machine loses power) and reopens the
//! storage on it. A crash takes the whole device: give each node its own.
//!
//! ```
//! use synod_wal::{CrashPlan, FileWal, LogStorage, SimFs, WalOptions};
//!
//! let disk = SimFs::new();
//! let (mut wal, _) = FileWal::open_with_fs(disk.shared(), "/node1/wal", WalOptions::default())?;
//! wal.append(b"durable")?;
//! wal.sync()?;
//! wal.append(b"not yet")?;
//! drop(wal); // the process dies...
//! disk.crash(CrashPlan::Random { seed: 7 }); // ...and the machine loses power
//! let (wal, recovery) = FileWal::open_with_fs(disk.shared(), "/node1/wal", WalOptions::default())?;
//! assert!(wal.last_index() >= 1, "the synced record survives: {recovery:?}");
//! # Ok::<(), synod_wal::WalError>(())
//! ```
//!
//! # The crash model (Linux and ext4, as the log's docs assume)
//!
//! - Each file has durable bytes and the writes made since its last sync,
//!   in order. `sync_data`/`sync_all` make the writes so far durable.
//!   Reads always see every write (the page cache).
//! - Each directory has durable names and the creations, renames and
//!   removals made since its last [`crate::Fs::sync_dir`]. A file's sync
//!   does not make its name durable.
//! - A crash ([`CrashPlan::Random`]) keeps, per file, any prefix of its
//!   unsynced writes; half of the time the last kept write is torn: fewer
//!   bytes than written survive, a prefix of them as written and the rest
//!   zeros or garbage. Per directory, each unsynced creation, rename or
//!   removal is kept or lost on its own (a rename whole: old or new).
//!   Everything then reads as the disk holds it, and handles opened
//!   before the crash fail (their process is gone).
//! - A failed sync (an injected error) drops the file's unsynced writes as
//!   Linux drops the pages of a failed writeback: reads still see them, no
//!   later sync makes them durable, a crash loses them.
//!
//! # Faults, each switched on by the caller
//!
//! - [`SimFs::fail_next`] / [`SimFs::fail_after`]: one call of an
//!   operation fails with EIO ("Input/output error"), without effect.
//!   [`SimFs::fail_next_write_partly`]: a write lands in part, then fails.
//! - [`SimFs::set_capacity_bytes`]: a write or `set_len` that would take
//!   the visible files past the capacity fails with ENOSPC ("No space
//!   left on device") and changes nothing. Any file above
//!   [`FILE_BYTES_MAX`] fails with EFBIG.
//! - [`SimFs::halt_after`]: after that many more operations every one
//!   fails with EIO and has no effect, as if the process (or the machine)
//!   stopped there, mid-call. Follow with [`SimFs::crash`] (power loss) or
//!   [`SimFs::resume`] (only the process died: the page cache survives).
//! - [`SimFs::set_fsync_lies`]: syncs return Ok and make nothing durable,
//!   a disk whose write cache acknowledges flushes; for proving that crash
//!   tests notice lost acknowledged writes.
//!
//! Determinism: no clock, no global randomness; the only choices are a
//! crash's, from its seed, over directories and files in creation order.
//!
//! # What it does not model
//!
//! - Out-of-order writeback of one file's unsynced writes (a later write
//!   durable while an earlier one is not): crashes keep a prefix. The
//!   log's torn-tail rule treats that case as corruption (see `scan`).
//! - Bit rot, misdirected writes and lost acknowledged writes other than
//!   through [`SimFs::set_fsync_lies`]; damage is injected by writing
//!   through the [`crate::Fs`] interface instead.
//! - Ordering between directories, or between a file's data and its name
//!   (each survives or not on its own), and sector-sized tearing (tears
//!   fall on any byte, which is harsher).
//! - Permissions, symbolic and hard links, `..` in paths, renames across
//!   directories (EXDEV), removing directories, and space held by removed
//!   files that are still open. Errors carry Linux errno values.

mod crash;
mod disk;
mod faults;
mod handle;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::fs::{Fs, OpenMode, ReadFile, WriteFile};
pub use crash::{CrashPlan, CrashReport};
pub use disk::FILE_BYTES_MAX;
use disk::{Disk, Entry};
pub use faults::FsOp;
use handle::{lock, Handle, SimReader, SimWriter};

/// Counts of what a [`SimFs`] did, for a simulator's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimFsStats {
    /// Writes that landed (in the page cache).
    pub writes: u64,
    /// Bytes those writes carried.
    pub bytes_written: u64,
    /// File syncs (`sync_data`, `sync_all`) that returned Ok.
    pub file_syncs: u64,
    /// Directory syncs that returned Ok.
    pub dir_syncs: u64,
    /// Crashes.
    pub crashes: u64,
    /// Unsynced writes lost by crashes and failed syncs.
    pub writes_lost: u64,
    /// Writes a crash kept in part.
    pub torn_writes: u64,
    /// Unsynced creations, renames and removals lost by crashes.
    pub dir_ops_lost: u64,
    /// Operations failed by [`SimFs::fail_next`] and its kin.
    pub injected_errors: u64,
    /// Writes refused for want of space.
    pub enospc_errors: u64,
    /// Operations refused while halted.
    pub halted_ops: u64,
}

/// A deterministic in-memory disk; clones share it. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    disk: Arc<Mutex<Disk>>,
}

impl SimFs {
    /// An empty disk holding only the root directory.
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// This disk as the `Arc<dyn Fs>` the `*_with_fs` constructors take.
    pub fn shared(&self) -> Arc<dyn Fs> {
        Arc::new(self.clone())
    }

    /// Loses power: every file and directory keeps what `plan` lets
    /// survive of its unsynced changes, handles opened before go stale,
    /// and a halt ends. Planned faults and the capacity stay.
    pub fn crash(&self, plan: CrashPlan) -> CrashReport {
        crash::crash(&mut self.lock(), plan)
    }

    /// The next call of `op` fails with EIO.
    pub fn fail_next(&self, op: FsOp) {
        self.fail_after(op, 0);
    }

    /// The call of `op` after `successes` more successful ones fails with
    /// EIO. A failed sync drops the file's unsynced writes (module docs).
    pub fn fail_after(&self, op: FsOp, successes: u64) {
        self.lock().faults.plan(op, successes, None);
    }

    /// The next write lands its first `landed_bytes` bytes (unsynced),
    /// then fails with EIO.
    pub fn fail_next_write_partly(&self, landed_bytes: usize) {
        self.lock().faults.plan(FsOp::Write, 0, Some(landed_bytes));
    }

    /// After `ops` more operations, every operation fails with EIO and has
    /// no effect, until [`SimFs::resume`] or [`SimFs::crash`].
    pub fn halt_after(&self, ops: u64) {
        self.lock().faults.halt_after(ops);
    }

    /// Ends a halt without a crash: only the process died.
    pub fn resume(&self) {
        self.lock().faults.resume();
    }

    /// Forgets planned failures and any halt.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Bytes the visible files may hold in all (`None`: unbounded). A
    /// write past it fails with ENOSPC and changes nothing. Lowering it
    /// below what is used only refuses growth.
    pub fn set_capacity_bytes(&self, capacity_bytes: Option<u64>) {
        self.lock().faults.capacity_bytes = capacity_bytes;
    }

    /// Makes syncs return Ok without making anything durable.
    pub fn set_fsync_lies(&self, lies: bool) {
        self.lock().faults.fsync_lies = lies;
    }

    /// Bytes held by the files the process can see.
    pub fn used_bytes(&self) -> u64 {
        self.lock().used_bytes()
    }

    /// What this disk did so far.
    pub fn stats(&self) -> SimFsStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Disk> {
        lock(&self.disk)
    }
}

impl Fs for SimFs {
    fn is_dir(&self, path: &Path) -> bool {
        // Like `Path::is_dir`, false when the answer cannot be had (halted);
        // not counted towards a halt.
        let disk = self.lock();
        !disk.faults.is_halted() && matches!(disk.lookup(path), Ok(Some(Entry::Dir(_))))
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::CreateDir)?;
        disk.create_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::SyncDir)?;
        let id = disk.dir_id(dir)?;
        disk.sync_dir(id);
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::List)?;
        let id = disk.dir_id(dir)?;
        Ok(disk.list_dir(id))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::Read)?;
        let id = disk.file_id(path)?;
        Ok(disk.inode(id)?.data.clone())
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::Read)?;
        let id = disk.file_id(path)?;
        Ok(disk.inode(id)?.data.len() as u64)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::Open)?;
        let id = disk.file_id(path)?;
        let handle = Handle::new(&self.disk, &mut disk, id);
        Ok(Box::new(SimReader { handle }))
    }

    fn open_write(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn WriteFile>> {
        let mut disk = self.lock();
        let op = match mode {
            OpenMode::Existing => FsOp::Open,
            OpenMode::CreateNew | OpenMode::CreateTruncate => FsOp::Create,
        };
        disk.admit_or_eio(op)?;
        let id = disk.open_write(path, mode)?;
        let handle = Handle::new(&self.disk, &mut disk, id);
        Ok(Box::new(SimWriter {
            handle,
            position: 0,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::Rename)?;
        disk.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.admit_or_eio(FsOp::Remove)?;
        disk.remove_file(path)
    }
}
