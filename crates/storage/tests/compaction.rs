//! Compaction writes a storage snapshot of the whole durable state, then
//! truncates the WAL below it: the state stays the replay of every record,
//! old segments leave the disk, and its cost stays bounded.

mod common;

use common::*;
use synod_paxos::{Ballot, DurableState, Record, Value};
use synod_storage::codec::encode_record;
use synod_storage::SNAPSHOT_DIR;

fn size_triggered_compaction_removes_old_segments_and_keeps_the_state(backend: Backend) {
    let disk = disk(backend);
    let mut rng = SplitMix64(11);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(&disk, small_options());
    let batches = without_snapshots(random_batches(&mut rng, 300, 4, &mut progress));
    persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    let snapshot_index = storage.snapshot_index();
    assert!(snapshot_index > 0, "the WAL outgrew the threshold");
    drop(storage);

    let segments = wal_segments(&disk);
    let first = segment_first_index(&segments[0]);
    assert!(first > 1, "segment wal-1 was removed");
    assert!(
        first <= snapshot_index + 1,
        "the WAL still holds every record after the snapshot"
    );
    // What the WAL took in since the snapshot stays below the threshold,
    // plus the active segment's records from before it and one record.
    let options = small_options();
    let newest_snapshot_bytes = snapshot_files(&disk).last().map_or(0, |p| disk.len(p));
    let threshold = options.compact_wal_bytes_min.max(newest_snapshot_bytes);
    let wal_bytes: u64 = segments.iter().map(|p| disk.len(p)).sum();
    let record_bytes_max = 16 + u64::from(options.wal.record_bytes_max);
    assert!(
        wal_bytes < threshold + options.wal.segment_bytes_max + record_bytes_max,
        "WAL of {wal_bytes} bytes"
    );
    let snaps = snapshot_files(&disk);
    assert!(!snaps.is_empty() && snaps.len() <= options.snapshots.keep_count);

    let (_, state, report) = open(&disk, small_options());
    assert_eq!(state, DurableState::replay(&model));
    assert_eq!(
        report.snapshot.expect("loaded a snapshot").wal_index,
        snapshot_index
    );
    assert_eq!(report.records_replayed, model.len() as u64 - snapshot_index);
}

fn an_engine_snapshot_is_saved_as_a_storage_snapshot_at_the_wal_end_not_logged(backend: Backend) {
    let disk = disk(backend);
    let mut rng = SplitMix64(12);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let batches = without_snapshots(random_batches(&mut rng, 10, 3, &mut progress));
    persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    assert_eq!(storage.snapshot_index(), 0, "no compaction on size");
    let wal_end = storage.wal_last_index();
    assert_eq!(wal_end, model.len() as u64);

    let engine_snapshot = loop {
        let record = random_record(&mut rng, progress);
        if matches!(record, Record::Snapshot(_)) {
            break record;
        }
    };
    // The commit before the snapshot is folded into it with the snapshot.
    let batch = vec![Record::Commit(1), engine_snapshot];
    storage.persist(&[&batch]).expect("persist");
    model.extend(batch);
    assert_eq!(storage.wal_last_index(), wal_end, "nothing was logged");
    assert_eq!(storage.snapshot_index(), wal_end);
    let snaps = snapshot_files(&disk);
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].ends_with(format!("snap-{wal_end:020}.snap")));
    drop(storage);

    let (_, state, report) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_eq!(report.records_replayed, 0);
}

/// The reason a storage snapshot holds the whole durable state: the
/// engine's snapshot alone would lose the promise and the accepted entries
/// above its slot once the segments holding them are removed.
fn truncation_never_loses_a_promise_or_an_accepted_entry(backend: Backend) {
    let disk = disk(backend);
    let high = Ballot::new(9, 3);
    let early = vec![
        Record::Promise(high),
        Record::Accept {
            slot: 50,
            ballot: Ballot::new(8, 1),
            value: Value::Noop,
        },
        Record::Learned {
            slot: 60,
            value: Value::Noop,
        },
    ];
    let (mut storage, _, _) = open(&disk, small_options());
    storage.persist(&[&early]).expect("persist");
    let mut model = early.clone();
    // Commits far below the accepted slots, until segment wal-1 is gone.
    let mut slot = 0;
    while segment_first_index(&wal_segments(&disk)[0]) == 1 {
        slot += 1;
        let batch = vec![Record::Commit(slot % 10)];
        storage.persist(&[&batch]).expect("persist");
        model.extend(batch);
        assert!(slot < 10_000, "compaction never removed wal-1");
    }
    drop(storage);
    let (_, state, _) = open(&disk, small_options());
    assert_eq!(state.promised, high);
    assert_eq!(state.log[&50].ballot, Ballot::new(8, 1));
    assert!(state.log[&60].chosen);
    assert_eq!(state, DurableState::replay(&model));
}

