//! A seeded random workload of the real `NodeStorage` on the simulated
//! disk: persists (with engine snapshots), compactions, process kills,
//! power losses, halts in the middle of a call or of recovery, and
//! injected I/O errors and ENOSPC. After every reopen it checks:
//!
//! - (a) **nothing acknowledged is lost**: the recovered state is the
//!   replay of at least every record of every `persist` that returned Ok,
//!   and of every record an earlier `open` returned (recovery fsyncs them,
//!   so the node may already have acted on them);
//! - (b) **recovery is clean**: after crashes alone `open` never refuses
//!   (a torn tail is cut and reported, in a WAL segment) and never panics;
//! - (c) **nothing unwritten appears**: the state is the replay of a
//!   prefix of the records persisted, in order; garbage never becomes a
//!   record.
//!
//! A violation is returned as a message naming the seed and step, so
//! tests can also require that deliberately broken builds are caught.

use std::path::PathBuf;
use std::sync::Arc;

use synod_paxos::{DurableState, Record};
use synod_storage::{NodeStorage, OpenReport, StorageOptions, WAL_DIR};
use synod_wal::{CrashPlan, Fs, FsOp, SimFs, SplitMix64};

use super::{random_batches, small_options};

/// One run of the workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Seeds every choice; a failure replays from it.
    pub seed: u64,
    /// Steps to take.
    pub steps: u64,
    /// Run on a disk whose syncs lie (must be caught).
    pub fsync_lies: bool,
}

/// How often the interesting cases came up, so a passing run is not
/// vacuous.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub persists: u64,
    pub failed_calls: u64,
    pub power_losses: u64,
    pub kills: u64,
    pub halts: u64,
    pub injected_faults: u64,
    pub enospc: u64,
    pub interrupted_recoveries: u64,
    pub torn_tails_cut: u64,
    pub kept_unacknowledged: u64,
    pub lost_unacknowledged: u64,
    pub snapshots_loaded: u64,
}

impl Coverage {
    pub fn add(&mut self, other: &Coverage) {
        self.persists += other.persists;
        self.failed_calls += other.failed_calls;
        self.power_losses += other.power_losses;
        self.kills += other.kills;
        self.halts += other.halts;
        self.injected_faults += other.injected_faults;
        self.enospc += other.enospc;
        self.interrupted_recoveries += other.interrupted_recoveries;
        self.torn_tails_cut += other.torn_tails_cut;
        self.kept_unacknowledged += other.kept_unacknowledged;
        self.lost_unacknowledged += other.lost_unacknowledged;
        self.snapshots_loaded += other.snapshots_loaded;
    }
}

/// How the node goes down before a reopen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// Only the process died: the page cache survives.
    Kill,
    /// The machine lost power.
    PowerLoss,
}

struct Run {
    sim: SimFs,
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    options: StorageOptions,
    rng: SplitMix64,
    /// Every record handed to `persist`, cut back to what a reopen
    /// recovered.
    model: Vec<Record>,
    /// Records of `model` that must survive any crash.
    floor: usize,
    /// `DurableState::replay(&model[..floor])`.
    floor_state: DurableState,
    progress: u64,
    storage: Option<NodeStorage>,
    coverage: Coverage,
    seed: u64,
    step: u64,
}

/// Runs the workload; `Err` describes the first violation.
pub fn run(workload: &Workload) -> Result<Coverage, String> {
    let sim = SimFs::new();
    sim.set_fsync_lies(workload.fsync_lies);
    let mut run = Run {
        fs: sim.shared(),
        sim,
        dir: PathBuf::from("/nodes/1/data"),
        options: small_options(),
        rng: SplitMix64(workload.seed),
        model: Vec::new(),
        floor: 0,
        floor_state: DurableState::default(),
        progress: 0,
        storage: None,
        coverage: Coverage::default(),
        seed: workload.seed,
        step: 0,
    };
    run.reopen_maybe_interrupted()?;
    let trace = std::env::var_os("SYNOD_FS_TRACE").is_some();
    for step in 0..workload.steps {
        run.step = step;
        let action = run.rng.below(100);
        if trace {
            eprintln!("step {step}: action {action}, {:?}", run.sim.stats());
        }
        match action {
            0..=54 => run.persist()?,
            55..=61 => run.compact()?,
            62..=71 => run.restart(Restart::Kill)?,
            72..=83 => run.restart(Restart::PowerLoss)?,
            84..=92 => run.halt_mid_call()?,
            _ => run.inject_fault()?,
        }
    }
    run.restart(Restart::PowerLoss)?;
    Ok(run.coverage)
}

