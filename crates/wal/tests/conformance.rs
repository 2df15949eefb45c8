//! Both logs pass the same conformance suite.

use synod_wal::conformance::{run_all, FileHarness, MemHarness, SimHarness};
use synod_wal::{SimFs, WalOptions};

#[test]
fn mem_log_conforms() {
    run_all(|| MemHarness::new(1024));
}

#[test]
fn file_wal_conforms_with_many_small_segments() {
    run_all(|| {
        let guard = tempfile::tempdir().expect("temp dir");
        FileHarness {
            dir: guard.path().join("wal"),
            options: WalOptions {
                segment_bytes_max: 300,
                record_bytes_max: 1024,
                write_buffer_bytes_max: 100,
            },
            guard,
        }
    });
}

#[test]
fn file_wal_conforms_with_default_sized_segments() {
    run_all(|| {
        let guard = tempfile::tempdir().expect("temp dir");
        FileHarness {
            dir: guard.path().to_path_buf(),
            options: WalOptions {
                record_bytes_max: 1024,
                ..WalOptions::default()
            },
            guard,
        }
    });
}

#[test]
fn file_wal_on_the_simulated_disk_conforms_with_many_small_segments() {
    run_all(|| SimHarness {
        fs: SimFs::new(),
        dir: "/node/wal".into(),
        options: WalOptions {
            segment_bytes_max: 300,
            record_bytes_max: 1024,
            write_buffer_bytes_max: 100,
        },
    });
}

#[test]
fn file_wal_on_the_simulated_disk_conforms_with_default_sized_segments() {
    run_all(|| SimHarness {
        fs: SimFs::new(),
        dir: "wal".into(),
        options: WalOptions {
            record_bytes_max: 1024,
            ..WalOptions::default()
        },
    });
}
