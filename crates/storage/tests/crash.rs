//! Crashes on the real file system and on the simulated disk. A crash can interrupt one `persist`: the records
//! of the calls that returned are durable, the interrupted call's bytes may
//! have reached the disk in part, followed by whatever the device left
//! (nothing, zeros, garbage). The property, after reopening:
//!
//! - never less than what was synced: every record of every `persist` that
//!   returned Ok is recovered;
//! - never anything that was not written: garbage never becomes a record;
//! - never out of order: the recovered state is exactly
//!   `DurableState::replay` of a prefix of the persisted record sequence,
//!   namely the records that were completely on disk before the cut.
//!
//! The writes of the interrupted call are simulated by the real call
//! followed by cutting its bytes off the last segment at a random offset:
//! with sequential writeback that is exactly what a crash before its fsync
//! can leave. A cut never goes below the end of a `persist` that returned,
//! nor below the WAL index a storage snapshot covers (a snapshot is saved
//! after the fsync, so it cannot exist without the records it covers).

mod common;

use std::path::PathBuf;

use common::*;
use synod_paxos::{DurableState, Record};

/// Where the WAL ended after a `persist` returned.
struct WalEnd {
    segment: PathBuf,
    len: u64,
}

fn wal_end(disk: &TestDisk, storage: &synod_storage::NodeStorage) -> WalEnd {
    let segment = storage.wal_segment_paths().pop().expect("a segment");
    let len = disk.len(&segment);
    WalEnd { segment, len }
}

/// Where the records of the model went, by the rule of the crate docs.
#[derive(Default)]
struct Placement {
    /// For WAL index `i + 1`: how many records of the model the WAL
    /// holds up to and including it.
    wal: Vec<usize>,
    /// How many records of the model the newest storage snapshot holds.
    snapshot: usize,
}

impl Placement {
    /// The records of the model that recovery from the newest storage
    /// snapshot, at WAL index `snapshot_index`, and the WAL up to
    /// `wal_last_index` gives back.
    fn recovered(&self, snapshot_index: u64, wal_last_index: u64) -> usize {
        assert!(wal_last_index >= snapshot_index);
        if wal_last_index == snapshot_index {
            self.snapshot
        } else {
            self.wal[wal_last_index as usize - 1]
        }
    }
}

fn persist_calls(
    storage: &mut synod_storage::NodeStorage,
    rng: &mut SplitMix64,
    calls: u64,
    progress: &mut u64,
    model: &mut Vec<Record>,
    placement: &mut Placement,
) {
    for _ in 0..calls {
        let count = rng.between(1, 3) as usize;
        let batches = random_batches(rng, count, 4, progress);
        let slices: Vec<&[Record]> = batches.iter().map(Vec::as_slice).collect();
        storage.persist(&slices).expect("persist");
        let before = model.len();
        model.extend(batches.into_iter().flatten());
        let folded = model[before..]
            .iter()
            .rposition(|r| matches!(r, Record::Snapshot(_)))
            .map_or(0, |last| last + 1);
        placement.wal.extend(before + folded + 1..=model.len());
        assert_eq!(placement.wal.len() as u64, storage.wal_last_index());
        if storage.snapshot_index() == storage.wal_last_index() {
            // Saved at the end of the call: everything is in it.
            placement.snapshot = model.len();
        } else if folded > 0 {
            placement.snapshot = before + folded;
        }
    }
}

