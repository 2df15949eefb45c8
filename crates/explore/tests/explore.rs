//! Bounded exhaustive searches of the real engine that must complete with
//! no violation. The state counts are pinned loosely from below: a search
//! that suddenly visits far fewer states checks less than it used to.
//! (They fell by about a third when the commit point stopped being a
//! write of its own: those writes' completions were transitions that
//! interleaved with everything else; and by up to 43% when a delivery
//! that changes nothing stopped making a state of its own: the state
//! where the message is still in flight reaches everything it would.)

mod common;

use std::time::Instant;
use synod_explore::{explore, ConfigChange, ExploreConfig, ExploreReport, Limit, SearchOrder};

fn search(name: &str, cfg: &ExploreConfig) -> ExploreReport {
    let started = Instant::now();
    let report = explore(cfg).expect("valid configuration");
    eprintln!("{name}: {report} ({:.2?})", started.elapsed());
    assert!(report.violation.is_none(), "{name}: {report}");
    assert_eq!(
        report.commands_chosen_max, cfg.commands,
        "{name}: no path chose every command, so the search checked little"
    );
    assert_eq!(
        report.changes_chosen_max,
        cfg.changes.len(),
        "{name}: no path chose every membership change, so the search checked little"
    );
    report
}

fn run(name: &str, cfg: &ExploreConfig) -> ExploreReport {
    let report = search(name, cfg);
    assert!(report.complete, "{name}: the search was cut: {report}");
    report
}

/// A breadth-first search cut only by its depth bound: every state within
/// `depth_max` transitions of the start was explored.
fn run_to_depth(name: &str, cfg: &ExploreConfig, depth_max: u32) -> ExploreReport {
    let cfg = ExploreConfig {
        order: SearchOrder::BreadthFirst,
        depth_max,
        ..cfg.clone()
    };
    let report = search(name, &cfg);
    assert_eq!(report.limit, Some(Limit::Depth), "{name}: {report}");
    assert_eq!(report.max_depth, depth_max, "{name}: {report}");
    report
}

#[test]
fn one_command_and_one_election_every_order_agrees() {
    let report = run("small", &ExploreConfig::small());
    assert!(report.states > 5_000, "{report}");
}

#[test]
fn two_commands_in_every_order_agree() {
    let cfg = ExploreConfig {
        commands: 2,
        timer_budget: 0,
        ..ExploreConfig::small()
    };
    let report = run("two commands", &cfg);
    assert!(report.states > 2_500, "{report}");
}

#[test]
fn the_first_election_from_booted_nodes_is_safe_in_every_order() {
    let cfg = ExploreConfig {
        commands: 0,
        timer_budget: 1,
        warm_start: false,
        async_writes: false,
        ..ExploreConfig::small()
    };
    let report = run("cold election", &cfg);
    assert!(report.states > 8_000, "{report}");
}

#[test]
fn losses_and_a_crash_with_two_commands_agree() {
    let cfg = ExploreConfig {
        commands: 2,
        timer_budget: 0,
        loss_budget: 2,
        crash_budget: 1,
        ..ExploreConfig::small()
    };
    let report = run("loss and crash", &cfg);
    assert!(report.states > 100_000, "{report}");
}

#[test]
fn a_loss_during_an_election_agrees() {
    let cfg = ExploreConfig {
        commands: 1,
        timer_budget: 1,
        loss_budget: 1,
        ..ExploreConfig::small()
    };
    let report = run("loss and election", &cfg);
    assert!(report.states > 15_000, "{report}");
}

#[test]
fn breadth_first_and_depth_first_visit_the_same_states() {
    let dfs = run("small, depth-first", &ExploreConfig::small());
    let bfs = run(
        "small, breadth-first",
        &ExploreConfig {
            order: SearchOrder::BreadthFirst,
            ..ExploreConfig::small()
        },
    );
    assert_eq!(bfs.states, dfs.states);
    assert_eq!(bfs.terminal_states, dfs.terminal_states);
}

#[test]
fn promoting_a_learner_during_an_election_agrees_in_every_order() {
    let cfg = ExploreConfig {
        learners: 1,
        commands: 0,
        changes: vec![ConfigChange::Promote(4)],
        reconfig_budget: 1,
        timer_budget: 1,
        async_writes: false,
        ..ExploreConfig::small()
    };
    let report = run("promotion and election", &cfg);
    assert!(report.states > 25_000, "{report}");
}

#[test]
fn a_command_around_a_promotion_agrees_in_every_order() {
    let cfg = ExploreConfig {
        learners: 1,
        commands: 1,
        changes: vec![ConfigChange::Promote(4)],
        reconfig_budget: 1,
        timer_budget: 0,
        ..ExploreConfig::small()
    };
    let report = run("promotion and command", &cfg);
    assert!(report.states > 50_000, "{report}");
}

#[test]
fn two_elections_agree_as_deep_as_the_broken_engines_break() {
    // The configuration that catches the minority-quorum and
    // accept-lower-ballot engines (tests/broken.rs), to the depth where
    // they break.
    let report = run_to_depth(
        "two elections",
        &common::two_elections(),
        common::TWO_ELECTIONS_DEPTH,
    );
    assert!(report.states > 100_000, "{report}");
}

#[test]
fn two_promotions_and_two_elections_agree_as_deep_as_the_cover_rule_breaks() {
    // The configuration that catches the phase-1 cover rule
    // (tests/broken.rs), to the depth where it breaks: the real engine's
    // phase 1 needs a majority of {1, 2}, which node 1 refuses while it
    // leads, or reports Promote(3) to.
    let report = run_to_depth(
        "two promotions",
        &common::two_promotions(),
        common::TWO_PROMOTIONS_DEPTH,
    );
    assert!(report.states > 200_000, "{report}");
}

#[test]
fn a_search_stops_at_its_memory_and_state_limits_and_says_which() {
    for order in SearchOrder::ALL {
        let cfg = ExploreConfig {
            order,
            bytes_max: 64 << 10,
            ..ExploreConfig::small()
        };
        let report = explore(&cfg).unwrap();
        assert!(!report.complete, "{report}");
        assert_eq!(report.limit, Some(Limit::Bytes), "{report}");
        assert!(report.bytes_peak > cfg.bytes_max, "{report}");
        assert!(report.states < 7_000, "{report}");

        let cfg = ExploreConfig {
            order,
            states_max: 1_000,
            ..ExploreConfig::small()
        };
        let report = explore(&cfg).unwrap();
        assert!(!report.complete, "{report}");
        assert_eq!(report.limit, Some(Limit::States), "{report}");
        assert_eq!(report.states, 1_000, "{report}");
    }
}

#[cfg(not(feature = "broken"))]
#[test]
fn a_bug_without_the_broken_feature_is_refused() {
    let cfg = ExploreConfig {
        bug: Some(synod_explore::Bug::MinorityQuorum),
        ..ExploreConfig::small()
    };
    let err = explore(&cfg).unwrap_err();
    assert!(err.to_string().contains("--features broken"), "{err}");
}
