//! Proof that the checkers bite: each deliberately broken engine (the
//! `broken` feature of synod-paxos, enabled for tests only) must be caught
//! within the CI seed budget, by the checker that guards what it breaks.

use synod_paxos::{Bug, Bugs};
use synod_sim::{sweep, Profile, SimConfig, SweepOptions};

/// Sweeps `profile` with the engine `tweak` makes (one bug in it) until a
/// seed fails, and requires one of `expected` among the checks that failed.
fn hunt(bug: Bug, profile: &str, seeds: u64, expected: &[&str], tweak: fn(&mut SimConfig)) {
    let opts = SweepOptions {
        seeds: 1..1 + seeds,
        profile: Profile::named(profile).expect("profile exists"),
        jobs: 2,
        tweak,
        fail_fast: true,
    };
    let summary = sweep(&opts, &|_| {});
    let found: Vec<&'static str> = summary
        .failed
        .iter()
        .flat_map(|r| r.violations.iter().map(|v| v.check))
        .collect();
    assert!(
        !found.is_empty(),
        "the simulator did not catch {} in {seeds} seeds of profile {profile}",
        bug.name()
    );
    assert!(
        found.iter().any(|c| expected.contains(c)),
        "{} was caught by {found:?}, expected one of {expected:?}",
        bug.name()
    );
}

const SAFETY: &[&str] = &[
    "agreement",
    "replica-state",
    "linearizability",
    "lost-write",
];

#[test]
fn accepting_a_lower_ballot_breaks_agreement() {
    // About 1% of drift seeds expose it (22 of the first 2,000; the first
    // is seed 245): the budget leaves room for schedules to shift.
    hunt(Bug::AcceptLowerBallot, "drift", 1_000, SAFETY, |c| {
        c.engine.bugs = Bugs::with(Bug::AcceptLowerBallot)
    });
}

#[test]
fn forgetting_the_promise_on_restart_is_caught() {
    hunt(
        Bug::ForgetPromiseOnRestart,
        "crashes",
        200,
        &["recovery"],
        |c| c.engine.bugs = Bugs::with(Bug::ForgetPromiseOnRestart),
    );
}

#[test]
fn sending_before_persisting_is_caught() {
    hunt(
        Bug::SendBeforePersist,
        "crashes",
        200,
        &["durability"],
        |c| c.engine.bugs = Bugs::with(Bug::SendBeforePersist),
    );
}

#[test]
fn counting_a_minority_as_chosen_breaks_agreement() {
    hunt(Bug::MinorityQuorum, "partitions", 200, SAFETY, |c| {
        c.engine.bugs = Bugs::with(Bug::MinorityQuorum)
    });
}

#[test]
fn a_lease_without_the_drift_margin_overlaps_the_next_leader() {
    let expected = &["lease", "linearizability"];
    hunt(Bug::LeaseWithoutDriftMargin, "drift", 300, expected, |c| {
        c.engine.bugs = Bugs::with(Bug::LeaseWithoutDriftMargin)
    });
}
