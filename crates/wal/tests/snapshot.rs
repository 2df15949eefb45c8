//! The snapshot store: atomic saves, newest-N retention, crash leftovers,
//! and corruption that names the file.

use synod_wal::{SnapshotError, SnapshotOptions, SnapshotStore};

fn options(keep_count: usize) -> SnapshotOptions {
    SnapshotOptions {
        keep_count,
        snapshot_bytes_max: 1 << 20,
    }
}

#[test]
fn an_empty_store_has_no_latest_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SnapshotStore::open(dir.path(), options(2)).expect("open");
    assert_eq!(store.latest().expect("latest"), None);
}

#[test]
fn latest_returns_the_newest_saved_snapshot_after_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(3)).expect("open");
    store.save(10, b"state at 10").expect("save");
    let path = store.save(25, b"state at 25").expect("save");
    store
        .save(0, b"")
        .expect("an empty snapshot at index 0 is fine");
    drop(store);
    let store = SnapshotStore::open(dir.path(), options(3)).expect("reopen");
    let latest = store.latest().expect("latest").expect("a snapshot");
    assert_eq!(
        (latest.index, latest.data.as_slice(), latest.path),
        (25, &b"state at 25"[..], path)
    );
}

#[test]
fn only_the_newest_keep_count_snapshots_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(2)).expect("open");
    for index in [5, 9, 14, 20] {
        store.save(index, &index.to_le_bytes()).expect("save");
    }
    assert_eq!(store.indices().expect("indices"), vec![14, 20]);
}

#[test]
fn temp_files_left_by_a_crash_are_deleted_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(2)).expect("open");
    store.save(3, b"three").expect("save");
    let temp = dir.path().join("snap-00000000000000000007.snap.tmp");
    std::fs::write(&temp, b"half a snapsh").expect("write temp");
    let store = SnapshotStore::open(dir.path(), options(2)).expect("reopen");
    assert_eq!(store.removed_temp_files(), std::slice::from_ref(&temp));
    assert!(!temp.exists());
    assert_eq!(
        store.latest().expect("latest").expect("a snapshot").index,
        3
    );
}

#[test]
fn a_corrupt_newest_snapshot_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(2)).expect("open");
    store.save(3, b"three").expect("save");
    let path = store.save(8, b"eight is newer").expect("save");
    // Every single-bit flip and every truncation is detected.
    let good = std::fs::read(&path).expect("read");
    let mut damaged: Vec<Vec<u8>> = (0..good.len() * 8)
        .map(|bit| {
            let mut bytes = good.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            bytes
        })
        .collect();
    damaged.extend((0..good.len()).map(|len| good[..len].to_vec()));
    for bytes in damaged {
        std::fs::write(&path, &bytes).expect("write");
        match store.latest() {
            Err(e @ SnapshotError::Corrupt { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }
}

#[test]
fn a_snapshot_renamed_to_another_index_is_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(2)).expect("open");
    let path = store.save(3, b"three").expect("save");
    std::fs::rename(&path, dir.path().join("snap-00000000000000000004.snap")).expect("rename");
    assert!(matches!(store.latest(), Err(SnapshotError::Corrupt { .. })));
}

#[test]
fn oversized_snapshots_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(
        dir.path(),
        SnapshotOptions {
            keep_count: 1,
            snapshot_bytes_max: 4,
        },
    )
    .expect("open");
    assert!(matches!(
        store.save(1, b"12345"),
        Err(SnapshotError::TooLarge { len: 5, max: 4 })
    ));
    assert!(matches!(
        SnapshotStore::open(dir.path(), options(0)),
        Err(SnapshotError::InvalidOptions(_))
    ));
}

#[test]
fn a_streamed_save_reads_back_like_a_whole_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = SnapshotOptions {
        snapshot_bytes_max: 8 << 20,
        ..options(2)
    };
    let mut store = SnapshotStore::open(dir.path(), big.clone()).expect("open");
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
    let whole = dir.path().join("whole");
    std::fs::create_dir(&whole).expect("mkdir");
    let mut other = SnapshotStore::open(&whole, big.clone()).expect("open");
    let whole_path = other.save(12, &data).expect("save");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        std::fs::read(&whole_path).expect("read"),
        "the same file, header and checksum included"
    );
    let latest = store.latest().expect("latest").expect("a snapshot");
    assert_eq!((latest.index, latest.data == data), (12, true));
}

#[test]
fn a_streamed_save_of_another_length_than_announced_leaves_no_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SnapshotStore::open(dir.path(), options(2)).expect("open");
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
