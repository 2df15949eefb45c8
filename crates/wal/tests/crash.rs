//! Crash and corruption tests on segment files, on the real file system and
//! on the simulated disk: cut, garbage and zeros at the tail must be
//! recovered; damage before valid data must stop open.

mod common;

use std::path::{Path, PathBuf};

use common::{disk, Backend, TestDisk};
use synod_wal::conformance::{read_all, SplitMix64};
use synod_wal::{FileWal, LogStorage, WalError, WalOptions};

const HEADER_BYTES: u64 = synod_wal::record::HEADER_BYTES as u64;

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 2048,
        record_bytes_max: 1024,
        write_buffer_bytes_max: 256,
    }
}

/// Writes `count` random records of random sizes, syncing at random points
/// and once at the end, over several segments. Returns them as read back.
fn write_random_log(disk: &TestDisk, rng: &mut SplitMix64, count: u64) -> Vec<(u64, Vec<u8>)> {
    let (mut wal, _) = open(disk).expect("open");
    for _ in 0..count {
        let len = rng.below(300) as usize;
        wal.append(&rng.bytes(len)).expect("append");
        if rng.below(8) == 0 {
            wal.sync().expect("sync");
        }
    }
    wal.sync().expect("sync");
    let records = read_all(&wal, 1);
    assert!(
        wal.segment_paths().len() >= 3,
        "tests need several segments"
    );
    records
}

fn open(disk: &TestDisk) -> Result<(FileWal, synod_wal::Recovery), WalError> {
    FileWal::open_with_fs(disk.fs.clone(), disk.root(), options())
}

fn segments(disk: &TestDisk) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<_> = disk
        .files_ending(disk.root(), ".log")
        .into_iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("name");
            let index = name["wal-".len().."wal-".len() + 20]
                .parse()
                .expect("index");
            (index, p)
        })
        .collect();
    found.sort();
    found
}

/// How many records of `records` (starting at `first`) fit whole in `len` bytes.
fn whole_records_within(records: &[(u64, Vec<u8>)], first: u64, len: u64) -> u64 {
    let mut end = 0;
    let mut count = 0;
    for (_, payload) in records.iter().filter(|(i, _)| *i >= first) {
        end += HEADER_BYTES + payload.len() as u64;
        if end > len {
            break;
        }
        count += 1;
    }
    count
}

/// Reopens after damage that recovery must absorb, and checks that exactly
/// the records before `survivors_end` come back intact.
fn reopen_and_check(disk: &TestDisk, records: &[(u64, Vec<u8>)], survivors_end: u64, seed: u64) {
    let (mut wal, recovery) = match open(disk) {
        Ok(opened) => opened,
        Err(e) => panic!("seed {seed}: recovery must absorb tail damage, got: {e}"),
    };
    let want: Vec<_> = records
        .iter()
        .filter(|(i, _)| *i < survivors_end)
        .cloned()
        .collect();
    assert_eq!(
        wal.last_index(),
        survivors_end - 1,
        "seed {seed}: {recovery:?}"
    );
    assert_eq!(read_all(&wal, 1), want, "seed {seed}");
    // The cut is durable and the log goes on without a hole.
    assert_eq!(wal.append(b"after").expect("append"), survivors_end);
    wal.sync().expect("sync");
    drop(wal);
    let (wal, recovery) = open(disk).expect("second reopen");
    assert_eq!(recovery.torn_tail, None, "seed {seed}");
    assert_eq!(wal.last_index(), survivors_end);
}

fn last_segment_len(disk: &TestDisk) -> (u64, PathBuf, u64) {
    let (first, path) = segments(disk).pop().expect("a segment");
    let len = disk.len(&path);
    (first, path, len)
}

fn cutting_the_last_segment_anywhere_keeps_exactly_the_whole_records_before_the_cut(
    backend: Backend,
) {
    for seed in 0..25 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let records = write_random_log(&disk, &mut rng, 40);
        let (first, path, len) = last_segment_len(&disk);
        let cut = rng.below(len + 1);
        disk.set_len(&path, cut);
        let survivors_end = first + whole_records_within(&records, first, cut);
        reopen_and_check(&disk, &records, survivors_end, seed);
    }
}

fn garbage_over_the_tail_is_cut_back_to_the_last_whole_record(backend: Backend) {
    for seed in 100..125 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let records = write_random_log(&disk, &mut rng, 40);
        let (first, path, len) = last_segment_len(&disk);
        let from = rng.below(len);
        let garbage_len = len - from + rng.below(500);
        disk.write_at(&path, from, &rng.bytes(garbage_len as usize));
        let survivors_end = first + whole_records_within(&records, first, from);
        reopen_and_check(&disk, &records, survivors_end, seed);
    }
}

fn zeros_appended_after_the_last_record_are_cut_and_reported(backend: Backend) {
    for seed in 200..220 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let records = write_random_log(&disk, &mut rng, 30);
        let (_, path, len) = last_segment_len(&disk);
        let zeros = 1 + rng.below(5000);
        disk.set_len(&path, len + zeros);
        let (wal, recovery) = open(&disk).expect("reopen");
        let torn = recovery
            .torn_tail
            .expect("zeros are reported as a torn tail");
        assert_eq!((torn.path, torn.offset, torn.bytes_cut), (path, len, zeros));
        assert_eq!(read_all(&wal, 1), records, "seed {seed}");
    }
}

