//! The client cache's oracle (cache-linearizable, `cachecheck.rs`)
//! catches a deliberately broken build: a leader whose cache gate lets
//! every write through at once, without invalidating anyone; a new
//! leader that does not wait for caching sessions; clients that
//! acknowledge invalidations without dropping what they name, keep a
//! fill that crossed its invalidation, or read past their lease. A
//! correct build passes the same seeds with reads from caches, kept
//! fills, invalidations and pauses to judge.

use synod_zksim::{profile, run, Bugs, LockBug, RunReport, SimConfig, Stats};

/// Seeds the catch tests look at.
const SEEDS: u64 = 20;

fn broken(bugs: &Bugs, profile: &str, seed: u64) -> RunReport {
    let mut cfg = SimConfig::new(seed, profile::named(profile).expect("a profile"));
    cfg.bugs = bugs.clone();
    run(cfg)
}

/// At least `min` of the first `SEEDS` seeds of `calm` report a stale
/// read.
fn caught_in(bugs: Bugs, min: usize) {
    caught_in_profile(bugs, "calm", min);
}

fn caught_in_profile(bugs: Bugs, profile: &str, min: usize) {
    let mut stale = 0;
    let mut seeds = Vec::new();
    for seed in 1..=SEEDS {
        let report = broken(&bugs, profile, seed);
        stale += report.stats.cache_stale_reads;
        if report.has("cache-linearizable") {
            seeds.push(seed);
        }
    }
    println!("{bugs:?}: {stale} stale reads, caught in seeds {seeds:?} of 1..={SEEDS} ({profile})");
    assert!(
        seeds.len() >= min,
        "{bugs:?} was caught by cache-linearizable in seeds {seeds:?} only (want {min} of {SEEDS})"
    );
}

#[test]
fn a_client_that_ignores_invalidations_is_caught() {
    caught_in(Bugs::lock(LockBug::CacheIgnoresInvalidations), 18);
}

/// An answer to a fill that crossed the invalidation of its path on the
/// way (the two travel apart): the generation rule is what drops it.
#[test]
fn a_client_that_keeps_a_fill_that_crossed_its_invalidation_is_caught() {
    caught_in(Bugs::lock(LockBug::CacheKeepsRacedFills), 2);
}

/// A client that reads its cache on resuming from a pause that outlived
/// its lease: what the lease rule is for.
#[test]
fn a_client_that_reads_its_cache_past_its_lease_is_caught() {
    caught_in(Bugs::lock(LockBug::CacheWithoutLease), 3);
}

/// The same seeds, correct: the oracle judged reads from caches and
/// fills, invalidations were applied, and nothing failed.
#[test]
fn a_correct_build_passes_with_the_cache_oracle_judging() {
    let mut judged = Stats::default();
    for seed in 1..=SEEDS {
        let report = run(SimConfig::new(seed, profile::named("calm").expect("calm")));
        assert!(report.ok(), "{report}");
        judged.add(&report.stats);
    }
    println!("{judged:?}");
    assert!(judged.cache_reads_judged > 0, "{judged:?}");
    assert!(judged.cache_fills_kept > 0, "{judged:?}");
    assert!(judged.cache_invalidations > 0, "{judged:?}");
    assert!(judged.cache_pauses > 0, "{judged:?}");
}

/// The node's own cache bug (`synod_node::NodeBug`).
#[cfg(feature = "broken")]
mod node_bugs {
    use super::{caught_in, caught_in_profile};
    use synod_zksim::{Bugs, NodeBug};

    #[test]
    fn a_write_past_the_cache_gate_is_caught() {
        caught_in(Bugs::node(NodeBug::NoCacheGate), 18);
    }

    /// Leaders change when nodes crash: a new one that writes at once
    /// leaves the old leader's cached entries standing. (The correct
    /// build passes these seeds of `crashes` in the CI sweep.)
    #[test]
    fn a_new_leader_that_does_not_wait_for_caching_sessions_is_caught() {
        caught_in_profile(Bugs::node(NodeBug::NoFailoverWait), "crashes", 6);
    }
}
