//! Running many seeds on several threads and summing up.
//!
//! Seeds are handed out one at a time from a shared counter, so a slow
//! seed never holds up a thread's share. A run that panics (an engine
//! assertion, a simulator bug) is a failed run like any other, with its
//! seed to replay it. Memory: one report per failed seed is kept, plus
//! whatever each run holds while it runs (one per thread).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// What a seeded run reports, as far as the sweep needs to know.
pub trait SeedRun: Send + Sized {
    /// The counters a sweep sums up.
    type Stats: Default + Send;
    fn seed(&self) -> u64;
    fn ok(&self) -> bool;
    fn add_stats_to(&self, total: &mut Self::Stats);
    /// The report of a run that panicked with `message`.
    fn panicked(seed: u64, message: String) -> Self;
}

#[derive(Clone, Debug)]
pub struct Seeds {
    pub range: std::ops::Range<u64>,
    /// Threads (at least one).
    pub jobs: usize,
    /// Stop handing out seeds after the first failure.
    pub fail_fast: bool,
}

#[derive(Debug)]
pub struct Swept<R: SeedRun> {
    /// Seeds run.
    pub seeds: u64,
    /// The failed runs, by seed.
    pub failed: Vec<R>,
    pub stats: R::Stats,
}

impl<R: SeedRun> Default for Swept<R> {
    fn default() -> Self {
        Swept {
            seeds: 0,
            failed: Vec::new(),
            stats: R::Stats::default(),
        }
    }
}

/// Runs `run` on every seed of `seeds`; `on_done` sees each report as it
/// finishes (for progress, and to print failures at once).
pub fn sweep<R: SeedRun>(
    seeds: &Seeds,
    run: &(dyn Fn(u64) -> R + Sync),
    on_done: &(dyn Fn(&R) + Sync),
) -> Swept<R> {
    let next = AtomicU64::new(seeds.range.start);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(Swept::<R>::default());
    std::thread::scope(|scope| {
        for _ in 0..seeds.jobs.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.range.end {
                    return;
                }
                // A run builds everything it touches from its seed, so a
                // panic leaves nothing half-changed behind for the next.
                let once = std::panic::AssertUnwindSafe(|| run(seed));
                let report = std::panic::catch_unwind(once)
                    .unwrap_or_else(|panic| R::panicked(seed, panic_message(panic)));
                on_done(&report);
                // A panic while holding the lock is impossible (adding up
                // counters), but a poisoned lock still holds good data.
                let mut s = summary.lock().unwrap_or_else(|e| e.into_inner());
                s.seeds += 1;
                report.add_stats_to(&mut s.stats);
                if !report.ok() {
                    if seeds.fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                    s.failed.push(report);
                }
            });
        }
    });
    let mut s = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    s.failed.sort_by_key(|r| r.seed());
    s
}

/// The text of a panic's payload.
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Run {
        seed: u64,
        ok: bool,
        why: String,
    }

    impl SeedRun for Run {
        type Stats = u64;
        fn seed(&self) -> u64 {
            self.seed
        }
        fn ok(&self) -> bool {
            self.ok
        }
        fn add_stats_to(&self, total: &mut u64) {
            *total += self.seed;
        }
        fn panicked(seed: u64, message: String) -> Self {
            Run {
                seed,
                ok: false,
                why: message,
            }
        }
    }

    fn run(seed: u64) -> Run {
        if seed == 13 {
            panic!("unlucky {seed}");
        }
        Run {
            seed,
            ok: seed % 10 != 7,
            why: String::new(),
        }
    }

    #[test]
    fn every_seed_runs_once_and_failures_come_back_in_seed_order() {
        let seeds = Seeds {
            range: 1..31,
            jobs: 3,
            fail_fast: false,
        };
        let swept = sweep(&seeds, &run, &|_| {});
        assert_eq!(swept.seeds, 30);
        assert_eq!(swept.stats, (1..31).sum::<u64>());
        let failed: Vec<u64> = swept.failed.iter().map(|r| r.seed).collect();
        assert_eq!(failed, vec![7, 13, 17, 27]);
        assert_eq!(swept.failed[1].why, "unlucky 13");
    }

    #[test]
    fn fail_fast_stops_handing_out_seeds() {
        let seeds = Seeds {
            range: 1..10_000,
            jobs: 1,
            fail_fast: true,
        };
        let swept = sweep(&seeds, &run, &|_| {});
        assert_eq!(swept.seeds, 7);
    }
}
