//! What a run found.

pub use synod_simcluster::Violation;
use synod_simcluster::{ClusterStats, SeedRun};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// What the shared cluster counted: network, faults, elections,
    /// snapshots, the highest commit point.
    pub cluster: ClusterStats,
    pub ops_completed: u64,
    /// Writes submitted at any node with `Input::Propose` and answered.
    pub ops_anywhere: u64,
    pub reconfigs: u64,
    /// Linearizability checks that ran out of search budget (not passes).
    pub lin_unknown: u64,
    /// Operations served under a scripted partition.
    pub scenario_ops: u64,
    /// Commands over the byte limit, refused as they must be.
    pub oversized_rejected: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.cluster.add(&o.cluster);
        self.ops_completed += o.ops_completed;
        self.ops_anywhere += o.ops_anywhere;
        self.reconfigs += o.reconfigs;
        self.lin_unknown += o.lin_unknown;
        self.scenario_ops += o.scenario_ops;
        self.oversized_rejected += o.oversized_rejected;
    }
}

/// The outcome of one seeded run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub profile: &'static str,
    /// Checks that failed: the cluster's (agreement, replica-state,
    /// durability, lease, recovery, invariant, frame-limit) and this
    /// simulator's (linearizability, lost-write, applied-twice,
    /// exactly-once, client, liveness, panic).
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

impl SeedRun for RunReport {
    type Stats = Stats;

    fn seed(&self) -> u64 {
        self.seed
    }

    fn ok(&self) -> bool {
        RunReport::ok(self)
    }

    fn add_stats_to(&self, total: &mut Stats) {
        total.add(&self.stats);
    }

    /// A run that panicked (an engine assertion or a simulator bug): a
    /// violation like any other, with the seed to replay it. (The sweep
    /// sets the profile name.)
    fn panicked(seed: u64, message: String) -> Self {
        RunReport {
            seed,
            profile: "",
            violations: vec![Violation {
                check: "panic",
                detail: message,
            }],
            stats: Stats::default(),
            trace: Vec::new(),
        }
    }
}
