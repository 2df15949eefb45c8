//! The simulated disk's state: a tree of directories and files, each with
//! what the process sees, what is durable, and the changes in between.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path};

use super::faults::{self, Faults, FsOp, Refusal};
use super::SimFsStats;
use crate::OpenMode;

/// A directory or file number; ids are handed out in order, so iteration
/// over them (and so a crash) is deterministic.
pub(super) type Id = u64;

/// The root directory: always present, always durable.
pub(super) const ROOT: Id = 0;

/// The largest file the simulated disk holds (it keeps files in memory);
/// a write or `set_len` beyond fails with EFBIG ("File too large").
pub const FILE_BYTES_MAX: u64 = 4 << 30;

/// What a name in a directory refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    File(Id),
    Dir(Id),
}

/// One change to a directory not yet made durable by a directory sync.
#[derive(Debug, Clone)]
pub(super) enum DirOp {
    Link {
        name: String,
        entry: Entry,
    },
    Unlink {
        name: String,
    },
    Rename {
        from: String,
        to: String,
        entry: Entry,
    },
}

impl DirOp {
    pub fn apply(&self, entries: &mut BTreeMap<String, Entry>) {
        match self {
            DirOp::Link { name, entry } => {
                entries.insert(name.clone(), *entry);
            }
            DirOp::Unlink { name } => {
                entries.remove(name);
            }
            DirOp::Rename { from, to, entry } => {
                entries.remove(from);
                entries.insert(to.clone(), *entry);
            }
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Dir {
    /// The names as the process sees them.
    pub entries: BTreeMap<String, Entry>,
    /// The names as of the last directory sync.
    pub durable: BTreeMap<String, Entry>,
    /// The changes since then, in order.
    pub pending: Vec<DirOp>,
}

/// One change to a file's bytes not yet made durable by a sync.
#[derive(Debug, Clone)]
pub(super) enum FileOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

impl FileOp {
    pub fn apply(&self, data: &mut Vec<u8>) {
        match self {
            FileOp::Write { offset, bytes } => write_at(data, *offset, bytes),
            FileOp::SetLen(len) => data.resize(*len as usize, 0),
        }
    }
}

/// `pwrite`: a write past the end fills the gap with zeros.
pub(super) fn write_at(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    let end = start + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[start..end].copy_from_slice(bytes);
}

#[derive(Debug, Default)]
pub(super) struct Inode {
    /// The bytes as the process sees them (the page cache).
    pub data: Vec<u8>,
    /// The bytes as of the last successful sync.
    pub durable: Vec<u8>,
    /// The writes since then, in order. A failed sync forgets them: they
    /// stay visible in `data` but can no longer become durable.
    pub pending: Vec<FileOp>,
    /// Open handles, which keep an unlinked file alive.
    pub handles: u32,
}

#[derive(Debug)]
pub(super) struct Disk {
    pub dirs: BTreeMap<Id, Dir>,
    pub files: BTreeMap<Id, Inode>,
    next_id: Id,
    /// Raised by every crash; handles from an older generation are stale.
    pub generation: u64,
    pub faults: Faults,
    pub stats: SimFsStats,
}

impl Default for Disk {
    fn default() -> Self {
        Disk {
            dirs: BTreeMap::from([(ROOT, Dir::default())]),
            files: BTreeMap::new(),
            next_id: ROOT + 1,
            generation: 0,
            faults: Faults::default(),
            stats: SimFsStats::default(),
        }
    }
}

/// The names along `path`. `/`, `.` and a leading prefix are skipped, so
/// relative paths start at the root too; `..` is refused.
fn components(path: &Path) -> io::Result<Vec<&str>> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(faults::invalid()),
            Component::Normal(name) => names.push(name.to_str().ok_or_else(faults::invalid)?),
        }
    }
    Ok(names)
}

impl Disk {
    /// Lets one call of `op` through the fault plan, or turns it into the
    /// error the caller sees. A halted call has no effect at all.
    pub fn admit(&mut self, op: FsOp) -> Result<(), Refusal> {
        let result = self.faults.check(op);
        match result {
            Err(Refusal::Halted) => self.stats.halted_ops += 1,
            Err(Refusal::Injected { .. }) => self.stats.injected_errors += 1,
            Ok(()) => {}
        }
        result
    }

    /// Like [`Disk::admit`] for operations that have nothing to do on an
    /// injected failure but fail.
    pub fn admit_or_eio(&mut self, op: FsOp) -> io::Result<()> {
        self.admit(op).map_err(|_| faults::eio())
    }

