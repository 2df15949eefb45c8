//! The real `NodeStorage` on the simulated disk, crashed at random: after
//! any crash nothing acknowledged is lost, recovery is clean, and nothing
//! unwritten appears (see `common/workload.rs` for the workload and the
//! exact checks).
//!
//! `SYNOD_FS_SEEDS=N` runs seeds `0..N` (default 300, a CI-sized run);
//! `SYNOD_FS_SEED=S` replays seed `S` alone.

mod common;

use common::workload::{run, Coverage, Workload};

/// Steps per seed: enough for several segments, compactions and crashes.
const STEPS: u64 = 120;

fn seeds() -> Vec<u64> {
    let var = |name| std::env::var(name).ok().map(|v: String| v.parse::<u64>());
    if let Some(seed) = var("SYNOD_FS_SEED") {
        return vec![seed.expect("SYNOD_FS_SEED is a number")];
    }
    let count = var("SYNOD_FS_SEEDS").map_or(300, |n| n.expect("SYNOD_FS_SEEDS is a number"));
    (0..count).collect()
}

#[test]
fn after_any_crash_nothing_acknowledged_is_lost_recovery_is_clean_and_nothing_unwritten_appears() {
    let seeds = seeds();
    let mut total = Coverage::default();
    for &seed in &seeds {
        let workload = Workload {
            seed,
            steps: STEPS,
            fsync_lies: false,
        };
        match run(&workload) {
            Ok(coverage) => total.add(&coverage),
            Err(violation) => panic!("{violation}\nreplay with SYNOD_FS_SEED={seed}"),
        }
    }
    eprintln!("{} seeds: {total:?}", seeds.len());
    if seeds.len() >= 100 {
        // Per 10 seeds, well below what the default run sees, so the
        // checks above cannot pass vacuously.
        let per_ten = |n: u64| n * seeds.len() as u64 / 10;
        assert!(
            total.power_losses >= per_ten(100)
                && total.kills >= per_ten(100)
                && total.halts >= per_ten(50)
                && total.injected_faults >= per_ten(10)
                && total.enospc >= per_ten(1)
                && total.interrupted_recoveries >= per_ten(50)
                && total.torn_tails_cut >= per_ten(2)
                && total.kept_unacknowledged >= per_ten(10)
                && total.lost_unacknowledged >= per_ten(20)
                && total.snapshots_loaded >= per_ten(100),
            "coverage too thin: {total:?}"
        );
    }
}
