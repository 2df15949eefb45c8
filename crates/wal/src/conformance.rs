//! The conformance suite every [`LogStorage`] must pass.
//!
//! Each check takes a [`Harness`], which opens the log over some storage and
//! can simulate power loss on it; [`run_all`] runs every check on a fresh
//! harness from a factory closure. The in-memory log and the file log, on
//! the real file system and on [`SimFs`], all run it (see
//! `tests/conformance.rs`); a new implementation should too.
//! Checks panic with a message on failure, like any test.

use std::path::PathBuf;

use crate::error::WalError;
use crate::file_wal::{FileWal, WalOptions};
use crate::mem_log::{MemDisk, MemLog};
pub use crate::rng::SplitMix64;
use crate::sim_fs::{CrashPlan, SimFs};
use crate::storage::{LogStorage, Recovery};

/// Opens a log over some storage and simulates crashes of it.
pub trait Harness {
    /// The implementation under test.
    type Log: LogStorage;
    /// Opens the log, running recovery over whatever the storage holds.
    fn open(&mut self) -> Result<(Self::Log, Recovery), WalError>;
    /// Simulates power loss: everything not durable is lost except up to
    /// `torn_bytes` bytes of the first non-durable record, which stay
    /// behind as a torn write for recovery to cut.
    fn crash(&mut self, log: Self::Log, torn_bytes: usize);
    /// The `record_bytes_max` the log was configured with.
    fn record_bytes_max(&self) -> u32;
}

/// A harness for [`MemLog`].
#[derive(Debug, Default)]
pub struct MemHarness {
    disk: Option<MemDisk>,
    record_bytes_max: Option<u32>,
}

impl MemHarness {
    /// A harness whose logs accept records up to `record_bytes_max` bytes.
    pub fn new(record_bytes_max: u32) -> MemHarness {
        MemHarness {
            disk: None,
            record_bytes_max: Some(record_bytes_max),
        }
    }
}

impl Harness for MemHarness {
    type Log = MemLog;

    fn open(&mut self) -> Result<(MemLog, Recovery), WalError> {
        let disk = match self.disk.take() {
            Some(disk) => disk,
            None => MemLog::with_record_bytes_max(self.record_bytes_max()).crash(0),
        };
        MemLog::open(disk)
    }

    fn crash(&mut self, log: MemLog, torn_bytes: usize) {
        self.disk = Some(log.crash(torn_bytes));
    }

    fn record_bytes_max(&self) -> u32 {
        self.record_bytes_max
            .unwrap_or(MemLog::new().record_bytes_max())
    }
}

/// A harness for [`FileWal`] in a directory; `G` keeps the directory alive
/// (a `tempfile::TempDir`, say).
#[derive(Debug)]
pub struct FileHarness<G> {
    /// The data directory.
    pub dir: PathBuf,
    /// Options for every open.
    pub options: WalOptions,
    /// Dropped with the harness.
    pub guard: G,
}

impl<G> Harness for FileHarness<G> {
    type Log = FileWal;

    fn open(&mut self) -> Result<(FileWal, Recovery), WalError> {
        FileWal::open(&self.dir, self.options.clone())
    }

    fn crash(&mut self, log: FileWal, torn_bytes: usize) {
        if let Err(e) = log.simulate_crash(torn_bytes) {
            panic!("simulating a crash failed: {e}");
        }
    }

    fn record_bytes_max(&self) -> u32 {
        self.options.record_bytes_max
    }
}

/// A harness for [`FileWal`] on a [`SimFs`]. Its crash is the file
/// harness's (the page cache cut to the durable bytes and the torn ones)
/// followed by a [`SimFs::crash`] that keeps that page cache, so reopening
/// also meets stale handles and a fresh power-on; the random crashes of
/// the simulated disk have their own tests.
#[derive(Debug)]
pub struct SimHarness {
    /// The simulated disk.
    pub fs: SimFs,
    /// The log's directory on it.
    pub dir: PathBuf,
    /// Options for every open.
    pub options: WalOptions,
}

impl Harness for SimHarness {
    type Log = FileWal;

    fn open(&mut self) -> Result<(FileWal, Recovery), WalError> {
        FileWal::open_with_fs(self.fs.shared(), &self.dir, self.options.clone())
    }

    fn crash(&mut self, log: FileWal, torn_bytes: usize) {
        if let Err(e) = log.simulate_crash(torn_bytes) {
            panic!("simulating a crash failed: {e}");
        }
        self.fs.crash(CrashPlan::KeepUnsynced);
    }

    fn record_bytes_max(&self) -> u32 {
        self.options.record_bytes_max
    }
}

