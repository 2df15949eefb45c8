//! Engine snapshots larger than a WAL record may be: they bypass the WAL
//! and go into a storage snapshot (see the crate docs), bounded only by
//! `snapshot_bytes_max`. Records after the snapshot in the same call are
//! logged on top of it, and a crash at any point recovers a prefix of what
//! was persisted.

mod common;

use common::*;
use synod_paxos::{Ballot, Config, DurableState, Record, Snapshot, SnapshotWriter, Value};
use synod_storage::{StorageError, StorageOptions, SNAPSHOT_DIR, WAL_DIR};
use synod_wal::SnapshotError;

/// An engine snapshot at `last_slot` whose state is `state_bytes` long.
fn big_snapshot(last_slot: u64, state_bytes: usize) -> Record {
    let state: Vec<u8> = (0..state_bytes).map(|i| (i * 7 % 253) as u8).collect();
    let mut chunks = SnapshotWriter::new(CHUNK_BYTES);
    std::io::Write::write_all(&mut chunks, &state).unwrap();
    Record::Snapshot(Box::new(Snapshot {
        last_slot,
        config: Config::new([1, 2, 3]),
        clients: Default::default(),
        state: chunks.finish(),
    }))
}

/// Bigger than `small_options().wal.record_bytes_max` (16 KiB).
const STATE_BYTES: usize = 100 << 10;

/// The state is cut in chunks of this size, as the engine cuts it.
const CHUNK_BYTES: usize = 16 << 10;

fn accept(slot: u64) -> Record {
    Record::Accept {
        slot,
        ballot: Ballot::new(2, 1),
        value: Value::Noop,
    }
}

/// Records before a big snapshot, the snapshot, and records after it, in
/// one call.
fn around_a_big_snapshot() -> Vec<Record> {
    vec![
        Record::Promise(Ballot::new(2, 1)),
        accept(1),
        accept(2),
        Record::Commit(2),
        big_snapshot(2, STATE_BYTES),
        accept(3),
        Record::Learned {
            slot: 4,
            value: Value::Noop,
        },
        Record::Commit(4),
    ]
}

fn wal_bytes(disk: &TestDisk) -> u64 {
    wal_segments(disk).iter().map(|p| disk.len(p)).sum()
}

fn assert_snapshot_state(state: &DurableState, last_slot: u64) {
    let snap = state.snapshot.as_ref().expect("an engine snapshot");
    assert_eq!(snap.last_slot, last_slot);
    assert_eq!(snap.state.len(), STATE_BYTES as u64);
    // Written and read back in its chunks, never assembled into one buffer.
    assert_eq!(snap.state.chunks().len(), STATE_BYTES.div_ceil(CHUNK_BYTES));
    assert!(snap.state.chunks().iter().all(|c| c.len() <= CHUNK_BYTES));
}

fn a_snapshot_above_record_bytes_max_persists_and_survives_reopen(backend: Backend) {
    let disk = disk(backend);
    let options = small_options();
    assert!(STATE_BYTES > options.wal.record_bytes_max as usize);
    let (mut storage, _, _) = open(&disk, options.clone());
    let first = vec![Record::Promise(Ballot::new(1, 1)), accept(1)];
    storage.persist(&[&first]).expect("persist");
    let call = around_a_big_snapshot();
    storage.persist(&[&call]).expect("a big snapshot persists");
    let mut model = [first, call].concat();
    assert_eq!(storage.state(), &DurableState::replay(&model));
    // The records before the snapshot in the call went into the storage
    // snapshot with it, the three after it into the WAL.
    assert_eq!(storage.snapshot_index(), 2);
    assert_eq!(storage.wal_last_index(), 5);
    assert!(
        wal_bytes(&disk) < options.wal.record_bytes_max as u64,
        "the state was not logged"
    );
    // Later calls log on top.
    let later = vec![accept(5), Record::Commit(5)];
    storage.persist(&[&later]).expect("persist");
    model.extend(later);
    drop(storage);

    let (_, state, report) = open(&disk, options);
    assert_eq!(state, DurableState::replay(&model));
    assert_snapshot_state(&state, 2);
    assert!(state.log[&3].chosen && state.log[&4].chosen && state.log[&5].chosen);
    assert_eq!(state.commit, 5);
    assert_eq!(report.snapshot.expect("loaded").wal_index, 2);
    assert_eq!(report.records_replayed, 5);
}

fn the_state_is_written_once_per_engine_snapshot(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    assert_eq!(storage.snapshots_saved(), 0);
    storage
        .persist(&[&around_a_big_snapshot()])
        .expect("persist");
    assert_eq!(storage.snapshots_saved(), 1, "the call reports its save");
    let snaps = snapshot_files(&disk);
    assert_eq!(snaps.len(), 1);
    let file_bytes = disk.len(&snaps[0]);
    assert!(
        file_bytes > STATE_BYTES as u64 && file_bytes < STATE_BYTES as u64 + 1024,
        "one copy of the state in a {file_bytes}-byte snapshot file"
    );
    assert!(wal_bytes(&disk) < 1024);
}

fn several_snapshots_in_one_call_save_once_and_replay_in_order(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let calls = [
        vec![accept(1)],
        vec![
            big_snapshot(1, STATE_BYTES),
            accept(2),
            big_snapshot(2, STATE_BYTES),
            accept(3),
        ],
    ];
    let slices: Vec<&[Record]> = calls.iter().map(Vec::as_slice).collect();
    storage.persist(&slices).expect("persist");
    let model = calls.concat();
    assert_eq!(storage.wal_last_index(), 1, "only accept(3) was logged");
    assert_eq!(snapshot_files(&disk).len(), 1);
    drop(storage);
    let (_, state, _) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_snapshot_state(&state, 2);
}

