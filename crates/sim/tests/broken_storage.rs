//! The simulator runs the real storage, so a wrong recovery rule in the
//! write-ahead log is caught by the cluster's recovery oracle: after a power
//! loss the node must get back everything it was told is durable.
//! (The WAL's `broken` feature turns one recovery bug on for the calls made
//! on the current thread, so these runs go one at a time on the test's.)
//! `WalBug::SkipRecoveryFsync` is left to the storage's own crash tests: it
//! loses data only if the node crashes again before its next persist syncs
//! the segment, which the fault schedule almost never does.

use synod_sim::{Profile, SimConfig};
use synod_wal::bugs::{with_bug, WalBug};

/// Runs `crashes` seeds with `bug` in the WAL until one fails; returns the
/// checks that failed.
fn hunt(bug: WalBug, seeds: u64) -> Vec<&'static str> {
    with_bug(bug, || {
        for seed in 1..=seeds {
            let cfg = SimConfig::new(seed, Profile::named("crashes").expect("exists"));
            let report = synod_sim::run(cfg);
            if !report.ok() {
                return report.violations.iter().map(|v| v.check).collect();
            }
        }
        Vec::new()
    })
}

#[test]
fn recovery_that_keeps_a_torn_tail_is_caught() {
    let found = hunt(WalBug::KeepTornTail, 300);
    assert!(found.contains(&"recovery"), "{found:?}");
}
