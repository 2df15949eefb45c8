//! A checker that never fails proves nothing: with a deliberately broken
//! engine the search must find a violation and print how it happened.

#![cfg(feature = "broken")]

mod common;

use std::time::Instant;
use synod_explore::{explore, Bug, ExploreConfig, SearchOrder, Violation, ViolationKind};

fn must_find(bug: Bug, cfg: ExploreConfig) -> Violation {
    let cfg = ExploreConfig {
        bug: Some(bug),
        ..cfg
    };
    let started = Instant::now();
    let report = explore(&cfg).expect("valid configuration");
    let Some(v) = report.violation.clone() else {
        panic!("{}: no violation found: {report}", bug.name());
    };
    eprintln!("{}: {report} ({:.2?})", bug.name(), started.elapsed());
    assert_eq!(v.kind, ViolationKind::Agreement, "{v}");
    assert!(!report.complete);
    let text = v.to_string();
    assert!(text.contains("two values chosen"), "{text}");
    assert!(text.contains("(warm-up)"), "{text}");
    assert!(v.trace.len() > 10, "{text}");
    // The trace is the replay of a deterministic search: same again.
    let again = explore(&cfg).unwrap().violation.unwrap();
    assert_eq!(again.to_string(), text);
    v
}

/// The steps of `v` after the warm-up.
fn searched(v: &Violation) -> Vec<&str> {
    v.trace
        .iter()
        .map(|s| s.action.as_str())
        .filter(|a| !a.starts_with("(warm-up)"))
        .collect()
}

#[test]
fn accepting_below_a_promise_lets_an_old_leader_overwrite_a_choice() {
    // Two elections: one expires a follower's lease, one elects a rival.
    // Depth-first finds it after a few thousand states.
    must_find(Bug::AcceptLowerBallot, common::two_elections());
}

#[test]
fn counting_a_minority_as_chosen_lets_the_next_leader_overwrite_a_choice() {
    // Depth-first order exhausts other choices for more than 20M states
    // first; breadth-first finds the shortest path, seven steps.
    let cfg = ExploreConfig {
        order: SearchOrder::BreadthFirst,
        ..common::two_elections()
    };
    let v = must_find(Bug::MinorityQuorum, cfg);
    let steps = searched(&v);
    assert!(steps.len() <= common::TWO_ELECTIONS_DEPTH as usize, "{v}");
    assert_eq!(
        steps
            .iter()
            .filter(|a| a.contains("election timer"))
            .count(),
        2,
        "{v}"
    );
}

#[test]
fn a_phase_1_that_only_covers_the_old_configuration_overwrites_an_unseen_promotion() {
    // Finding 1's shape: Promote(3) is chosen in slot 2 by {1, 3}, a
    // majority of {1, 2, 3}, which node 2 never hears of; node 2 accepts
    // Promote(4) in slot 3, campaigns, and completes phase 1 with promises
    // from {2, 4} (a cover of {1, 2}, a majority of {1, 2, 4}); its no-op
    // in slot 2 is then chosen too.
    let v = must_find(Bug::Phase1CoverOnly, common::two_promotions());
    let text = v.to_string();
    assert!(v.detail.starts_with("slot 2:"), "{text}");
    assert!(
        text.contains("accept 1.1 [2=reconfig Promote(3)]"),
        "{text}"
    );
    assert!(
        text.contains("accept 1.1 [3=reconfig Promote(4)]"),
        "{text}"
    );
    assert!(text.contains("[2=no-op]"), "{text}");
    assert_eq!(
        searched(&v).len(),
        common::TWO_PROMOTIONS_DEPTH as usize,
        "{v}"
    );
}