fn must<T>(what: &str, result: Result<T, WalError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

fn open<H: Harness>(h: &mut H) -> (H::Log, Recovery) {
    must("open", h.open())
}

/// Every record from `from` on, as `(index, payload)`.
pub fn read_all<L: LogStorage>(log: &L, from: u64) -> Vec<(u64, Vec<u8>)> {
    must("read_from", log.read_from(from))
        .map(|r| must("reading a record", r))
        .collect()
}

/// A payload that names its index, so a misplaced record is noticed.
fn payload(index: u64, len: usize) -> Vec<u8> {
    let mut p = format!("record {index};").into_bytes();
    p.resize(len.max(p.len()), (index % 251) as u8);
    p
}

/// A new log is empty, starts at index 1 and has nothing durable.
pub fn a_new_log_is_empty<H: Harness>(h: &mut H) {
    let (log, recovery) = open(h);
    assert_eq!(
        (log.first_index(), log.last_index(), log.durable_index()),
        (1, 0, 0)
    );
    assert_eq!(recovery.torn_tail, None);
    assert!(read_all(&log, 1).is_empty());
}

/// The log assigns contiguous indices and one sync makes them all durable.
pub fn append_assigns_contiguous_indices_and_one_sync_covers_them<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for expected in 1..=5 {
        assert_eq!(must("append", log.append(&payload(expected, 10))), expected);
    }
    assert_eq!(log.last_index(), 5);
    assert_eq!(log.durable_index(), 0, "nothing is durable before sync");
    assert_eq!(must("sync", log.sync()), 5);
    assert_eq!(log.durable_index(), 5);
    assert_eq!(must("sync", log.sync()), 5, "an idle sync changes nothing");
}

/// Reads see records that are not yet durable, and start where asked.
pub fn reads_see_records_before_they_are_durable<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for i in 1..=4 {
        must("append", log.append(&payload(i, 3)));
    }
    must("sync", log.sync());
    for i in 5..=7 {
        must("append", log.append(&payload(i, 3)));
    }
    let got = read_all(&log, 3);
    let want: Vec<_> = (3..=7).map(|i| (i, payload(i, 3))).collect();
    assert_eq!(got, want);
}

/// Synced records come back byte for byte after a reopen, and appending
/// continues at the next index.
pub fn synced_records_survive_reopen<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    let want: Vec<_> = (1..=20)
        .map(|i| (i, payload(i, (i * 7) as usize)))
        .collect();
    for (_, p) in &want {
        must("append", log.append(p));
    }
    must("sync", log.sync());
    h.crash(log, 0);
    let (mut log, recovery) = open(h);
    assert_eq!((recovery.first_index, recovery.last_index), (1, 20));
    assert_eq!(recovery.torn_tail, None);
    assert_eq!(log.durable_index(), 20, "recovered records are durable");
    assert_eq!(read_all(&log, 1), want);
    assert_eq!(must("append", log.append(b"next")), 21);
}

/// A crash loses the records that were not synced, and only those.
pub fn a_crash_drops_only_unsynced_records<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for i in 1..=6 {
        must("append", log.append(&payload(i, 5)));
    }
    must("sync", log.sync());
    for i in 7..=9 {
        must("append", log.append(&payload(i, 5)));
    }
    h.crash(log, 0);
    let (mut log, _) = open(h);
    assert_eq!(log.last_index(), 6);
    assert_eq!(
        read_all(&log, 1),
        (1..=6).map(|i| (i, payload(i, 5))).collect::<Vec<_>>()
    );
    assert_eq!(
        must("append", log.append(b"after crash")),
        7,
        "no hole after a crash"
    );
    must("sync", log.sync());
    assert_eq!(read_all(&log, 7), vec![(7, b"after crash".to_vec())]);
}

/// A torn last write is cut by recovery and reported; the log goes on.
pub fn recovery_cuts_a_torn_write<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for i in 1..=3 {
        must("append", log.append(&payload(i, 40)));
    }
    must("sync", log.sync());
    must("append", log.append(&payload(4, 40)));
    h.crash(log, 25);
    let (mut log, recovery) = open(h);
    let torn = recovery.torn_tail.expect("the torn write is reported");
    assert!(
        torn.bytes_cut > 0 && torn.bytes_cut <= 25,
        "cut {} bytes",
        torn.bytes_cut
    );
    assert_eq!(log.last_index(), 3);
    assert_eq!(must("append", log.append(b"x")), 4);
    must("sync", log.sync());
    h.crash(log, 0);
    let (log, recovery) = open(h);
    assert_eq!(recovery.torn_tail, None, "the cut was made durable");
    assert_eq!(read_all(&log, 4), vec![(4, b"x".to_vec())]);
}

/// `truncate_prefix` removes only records below the bound, the rest stays
/// readable, reads below the new first index are refused, and all of it
/// holds after a reopen.
pub fn truncate_prefix_keeps_everything_from_the_bound<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for i in 1..=60 {
        must("append", log.append(&payload(i, 30)));
    }
    must("sync", log.sync());
    let first = must("truncate_prefix", log.truncate_prefix(41));
    assert!(
        first <= 41,
        "never removes the bound itself (first index {first})"
    );
    assert_eq!(first, log.first_index());
    let want: Vec<_> = (first..=60).map(|i| (i, payload(i, 30))).collect();
    assert_eq!(read_all(&log, first), want);
    if first > 1 {
        assert!(matches!(
            log.read_from(first - 1),
            Err(WalError::Compacted { .. })
        ));
    }
    h.crash(log, 0);
    let (mut log, recovery) = open(h);
    assert_eq!((recovery.first_index, recovery.last_index), (first, 60));
    assert_eq!(read_all(&log, first), want);
    assert_eq!(must("append", log.append(b"61")), 61);
    assert_eq!(
        must("truncate_prefix", log.truncate_prefix(1)),
        first,
        "a lower bound removes nothing"
    );
}

