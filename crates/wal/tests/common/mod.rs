//! A fresh test disk of either kind.

#![allow(dead_code)]

pub use synod_wal::test_disk::{Backend, TestDisk};

/// A fresh directory on `backend`: a temporary directory, or a new
/// simulated disk.
pub fn disk(backend: Backend) -> TestDisk {
    match backend {
        Backend::Real => {
            let guard = tempfile::tempdir().expect("temp dir");
            TestDisk::real(guard.path().to_path_buf(), guard)
        }
        Backend::Sim => TestDisk::sim(),
    }
}