    fn dir(&self, id: Id) -> &Dir {
        self.dirs
            .get(&id)
            .expect("entries name existing directories")
    }

    fn dir_mut(&mut self, id: Id) -> &mut Dir {
        self.dirs
            .get_mut(&id)
            .expect("entries name existing directories")
    }

    /// What `path` names, if anything; an ancestor that is missing or not a
    /// directory is an error.
    pub fn lookup(&self, path: &Path) -> io::Result<Option<Entry>> {
        let names = components(path)?;
        let Some((last, ancestors)) = names.split_last() else {
            return Ok(Some(Entry::Dir(ROOT)));
        };
        let parent = self.walk(ancestors)?;
        Ok(self.dir(parent).entries.get(*last).copied())
    }

    fn walk(&self, names: &[&str]) -> io::Result<Id> {
        let mut at = ROOT;
        for name in names {
            match self.dir(at).entries.get(*name) {
                Some(Entry::Dir(id)) => at = *id,
                Some(Entry::File(_)) => return Err(faults::not_dir()),
                None => return Err(faults::not_found()),
            }
        }
        Ok(at)
    }

    /// The directory that would hold `path`, and its name there.
    fn parent_and_name(&self, path: &Path) -> io::Result<(Id, String)> {
        let names = components(path)?;
        let Some((last, ancestors)) = names.split_last() else {
            return Err(faults::exists());
        };
        Ok((self.walk(ancestors)?, (*last).to_string()))
    }

    pub fn file_id(&self, path: &Path) -> io::Result<Id> {
        match self.lookup(path)? {
            Some(Entry::File(id)) => Ok(id),
            Some(Entry::Dir(_)) => Err(faults::is_dir()),
            None => Err(faults::not_found()),
        }
    }

    pub fn dir_id(&self, path: &Path) -> io::Result<Id> {
        match self.lookup(path)? {
            Some(Entry::Dir(id)) => Ok(id),
            Some(Entry::File(_)) => Err(faults::not_dir()),
            None => Err(faults::not_found()),
        }
    }

    fn new_id(&mut self) -> Id {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn change_dir(&mut self, dir: Id, op: DirOp) {
        let dir = self.dir_mut(dir);
        op.apply(&mut dir.entries);
        dir.pending.push(op);
    }

    pub fn create_dir(&mut self, path: &Path) -> io::Result<()> {
        let (parent, name) = self.parent_and_name(path)?;
        if self.dir(parent).entries.contains_key(&name) {
            return Err(faults::exists());
        }
        let id = self.new_id();
        self.dirs.insert(id, Dir::default());
        let entry = Entry::Dir(id);
        self.change_dir(parent, DirOp::Link { name, entry });
        Ok(())
    }

    pub fn sync_dir(&mut self, id: Id) {
        self.stats.dir_syncs += 1;
        if self.faults.fsync_lies {
            return;
        }
        let dir = self.dir_mut(id);
        dir.durable = dir.entries.clone();
        dir.pending.clear();
        self.collect_garbage();
    }

    pub fn list_dir(&self, id: Id) -> Vec<String> {
        self.dir(id).entries.keys().cloned().collect()
    }

    /// Opens (maybe creating) a file for writing; returns its id.
    pub fn open_write(&mut self, path: &Path, mode: OpenMode) -> io::Result<Id> {
        let existing = self.lookup(path)?;
        match (mode, existing) {
            (_, Some(Entry::Dir(_))) => Err(faults::is_dir()),
            (OpenMode::Existing, None) => Err(faults::not_found()),
            (OpenMode::Existing, Some(Entry::File(id))) => Ok(id),
            (OpenMode::CreateNew, Some(Entry::File(_))) => Err(faults::exists()),
            (OpenMode::CreateTruncate, Some(Entry::File(id))) => {
                self.set_len(id, 0)?;
                Ok(id)
            }
            (OpenMode::CreateNew | OpenMode::CreateTruncate, None) => {
                let (parent, name) = self.parent_and_name(path)?;
                let id = self.new_id();
                self.files.insert(id, Inode::default());
                let entry = Entry::File(id);
                self.change_dir(parent, DirOp::Link { name, entry });
                Ok(id)
            }
        }
    }

    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (from_dir, from_name) = self.parent_and_name(from)?;
        let (to_dir, to_name) = self.parent_and_name(to)?;
        if from_dir != to_dir {
            return Err(faults::cross_dir());
        }
        let entry = match self.dir(from_dir).entries.get(&from_name) {
            Some(entry @ Entry::File(_)) => *entry,
            Some(Entry::Dir(_)) => return Err(faults::is_dir()),
            None => return Err(faults::not_found()),
        };
        if let Some(Entry::Dir(_)) = self.dir(to_dir).entries.get(&to_name) {
            return Err(faults::is_dir());
        }
        if from_name != to_name {
            let (from, to) = (from_name, to_name);
            self.change_dir(from_dir, DirOp::Rename { from, to, entry });
        }
        Ok(())
    }