fn a_snapshot_with_nothing_logged_since_the_last_replaces_it(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    // A new node's first write can be a snapshot from a peer: WAL index 0.
    let mut model = vec![big_snapshot(4, STATE_BYTES)];
    storage.persist(&[&model]).expect("persist");
    assert_eq!((storage.snapshot_index(), storage.wal_last_index()), (0, 0));
    let next = vec![big_snapshot(9, STATE_BYTES)];
    storage.persist(&[&next]).expect("persist");
    model.extend(next);
    assert_eq!(
        snapshot_files(&disk),
        vec![disk
            .root()
            .join(SNAPSHOT_DIR)
            .join(format!("snap-{:020}.snap", 0))]
    );
    drop(storage);
    let (mut storage, state, _) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_snapshot_state(&state, 9);
    let later = vec![accept(10)];
    storage.persist(&[&later]).expect("persist");
    model.extend(later);
    drop(storage);
    let (_, state, report) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_eq!(report.records_replayed, 1);
}

/// Copies every file of the WAL and snapshot directories of `from` into
/// those of `to`, replacing what is there: the disk as it was.
fn restore_image(from: &TestDisk, to: &TestDisk) {
    for sub in [WAL_DIR, SNAPSHOT_DIR] {
        let (source, target) = (from.root().join(sub), to.root().join(sub));
        synod_wal::fs::ensure_dir(&*to.fs, &target).expect("mkdir");
        to.wipe(&target);
        for path in from.files_ending(&source, "") {
            let name = path.file_name().expect("a file name");
            to.write(&target.join(name), &from.read(&path));
        }
    }
}

fn a_crash_while_the_snapshot_is_saved_recovers_the_state_before_the_call(backend: Backend) {
    let disk = disk(backend);
    let image = common::disk(backend);
    let (mut storage, _, _) = open(&disk, small_options());
    let first = vec![Record::Promise(Ballot::new(1, 1)), accept(1)];
    storage.persist(&[&first]).expect("persist");
    restore_image(&disk, &image);
    storage
        .persist(&[&around_a_big_snapshot()])
        .expect("persist");
    let saved = snapshot_files(&disk).pop().expect("the new snapshot");
    let bytes = disk.read(&saved);
    drop(storage);
    // The crash came while the snapshot's temp file was half written: the
    // disk holds what it held before the call, and half a temp file.
    restore_image(&image, &disk);
    let temp = saved.with_extension("snap.tmp");
    disk.write(&temp, &bytes[..bytes.len() / 2]);

    let (_, state, report) = open(&disk, small_options());
    assert_eq!(state, DurableState::replay(&first));
    assert_eq!(report.removed_snapshot_temp_files, vec![temp]);
}

fn a_crash_before_the_records_after_the_snapshot_were_synced_keeps_the_snapshot(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, small_options());
    let first = vec![Record::Promise(Ballot::new(1, 1)), accept(1)];
    storage.persist(&[&first]).expect("persist");
    let call = around_a_big_snapshot();
    storage.persist(&[&call]).expect("persist");
    let snapshot_index = storage.snapshot_index();
    let segment = storage.wal_segment_paths().pop().expect("a segment");
    drop(storage);
    // Cut every record after the snapshot's index, and half of the first
    // of them: they had not reached the disk.
    let bytes = disk.read(&segment);
    let ends = record_ends(&bytes);
    let first_index = segment_first_index(&segment);
    let keep = ends[(snapshot_index - first_index) as usize];
    let half_next = (ends[(snapshot_index + 1 - first_index) as usize] - keep) / 2;
    disk.set_len(&segment, keep + half_next);

    let (_, state, report) = open(&disk, small_options());
    let model = [first, call].concat();
    let through_snapshot = 2 + 5;
    assert!(matches!(model[through_snapshot - 1], Record::Snapshot(_)));
    assert_eq!(state, DurableState::replay(&model[..through_snapshot]));
    assert_snapshot_state(&state, 2);
    assert!(report.torn_tail.is_some());
    assert_eq!(report.wal_last_index, snapshot_index);
}

fn a_state_above_snapshot_bytes_max_fails_the_persist_and_poisons(backend: Backend) {
    let disk = disk(backend);
    let mut options: StorageOptions = small_options();
    options.snapshots.snapshot_bytes_max = STATE_BYTES as u64 / 2;
    let (mut storage, _, _) = open(&disk, options.clone());
    let first = vec![accept(1)];
    storage.persist(&[&first]).expect("persist");
    let err = storage
        .persist(&[&around_a_big_snapshot()])
        .expect_err("too large");
    assert!(
        matches!(err, StorageError::Snapshot(SnapshotError::TooLarge { .. })),
        "{err}"
    );
    assert!(matches!(
        storage.persist(&[&first]),
        Err(StorageError::Poisoned)
    ));
    drop(storage);
    let (_, state, _) = open(&disk, options);
    assert_eq!(state, DurableState::replay(&first));
}

synod_wal::on_both_disks!(
    a_snapshot_above_record_bytes_max_persists_and_survives_reopen,
    the_state_is_written_once_per_engine_snapshot,
    several_snapshots_in_one_call_save_once_and_replay_in_order,
    a_snapshot_with_nothing_logged_since_the_last_replaces_it,
    a_crash_while_the_snapshot_is_saved_recovers_the_state_before_the_call,
    a_crash_before_the_records_after_the_snapshot_were_synced_keeps_the_snapshot,
    a_state_above_snapshot_bytes_max_fails_the_persist_and_poisons,
);
