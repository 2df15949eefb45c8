//! Each deliberately broken group (`ShardBug`, the `broken` feature) is
//! caught by the model's checks on some seeds of a profile that can show
//! it; a bug no seed catches means a check that does not bite.

#![cfg(feature = "broken")]

mod support;

use support::world::{profiles, World};
use synod_shardkv::{ShardBug, ShardBugs};

fn caught(bug: ShardBug, profile: &str, seeds: std::ops::Range<u64>) -> (usize, Vec<String>) {
    let profile = profiles()
        .into_iter()
        .find(|p| p.name == profile)
        .expect("profile");
    let mut errors = Vec::new();
    let total = seeds.end - seeds.start;
    for seed in seeds {
        let world = World::new(seed, profile.clone(), ShardBugs::with(bug));
        if let Err(e) = world.run_caught() {
            errors.push(format!("seed {seed}: {e}"));
        }
    }
    println!(
        "{bug:?} on {}: caught {} of {total}",
        profile.name,
        errors.len()
    );
    for e in errors.iter().take(3) {
        println!("  {}", e.chars().take(300).collect::<String>());
    }
    (errors.len(), errors)
}

#[test]
fn a_participant_that_forgets_its_votes_on_restart_is_caught() {
    let (n, _) = caught(ShardBug::ForgetVotesOnRestart, "crashes", 1..11);
    assert!(n >= 3, "caught on {n} of 10 seeds");
}

#[test]
fn a_coordinator_that_decides_before_all_votes_is_caught() {
    let (n, _) = caught(ShardBug::DecideBeforeAllVotes, "calm", 1..11);
    assert!(n >= 5, "caught on {n} of 10 seeds");
}

#[test]
fn a_coordinator_that_forgets_one_group_decisions_is_caught() {
    let (n, _) = caught(ShardBug::ForgetOneGroupDecisions, "churn", 1..11);
    assert!(n >= 3, "caught on {n} of 10 seeds");
}

#[test]
fn a_participant_that_never_asks_about_a_prepared_transaction_is_caught() {
    let (n, _) = caught(ShardBug::NeverResolve, "all", 1..11);
    assert!(n >= 3, "caught on {n} of 10 seeds");
}
