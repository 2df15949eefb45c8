//! Damage that no crash explains makes open fail, with an error that names
//! the file (and byte offset or record index) and tells the operator what
//! to do; a failed call leaves the storage refusing every later one.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use synod_paxos::{Ballot, Command, DurableState, Record, Value};
use synod_storage::{StorageError, SNAPSHOT_DIR, WAL_DIR};
use synod_wal::{FileWal, LogStorage, SnapshotError, SnapshotStore, WalError};

/// The advice every "do not start from this data" error carries.
const WIPE: &str = "wiping its data directory and letting it rejoin";

fn open_err(disk: &TestDisk) -> StorageError {
    match try_open(disk, no_size_compaction()) {
        Ok(_) => panic!("open of damaged {} succeeded", disk.root().display()),
        Err(e) => e,
    }
}

/// Persists random records (no compaction) until the WAL has `segments`
/// segments; returns the records.
fn fill(disk: &TestDisk, seed: u64, segments: usize) -> Vec<Record> {
    let mut rng = SplitMix64(seed);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(disk, no_size_compaction());
    while storage.wal_segment_paths().len() < segments {
        let batches = without_snapshots(random_batches(&mut rng, 2, 3, &mut progress));
        persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    }
    model
}

fn flip(disk: &TestDisk, path: &Path, offset: u64) {
    disk.flip(path, offset, 0x20);
}

fn a_flipped_byte_in_an_early_segment_refuses_to_start_naming_file_and_offset(backend: Backend) {
    let disk = disk(backend);
    fill(&disk, 21, 4);
    let segment = wal_segments(&disk)[1].clone();
    let ends = record_ends(&disk.read(&segment));
    assert!(ends.len() >= 3, "the segment holds several records");
    let record = ends.len() / 2;
    let offset = ends[record - 1];
    flip(
        &disk,
        &segment,
        offset + 16 + (ends[record] - offset - 16) / 2,
    );

    let err = open_err(&disk);
    match &err {
        StorageError::Wal(WalError::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!(path, &segment);
            assert_eq!(*at, offset);
        }
        other => panic!("expected WAL corruption, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&segment.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("byte offset {offset}")),
        "{message}"
    );
    assert!(message.contains(WIPE), "{message}");
}

fn a_flipped_byte_before_valid_records_of_the_last_segment_is_not_a_torn_tail(backend: Backend) {
    let disk = disk(backend);
    fill(&disk, 22, 2);
    // Valid records must follow the damaged one in the same segment.
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    while record_ends(&disk.read(&storage.wal_segment_paths().pop().unwrap())).len() < 2 {
        storage.persist(&[&[Record::Commit(1)]]).expect("persist");
    }
    drop(storage);
    let segment = wal_segments(&disk).pop().unwrap();
    flip(&disk, &segment, 16);
    let err = open_err(&disk);
    assert!(
        matches!(&err, StorageError::Wal(WalError::Corrupt { path, offset: 0, .. }) if path == &segment),
        "{err:?}"
    );
    assert!(err.to_string().contains(WIPE));
}

fn compacted_dir(backend: Backend, seed: u64) -> (TestDisk, PathBuf) {
    let disk = disk(backend);
    fill(&disk, seed, 3);
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    storage
        .persist(&[&[Record::Promise(Ballot::new(7, 1))]])
        .expect("persist");
    storage.compact().expect("compact");
    drop(storage);
    let snap = snapshot_files(&disk).pop().expect("a snapshot");
    (disk, snap)
}

fn a_corrupt_storage_snapshot_refuses_to_start_naming_the_file(backend: Backend) {
    let (disk, snap) = compacted_dir(backend, 23);
    let len = disk.len(&snap);
    flip(&disk, &snap, 32 + (len - 32) / 2);
    let err = open_err(&disk);
    assert!(
        matches!(&err, StorageError::Snapshot(SnapshotError::Corrupt { path, .. }) if path == &snap),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&snap.display().to_string()), "{message}");
    assert!(message.contains(WIPE), "{message}");
}

fn a_snapshot_that_passes_its_checksum_but_does_not_decode_names_the_file(backend: Backend) {
    let (disk, snap) = compacted_dir(backend, 24);
    let index = snapshot_index_of(&snap);
    let snap_dir = disk.root().join(SNAPSHOT_DIR);
    let mut store = SnapshotStore::open_with_fs(disk.fs.clone(), snap_dir, Default::default())
        .expect("open the snapshot store");
    for data in [&b"\x01not a durable state"[..], b"\x02", b""] {
        store.save(index, data).unwrap();
        let err = open_err(&disk);
        assert!(
            matches!(&err, StorageError::SnapshotDecode { path, .. } if path == &snap),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&snap.display().to_string()), "{message}");
        assert!(message.contains("wipe the data directory"), "{message}");
    }
}

fn snapshot_index_of(snap: &Path) -> u64 {
    let name = snap.file_name().unwrap().to_str().unwrap();
    name["snap-".len()..name.len() - ".snap".len()]
        .parse()
        .unwrap()
}

fn a_record_that_passes_its_checksum_but_does_not_decode_names_file_and_index(backend: Backend) {
    for payload in [&b"\x01\xff\xff\xff\xff\xff"[..], b"\x63future format", b""] {
        let disk = disk(backend);
        let model = fill(&disk, 25, 2);
        let wal_dir = disk.root().join(WAL_DIR);
        let (mut wal, _) =
            FileWal::open_with_fs(disk.fs.clone(), wal_dir, no_size_compaction().wal)
                .expect("open WAL");
        let index = wal.append(payload).expect("append");
        wal.sync().expect("sync");
        assert_eq!(index, model.len() as u64 + 1);
        drop(wal);
        let segment = wal_segments(&disk).pop().unwrap();
        let err = open_err(&disk);
        assert!(
            matches!(&err, StorageError::RecordDecode { path, index: i, .. }
                if path == &segment && *i == index),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&segment.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("WAL record {index}")),
            "{message}"
        );
    }
}

