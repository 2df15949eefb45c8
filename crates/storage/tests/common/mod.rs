//! Helpers shared by the storage tests: a seeded PRNG, random engine
//! records, options with tiny limits, and raw looks at segment files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use synod_paxos::{
    Ballot, ClientRecord, Command, Config, ConfigChange, DurableState, Record, Snapshot, Value,
};
use synod_storage::{NodeStorage, OpenReport, SnapshotOptions, StorageOptions, WalOptions};

/// splitmix64: tiny, seeded, good enough to drive tests.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
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

pub fn open(dir: &Path, options: StorageOptions) -> (NodeStorage, DurableState, OpenReport) {
    match NodeStorage::open(dir, options) {
        Ok(opened) => opened,
        Err(e) => panic!("open {}: {e}", dir.display()),
    }
}

/// Files in `dir` with the given suffix, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
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