/// Each compaction needs `max(compact_wal_bytes_min, last snapshot size)`
/// new WAL bytes, so compactions are few and the bytes they write stay
/// within twice the bytes the WAL took in.
fn compaction_cost_is_bounded_by_the_bytes_the_wal_took_in(backend: Backend) {
    let disk = disk(backend);
    let mut rng = SplitMix64(13);
    let mut progress = 0;
    let options = small_options();
    let (mut storage, _, _) = open(&disk, options.clone());
    let (mut compactions, mut snapshot_bytes_written, mut wal_bytes_in) = (0u64, 0u64, 0u64);
    let mut last_index = 0;
    for _ in 0..600 {
        let batch = without_snapshots(random_batches(&mut rng, 1, 3, &mut progress)).remove(0);
        wal_bytes_in += batch
            .iter()
            .map(|r| 16 + encode_record(r).unwrap().len() as u64)
            .sum::<u64>();
        storage.persist(&[&batch]).expect("persist");
        if storage.snapshot_index() != last_index {
            last_index = storage.snapshot_index();
            compactions += 1;
            let newest = snapshot_files(&disk).pop().expect("snapshot file");
            snapshot_bytes_written += disk.len(&newest);
            assert_eq!(storage.wal_bytes_since_snapshot(), 0);
        }
    }
    assert!(compactions >= 2, "the workload compacts");
    assert!(
        compactions <= wal_bytes_in / options.compact_wal_bytes_min,
        "{compactions} compactions for {wal_bytes_in} WAL bytes"
    );
    assert!(
        snapshot_bytes_written <= 2 * wal_bytes_in,
        "{snapshot_bytes_written} snapshot bytes for {wal_bytes_in} WAL bytes"
    );
}

fn a_crash_between_snapshot_and_truncation_is_finished_on_open(backend: Backend) {
    let disk = disk(backend);
    let mut rng = SplitMix64(14);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let batches = without_snapshots(random_batches(&mut rng, 60, 4, &mut progress));
    persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = wal_segments(&disk)
        .into_iter()
        .map(|p| {
            let bytes = disk.read(&p);
            (p, bytes)
        })
        .collect();
    assert!(before.len() >= 3, "the test needs several segments");
    storage.compact().expect("compact");
    drop(storage);
    // Put back the segments truncation removed: the crash came before it.
    for (path, bytes) in &before {
        if !disk.exists(path) {
            disk.write(path, bytes);
        }
    }
    let (_, state, report) = open(&disk, no_size_compaction());
    assert_eq!(state, DurableState::replay(&model));
    assert_eq!(report.records_replayed, 0);
    assert_eq!(wal_segments(&disk).len(), 1, "truncation finished");
}

fn an_interrupted_snapshot_save_is_removed_on_open(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, small_options());
    storage
        .persist(&[&[Record::Promise(Ballot::new(1, 1))]])
        .expect("persist");
    drop(storage);
    let temp = disk
        .root()
        .join(SNAPSHOT_DIR)
        .join(format!("snap-{:020}.snap.tmp", 1));
    disk.write(&temp, b"half a snapshot");
    let (_, state, report) = open(&disk, small_options());
    assert_eq!(state.promised, Ballot::new(1, 1));
    assert_eq!(report.removed_snapshot_temp_files, vec![temp.clone()]);
    assert!(!disk.exists(&temp));
}

synod_wal::on_both_disks!(
    size_triggered_compaction_removes_old_segments_and_keeps_the_state,
    an_engine_snapshot_is_saved_as_a_storage_snapshot_at_the_wal_end_not_logged,
    truncation_never_loses_a_promise_or_an_accepted_entry,
    compaction_cost_is_bounded_by_the_bytes_the_wal_took_in,
    a_crash_between_snapshot_and_truncation_is_finished_on_open,
    an_interrupted_snapshot_save_is_removed_on_open,
);
