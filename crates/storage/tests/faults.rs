//! Failed writes, failed syncs, a full disk and failed snapshot steps on
//! the simulated disk: each poisons the storage with an error that says
//! what failed and where, and a restart never loses what was acknowledged.

mod common;

use std::io::ErrorKind;

use common::*;
use synod_paxos::{Ballot, Command, DurableState, Record, Value};
use synod_storage::{StorageError, SNAPSHOT_DIR};
use synod_wal::{CrashPlan, FsOp, SnapshotError, WalError};

/// An accept whose encoding is well over 100 bytes.
fn big_accept(slot: u64) -> Record {
    Record::Accept {
        slot,
        ballot: Ballot::new(1, 1),
        value: Value::Batch(vec![Command {
            client: 1,
            seq: slot,
            op: vec![7; 120],
        }]),
    }
}

/// A simulated disk with a few acknowledged records; returns them.
fn acknowledged(disk: &TestDisk, options: &synod_storage::StorageOptions) -> Vec<Record> {
    let (mut storage, _, _) = open(disk, options.clone());
    // Three, so the next record still fits in the same 1 KiB segment.
    let model: Vec<Record> = (1..=3).map(big_accept).collect();
    for record in &model {
        storage
            .persist(&[std::slice::from_ref(record)])
            .expect("persist");
    }
    model
}

fn is_poisoned(storage: &mut synod_storage::NodeStorage) -> bool {
    matches!(
        storage.persist(&[&[Record::Commit(1)]]),
        Err(StorageError::Poisoned)
    )
}

