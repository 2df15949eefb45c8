//! The file-system seam: every file operation of the log, the snapshot store
//! and synod-storage's `NodeStorage` goes through an [`Fs`].
//!
//! [`RealFs`] is `std::fs`, making exactly the system calls the code made
//! before the seam existed; production uses it. [`crate::SimFs`] is an
//! in-memory disk for tests and the deterministic simulator: it loses what
//! was not synced when it "loses power", tears writes, and fails any
//! operation on demand, so the recovery rules are checked on the code that
//! runs in production.
//!
//! # The contract the callers rely on (Linux semantics)
//!
//! - A write that returned is seen by every later read, through any handle
//!   or path, but is **durable** only once `sync_data` or `sync_all` of that
//!   file returned Ok. After a power loss a file holds its durable bytes and
//!   possibly some of the writes made after its last sync.
//! - Creating, renaming or removing a name is durable only once
//!   [`Fs::sync_dir`] of the directory holding the name returned Ok. A
//!   file's own sync does not cover its name.
//! - [`Fs::rename`] within one directory replaces the target atomically:
//!   after a crash the target names the old file or the new one, whole.
//! - A failed write or sync leaves the file's state unknown (Linux may drop
//!   the dirty pages of a failed writeback), so callers stop writing.
//!
//! # Errors and cost
//!
//! Errors stay [`std::io::Error`] at the seam; the log, the snapshot store and
//! the node storage wrap each one with the operation and the path, so their
//! typed errors keep naming both. An operation is one virtual call on a
//! trait object; record bytes are passed by reference, never copied by the
//! seam.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How [`Fs::open_write`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist; its bytes are kept and writing starts at 0.
    Existing,
    /// The file must not exist; it is created empty.
    CreateNew,
    /// Created if missing, emptied if present.
    CreateTruncate,
}

/// The file operations of one node's storage. Paths are used as given:
/// the callers build them from the data directory they were opened on.
pub trait Fs: fmt::Debug + Send + Sync {
    /// Whether `path` names a directory (false on any error, like
    /// [`Path::is_dir`]).
    fn is_dir(&self, path: &Path) -> bool;

    /// Creates one directory; its parent must exist. The new name is
    /// durable only after [`Fs::sync_dir`] of the parent.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;

    /// Makes every creation, rename and removal of a name in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// The names in `dir`, in no particular order. Names that are not valid
    /// UTF-8 are left out: none of ours is.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The length of a file in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;

    /// Opens a file for reading at offsets.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>>;

    /// Opens a file for writing, positioned at offset 0.
    fn open_write(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn WriteFile>>;

    /// Renames `from` to `to` in the same directory, replacing `to`
    /// atomically. Durable only after [`Fs::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file's name. Durable only after [`Fs::sync_dir`].
    fn remove_file(&self, path: &Path) -> io::Result<()>;
}

/// A file open for writing. `write_all` writes at the current position and
/// advances it; the bytes are durable only after a sync returned Ok.
pub trait WriteFile: Write + fmt::Debug + Send {
    /// Moves the position writes start at.
    fn seek_to(&mut self, offset: u64) -> io::Result<()>;

    /// Cuts (or zero-extends) the file to `len` bytes. Durable only after a
    /// sync, like a write.
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// Makes the file's bytes durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;

    /// Makes the file's bytes and metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// A file open for reading.
pub trait ReadFile: fmt::Debug + Send {
    /// Fills `buf` from byte `offset`; [`io::ErrorKind::UnexpectedEof`] if
    /// the file ends first.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A failed file-system call with what was being done and to which path,
/// for the callers' typed errors.
#[derive(Debug)]
pub struct FsFailure {
    /// What was being done ("create directory", "fsync directory").
    pub op: &'static str,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

/// The directory an entry of `path` lives in: `.` for a bare relative
/// name, `None` for a root.
pub fn parent_dir(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// Creates `dir` and any missing ancestors, one level at a time,
/// fsyncing each new directory's parent right after creating it, so every
/// level is durable before anything is written below it. The parent of
/// the deepest level that already existed (`dir` itself, if it exists) is
/// fsynced first: a previous process may have died between creating that
/// level and the fsync of its parent. Since every process creates levels
/// top-down and fsyncs each parent at once, only that one level can be
/// left without a durable name.
pub fn ensure_dir(fs: &dyn Fs, dir: &Path) -> Result<(), FsFailure> {
    let mut missing = Vec::new();
    let mut existing = dir;
    while !fs.is_dir(existing) {
        missing.push(existing);
        match parent_dir(existing) {
            Some(parent) if parent != existing => existing = parent,
            _ => break,
        }
    }
    let fail = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| FsFailure { op, path, source }
    };
    if let Some(parent) = parent_dir(existing) {
        fs.sync_dir(parent)
            .map_err(fail("fsync directory", parent))?;
    }
    for level in missing.iter().rev() {
        fs.create_dir(level)
            .map_err(fail("create directory", level))?;
        if let Some(parent) = parent_dir(level) {
            fs.sync_dir(parent)
                .map_err(fail("fsync directory", parent))?;
        }
    }
    Ok(())
}

/// The real file system: `std::fs`, one system call per operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl RealFs {
    /// A shared handle, for the `*_with_fs` constructors.
    pub fn shared() -> Arc<dyn Fs> {
        Arc::new(RealFs)
    }
}

impl Fs for RealFs {
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Linux a file's own fsync does not cover its name; the
        // directory's does.
        File::open(dir)?.sync_all()
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(File::open(path)?.metadata()?.len())
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(RealFile(File::open(path)?)))
    }

    fn open_write(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn WriteFile>> {
        let mut options = OpenOptions::new();
        options.write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateNew => {
                options.create_new(true);
            }
            OpenMode::CreateTruncate => {
                options.create(true).truncate(true);
            }
        }
        Ok(Box::new(RealFile(options.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// A `std::fs::File` behind the seam.
#[derive(Debug)]
struct RealFile(File);

impl Write for RealFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl WriteFile for RealFile {
    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset)).map(|_| ())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl ReadFile for RealFile {
    #[cfg(unix)]
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
    }

    #[cfg(not(unix))]
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::io::Read;
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read_exact(buf)
    }
}
