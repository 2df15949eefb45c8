//! The sharded tier in the model world (see `support`): every fault
//! profile over a range of seeds, each run checked for the bank's total,
//! one group per shard at a time, strict serializability, and settling
//! once faults stop. `SYNOD_SHARDKV_SEEDS` (default 20 per profile) and
//! `SYNOD_SHARDKV_START` widen it for nightly runs.

mod support;

use support::world::{engine_profiles, profiles, Profile, World};
use synod_shardkv::ShardBugs;

fn seeds() -> std::ops::Range<u64> {
    let count = std::env::var("SYNOD_SHARDKV_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let start = std::env::var("SYNOD_SHARDKV_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    start..start + count
}

fn sweep(profiles: Vec<Profile>, seeds: std::ops::Range<u64>) {
    let mut failures = Vec::new();
    for profile in profiles {
        let mut totals = support::world::Report::default();
        for seed in seeds.clone() {
            match World::new(seed, profile.clone(), ShardBugs::default()).run_caught() {
                Ok(r) => totals.add(&r),
                Err(e) => failures.push(format!("{} seed {seed}: {e}", profile.name)),
            }
        }
        println!(
            "{} ({} seeds from {}): {totals:?}",
            profile.name,
            seeds.end - seeds.start,
            seeds.start
        );
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_profile_keeps_the_bank_whole_and_the_history_strictly_serializable() {
    sweep(profiles(), seeds());
}

/// The same over three replicas of the real Paxos engine per group, a
/// tenth of the seeds (each is some ten times the work).
#[test]
fn on_the_real_engine_too() {
    let seeds = seeds();
    let count = (seeds.end - seeds.start).div_ceil(10);
    sweep(engine_profiles(), seeds.start..seeds.start + count);
}

/// `SYNOD_SHARDKV_ONE=<profile>:<seed>` runs one seed and prints its
/// verdict (for chasing a failure with `SYNOD_SHARDKV_TRACE`).
#[test]
fn one_seed() {
    let Ok(spec) = std::env::var("SYNOD_SHARDKV_ONE") else {
        return;
    };
    let (name, seed) = spec.split_once(':').expect("profile:seed");
    let profile = profiles()
        .into_iter()
        .find(|p| p.name == name)
        .expect("profile");
    let result = World::new(seed.parse().expect("seed"), profile, ShardBugs::default()).run();
    println!("{result:?}");
}

/// The commit latency of the protocol in message delays, measured with
/// every message taking one delay and every log entry two (accept, then
/// accepted). One group: client to coordinator, its log, the answer (4).
/// Two groups: client, prepare, the participants' logs, votes, the
/// coordinator's log of the decision, the answer (8). Published counts
/// from the request to commit (Gray and Lamport, "Consensus on
/// Transaction Commit"): Two-Phase Commit 4 with one stable-storage write
/// delay per phase, Paxos Commit 5; docs/BENCHMARKS.md compares them.
#[test]
fn commit_latency_in_message_delays() {
    let report = World::new(1, support::world::unit_delays(), ShardBugs::default())
        .run()
        .expect("a calm run");
    let mut by_groups: std::collections::BTreeMap<usize, Vec<u64>> = Default::default();
    for (groups, delays) in &report.latencies {
        by_groups.entry(*groups).or_default().push(*delays);
    }
    for (groups, delays) in &by_groups {
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        println!(
            "{groups} group(s): {} commits, {min}..={max} message delays",
            delays.len()
        );
    }
    assert!(
        by_groups[&1].iter().all(|&d| d == 4),
        "one group: {:?}",
        by_groups[&1]
    );
    assert!(
        by_groups[&2].iter().all(|&d| d == 8),
        "two groups: {:?}",
        by_groups[&2]
    );
}
