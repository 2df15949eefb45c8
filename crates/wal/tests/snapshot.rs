//! The snapshot store: atomic saves, newest-N retention, crash leftovers,
//! and corruption that names the file; on the real file system and on the
//! simulated disk.

mod common;

use std::path::Path;

use common::{disk, Backend, TestDisk};
use synod_wal::{SnapshotError, SnapshotOptions, SnapshotStore};

fn options(keep_count: usize) -> SnapshotOptions {
    SnapshotOptions {
        keep_count,
        snapshot_bytes_max: 1 << 20,
    }
}

fn open(disk: &TestDisk, options: SnapshotOptions) -> SnapshotStore {
    open_in(disk, disk.root(), options)
}

fn open_in(disk: &TestDisk, dir: &Path, options: SnapshotOptions) -> SnapshotStore {
    SnapshotStore::open_with_fs(disk.fs.clone(), dir, options).expect("open")
}

fn an_empty_store_has_no_latest_snapshot(backend: Backend) {
    let disk = disk(backend);
    let store = open(&disk, options(2));
    assert_eq!(store.latest().expect("latest"), None);
}

fn latest_returns_the_newest_saved_snapshot_after_reopen(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(3));
    store.save(10, b"state at 10").expect("save");
    let path = store.save(25, b"state at 25").expect("save");
    store
        .save(0, b"")
        .expect("an empty snapshot at index 0 is fine");
    drop(store);
    let store = open(&disk, options(3));
    let latest = store.latest().expect("latest").expect("a snapshot");
    assert_eq!(
        (latest.index, latest.data.as_slice(), latest.path),
        (25, &b"state at 25"[..], path)
    );
}

fn only_the_newest_keep_count_snapshots_are_kept(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    for index in [5, 9, 14, 20] {
        store.save(index, &index.to_le_bytes()).expect("save");
    }
    assert_eq!(store.indices().expect("indices"), vec![14, 20]);
}

fn temp_files_left_by_a_crash_are_deleted_on_open(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    store.save(3, b"three").expect("save");
    let temp = disk.root().join("snap-00000000000000000007.snap.tmp");
    disk.write(&temp, b"half a snapsh");
    let store = open(&disk, options(2));
    assert_eq!(store.removed_temp_files(), std::slice::from_ref(&temp));
    assert!(!disk.exists(&temp));
    assert_eq!(
        store.latest().expect("latest").expect("a snapshot").index,
        3
    );
}

fn a_corrupt_newest_snapshot_is_an_error_naming_the_file(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    store.save(3, b"three").expect("save");
    let path = store.save(8, b"eight is newer").expect("save");
    // Every single-bit flip and every truncation is detected.
    let good = disk.read(&path);
    let mut damaged: Vec<Vec<u8>> = (0..good.len() * 8)
        .map(|bit| {
            let mut bytes = good.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            bytes
        })
        .collect();
    damaged.extend((0..good.len()).map(|len| good[..len].to_vec()));
    for bytes in damaged {
        disk.write(&path, &bytes);
        match store.latest() {
            Err(e @ SnapshotError::Corrupt { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }
}

fn a_snapshot_renamed_to_another_index_is_corrupt(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    let path = store.save(3, b"three").expect("save");
    disk.rename(&path, &disk.root().join("snap-00000000000000000004.snap"));
    assert!(matches!(store.latest(), Err(SnapshotError::Corrupt { .. })));
}

fn oversized_snapshots_are_refused(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(
        &disk,
        SnapshotOptions {
            keep_count: 1,
            snapshot_bytes_max: 4,
        },
    );
    assert!(matches!(
        store.save(1, b"12345"),
        Err(SnapshotError::TooLarge { len: 5, max: 4 })
    ));
    assert!(matches!(
        SnapshotStore::open_with_fs(disk.fs.clone(), disk.root(), options(0)),
        Err(SnapshotError::InvalidOptions(_))
    ));
}

fn a_streamed_save_reads_back_like_a_whole_one(backend: Backend) {
    let disk = disk(backend);
    let big = SnapshotOptions {
        snapshot_bytes_max: 8 << 20,
        ..options(2)
    };
    let mut store = open(&disk, big.clone());
    // Larger than the write buffer, written in uneven pieces.
    let data: Vec<u8> = (0..(3 << 20) + 7)
        .map(|i: u32| (i * 31 % 251) as u8)
        .collect();
    let path = store
        .save_with(12, data.len() as u64, |out| {
            data.chunks(100_003)
                .try_for_each(|piece| out.write_all(piece))
        })
        .expect("streamed save");
    let whole = disk.root().join("whole");
    let mut other = open_in(&disk, &whole, big.clone());
    let whole_path = other.save(12, &data).expect("save");
    assert_eq!(
        disk.read(&path),
        disk.read(&whole_path),
        "the same file, header and checksum included"
    );
    let latest = store.latest().expect("latest").expect("a snapshot");
    assert_eq!((latest.index, latest.data == data), (12, true));
}

fn a_streamed_save_of_another_length_than_announced_leaves_no_snapshot(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    store.save(3, b"three").expect("save");
    for announced in [4, 6] {
        let result = store.save_with(9, announced, |out| out.write_all(b"fives"));
        assert!(
            matches!(&result, Err(SnapshotError::Io { op: "write", .. })),
            "{result:?}"
        );
    }
    assert!(matches!(
        store.save_with(9, 5 << 20, |_| Ok(())),
        Err(SnapshotError::TooLarge { .. })
    ));
    assert_eq!(store.indices().expect("indices"), vec![3]);
    assert_eq!(
        store.latest().expect("latest").expect("a snapshot").index,
        3
    );
}

/// A streamed load checks the whole file's checksum, even the part its
/// reader never asked for, before it hands back what the reader made.
fn a_streamed_load_checks_the_bytes_its_reader_left(backend: Backend) {
    let disk = disk(backend);
    let mut store = open(&disk, options(2));
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let path = store.save(7, &data).expect("save");
    let first = |input: &mut dyn std::io::BufRead, len: u64| {
        let mut byte = [0u8; 1];
        input.read_exact(&mut byte).map(|()| (byte[0], len))
    };
    let loaded = store
        .latest_with(first)
        .expect("loads")
        .expect("a snapshot");
    assert_eq!((loaded.index, loaded.len), (7, 5000));
    assert_eq!(loaded.value.expect("read"), (0, 5000));
    let mut bytes = disk.read(&path);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    disk.write(&path, &bytes);
    assert!(matches!(
        store.latest_with(first),
        Err(SnapshotError::Corrupt { .. })
    ));
}

synod_wal::on_both_disks!(
    a_streamed_load_checks_the_bytes_its_reader_left,
    an_empty_store_has_no_latest_snapshot,
    latest_returns_the_newest_saved_snapshot_after_reopen,
    only_the_newest_keep_count_snapshots_are_kept,
    temp_files_left_by_a_crash_are_deleted_on_open,
    a_corrupt_newest_snapshot_is_an_error_naming_the_file,
    a_snapshot_renamed_to_another_index_is_corrupt,
    oversized_snapshots_are_refused,
    a_streamed_save_reads_back_like_a_whole_one,
    a_streamed_save_of_another_length_than_announced_leaves_no_snapshot,
);
