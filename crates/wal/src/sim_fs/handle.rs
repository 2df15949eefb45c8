//! Open files of the simulated disk.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use super::disk::{Disk, Id};
use super::faults::{self, FsOp, Refusal};
use crate::fs::{ReadFile, WriteFile};

/// Locks the disk; a panic elsewhere while it was held does not make the
/// disk unusable (its state is changed only in whole steps).
pub(super) fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One open file: the file it refers to (even once unlinked), and the
/// power-on generation it was opened in.
#[derive(Debug)]
pub(super) struct Handle {
    disk: Arc<Mutex<Disk>>,
    id: Id,
    generation: u64,
}

impl Handle {
    /// A handle on file `id`; the caller holds the lock (`disk`).
    pub fn new(shared: &Arc<Mutex<Disk>>, disk: &mut Disk, id: Id) -> Handle {
        if let Some(inode) = disk.files.get_mut(&id) {
            inode.handles += 1;
        }
        Handle {
            disk: Arc::clone(shared),
            id,
            generation: disk.generation,
        }
    }

    /// Locks the disk for an operation through this handle, refusing a
    /// handle from before a crash.
    fn locked(&self) -> io::Result<MutexGuard<'_, Disk>> {
        let disk = lock(&self.disk);
        if disk.generation != self.generation {
            return Err(faults::stale_handle());
        }
        Ok(disk)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut disk = lock(&self.disk);
        if disk.generation == self.generation {
            if let Some(inode) = disk.files.get_mut(&self.id) {
                inode.handles = inode.handles.saturating_sub(1);
            }
        }
    }
}

/// A file open for writing.
#[derive(Debug)]
pub(super) struct SimWriter {
    pub handle: Handle,
    pub position: u64,
}

impl Write for SimWriter {
    /// Writes all of `buf` or fails: the simulated disk never returns a
    /// short write (a write that lands in part is an injected error).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut disk = self.handle.locked()?;
        let id = self.handle.id;
        match disk.admit(FsOp::Write) {
            Ok(()) => {}
            Err(Refusal::Halted) => return Err(faults::eio()),
            Err(Refusal::Injected { landed_bytes }) => {
                let landed = landed_bytes.unwrap_or(0).min(buf.len());
                if landed > 0 {
                    disk.write(id, self.position, &buf[..landed])?;
                }
                return Err(faults::eio());
            }
        }
        disk.write(id, self.position, buf)?;
        self.position += buf.len() as u64;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write(buf).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteFile for SimWriter {
    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        drop(self.handle.locked()?);
        self.position = offset;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut disk = self.handle.locked()?;
        disk.admit_or_eio(FsOp::SetLen)?;
        disk.set_len(self.handle.id, len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut disk = self.handle.locked()?;
        match disk.admit(FsOp::SyncFile) {
            Ok(()) => disk.sync_file(self.handle.id),
            Err(Refusal::Halted) => Err(faults::eio()),
            Err(Refusal::Injected { .. }) => {
                disk.fail_sync(self.handle.id)?;
                Err(faults::eio())
            }
        }
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// A file open for reading.
#[derive(Debug)]
pub(super) struct SimReader {
    pub handle: Handle,
}

impl ReadFile for SimReader {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut disk = self.handle.locked()?;
        disk.admit_or_eio(FsOp::Read)?;
        let data = &disk.inode(self.handle.id)?.data;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(buf.len());
        let Some(bytes) = data.get(start..end) else {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        };
        buf.copy_from_slice(bytes);
        Ok(())
    }
}