#[test]
fn a_failed_write_poisons_the_storage_and_names_the_operation_and_the_segment() {
    let disk = disk(Backend::Sim);
    let model = acknowledged(&disk, &no_size_compaction());
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let segment = storage.wal_segment_paths().pop().expect("a segment");
    disk.sim_fs().fail_next(FsOp::Write);
    let err = storage
        .persist(&[&[big_accept(9)]])
        .expect_err("the write fails");
    match &err {
        StorageError::Wal(WalError::Io { op, path, source }) => {
            assert_eq!((*op, path), ("write", &segment));
            assert_eq!(source.raw_os_error(), Some(5));
        }
        other => panic!("expected a WAL write error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("write"), "{message}");
    assert!(
        message.contains(&segment.display().to_string()),
        "{message}"
    );
    assert!(message.contains("Input/output error"), "{message}");
    assert!(is_poisoned(&mut storage));
    drop(storage);
    let (_, state, _) = open(&disk, no_size_compaction());
    assert_eq!(
        state,
        DurableState::replay(&model),
        "nothing of the failed call"
    );
}

#[test]
fn a_failed_fsync_poisons_the_storage_and_a_power_loss_keeps_every_acknowledged_record() {
    for seed in 0..20 {
        let disk = disk(Backend::Sim);
        let model = acknowledged(&disk, &no_size_compaction());
        let (mut storage, _, _) = open(&disk, no_size_compaction());
        disk.sim_fs().fail_next(FsOp::SyncFile);
        let err = storage
            .persist(&[&[big_accept(9)], &[big_accept(10)]])
            .expect_err("the fsync fails");
        assert!(
            matches!(&err, StorageError::Wal(WalError::Io { op: "fsync", .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("Input/output error"), "{err}");
        assert!(is_poisoned(&mut storage));
        drop(storage);
        disk.sim_fs().crash(CrashPlan::Random { seed });
        let (_, state, _) = open(&disk, no_size_compaction());
        // The failed fsync dropped the call's writes: exactly the
        // acknowledged records come back.
        assert_eq!(state, DurableState::replay(&model), "seed {seed}");
    }
}

#[test]
fn a_write_that_lands_in_part_is_cut_as_a_torn_tail_on_restart() {
    let disk = disk(Backend::Sim);
    let model = acknowledged(&disk, &no_size_compaction());
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let segment = storage.wal_segment_paths().pop().expect("a segment");
    let end = disk.len(&segment);
    disk.sim_fs().fail_next_write_partly(20);
    storage
        .persist(&[&[big_accept(9)]])
        .expect_err("the write fails");
    assert!(is_poisoned(&mut storage));
    drop(storage);
    assert_eq!(disk.len(&segment), end + 20, "20 bytes landed");
    let (_, state, report) = open(&disk, no_size_compaction());
    let torn = report.torn_tail.expect("the landed bytes are cut");
    assert_eq!((torn.path, torn.offset, torn.bytes_cut), (segment, end, 20));
    assert_eq!(state, DurableState::replay(&model));
}

#[test]
fn a_full_disk_is_a_clear_error_and_once_space_comes_back_a_restart_recovers() {
    for seed in 0..10 {
        let disk = disk(Backend::Sim);
        let sim = disk.sim_fs();
        let mut model = acknowledged(&disk, &small_options());
        let (mut storage, _, _) = open(&disk, small_options());
        sim.set_capacity_bytes(Some(sim.used_bytes() + 2000));
        let mut acknowledged = model.len();
        let err = loop {
            let record = big_accept(model.len() as u64 + 1);
            let result = storage.persist(&[std::slice::from_ref(&record)]);
            model.push(record);
            match result {
                Ok(()) => acknowledged = model.len(),
                Err(e) => break e,
            }
            assert!(model.len() < 1000, "the disk never filled");
        };
        let message = err.to_string();
        assert!(message.contains("No space left on device"), "{message}");
        assert!(
            message.contains(&disk.root().display().to_string()),
            "the error names a file: {message}"
        );
        let source = match &err {
            StorageError::Wal(WalError::Io { source, .. })
            | StorageError::Snapshot(SnapshotError::Io { source, .. }) => source,
            other => panic!("expected an I/O error, got {other:?}"),
        };
        assert_eq!(source.kind(), ErrorKind::StorageFull, "{err}");
        assert!(is_poisoned(&mut storage));
        drop(storage);

        // Power loss while the disk is still full: recovery needs no new
        // space, keeps every acknowledged record, and a persist fails again.
        sim.crash(CrashPlan::Random { seed });
        let (mut storage, state, _) = open(&disk, small_options());
        let recovered = replayed_prefix(&model, acknowledged, &state)
            .unwrap_or_else(|| panic!("seed {seed}: acknowledged records lost"));
        model.truncate(recovered);
        let filler = vec![big_accept(1); 40];
        assert!(storage.persist(&[&filler]).is_err(), "still full");
        drop(storage);

        // The space comes back: a restart recovers and the node goes on.
        sim.set_capacity_bytes(None);
        let (mut storage, state, _) = open(&disk, small_options());
        let recovered = replayed_prefix(&model, recovered, &state)
            .unwrap_or_else(|| panic!("seed {seed}: records lost after space came back"));
        model.truncate(recovered);
        let later = vec![Record::Commit(3), big_accept(77)];
        storage.persist(&[&later]).expect("persist with space");
        model.extend(later);
        drop(storage);
        sim.crash(CrashPlan::Random { seed });
        let (_, state, _) = open(&disk, small_options());
        assert_eq!(state, DurableState::replay(&model), "seed {seed}");
    }
}

/// A disk with snapshot `first` (covering `before`) and more records
/// after it; returns the storage, all records and the snapshot's index.
fn with_a_snapshot(disk: &TestDisk) -> (synod_storage::NodeStorage, Vec<Record>, u64) {
    let (mut storage, _, _) = open(disk, no_size_compaction());
    let mut model: Vec<Record> = (1..=4).map(big_accept).collect();
    storage.persist(&[&model]).expect("persist");
    storage.compact().expect("compact");
    let first = storage.snapshot_index();
    assert!(first > 0);
    let more: Vec<Record> = (5..=7).map(big_accept).collect();
    storage.persist(&[&more]).expect("persist");
    model.extend(more);
    (storage, model, first)
}

#[test]
fn a_failed_directory_fsync_after_a_snapshot_rename_keeps_the_previous_snapshot() {
    let (mut kept_previous, mut kept_new) = (0, 0);
    for seed in 0..40 {
        let disk = disk(Backend::Sim);
        let (mut storage, model, first) = with_a_snapshot(&disk);
        disk.sim_fs().fail_next(FsOp::SyncDir);
        let err = storage.compact().expect_err("the directory fsync fails");
        let snap_dir = disk.root().join(SNAPSHOT_DIR);
        assert!(
            matches!(&err, StorageError::Snapshot(SnapshotError::Io { op: "fsync directory", path, .. })
                if path == &snap_dir),
            "{err:?}"
        );
        assert!(is_poisoned(&mut storage));
        drop(storage);
        disk.sim_fs().crash(CrashPlan::Random { seed });
        let (_, state, report) = open(&disk, no_size_compaction());
        assert_eq!(state, DurableState::replay(&model), "seed {seed}");
        let loaded = report.snapshot.expect("a snapshot survives").wal_index;
        assert!(loaded == first || loaded == 7, "seed {seed}: {loaded}");
        kept_previous += usize::from(loaded == first);
        kept_new += usize::from(loaded == 7);
    }
    assert!(
        kept_previous > 5 && kept_new > 5,
        "{kept_previous} kept the previous snapshot, {kept_new} the new one"
    );
}

#[test]
fn a_failed_rename_of_a_snapshot_keeps_the_previous_one_and_removes_the_temp_file() {
    let disk = disk(Backend::Sim);
    let (mut storage, model, first) = with_a_snapshot(&disk);
    disk.sim_fs().fail_next(FsOp::Rename);
    let err = storage.compact().expect_err("the rename fails");
    let temp = disk
        .root()
        .join(SNAPSHOT_DIR)
        .join(format!("snap-{:020}.snap.tmp", 7));
    assert!(
        matches!(&err, StorageError::Snapshot(SnapshotError::Io { op: "rename", path, .. })
            if path == &temp),
        "{err:?}"
    );
    drop(storage);
    let (_, state, report) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_eq!(
        report.snapshot.expect("the previous snapshot").wal_index,
        first
    );
    assert_eq!(report.removed_snapshot_temp_files, vec![temp]);
}
