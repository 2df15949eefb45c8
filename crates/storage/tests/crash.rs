//! Crashes on real files. A crash can interrupt one `persist`: the records
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

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use common::*;
use synod_paxos::{DurableState, Record};

/// Where the WAL ended after a `persist` returned.
struct WalEnd {
    segment: PathBuf,
    len: u64,
}

fn wal_end(storage: &synod_storage::NodeStorage) -> WalEnd {
    let segment = storage.wal_segment_paths().pop().expect("a segment");
    let len = segment.metadata().expect("stat").len();
    WalEnd { segment, len }
}

fn persist_calls(
    storage: &mut synod_storage::NodeStorage,
    rng: &mut SplitMix64,
    calls: u64,
    progress: &mut u64,
    model: &mut Vec<Record>,
) {
    for _ in 0..calls {
        let count = rng.between(1, 3) as usize;
        let batches = random_batches(rng, count, 4, progress);
        let slices: Vec<&[Record]> = batches.iter().map(Vec::as_slice).collect();
        storage.persist(&slices).expect("persist");
        model.extend(batches.into_iter().flatten());
    }
}

#[test]
fn a_crash_mid_persist_recovers_the_synced_records_and_a_prefix_of_the_rest() {
    // How often the interesting cases came up, so the test cannot pass
    // vacuously: torn tails cut, unsynced records lost, records of the
    // interrupted call kept, rolled segments.
    let (mut torn, mut lost, mut kept_unsynced, mut rolled) = (0, 0, 0, 0);
    for seed in 0..24 {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rng = SplitMix64(seed);
        let mut model: Vec<Record> = Vec::new();
        let mut progress = 0;
        for cycle in 0..4 {
            let ctx = format!("seed {seed} cycle {cycle}");
            let (mut storage, state, _) = open(dir.path(), small_options());
            assert_eq!(state, DurableState::replay(&model), "{ctx}: reopen");
            assert_eq!(storage.wal_last_index(), model.len() as u64, "{ctx}");

            let calls = rng.between(0, 12);
            persist_calls(&mut storage, &mut rng, calls, &mut progress, &mut model);
            let synced = model.len();
            let before = wal_end(&storage);
            // The call the crash interrupts.
            persist_calls(&mut storage, &mut rng, 1, &mut progress, &mut model);
            let snapshot_index = storage.snapshot_index();
            drop(storage);

            let after = wal_end_from_disk(dir.path());
            let bytes = std::fs::read(&after.segment).expect("read");
            let first_index = segment_first_index(&after.segment);
            let ends = record_ends(&bytes);
            assert_eq!(ends.last().copied().unwrap_or(0), bytes.len() as u64);
            assert_eq!(first_index - 1 + ends.len() as u64, model.len() as u64);

            let mut cut_min = if before.segment == after.segment {
                before.len
            } else {
                0
            };
            if snapshot_index >= first_index {
                cut_min = cut_min.max(ends[(snapshot_index - first_index) as usize]);
            }
            let cut = rng.between(cut_min, bytes.len() as u64);
            let whole = ends.iter().filter(|&&end| end <= cut).count() as u64;
            let boundary = ends
                .iter()
                .copied()
                .filter(|&end| end <= cut)
                .max()
                .unwrap_or(0);
            let recovered = (first_index - 1 + whole) as usize;

            let tail = match rng.below(3) {
                0 => Vec::new(),
                1 => vec![0; rng.between(1, 64) as usize],
                _ => {
                    let len = rng.between(1, 64) as usize;
                    rng.bytes(len)
                }
            };
            let file = OpenOptions::new()
                .write(true)
                .open(&after.segment)
                .expect("open segment");
            file.set_len(cut).expect("cut");
            file.sync_all().expect("sync");
            drop(file);
            let mut file = OpenOptions::new()
                .append(true)
                .open(&after.segment)
                .expect("open segment");
            file.write_all(&tail).expect("append tail");
            drop(file);

            let (_, state, report) = open(dir.path(), small_options());
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
            assert_eq!(report.wal_last_index, recovered as u64, "{ctx}");
            let leftover = cut - boundary + tail.len() as u64;
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
            model.truncate(recovered);
        }
    }
    assert!(
        torn > 10 && lost > 10 && kept_unsynced > 10 && rolled > 3,
        "coverage: {torn} torn, {lost} lost, {kept_unsynced} kept unsynced, {rolled} rolled"
    );
}

fn wal_end_from_disk(dir: &std::path::Path) -> WalEnd {
    let segment = files_ending(&dir.join(synod_storage::WAL_DIR), ".log")
        .pop()
        .expect("a segment");
    let len = segment.metadata().expect("stat").len();
    WalEnd { segment, len }
}
