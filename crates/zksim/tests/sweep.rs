//! The CI sweep: every fault profile over a range of seeds, with every
//! oracle on. `SYNOD_ZKSIM_SEEDS=N` runs N seeds per profile (nightly);
//! `SYNOD_ZKSIM_SEED` and `SYNOD_ZKSIM_PROFILE` replay one run with its
//! trace (`replay_one`).

use synod_zksim::{run, Profile, RunReport, SimConfig};

/// Seeds per profile in CI.
const CI_SEEDS: u64 = 40;

fn seeds() -> u64 {
    std::env::var("SYNOD_ZKSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

fn sweep(profile: &str) {
    let profile = Profile::named(profile).expect("known profile");
    let n = seeds();
    let mut failed: Vec<RunReport> = Vec::new();
    let mut expired = 0;
    let mut abandoned = 0;
    let mut events = 0;
    let mut active_expired = 0;
    for seed in 1..=n {
        let report = run(SimConfig::new(seed, profile.clone()));
        expired += report.stats.sessions_expired;
        abandoned += report.stats.abandoned_checked;
        events += report.stats.events;
        active_expired += report.stats.active_sessions_expired;
        if !report.ok() {
            failed.push(report);
        }
    }
    println!(
        "{profile}: {n} seeds, {} failed; {events} watch events, {expired} sessions expired ({active_expired} of them while their client was active, under faults), {abandoned} abandoned sessions checked",
        failed.len()
    );
    for r in &failed {
        println!("{r}");
    }
    assert!(
        failed.is_empty(),
        "{} of {n} seeds failed on {profile}",
        failed.len()
    );
}

#[test]
fn calm() {
    sweep("calm");
}

#[test]
fn lossy() {
    sweep("lossy");
}

#[test]
fn partitions() {
    sweep("partitions");
}

#[test]
fn crashes() {
    sweep("crashes");
}

#[test]
fn drift() {
    sweep("drift");
}

#[test]
fn all() {
    sweep("all");
}

/// Replays one run with its trace, e.g.
/// `SYNOD_ZKSIM_SEED=7 SYNOD_ZKSIM_PROFILE=all cargo test -p synod-zksim --test sweep replay_one -- --nocapture`.
#[test]
fn replay_one() {
    let Ok(seed) = std::env::var("SYNOD_ZKSIM_SEED") else {
        return;
    };
    let seed: u64 = seed.parse().expect("SYNOD_ZKSIM_SEED is a number");
    let name = std::env::var("SYNOD_ZKSIM_PROFILE").unwrap_or_else(|_| "all".into());
    let profile = Profile::named(&name).expect("SYNOD_ZKSIM_PROFILE names a profile");
    let mut cfg = SimConfig::new(seed, profile);
    cfg.trace = true;
    let report = run(cfg);
    for line in &report.trace {
        println!("{line}");
    }
    println!("{:?}", report.stats);
    println!("{report}");
    assert!(report.ok());
}
