//! Test support: one test body run on the real file system and on the
//! simulated disk ([`on_both_disks!`](crate::on_both_disks)), and the raw
//! file looks and damage tests need, done through the [`Fs`] seam so they
//! work on either. Panics with a message on any failure, like any test.

use std::any::Any;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::{Fs, OpenMode};
use crate::sim_fs::SimFs;

/// Which disk a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `std::fs` in a temporary directory.
    Real,
    /// A fresh [`SimFs`].
    Sim,
}

/// A directory to test in, on some disk.
#[derive(Debug)]
pub struct TestDisk {
    /// The file system the code under test gets.
    pub fs: Arc<dyn Fs>,
    /// The simulated disk, on [`Backend::Sim`].
    pub sim: Option<SimFs>,
    root: PathBuf,
    /// Keeps a temporary directory alive.
    _guard: Option<Box<dyn Any>>,
}

impl TestDisk {
    /// The real file system under `root`; `guard` (a `tempfile::TempDir`,
    /// say) is dropped with the disk.
    pub fn real(root: PathBuf, guard: impl Any) -> TestDisk {
        TestDisk {
            fs: Arc::new(crate::fs::RealFs),
            sim: None,
            root,
            _guard: Some(Box::new(guard)),
        }
    }

    /// A fresh simulated disk; the root is `/disk` on it.
    pub fn sim() -> TestDisk {
        let sim = SimFs::new();
        TestDisk {
            fs: sim.shared(),
            sim: Some(sim),
            root: PathBuf::from("/disk"),
            _guard: None,
        }
    }

    /// The directory to test in (it may not exist yet on the simulated disk).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The simulated disk; panics on the real one.
    pub fn sim_fs(&self) -> &SimFs {
        self.sim.as_ref().expect("a simulated disk")
    }

    /// A file's bytes.
    pub fn read(&self, path: &Path) -> Vec<u8> {
        self.fs
            .read(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// A file's length.
    pub fn len(&self, path: &Path) -> u64 {
        self.fs
            .len(path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
    }

    /// Whether `path` names a file.
    pub fn exists(&self, path: &Path) -> bool {
        self.fs.len(path).is_ok()
    }

    /// Replaces a file's bytes (creating it), durably.
    pub fn write(&self, path: &Path, bytes: &[u8]) {
        let mut file = self
            .fs
            .open_write(path, OpenMode::CreateTruncate)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        if let Some(dir) = crate::fs::parent_dir(path) {
            self.sync_dir(dir);
        }
    }

    /// Writes `bytes` at `offset` of an existing file, durably.
    pub fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) {
        let mut file = self
            .fs
            .open_write(path, OpenMode::Existing)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        file.seek_to(offset)
            .and_then(|()| file.write_all(bytes))
            .and_then(|()| file.sync_all())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Cuts or zero-extends a file, durably.
    pub fn set_len(&self, path: &Path, len: u64) {
        let mut file = self
            .fs
            .open_write(path, OpenMode::Existing)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .unwrap_or_else(|e| panic!("truncate {}: {e}", path.display()));
    }

    /// Flips the bits of `mask` in the byte at `offset`, durably.
    pub fn flip(&self, path: &Path, offset: u64, mask: u8) {
        let byte = self.read(path)[offset as usize] ^ mask;
        self.write_at(path, offset, &[byte]);
    }

    /// Removes a file, durably.
    pub fn remove(&self, path: &Path) {
        self.fs
            .remove_file(path)
            .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        if let Some(dir) = crate::fs::parent_dir(path) {
            self.sync_dir(dir);
        }
    }

    /// Renames a file in its directory, durably.
    pub fn rename(&self, from: &Path, to: &Path) {
        self.fs
            .rename(from, to)
            .unwrap_or_else(|e| panic!("rename {}: {e}", from.display()));
        if let Some(dir) = crate::fs::parent_dir(to) {
            self.sync_dir(dir);
        }
    }

    fn sync_dir(&self, dir: &Path) {
        self.fs
            .sync_dir(dir)
            .unwrap_or_else(|e| panic!("fsync directory {}: {e}", dir.display()));
    }

    /// The files of `dir` whose names end with `suffix`, sorted.
    pub fn files_ending(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
        let mut names = self
            .fs
            .list_dir(dir)
            .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        names.retain(|name| name.ends_with(suffix));
        names.sort();
        names.into_iter().map(|name| dir.join(name)).collect()
    }

    /// Removes every file of `dir`, durably: a wiped directory.
    pub fn wipe(&self, dir: &Path) {
        for path in self.files_ending(dir, "") {
            self.remove(&path);
        }
    }
}

/// Defines, for each named function `fn name(backend: Backend)`, a module
/// `name` with the tests `real_fs` and `sim_fs` running it on each disk.
#[macro_export]
#[doc(hidden)]
macro_rules! on_both_disks {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn real_fs() {
                    super::$name($crate::test_disk::Backend::Real);
                }

                #[test]
                fn sim_fs() {
                    super::$name($crate::test_disk::Backend::Sim);
                }
            }
        )*
    };
}