fn a_wal_wiped_behind_its_snapshot_refuses_to_start(backend: Backend) {
    let (disk, snap) = compacted_dir(backend, 26);
    disk.wipe(&disk.root().join(WAL_DIR));
    let err = open_err(&disk);
    assert!(
        matches!(&err, StorageError::SnapshotAheadOfWal { path, wal_last_index: 0, .. } if path == &snap),
        "{err:?}"
    );
    assert!(err.to_string().contains(WIPE));
}

fn a_wiped_snapshot_directory_refuses_to_start(backend: Backend) {
    let (disk, _) = compacted_dir(backend, 27);
    disk.wipe(&disk.root().join(SNAPSHOT_DIR));
    let err = open_err(&disk);
    assert!(
        matches!(
            &err,
            StorageError::WalGap {
                snapshot: None,
                snapshot_index: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(WIPE));
}

fn after_a_failed_persist_every_call_is_refused(backend: Backend) {
    let disk = disk(backend);
    let mut options = no_size_compaction();
    options.wal.record_bytes_max = 64;
    let (mut storage, _, _) = open(&disk, options.clone());
    let small = Record::Promise(Ballot::new(1, 1));
    storage
        .persist(&[std::slice::from_ref(&small)])
        .expect("persist");
    let big = Record::Accept {
        slot: 1,
        ballot: Ballot::new(1, 1),
        value: Value::Batch(vec![Command {
            client: 1,
            seq: 1,
            op: vec![7; 100],
        }]),
    };
    let err = storage
        .persist(&[&[Record::Commit(0)], &[big]])
        .expect_err("too large");
    assert!(
        matches!(err, StorageError::Wal(WalError::RecordTooLarge { .. })),
        "{err:?}"
    );
    assert!(matches!(
        storage.persist(&[std::slice::from_ref(&small)]),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(storage.compact(), Err(StorageError::Poisoned)));
    drop(storage);
    // Nothing of the refused group reached the WAL.
    let (_, state, report) = open(&disk, options);
    assert_eq!(state, DurableState::replay(&[small]));
    assert_eq!(report.wal_last_index, 1);
}

/// Random damage to a random file of a data directory that compacted:
/// open never panics; it refuses with an error naming a file of the data
/// directory and saying what to do, or it recovers the replay of a prefix
/// of what was persisted, never anything that was not written. (It may
/// recover fewer records than were persisted: damage that looks like a
/// crash, a cut or a rotted last record, is cut as a torn tail; see the
/// WAL's known blind spots.)
fn random_damage_is_refused_naming_a_file_or_recovers_a_prefix(backend: Backend) {
    // Real fsyncs make a seed cost a second or so; the simulated disk runs
    // many in that time.
    let seeds = match backend {
        Backend::Real => 6,
        Backend::Sim => 200,
    };
    let (mut refused, mut recovered) = (0, 0);
    for seed in 0..seeds {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let mut model = Vec::new();
        let mut progress = 0;
        let (mut storage, _, _) = open(&disk, small_options());
        let batches = random_batches(&mut rng, 60, 4, &mut progress);
        persist_grouped(&mut storage, &mut rng, &batches, &mut model);
        drop(storage);
        let files = [wal_segments(&disk), snapshot_files(&disk)].concat();
        let victim = &files[rng.below(files.len() as u64) as usize];
        let len = disk.len(victim);
        let at = rng.below(len.max(1));
        let span = 1 + rng.below(40) as usize;
        match rng.below(4) {
            0 if len > 0 => disk.flip(victim, at, 1 << rng.below(8)),
            1 => disk.set_len(victim, at),
            2 => disk.write_at(victim, at, &rng.bytes(span)),
            _ => disk.write_at(victim, at, &vec![0; span]),
        }
        match try_open(&disk, small_options()) {
            Ok((_, state, _)) => {
                assert!(
                    replayed_prefix(&model, 0, &state).is_some(),
                    "seed {seed}: recovered a state that is no prefix's replay"
                );
                recovered += 1;
            }
            Err(e) => {
                let message = e.to_string();
                let root = disk.root().display().to_string();
                assert!(message.contains(&root), "seed {seed}: {message}");
                assert!(
                    message.contains(WIPE) || message.contains("wipe the data directory"),
                    "seed {seed}: {message}"
                );
                refused += 1;
            }
        }
    }
    if backend == Backend::Sim {
        assert!(
            refused > 40 && recovered > 40,
            "{refused} refused, {recovered} recovered"
        );
    }
}

synod_wal::on_both_disks!(
    random_damage_is_refused_naming_a_file_or_recovers_a_prefix,
    a_flipped_byte_in_an_early_segment_refuses_to_start_naming_file_and_offset,
    a_flipped_byte_before_valid_records_of_the_last_segment_is_not_a_torn_tail,
    a_corrupt_storage_snapshot_refuses_to_start_naming_the_file,
    a_snapshot_that_passes_its_checksum_but_does_not_decode_names_the_file,
    a_record_that_passes_its_checksum_but_does_not_decode_names_file_and_index,
    a_wal_wiped_behind_its_snapshot_refuses_to_start,
    a_wiped_snapshot_directory_refuses_to_start,
    after_a_failed_persist_every_call_is_refused,
);
