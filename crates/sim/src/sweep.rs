//! Running many seeds of one profile (on the shared sweep runner) and the
//! summary line `synod sim` ends with.

use crate::report::{RunReport, Stats};
use crate::world::SimConfig;
use synod_simcluster::{Profile, Seeds};

#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub seeds: std::ops::Range<u64>,
    pub profile: Profile,
    pub jobs: usize,
    /// Adjusts each run's configuration (engine bugs, phase lengths).
    pub tweak: fn(&mut SimConfig),
    /// Stop at the first failing seed.
    pub fail_fast: bool,
}

#[derive(Clone, Debug, Default)]
pub struct SweepSummary {
    pub seeds: u64,
    pub failed: Vec<RunReport>,
    pub stats: Stats,
}

impl SweepSummary {
    pub fn violations(&self) -> usize {
        self.failed.iter().map(|r| r.violations.len()).sum()
    }

    /// The one-line summary `synod sim` ends with.
    pub fn line(&self, profile: &str, wall_s: f64) -> String {
        let s = &self.stats;
        let c = &s.cluster;
        format!(
            "sim: seeds={} violations={} failed_seeds={} profile={} slots_chosen={} elections={} faults={} crashes={} disk_failures={} ops={} oversized_rejected={} ops_anywhere={} forwards={} lease_reads={} snapshots_installed={} snapshot_chunks={} reconfigs={} messages={} dropped={} queue_full_drops={} oversized={} frame_bytes_max={} lin_unknown={} sim_time={:.1}s wall={:.1}s",
            self.seeds,
            self.violations(),
            self.failed.len(),
            profile,
            c.max_commit,
            c.elections,
            c.faults,
            c.crashes,
            c.disk_failures,
            s.ops_completed,
            s.oversized_rejected,
            s.ops_anywhere,
            c.forwards,
            c.lease_reads,
            c.snapshots_installed,
            c.snapshot_chunks,
            s.reconfigs,
            c.net.messages,
            c.net.dropped,
            c.net.dropped_queue_full,
            c.net.dropped_oversized,
            c.net.frame_bytes_max,
            s.lin_unknown,
            c.sim_time_us as f64 / 1e6,
            wall_s
        )
    }
}

/// Runs every seed of `opts.seeds`; `on_done` sees each report as it
/// finishes (for progress and for printing failures at once).
pub fn sweep(opts: &SweepOptions, on_done: &(dyn Fn(&RunReport) + Sync)) -> SweepSummary {
    let seeds = Seeds {
        range: opts.seeds.clone(),
        jobs: opts.jobs,
        fail_fast: opts.fail_fast,
    };
    let run = |seed: u64| {
        let mut cfg = SimConfig::new(seed, opts.profile.clone());
        (opts.tweak)(&mut cfg);
        let mut report = crate::run(cfg);
        report.profile = opts.profile.name;
        report
    };
    // Only a panicked run lacks its profile's name.
    let on_done = |r: &RunReport| {
        if r.profile.is_empty() {
            let mut r = r.clone();
            r.profile = opts.profile.name;
            on_done(&r)
        } else {
            on_done(r)
        }
    };
    let swept = synod_simcluster::sweep(&seeds, &run, &on_done);
    let mut failed = swept.failed;
    for r in &mut failed {
        r.profile = opts.profile.name;
    }
    SweepSummary {
        seeds: swept.seeds,
        failed,
        stats: swept.stats,
    }
}
