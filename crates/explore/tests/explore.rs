//! Bounded exhaustive searches of the real engine that must complete with
//! no violation. The state counts are pinned loosely from below: a search
//! that suddenly visits far fewer states checks less than it used to.
//! (They last fell by about a third when the commit point stopped being a
//! write of its own: those writes' completions were transitions that
//! interleaved with everything else.)

use std::time::Instant;
use synod_explore::{explore, ExploreConfig, ExploreReport};

fn run(name: &str, cfg: &ExploreConfig) -> ExploreReport {
    let started = Instant::now();
    let report = explore(cfg).expect("valid configuration");
    eprintln!("{name}: {report} ({:.2?})", started.elapsed());
    assert!(report.violation.is_none(), "{name}: {report}");
    assert!(report.complete, "{name}: the search was cut: {report}");
    assert_eq!(
        report.commands_chosen_max, cfg.commands,
        "{name}: no path chose every command, so the search checked little"
    );
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
    assert!(report.states > 10_000, "{report}");
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
