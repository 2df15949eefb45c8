//! What a run found.

use std::fmt;

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which checker: agreement, replica-state, durability,
    /// linearizability, lost-write, applied-twice, exactly-once, liveness.
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub max_commit: u64,
    pub elections: u64,
    pub faults: u64,
    pub crashes: u64,
    pub messages: u64,
    pub dropped: u64,
    pub ops_completed: u64,
    /// Writes submitted at any node with `Input::Propose` and answered.
    pub ops_anywhere: u64,
    /// `Forward` messages sent by followers.
    pub forwards: u64,
    pub lease_reads: u64,
    pub snapshots: u64,
    pub snapshots_installed: u64,
    /// Snapshot chunks taken in by replicas receiving a snapshot in parts.
    pub snapshot_chunks: u64,
    pub reconfigs: u64,
    pub sim_time_us: u64,
    /// Linearizability checks that ran out of search budget (not passes).
    pub lin_unknown: u64,
    /// Operations served under a scripted partition.
    pub scenario_ops: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.max_commit += o.max_commit;
        self.elections += o.elections;
        self.faults += o.faults;
        self.crashes += o.crashes;
        self.messages += o.messages;
        self.dropped += o.dropped;
        self.ops_completed += o.ops_completed;
        self.ops_anywhere += o.ops_anywhere;
        self.forwards += o.forwards;
        self.lease_reads += o.lease_reads;
        self.snapshots += o.snapshots;
        self.snapshots_installed += o.snapshots_installed;
        self.snapshot_chunks += o.snapshot_chunks;
        self.reconfigs += o.reconfigs;
        self.sim_time_us += o.sim_time_us;
        self.lin_unknown += o.lin_unknown;
        self.scenario_ops += o.scenario_ops;
    }
}

/// The outcome of one seeded run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub profile: &'static str,
    pub violations: Vec<Violation>,
    pub stats: Stats,
    /// The story of the run, when tracing was on.
    pub trace: Vec<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// A run that panicked (an engine assertion or a simulator bug): a
/// violation like any other, with the seed to replay it.
pub fn panicked(
    seed: u64,
    profile: &'static str,
    panic: Box<dyn std::any::Any + Send>,
) -> RunReport {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string());
    RunReport {
        seed,
        profile,
        violations: vec![Violation {
            check: "panic",
            detail: message,
        }],
        stats: Stats::default(),
        trace: Vec::new(),
    }
}
