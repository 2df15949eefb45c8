//! Every oracle catches a deliberately broken build: a tree that keeps or
//! loses ephemerals, a front door that drops keepalives or log time, loses,
//! swaps or delays watch events, swaps replies, reads stale state, and a
//! replica that diverges. A checker that never fails proves nothing.

use synod_zksim::{profile, run, Bug, Bugs, RunReport, SimConfig};

fn broken(bug: Bug, seed: u64) -> RunReport {
    let mut cfg = SimConfig::new(seed, profile::named("calm").expect("calm"));
    cfg.bugs = Bugs::one(bug);
    run(cfg)
}

/// Every one of a few seeds must report `check`.
fn caught(bug: Bug, check: &str) {
    for seed in 1..=3 {
        let report = broken(bug, seed);
        assert!(
            report.has(check),
            "{bug:?} with seed {seed} was not caught by the {check} oracle:\n{report}"
        );
    }
}

#[test]
fn an_ephemeral_that_outlives_its_closed_session_is_caught() {
    caught(Bug::CloseKeepsEphemerals, "ephemerals");
}

#[test]
fn an_ephemeral_deleted_while_its_session_lives_is_caught() {
    caught(Bug::DeleteLiveEphemeral, "ephemerals");
}

#[test]
fn a_pinging_session_that_expires_is_caught() {
    caught(Bug::LogTimeJumps, "expiry-active");
}

#[test]
fn an_abandoned_session_that_never_expires_is_caught() {
    caught(Bug::DropTicks, "expiry-abandoned");
}

#[test]
fn a_lost_watch_event_is_caught() {
    caught(Bug::DropEvent, "watches");
}

#[test]
fn reordered_watch_events_are_caught() {
    caught(Bug::SwapEvents, "watches");
}

#[test]
fn an_event_delivered_after_a_reply_that_shows_its_change_is_caught() {
    caught(Bug::EventAfterReply, "watch-order");
}

#[test]
fn replies_out_of_request_order_are_caught() {
    caught(Bug::SwapReplies, "fifo");
}

#[test]
fn a_read_that_misses_the_sessions_own_write_is_caught() {
    caught(Bug::StaleReads, "read-your-writes");
}

#[test]
fn a_diverging_replica_is_caught() {
    caught(Bug::DivergentReplica, "replica-state");
}

#[test]
fn a_correct_build_passes_the_same_seeds() {
    for seed in 1..=3 {
        let report = run(SimConfig::new(seed, profile::named("calm").expect("calm")));
        assert!(report.ok(), "{report}");
    }
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