    pub fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        let (parent, name) = self.parent_and_name(path)?;
        match self.dir(parent).entries.get(&name) {
            Some(Entry::File(_)) => {
                self.change_dir(parent, DirOp::Unlink { name });
                Ok(())
            }
            Some(Entry::Dir(_)) => Err(faults::is_dir()),
            None => Err(faults::not_found()),
        }
    }

    pub fn inode(&self, id: Id) -> io::Result<&Inode> {
        self.files.get(&id).ok_or_else(faults::stale_handle)
    }

    fn inode_mut(&mut self, id: Id) -> io::Result<&mut Inode> {
        self.files.get_mut(&id).ok_or_else(faults::stale_handle)
    }

    /// Refuses a file above [`FILE_BYTES_MAX`] (EFBIG) and growth past the
    /// capacity (ENOSPC, counted).
    fn reserve(&mut self, id: Id, new_len: u64) -> io::Result<()> {
        if new_len > FILE_BYTES_MAX {
            return Err(faults::too_big());
        }
        let Some(capacity) = self.faults.capacity_bytes else {
            return Ok(());
        };
        let growth = new_len.saturating_sub(self.inode(id)?.data.len() as u64);
        if growth > 0 && self.used_bytes() + growth > capacity {
            self.stats.enospc_errors += 1;
            return Err(faults::enospc());
        }
        Ok(())
    }

    /// Writes `bytes` at `offset` into the page cache, as an unsynced write.
    pub fn write(&mut self, id: Id, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.reserve(id, offset + bytes.len() as u64)?;
        let inode = self.inode_mut(id)?;
        write_at(&mut inode.data, offset, bytes);
        let op = FileOp::Write {
            offset,
            bytes: bytes.to_vec(),
        };
        inode.pending.push(op);
        self.stats.writes += 1;
        self.stats.bytes_written += bytes.len() as u64;
        Ok(())
    }

    pub fn set_len(&mut self, id: Id, len: u64) -> io::Result<()> {
        self.reserve(id, len)?;
        let inode = self.inode_mut(id)?;
        inode.data.resize(len as usize, 0);
        inode.pending.push(FileOp::SetLen(len));
        Ok(())
    }

    /// A sync: the file's writes so far become durable (unless syncs lie).
    pub fn sync_file(&mut self, id: Id) -> io::Result<()> {
        self.stats.file_syncs += 1;
        if self.faults.fsync_lies {
            return Ok(());
        }
        let inode = self.inode_mut(id)?;
        for op in inode.pending.drain(..) {
            op.apply(&mut inode.durable);
        }
        Ok(())
    }

    /// A failed sync: like Linux after a writeback error, the dirty pages
    /// are dropped from the device's view; reads still see them.
    pub fn fail_sync(&mut self, id: Id) -> io::Result<()> {
        let inode = self.inode_mut(id)?;
        let dropped = inode.pending.len() as u64;
        inode.pending.clear();
        self.stats.writes_lost += dropped;
        Ok(())
    }

    /// Bytes of the files the process can see.
    pub fn used_bytes(&self) -> u64 {
        let mut used = 0;
        let mut stack = vec![ROOT];
        while let Some(dir) = stack.pop() {
            for entry in self.dir(dir).entries.values() {
                match entry {
                    Entry::Dir(id) => stack.push(*id),
                    Entry::File(id) => used += self.files[id].data.len() as u64,
                }
            }
        }
        used
    }

    /// Forgets the files and directories nothing refers to any more: no
    /// name, durable or not, and no open handle.
    pub fn collect_garbage(&mut self) {
        let mut live_dirs = BTreeSet::from([ROOT]);
        let mut live_files = BTreeSet::new();
        let mut stack = vec![ROOT];
        while let Some(dir) = stack.pop() {
            let dir = self.dir(dir);
            for entry in dir.entries.values().chain(dir.durable.values()) {
                match *entry {
                    Entry::Dir(id) => {
                        if live_dirs.insert(id) {
                            stack.push(id);
                        }
                    }
                    Entry::File(id) => {
                        live_files.insert(id);
                    }
                }
            }
        }
        self.dirs.retain(|id, _| live_dirs.contains(id));
        self.files
            .retain(|id, inode| inode.handles > 0 || live_files.contains(id));
    }
}
