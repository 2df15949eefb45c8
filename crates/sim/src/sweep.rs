//! Running many seeds, on several threads, and summing up.

use crate::profile::Profile;
use crate::report::{RunReport, Stats};
use crate::world::SimConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
        format!(
            "sim: seeds={} violations={} failed_seeds={} profile={} slots_chosen={} elections={} faults={} crashes={} ops={} ops_anywhere={} forwards={} lease_reads={} snapshots_installed={} snapshot_chunks={} reconfigs={} messages={} dropped={} lin_unknown={} sim_time={:.1}s wall={:.1}s",
            self.seeds,
            self.violations(),
            self.failed.len(),
            profile,
            s.max_commit,
            s.elections,
            s.faults,
            s.crashes,
            s.ops_completed,
            s.ops_anywhere,
            s.forwards,
            s.lease_reads,
            s.snapshots_installed,
            s.snapshot_chunks,
            s.reconfigs,
            s.messages,
            s.dropped,
            s.lin_unknown,
            s.sim_time_us as f64 / 1e6,
            wall_s
        )
    }
}

/// Runs every seed of `opts.seeds`; `on_done` sees each report as it
/// finishes (for progress and for printing failures at once).
pub fn sweep(opts: &SweepOptions, on_done: &(dyn Fn(&RunReport) + Sync)) -> SweepSummary {
    let next = AtomicU64::new(opts.seeds.start);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let summary = Mutex::new(SweepSummary::default());
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= opts.seeds.end {
                    return;
                }
                let mut cfg = SimConfig::new(seed, opts.profile.clone());
                (opts.tweak)(&mut cfg);
                let report = match std::panic::catch_unwind(|| crate::run(cfg)) {
                    Ok(report) => report,
                    Err(panic) => crate::report::panicked(seed, opts.profile.name, panic),
                };
                on_done(&report);
                let mut s = summary.lock().expect("no panics while holding it");
                s.seeds += 1;
                s.stats.add(&report.stats);
                if !report.ok() {
                    if opts.fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                    s.failed.push(report);
                }
            });
        }
    });
    let mut s = summary.into_inner().expect("threads joined");
    s.failed.sort_by_key(|r| r.seed);
    s
}
