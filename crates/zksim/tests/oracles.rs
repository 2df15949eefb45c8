//! Every oracle catches a deliberately broken build: a runtime that
//! loses, swaps or delays watch events or swaps replies; and, with the
//! `broken` feature, nodes whose tree keeps or loses ephemerals, whose
//! drive loop drops keepalives or log time or reads stale state, and a
//! replica that diverges. A checker that never fails proves nothing.
//! (The lock oracles' catch tests are in `lock_oracles.rs`.)

use synod_zksim::{profile, run, Bugs, OutputBug, RunReport, SimConfig, Stats};

fn broken(bugs: &Bugs, seed: u64) -> RunReport {
    let mut cfg = SimConfig::new(seed, profile::named("calm").expect("calm"));
    cfg.bugs = bugs.clone();
    run(cfg)
}

/// Every one of a few seeds must report `check`.
fn caught(bugs: Bugs, check: &str) {
    for seed in 1..=3 {
        let report = broken(&bugs, seed);
        assert!(
            report.has(check),
            "{bugs:?} with seed {seed} was not caught by the {check} oracle:\n{report}"
        );
    }
}

/// Every seed of the first ten in which the oracle had something to judge
/// (`judged` counts it in the broken run) must report `check`, and at
/// least three seeds must have had something.
#[cfg(feature = "broken")]
fn caught_where_judged(bugs: Bugs, check: &str, judged: fn(&Stats) -> u64) {
    let mut seeds = 0;
    for seed in 1..=10 {
        let report = broken(&bugs, seed);
        if judged(&report.stats) == 0 {
            continue;
        }
        seeds += 1;
        assert!(
            report.has(check),
            "{bugs:?} with seed {seed} was not caught by the {check} oracle:\n{report}"
        );
    }
    assert!(
        seeds >= 3,
        "only {seeds} of 10 seeds gave {check} anything to judge"
    );
}

/// The node's own bugs (`synod_node::NodeBug`).
#[cfg(feature = "broken")]
mod node_bugs {
    use super::{caught, caught_where_judged};
    use synod_zksim::{Bugs, NodeBug};

    #[test]
    fn an_ephemeral_that_outlives_its_closed_session_is_caught() {
        caught(Bugs::node(NodeBug::CloseKeepsEphemerals), "ephemerals");
    }

    #[test]
    fn an_ephemeral_deleted_while_its_session_lives_is_caught() {
        caught(Bugs::node(NodeBug::DeleteLiveEphemeral), "ephemerals");
    }

    #[test]
    fn a_pinging_session_that_expires_is_caught() {
        caught(Bugs::node(NodeBug::LogTimeJumps), "expiry-active");
    }

    #[test]
    fn an_abandoned_session_that_never_expires_is_caught() {
        // A seed whose clients abandoned no session in time for the
        // deadline has nothing to catch.
        caught_where_judged(Bugs::node(NodeBug::DropTicks), "expiry-abandoned", |s| {
            s.abandoned_checked
        });
    }

    #[test]
    fn a_read_that_misses_the_sessions_own_write_is_caught() {
        caught(Bugs::node(NodeBug::StaleReads), "read-your-writes");
    }

    #[test]
    fn a_diverging_replica_is_caught() {
        caught(Bugs::node(NodeBug::DivergentReplica), "replica-state");
    }

    /// The bug kazoo's test_create_null_data found: null stored as empty.
    /// Every replica agrees, so only the data oracle can see it, in a
    /// seed where a session read back a null write of its own.
    #[test]
    fn null_data_read_back_as_empty_is_caught() {
        caught_where_judged(Bugs::node(NodeBug::NullAsEmpty), "data", |s| {
            s.null_data_checked
        });
    }
}

#[test]
fn a_lost_watch_event_is_caught() {
    caught(Bugs::output(OutputBug::DropEvent), "watches");
}

#[test]
fn reordered_watch_events_are_caught() {
    caught(Bugs::output(OutputBug::SwapEvents), "watches");
}

#[test]
fn an_event_delivered_after_a_reply_that_shows_its_change_is_caught() {
    caught(Bugs::output(OutputBug::EventAfterReply), "watch-order");
}

#[test]
fn replies_out_of_request_order_are_caught() {
    caught(Bugs::output(OutputBug::SwapReplies), "fifo");
}

#[test]
fn a_correct_build_passes_the_same_seeds() {
    for seed in 1..=3 {
        let report = run(SimConfig::new(seed, profile::named("calm").expect("calm")));
        assert!(report.ok(), "{report}");
    }
}

/// The data oracle has null and empty writes to judge in a correct build.
#[test]
fn a_correct_build_reads_back_null_and_empty_data_as_written() {
    let mut judged = Stats::default();
    for seed in 1..=3 {
        let report = run(SimConfig::new(seed, profile::named("calm").expect("calm")));
        assert!(report.ok(), "{report}");
        judged.add(&report.stats);
    }
    assert!(judged.null_data_checked > 0, "{judged:?}");
    assert!(judged.data_checked > judged.null_data_checked, "{judged:?}");
}

#[test]
fn a_message_over_the_transport_s_frame_limit_is_caught() {
    // Catch-up replies and snapshots to a restarted node need frames of a
    // few KiB; a 1 KiB limit must show up as a violation, not as loss.
    let profile = profile::named("crashes").expect("crashes");
    let found = (1..=5).any(|seed| {
        let mut cfg = SimConfig::new(seed, profile.clone());
        cfg.net.frame_bytes_max = 1024;
        run(cfg).has("frame-limit")
    });
    assert!(found, "no frame-limit violation in 5 seeds");
}
