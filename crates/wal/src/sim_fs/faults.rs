//! What the simulated disk refuses: injected errors, a halt after a number
//! of operations, a capacity; and the Linux errors it answers with.

use std::io;

/// The operations of a [`super::SimFs`] a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FsOp {
    /// [`crate::Fs::create_dir`].
    CreateDir,
    /// [`crate::Fs::sync_dir`].
    SyncDir,
    /// [`crate::Fs::list_dir`].
    List,
    /// [`crate::Fs::read`], [`crate::Fs::len`] and reads through a handle.
    Read,
    /// Opening an existing file ([`crate::Fs::open_read`],
    /// [`crate::OpenMode::Existing`]).
    Open,
    /// Opening with [`crate::OpenMode::CreateNew`] or
    /// [`crate::OpenMode::CreateTruncate`].
    Create,
    /// A write through a handle.
    Write,
    /// [`crate::WriteFile::set_len`].
    SetLen,
    /// [`crate::WriteFile::sync_data`] and [`crate::WriteFile::sync_all`].
    SyncFile,
    /// [`crate::Fs::rename`].
    Rename,
    /// [`crate::Fs::remove_file`].
    Remove,
}

/// One planned failure: the call of `op` after `skip` more successful ones.
#[derive(Debug, Clone)]
struct Planned {
    op: FsOp,
    skip: u64,
    /// For a write: bytes that land before the error.
    landed_bytes: Option<usize>,
}

/// Why an operation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The disk is halted: the operation has no effect at all.
    Halted,
    /// An injected error; for a write, `landed_bytes` of it land first.
    Injected { landed_bytes: Option<usize> },
}

/// The fault plan of one simulated disk.
#[derive(Debug, Default)]
pub(super) struct Faults {
    planned: Vec<Planned>,
    /// Operations left before the disk halts; `Some(0)` is halted.
    halt_after_ops: Option<u64>,
    /// Bytes the files may hold in all; a write past it fails with ENOSPC.
    pub capacity_bytes: Option<u64>,
    /// Syncs return Ok without making anything durable.
    pub fsync_lies: bool,
}

impl Faults {
    pub fn plan(&mut self, op: FsOp, skip: u64, landed_bytes: Option<usize>) {
        self.planned.push(Planned {
            op,
            skip,
            landed_bytes,
        });
    }

    pub fn halt_after(&mut self, ops: u64) {
        self.halt_after_ops = Some(ops);
    }

    pub fn is_halted(&self) -> bool {
        self.halt_after_ops == Some(0)
    }

    pub fn resume(&mut self) {
        self.halt_after_ops = None;
    }

    /// Forgets the planned errors and the halt; keeps capacity and lying syncs.
    pub fn clear(&mut self) {
        self.planned.clear();
        self.halt_after_ops = None;
    }

    /// Decides whether one call of `op` goes through. Every call counts
    /// towards the halt; the first planned failure of `op` whose turn came
    /// fires (and is forgotten), the others of `op` count down.
    pub fn check(&mut self, op: FsOp) -> Result<(), Refusal> {
        match &mut self.halt_after_ops {
            Some(0) => return Err(Refusal::Halted),
            Some(left) => *left -= 1,
            None => {}
        }
        let mut fired = None;
        for (i, planned) in self.planned.iter_mut().enumerate() {
            if planned.op != op {
                continue;
            }
            if planned.skip == 0 && fired.is_none() {
                fired = Some(i);
            } else {
                planned.skip = planned.skip.saturating_sub(1);
            }
        }
        match fired {
            Some(i) => Err(Refusal::Injected {
                landed_bytes: self.planned.remove(i).landed_bytes,
            }),
            None => Ok(()),
        }
    }
}

/// Linux errno values, so `io::Error` prints the usual messages
/// ("Input/output error", "No space left on device", ...).
const ENOENT: i32 = 2;
const EIO: i32 = 5;
const EEXIST: i32 = 17;
const EXDEV: i32 = 18;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const EFBIG: i32 = 27;
const ENOSPC: i32 = 28;

pub(super) fn eio() -> io::Error {
    io::Error::from_raw_os_error(EIO)
}

pub(super) fn enospc() -> io::Error {
    io::Error::from_raw_os_error(ENOSPC)
}

pub(super) fn not_found() -> io::Error {
    io::Error::from_raw_os_error(ENOENT)
}

pub(super) fn exists() -> io::Error {
    io::Error::from_raw_os_error(EEXIST)
}

pub(super) fn cross_dir() -> io::Error {
    io::Error::from_raw_os_error(EXDEV)
}

pub(super) fn not_dir() -> io::Error {
    io::Error::from_raw_os_error(ENOTDIR)
}

pub(super) fn is_dir() -> io::Error {
    io::Error::from_raw_os_error(EISDIR)
}

pub(super) fn too_big() -> io::Error {
    io::Error::from_raw_os_error(EFBIG)
}

pub(super) fn invalid() -> io::Error {
    io::Error::from_raw_os_error(EINVAL)
}

/// The error of a handle used after the disk lost power: the process that
/// opened it is gone.
pub(super) fn stale_handle() -> io::Error {
    io::Error::other("simulated disk: handle opened before a crash")
}