/// Records that are not durable are never truncated away.
pub fn truncate_prefix_refuses_records_that_are_not_durable<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    for i in 1..=4 {
        must("append", log.append(&payload(i, 4)));
    }
    must("sync", log.sync());
    must("append", log.append(&payload(5, 4)));
    assert!(matches!(
        log.truncate_prefix(6),
        Err(WalError::TruncateBeyondDurable {
            below: 6,
            durable_index: 4
        })
    ));
    assert_eq!(log.first_index(), 1);
}

/// Reads past the end are refused; reading from just past the end is empty.
pub fn reads_outside_the_log_are_refused<H: Harness>(h: &mut H) {
    let (mut log, _) = open(h);
    must("append", log.append(b"one"));
    assert!(read_all(&log, 2).is_empty());
    assert!(matches!(
        log.read_from(3),
        Err(WalError::PastEnd {
            index: 3,
            last_index: 1
        })
    ));
    assert!(matches!(
        log.read_from(0),
        Err(WalError::Compacted {
            index: 0,
            first_index: 1
        })
    ));
}

/// A record above `record_bytes_max` is refused and leaves no hole; one of
/// exactly the limit, and an empty one, are accepted.
pub fn record_size_limit_is_enforced<H: Harness>(h: &mut H) {
    let max = h.record_bytes_max() as usize;
    let (mut log, _) = open(h);
    assert!(matches!(
        log.append(&vec![1; max + 1]),
        Err(WalError::RecordTooLarge { .. })
    ));
    assert_eq!(must("append", log.append(&vec![2; max])), 1);
    assert_eq!(must("append", log.append(&[])), 2);
    must("sync", log.sync());
    h.crash(log, 0);
    let (log, _) = open(h);
    assert_eq!(read_all(&log, 1), vec![(1, vec![2; max]), (2, vec![])]);
}

/// A seeded random workload of appends, syncs, truncations and crashes
/// (some with torn writes), checked against a model after every reopen:
/// every durable record survives intact and indices stay contiguous.
pub fn random_workload_never_loses_a_durable_record<H: Harness>(h: &mut H, seed: u64) {
    let mut rng = SplitMix64(seed);
    let size_max = (h.record_bytes_max() as u64).min(200);
    let (mut log, _) = open(h);
    // The model: every record appended and not lost, by index.
    let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut first = 1;
    for step in 0..300 {
        match rng.below(20) {
            0..=11 => {
                let index = log.last_index() + 1;
                let p = payload(index, rng.below(size_max) as usize);
                assert_eq!(
                    must("append", log.append(&p)),
                    index,
                    "seed {seed} step {step}"
                );
                model.push((index, p));
            }
            12..=15 => {
                assert_eq!(must("sync", log.sync()), log.last_index());
            }
            16 => {
                let below = first + rng.below(log.durable_index() + 2 - first);
                first = must("truncate_prefix", log.truncate_prefix(below));
                model.retain(|(i, _)| *i >= first);
            }
            _ => {
                let durable = log.durable_index();
                h.crash(log, rng.below(3) as usize * rng.below(64) as usize);
                let (reopened, recovery) = open(h);
                log = reopened;
                assert!(
                    log.last_index() >= durable,
                    "seed {seed} step {step}: lost durable records"
                );
                model.retain(|(i, _)| *i <= log.last_index());
                assert_eq!(recovery.first_index, first, "seed {seed} step {step}");
                assert_eq!(read_all(&log, first), model, "seed {seed} step {step}");
            }
        }
        assert_eq!(log.first_index(), first, "seed {seed} step {step}");
        assert!(log.durable_index() <= log.last_index());
    }
    assert_eq!(read_all(&log, first), model, "seed {seed}");
}

/// Runs every check, each on a fresh harness from `factory`.
pub fn run_all<H: Harness>(mut factory: impl FnMut() -> H) {
    a_new_log_is_empty(&mut factory());
    append_assigns_contiguous_indices_and_one_sync_covers_them(&mut factory());
    reads_see_records_before_they_are_durable(&mut factory());
    synced_records_survive_reopen(&mut factory());
    a_crash_drops_only_unsynced_records(&mut factory());
    recovery_cuts_a_torn_write(&mut factory());
    truncate_prefix_keeps_everything_from_the_bound(&mut factory());
    truncate_prefix_refuses_records_that_are_not_durable(&mut factory());
    reads_outside_the_log_are_refused(&mut factory());
    record_size_limit_is_enforced(&mut factory());
    for seed in 1..=3 {
        random_workload_never_loses_a_durable_record(&mut factory(), seed);
    }
}