/// Flips one byte in record `victim` and returns that record's file and offset.
fn flip_byte_in_record(
    disk: &TestDisk,
    records: &[(u64, Vec<u8>)],
    victim: u64,
    rng: &mut SplitMix64,
) -> (PathBuf, u64) {
    let (first, path) = segments(disk)
        .into_iter()
        .rev()
        .find(|(first, _)| *first <= victim)
        .expect("segment holding the victim");
    let offset: u64 = records
        .iter()
        .filter(|(i, _)| *i >= first && *i < victim)
        .map(|(_, p)| HEADER_BYTES + p.len() as u64)
        .sum();
    let record_len = HEADER_BYTES + records[(victim - 1) as usize].1.len() as u64;
    let at = offset + rng.below(record_len);
    disk.flip(&path, at, 1 << rng.below(8));
    (path, offset)
}

fn expect_corrupt_at(disk: &TestDisk, path: &Path, offset: u64, seed: u64) {
    match open(disk) {
        Err(e @ WalError::Corrupt { .. }) => {
            let WalError::Corrupt {
                path: p, offset: o, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((p.as_path(), *o), (path, offset), "seed {seed}: {e}");
            let message = e.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(
                message.contains(&format!("byte offset {offset}")),
                "{message}"
            );
            assert!(message.contains("restore it from a peer"), "{message}");
        }
        Err(e) => panic!("seed {seed}: expected a corruption error, got: {e}"),
        Ok((_, recovery)) => panic!("seed {seed}: open must fail, recovered {recovery:?}"),
    }
}

fn a_flipped_byte_before_valid_records_of_the_last_segment_fails_open_naming_file_and_offset(
    backend: Backend,
) {
    let mut cases = 0;
    for seed in 300..330 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let records = write_random_log(&disk, &mut rng, 40);
        let (first, _, _) = last_segment_len(&disk);
        let last = records.len() as u64;
        if last - first < 2 {
            continue; // the last segment needs a record after the victim
        }
        let victim = first + rng.below(last - first);
        let (path, offset) = flip_byte_in_record(&disk, &records, victim, &mut rng);
        expect_corrupt_at(&disk, &path, offset, seed);
        cases += 1;
    }
    assert!(cases >= 15, "only {cases} cases exercised");
}

fn a_flipped_byte_anywhere_in_a_closed_segment_fails_open_naming_file_and_offset(backend: Backend) {
    for seed in 400..425 {
        let disk = disk(backend);
        let mut rng = SplitMix64(seed);
        let records = write_random_log(&disk, &mut rng, 40);
        let (last_first, _, _) = last_segment_len(&disk);
        // Any record of a closed segment, its last record included.
        let victim = 1 + rng.below(last_first - 1);
        let (path, offset) = flip_byte_in_record(&disk, &records, victim, &mut rng);
        expect_corrupt_at(&disk, &path, offset, seed);
    }
}

fn a_truncated_closed_segment_fails_open(backend: Backend) {
    let disk = disk(backend);
    let records = write_random_log(&disk, &mut SplitMix64(7), 40);
    let (_, path) = segments(&disk).remove(0);
    let len = disk.len(&path);
    disk.set_len(&path, len - 3);
    let err = open(&disk).expect_err("must refuse");
    assert!(
        matches!(err, WalError::Corrupt { ref path, .. } if path == &segments(&disk)[0].1),
        "{err}"
    );
    assert!(!records.is_empty());
}

fn a_missing_middle_segment_is_a_gap_naming_the_next_segment(backend: Backend) {
    let disk = disk(backend);
    write_random_log(&disk, &mut SplitMix64(8), 40);
    let found = segments(&disk);
    disk.remove(&found[1].1);
    match open(&disk) {
        Err(WalError::Gap {
            path, found: index, ..
        }) => {
            assert_eq!((path, index), (found[2].1.clone(), found[2].0));
        }
        other => panic!("expected a gap error, got {other:?}"),
    }
}

fn a_segment_name_that_does_not_parse_is_refused(backend: Backend) {
    let disk = disk(backend);
    drop(open(&disk).expect("open"));
    disk.write(&disk.root().join("wal-12.log"), b"");
    let err = open(&disk).expect_err("must refuse");
    assert!(matches!(err, WalError::BadSegmentName { .. }), "{err}");
}

fn records_written_by_a_killed_process_are_made_durable_by_recovery(backend: Backend) {
    // A process killed after write() but before fsync leaves its records
    // in the page cache; recovery fsyncs them before reporting them durable.
    let disk = disk(backend);
    let (mut wal, _) = open(&disk).expect("open");
    for i in 0..50u32 {
        wal.append(&i.to_le_bytes()).expect("append");
    }
    // 50 records of 20 bytes overflow the 256-byte write buffer several times.
    drop(wal);
    let (wal, recovery) = open(&disk).expect("reopen");
    assert!(
        recovery.last_index > 0 && recovery.last_index < 50,
        "{recovery:?}"
    );
    assert_eq!(wal.durable_index(), recovery.last_index);
    if let Some(sim) = &disk.sim {
        // On the simulated disk the claim is checked: power loss now
        // keeps every record recovery returned.
        drop(wal);
        sim.crash(synod_wal::CrashPlan::LoseUnsynced);
        let (_, after) = open(&disk).expect("reopen after power loss");
        assert_eq!(after.last_index, recovery.last_index);
    }
}

synod_wal::on_both_disks!(
    cutting_the_last_segment_anywhere_keeps_exactly_the_whole_records_before_the_cut,
    garbage_over_the_tail_is_cut_back_to_the_last_whole_record,
    zeros_appended_after_the_last_record_are_cut_and_reported,
    a_flipped_byte_before_valid_records_of_the_last_segment_fails_open_naming_file_and_offset,
    a_flipped_byte_anywhere_in_a_closed_segment_fails_open_naming_file_and_offset,
    a_truncated_closed_segment_fails_open,
    a_missing_middle_segment_is_a_gap_naming_the_next_segment,
    a_segment_name_that_does_not_parse_is_refused,
    records_written_by_a_killed_process_are_made_durable_by_recovery,
);