fn a_crash_mid_persist_recovers_the_synced_records_and_a_prefix_of_the_rest(backend: Backend) {
    // How often the interesting cases came up, so the test cannot pass
    // vacuously: torn tails cut, unsynced records lost, records of the
    // interrupted call kept, rolled segments, engine snapshots in the
    // interrupted call.
    let (mut torn, mut lost, mut kept_unsynced, mut rolled) = (0, 0, 0, 0);
    let mut snapshot_interrupted = 0;
    for seed in 0..24 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let mut model: Vec<Record> = Vec::new();
        let mut placement = Placement::default();
        let mut progress = 0;
        for cycle in 0..4 {
            let ctx = format!("seed {seed} cycle {cycle}");
            let (mut storage, state, _) = open(&disk, small_options());
            assert_eq!(state, DurableState::replay(&model), "{ctx}: reopen");
            assert_eq!(
                storage.wal_last_index(),
                placement.wal.len() as u64,
                "{ctx}"
            );

            let calls = rng.between(0, 12);
            let p = &mut placement;
            persist_calls(&mut storage, &mut rng, calls, &mut progress, &mut model, p);
            let synced = model.len();
            let before = wal_end(&disk, &storage);
            // The call the crash interrupts.
            persist_calls(&mut storage, &mut rng, 1, &mut progress, &mut model, p);
            let snapshot_index = storage.snapshot_index();
            drop(storage);

            let after = wal_end_from_disk(&disk);
            let bytes = disk.read(&after.segment);
            let first_index = segment_first_index(&after.segment);
            let ends = record_ends(&bytes);
            assert_eq!(ends.last().copied().unwrap_or(0), bytes.len() as u64);
            assert_eq!(
                first_index - 1 + ends.len() as u64,
                placement.wal.len() as u64
            );

            let mut cut_min = if before.segment == after.segment {
                before.len
            } else {
                0
            };
            if snapshot_index >= first_index {
                cut_min = cut_min.max(ends[(snapshot_index - first_index) as usize]);
            }
            let cut = rng.between(cut_min, bytes.len() as u64);
            let tail = match rng.below(3) {
                0 => Vec::new(),
                1 => vec![0; rng.between(1, 64) as usize],
                _ => {
                    let len = rng.between(1, 64) as usize;
                    rng.bytes(len)
                }
            };
            // What the segment holds after the crash. A record is whole if
            // every byte of it is as written: rarely the tail happens to
            // repeat the bytes it replaced (zeros, say), and the record
            // is then rightly recovered.
            let image = [&bytes[..cut as usize], &tail[..]].concat();
            let whole_ends: Vec<u64> = ends
                .iter()
                .copied()
                .take_while(|&end| {
                    end as usize <= image.len() && image[..end as usize] == bytes[..end as usize]
                })
                .collect();
            let whole = whole_ends.len() as u64;
            let boundary = whole_ends.last().copied().unwrap_or(0);
            let wal_recovered = first_index - 1 + whole;
            let recovered = placement.recovered(snapshot_index, wal_recovered);

            disk.set_len(&after.segment, cut);
            disk.write_at(&after.segment, cut, &tail);

            let (_, state, report) = open(&disk, small_options());
            assert!(
                recovered >= synced,
                "{ctx}: the cut kept every synced record"
            );
            assert!(recovered <= model.len(), "{ctx}");
            assert_eq!(
                state,
                DurableState::replay(&model[..recovered]),
                "{ctx}: recovered the replay of the {recovered} whole records \
                 ({synced} synced, {} written)",
                model.len()
            );
            assert_eq!(report.wal_last_index, wal_recovered, "{ctx}");
            let leftover = image.len() as u64 - boundary;
            match &report.torn_tail {
                None => assert_eq!(leftover, 0, "{ctx}: nothing to cut"),
                Some(torn) => {
                    assert_eq!(torn.path, after.segment, "{ctx}");
                    assert_eq!(torn.offset, boundary, "{ctx}");
                    assert_eq!(torn.bytes_cut, leftover, "{ctx}");
                }
            }
            torn += usize::from(report.torn_tail.is_some());
            lost += usize::from(recovered < model.len());
            kept_unsynced += usize::from(recovered > synced);
            rolled += usize::from(before.segment != after.segment);
            snapshot_interrupted += usize::from(
                model[synced..]
                    .iter()
                    .any(|r| matches!(r, Record::Snapshot(_))),
            );
            model.truncate(recovered);
            placement.wal.truncate(wal_recovered as usize);
        }
    }
    assert!(
        torn > 10 && lost > 10 && kept_unsynced > 10 && rolled > 3 && snapshot_interrupted > 3,
        "coverage: {torn} torn, {lost} lost, {kept_unsynced} kept unsynced, {rolled} rolled, \
         {snapshot_interrupted} engine snapshots in the interrupted call"
    );
}

fn wal_end_from_disk(disk: &TestDisk) -> WalEnd {
    let segment = wal_segments(disk).pop().expect("a segment");
    let len = disk.len(&segment);
    WalEnd { segment, len }
}

synod_wal::on_both_disks!(a_crash_mid_persist_recovers_the_synced_records_and_a_prefix_of_the_rest,);