impl Run {
    fn violation(&self, what: impl std::fmt::Display) -> String {
        format!(
            "seed {} step {}: {what} (model {} records, {} acknowledged; {:?})",
            self.seed,
            self.step,
            self.model.len(),
            self.floor,
            self.sim.stats()
        )
    }

    fn storage(&mut self) -> &mut NodeStorage {
        self.storage.as_mut().expect("the storage is open")
    }

    /// One `persist` call of 1..=3 random batches. Returns whether it
    /// succeeded; on success its records are acknowledged.
    fn call_persist(&mut self) -> bool {
        let count = self.rng.between(1, 3) as usize;
        let batches = random_batches(&mut self.rng, count, 4, &mut self.progress);
        let slices: Vec<&[Record]> = batches.iter().map(Vec::as_slice).collect();
        let result = self.storage().persist(&slices);
        self.model.extend(batches.into_iter().flatten());
        match result {
            Ok(()) => {
                self.acknowledge();
                true
            }
            Err(_) => false,
        }
    }

    /// Every record of the model is now acknowledged.
    fn acknowledge(&mut self) {
        for record in &self.model[self.floor..] {
            self.floor_state.apply(record);
        }
        self.floor = self.model.len();
        self.coverage.persists += 1;
    }

    fn persist(&mut self) -> Result<(), String> {
        if !self.call_persist() {
            return Err(self.violation("persist failed with no fault injected"));
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), String> {
        match self.storage().compact() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.violation(format!("compact failed with no fault: {e}"))),
        }
    }

    /// A call (a persist or a compaction) the process or the machine
    /// stops in the middle of.
    fn halt_mid_call(&mut self) -> Result<(), String> {
        let ops = self.rng.below(12);
        self.sim.halt_after(ops);
        self.coverage.halts += 1;
        let ok = if self.rng.one_in(4) {
            self.storage().compact().is_ok()
        } else {
            self.call_persist()
        };
        self.coverage.failed_calls += u64::from(!ok);
        let restart = if self.rng.one_in(2) {
            Restart::Kill
        } else {
            Restart::PowerLoss
        };
        self.restart(restart)
    }

    /// A call that meets an injected I/O error or a full disk.
    fn inject_fault(&mut self) -> Result<(), String> {
        let skip = self.rng.below(4);
        let kind = self.rng.below(8);
        match kind {
            0 => self.sim.fail_after(FsOp::Write, skip),
            1 => {
                let landed = self.rng.below(200) as usize;
                self.sim.fail_next_write_partly(landed);
            }
            2 => self.sim.fail_after(FsOp::SyncFile, skip),
            3 => self.sim.fail_after(FsOp::SyncDir, skip),
            4 => self.sim.fail_after(FsOp::Rename, skip),
            5 => self.sim.fail_after(FsOp::Remove, skip),
            6 => self.sim.fail_after(FsOp::Create, skip),
            _ => {
                let room = self.rng.below(3000);
                self.sim
                    .set_capacity_bytes(Some(self.sim.used_bytes() + room));
            }
        }
        let injected_before = self.sim.stats().injected_errors;
        let enospc_before = self.sim.stats().enospc_errors;
        let result = if self.rng.one_in(4) {
            self.storage().compact().err()
        } else {
            let count = self.rng.between(1, 3) as usize;
            let batches = random_batches(&mut self.rng, count, 4, &mut self.progress);
            let slices: Vec<&[Record]> = batches.iter().map(Vec::as_slice).collect();
            let result = self.storage().persist(&slices);
            self.model.extend(batches.into_iter().flatten());
            if result.is_ok() {
                self.acknowledge();
            }
            result.err()
        };
        self.sim.clear_faults();
        self.sim.set_capacity_bytes(None);
        let stats = self.sim.stats();
        let fired = stats.injected_errors > injected_before;
        let full = stats.enospc_errors > enospc_before;
        self.coverage.injected_faults += u64::from(fired);
        self.coverage.enospc += u64::from(full);
        let Some(error) = result else {
            return Ok(());
        };
        self.coverage.failed_calls += 1;
        if !fired && !full {
            return Err(self.violation(format!("a call failed with no fault: {error}")));
        }
        let message = error.to_string();
        if full && !message.contains("No space left on device") {
            return Err(self.violation(format!("ENOSPC reported as: {message}")));
        }
        if !message.contains(&self.dir.display().to_string()) {
            return Err(self.violation(format!("the error names no file: {message}")));
        }
        // After a failed fsync only a power cycle tells what is durable: the
        // failed pages stay readable in the page cache, so a restarted
        // process would recover records no sync can make durable any more
        // (Linux's fsync error semantics; see the crate docs).
        let restart = if kind == 2 || self.rng.one_in(2) {
            Restart::PowerLoss
        } else {
            Restart::Kill
        };
        self.restart(restart)
    }

    fn restart(&mut self, restart: Restart) -> Result<(), String> {
        self.storage = None;
        self.go_down(restart);
        self.reopen_maybe_interrupted()
    }

    /// Opens the storage; now and then the process or the machine stops
    /// in the middle of the open (recovery, or creating the directories),
    /// and it is opened again.
    fn reopen_maybe_interrupted(&mut self) -> Result<(), String> {
        while self.rng.one_in(4) {
            self.sim.halt_after(self.rng.below(30));
            let opened =
                NodeStorage::open_with_fs(self.fs.clone(), &self.dir, self.options.clone());
            self.sim.resume();
            match opened {
                Ok((storage, state, report)) => {
                    self.storage = Some(storage);
                    return self.check_recovery(state, report);
                }
                Err(_) => {
                    self.coverage.interrupted_recoveries += 1;
                    let restart = if self.rng.one_in(2) {
                        Restart::Kill
                    } else {
                        Restart::PowerLoss
                    };
                    self.go_down(restart);
                }
            }
        }
        self.reopen()
    }

    fn go_down(&mut self, restart: Restart) {
        match restart {
            Restart::Kill => {
                self.sim.resume();
                self.coverage.kills += 1;
            }
            Restart::PowerLoss => {
                let seed = self.rng.next_u64();
                self.sim.crash(CrashPlan::Random { seed });
                self.coverage.power_losses += 1;
            }
        }
    }

    fn reopen(&mut self) -> Result<(), String> {
        match NodeStorage::open_with_fs(self.fs.clone(), &self.dir, self.options.clone()) {
            Ok((storage, state, report)) => {
                self.storage = Some(storage);
                self.check_recovery(state, report)
            }
            Err(e) => Err(self.violation(format!("open refused after crashes alone: {e}"))),
        }
    }

    /// Checks (a), (b) and (c) of the module docs on what `open` returned,
    /// then takes the recovered records as acknowledged.
    fn check_recovery(&mut self, state: DurableState, report: OpenReport) -> Result<(), String> {
        let mut replayed = self.floor_state.clone();
        let mut recovered = self.floor;
        while replayed != state {
            let Some(record) = self.model.get(recovered) else {
                return Err(self.violation(format!(
                    "the recovered state is not the replay of a prefix of the persisted \
                     records that holds the {} acknowledged ones; {report}",
                    self.floor
                )));
            };
            replayed.apply(record);
            recovered += 1;
        }
        if let Some(torn) = &report.torn_tail {
            if !torn.path.starts_with(self.dir.join(WAL_DIR)) || torn.bytes_cut == 0 {
                return Err(self.violation(format!("odd torn tail: {torn:?}")));
            }
            self.coverage.torn_tails_cut += 1;
        }
        self.coverage.kept_unacknowledged += u64::from(recovered > self.floor);
        self.coverage.lost_unacknowledged += u64::from(recovered < self.model.len());
        self.coverage.snapshots_loaded += u64::from(report.snapshot.is_some());
        self.model.truncate(recovered);
        self.floor = recovered;
        self.floor_state = replayed;
        Ok(())
    }
}
