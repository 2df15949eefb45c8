//! Helpers shared by the storage tests: test disks of either kind, random
//! engine records, options with tiny limits, and raw looks at segment
//! files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use synod_paxos::{
    Ballot, ClientRecord, Command, Config, ConfigChange, DurableState, Record, Snapshot, Value,
};
use synod_storage::{
    NodeStorage, OpenReport, SnapshotOptions, StorageError, StorageOptions, WalOptions,
};
pub use synod_wal::test_disk::{Backend, TestDisk};
pub use synod_wal::SplitMix64;

pub mod workload;

/// A fresh data directory on `backend`: a temporary directory, or a new
/// simulated disk.
pub fn disk(backend: Backend) -> TestDisk {
    match backend {
        Backend::Real => {
            let guard = tempfile::tempdir().expect("temp dir");
            TestDisk::real(guard.path().to_path_buf(), guard)
        }
        Backend::Sim => TestDisk::sim(),
    }
}

/// Small segments and a low compaction threshold, so a few hundred
/// records exercise rolling, compaction and truncation.
pub fn small_options() -> StorageOptions {
    StorageOptions {
        wal: WalOptions {
            segment_bytes_max: 1024,
            record_bytes_max: 16 << 10,
            write_buffer_bytes_max: 512,
        },
        snapshots: SnapshotOptions {
            keep_count: 2,
            snapshot_bytes_max: 1 << 20,
        },
        compact_wal_bytes_min: 4096,
    }
}

/// Like [`small_options`] but never compacting on size.
pub fn no_size_compaction() -> StorageOptions {
    StorageOptions {
        compact_wal_bytes_min: u64::MAX,
        ..small_options()
    }
}

fn ballot(rng: &mut SplitMix64) -> Ballot {
    Ballot::new(rng.below(6), rng.between(1, 3))
}

fn value(rng: &mut SplitMix64) -> Value {
    match rng.below(4) {
        0 => Value::Noop,
        1 => Value::Reconfig(ConfigChange::AddLearner(rng.between(4, 9))),
        _ => Value::Batch(
            (0..rng.between(1, 3))
                .map(|_| Command {
                    client: rng.between(1, 5),
                    seq: rng.below(100),
                    op: {
                        let len = rng.below(40) as usize;
                        rng.bytes(len)
                    },
                })
                .collect(),
        ),
    }
}

fn snapshot(rng: &mut SplitMix64, last_slot: u64) -> Snapshot {
    let clients: BTreeMap<_, _> = (0..rng.below(3))
        .map(|_| {
            let record = ClientRecord {
                seq: rng.below(50),
                reply: {
                    let len = rng.below(8) as usize;
                    rng.bytes(len)
                },
                slot: rng.below(last_slot + 1),
            };
            (rng.between(1, 5), record)
        })
        .collect();
    Snapshot {
        last_slot,
        config: Config::new([1, 2, 3]),
        clients,
        state: {
            let len = rng.below(64) as usize;
            rng.bytes(len).into()
        },
    }
}

/// One random record. Slots grow slowly with `progress` so snapshots
/// really drop entries and later records land above them.
pub fn random_record(rng: &mut SplitMix64, progress: u64) -> Record {
    let base = progress / 4;
    let slot = base + rng.between(1, 12);
    match rng.below(40) {
        0..=5 => Record::Promise(ballot(rng)),
        6..=23 => Record::Accept {
            slot,
            ballot: ballot(rng),
            value: value(rng),
        },
        24..=30 => Record::Learned {
            slot,
            value: value(rng),
        },
        31..=38 => Record::Commit(base + rng.below(8)),
        _ => {
            let last_slot = base + rng.below(6);
            Record::Snapshot(Box::new(snapshot(rng, last_slot)))
        }
    }
}

/// `count` random batches of 1..=`records_max` records.
pub fn random_batches(
    rng: &mut SplitMix64,
    count: usize,
    records_max: u64,
    progress: &mut u64,
) -> Vec<Vec<Record>> {
    (0..count)
        .map(|_| {
            (0..rng.between(1, records_max))
                .map(|_| {
                    *progress += 1;
                    random_record(rng, *progress)
                })
                .collect()
        })
        .collect()
}

/// Persists `batches` in groups of 1..=3 per `persist` call, appending
/// every record to `model`.
pub fn persist_grouped(
    storage: &mut NodeStorage,
    rng: &mut SplitMix64,
    batches: &[Vec<Record>],
    model: &mut Vec<Record>,
) {
    let mut rest = batches;
    while !rest.is_empty() {
        let take = (rng.between(1, 3) as usize).min(rest.len());
        let (group, tail) = rest.split_at(take);
        let slices: Vec<&[Record]> = group.iter().map(Vec::as_slice).collect();
        storage.persist(&slices).expect("persist");
        model.extend(group.iter().flatten().cloned());
        rest = tail;
    }
}

/// Opens the storage in the disk's root directory.
pub fn try_open(
    disk: &TestDisk,
    options: StorageOptions,
) -> Result<(NodeStorage, DurableState, OpenReport), StorageError> {
    NodeStorage::open_with_fs(disk.fs.clone(), disk.root(), options)
}

pub fn open(disk: &TestDisk, options: StorageOptions) -> (NodeStorage, DurableState, OpenReport) {
    match try_open(disk, options) {
        Ok(opened) => opened,
        Err(e) => panic!("open {}: {e}", disk.root().display()),
    }
}

/// The segment files, oldest first.
pub fn wal_segments(disk: &TestDisk) -> Vec<PathBuf> {
    disk.files_ending(&disk.root().join(synod_storage::WAL_DIR), ".log")
}

/// The storage snapshot files, oldest first.
pub fn snapshot_files(disk: &TestDisk) -> Vec<PathBuf> {
    disk.files_ending(&disk.root().join(synod_storage::SNAPSHOT_DIR), ".snap")
}

/// The first WAL index of a segment, from its name `wal-<index>.log`.
pub fn segment_first_index(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name["wal-".len()..name.len() - ".log".len()]
        .parse()
        .expect("segment name")
}

/// Byte offsets where each complete record of a segment image ends, read
/// from the WAL's documented header (u32 LE payload length, then 12 bytes).
pub fn record_ends(bytes: &[u8]) -> Vec<u64> {
    let mut ends = Vec::new();
    let mut offset = 0usize;
    while let Some(header) = bytes.get(offset..offset + 16) {
        let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let end = offset + 16 + len;
        if end > bytes.len() {
            break;
        }
        ends.push(end as u64);
        offset = end;
    }
    ends
}

/// The same batches with every engine snapshot replaced by a commit, for
/// tests that want compaction driven by size alone.
pub fn without_snapshots(batches: Vec<Vec<Record>>) -> Vec<Vec<Record>> {
    batches
        .into_iter()
        .map(|batch| {
            batch
                .into_iter()
                .map(|r| match r {
                    Record::Snapshot(s) => Record::Commit(s.last_slot),
                    other => other,
                })
                .collect()
        })
        .collect()
}

/// The length of the shortest prefix of `model`, at least `at_least`
/// records long, whose replay is `state`; `None` if there is none.
pub fn replayed_prefix(model: &[Record], at_least: usize, state: &DurableState) -> Option<usize> {
    let mut replayed = DurableState::replay(&model[..at_least]);
    let mut len = at_least;
    while &replayed != state {
        replayed.apply(model.get(len)?);
        len += 1;
    }
    Some(len)
}
