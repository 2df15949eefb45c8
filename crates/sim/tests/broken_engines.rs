//! Proof that the checkers bite: each deliberately broken engine (the
//! `broken` feature of synod-paxos, enabled for tests only) must be caught
//! within the CI seed budget, by the checker that guards what it breaks.

use synod_paxos::{Bug, Bugs};
use synod_sim::{sweep, Profile, SimConfig, SweepOptions, SweepSummary};

fn hunt(bug: Bug, profile: &str, seeds: u64, tweak: fn(&mut SimConfig)) -> SweepSummary {
    let opts = SweepOptions {
        seeds: 1..1 + seeds,
        profile: Profile::named(profile).expect("profile exists"),
        jobs: 2,
        tweak,
        fail_fast: true,
    };
    let summary = sweep(&opts, &|_| {});
    assert!(
        !summary.failed.is_empty(),
        "the simulator did not catch {} in {seeds} seeds of profile {profile}",
        bug.name()
    );
    summary
}

fn checks(summary: &SweepSummary) -> Vec<&'static str> {
    summary
        .failed
        .iter()
        .flat_map(|r| r.violations.iter().map(|v| v.check))
        .collect()
}

#[test]
fn accepting_a_lower_ballot_breaks_agreement() {
    let s = hunt(Bug::AcceptLowerBallot, "drift", 200, |c| {
        c.engine.bugs = Bugs::with(Bug::AcceptLowerBallot)
    });
    let found = checks(&s);
    assert!(
        found.iter().any(|c| [
            "agreement",
            "replica-state",
            "linearizability",
            "lost-write"
        ]
        .contains(c)),
        "{found:?}"
    );
}

#[test]
fn forgetting_the_promise_on_restart_is_caught() {
    let s = hunt(Bug::ForgetPromiseOnRestart, "crashes", 200, |c| {
        c.engine.bugs = Bugs::with(Bug::ForgetPromiseOnRestart)
    });
    assert!(checks(&s).contains(&"recovery"), "{:?}", checks(&s));
}

#[test]
fn sending_before_persisting_is_caught() {
    let s = hunt(Bug::SendBeforePersist, "crashes", 200, |c| {
        c.engine.bugs = Bugs::with(Bug::SendBeforePersist)
    });
    assert!(checks(&s).contains(&"durability"), "{:?}", checks(&s));
}

#[test]
fn counting_a_minority_as_chosen_breaks_agreement() {
    let s = hunt(Bug::MinorityQuorum, "partitions", 200, |c| {
        c.engine.bugs = Bugs::with(Bug::MinorityQuorum)
    });
    let found = checks(&s);
    assert!(
        found.iter().any(|c| [
            "agreement",
            "replica-state",
            "linearizability",
            "lost-write"
        ]
        .contains(c)),
        "{found:?}"
    );
}

#[test]
fn a_lease_without_the_drift_margin_overlaps_the_next_leader() {
    let s = hunt(Bug::LeaseWithoutDriftMargin, "drift", 300, |c| {
        c.engine.bugs = Bugs::with(Bug::LeaseWithoutDriftMargin)
    });
    let found = checks(&s);
    assert!(
        found
            .iter()
            .any(|c| ["lease", "linearizability"].contains(c)),
        "{found:?}"
    );
}
