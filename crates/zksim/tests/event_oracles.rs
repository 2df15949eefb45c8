//! The events oracle (Chubby's events, issue 12) catches a lock door that
//! silently drops events, and a correct build passes the same seeds with
//! events judged.

use synod_zksim::{profile, run, RunReport, SimConfig, Stats};

/// Seeds the catch test looks at.
const SEEDS: u64 = 20;

fn calm(seed: u64) -> SimConfig {
    SimConfig::new(seed, profile::named("calm").expect("calm"))
}

/// The same seeds, correct: the event clients received and the oracle
/// judged events, and nothing failed.
#[test]
fn a_correct_build_delivers_every_event_in_order() {
    let mut judged = Stats::default();
    for seed in 1..=SEEDS {
        let report: RunReport = run(calm(seed));
        assert!(report.ok(), "{report}");
        judged.add(&report.stats);
    }
    println!(
        "{} event sessions, {} answers, {} events received, {} judged",
        judged.event_sessions, judged.event_answers, judged.events_received, judged.events_judged
    );
    assert!(judged.event_sessions >= 2 * SEEDS, "{judged:?}");
    assert!(judged.events_judged > 100 * SEEDS, "{judged:?}");
}

/// The node's own event bugs (`synod_node::NodeBug::DropEvents` and
/// `GrantEventsFromReplies`).
#[cfg(feature = "broken")]
mod node_bugs {
    use super::{calm, run, SEEDS};
    use synod_zksim::{profile, Bugs, NodeBug, SimConfig};

    /// Seeds of `GRANT_SEEDS` the grant catch test must catch at least
    /// (6 of 7 when measured: seed 23 no longer shows it).
    const GRANT_CATCH_MIN: usize = 4;

    #[test]
    fn a_door_that_drops_every_third_event_is_caught() {
        let seeds: Vec<u64> = (1..=SEEDS)
            .filter(|s| {
                let mut cfg = calm(*s);
                cfg.bugs = Bugs::node(NodeBug::DropEvents);
                run(cfg).has("events-lost")
            })
            .collect();
        println!("DropEvents: caught by events-lost in seeds {seeds:?} of 1..={SEEDS}");
        assert!(
            seeds.len() >= 18,
            "DropEvents was caught in seeds {seeds:?} only (want 18 of {SEEDS})"
        );
    }

    /// The door announces an immediate grant from the `Acquire`'s reply
    /// (`NodeBug::GrantEventsFromReplies`, synod before the fix): a
    /// retried acquire answered from the client table announces its
    /// grant again, late.
    #[test]
    fn a_door_that_announces_grants_from_replies_is_caught() {
        let seeds: Vec<(&str, u64)> = super::GRANT_SEEDS
            .into_iter()
            .filter(|(name, seed)| {
                let mut cfg = SimConfig::new(*seed, profile::named(name).expect("profile"));
                cfg.bugs = Bugs::node(NodeBug::GrantEventsFromReplies);
                let report = run(cfg);
                report.has("grant-events-order") || report.has("grant-events-lost")
            })
            .collect();
        println!("GrantEventsFromReplies: caught in {seeds:?}");
        assert!(
            seeds.len() >= GRANT_CATCH_MIN,
            "GrantEventsFromReplies was caught in seeds {seeds:?} only"
        );
    }
}

/// Found by the events oracle, and fixed: the lock door queued an
/// immediate grant's `LockAcquired` when the `Acquire`'s reply reached
/// it, not when the grant was applied. An acquire retried with the same
/// seq (to another node, after the first leader lost its place) is
/// answered from the engine's client table, and that node's door
/// announced the old grant again, after events of later changes: its
/// subscribers heard it late, out of apply order (or twice, from one
/// door). In one sweep, seed 23 of `all`: the acquire of /locks/b
/// (generation 5) was sent to n1 at 7.12 s and again to n3 at 8.12 s, and
/// n3 announced it at 8.12 s. The door now announces every grant from the
/// tree's `LockGrant`s, in apply order. These seeds showed the bug: seed
/// 23 in that sweep, the others with `NodeBug::GrantEventsFromReplies`
/// (which brings it back) among seeds 1..=150 of all, partitions and
/// crashes (some 1 in 75).
const GRANT_SEEDS: [(&str, u64); 7] = [
    ("all", 23),
    ("all", 31),
    ("all", 96),
    ("all", 106),
    ("partitions", 72),
    ("partitions", 89),
    ("crashes", 33),
];

#[test]
fn a_retried_acquire_does_not_announce_its_grant_again() {
    for (name, seed) in GRANT_SEEDS {
        let report = run(SimConfig::new(seed, profile::named(name).expect("profile")));
        assert!(report.ok(), "seed {seed} of {name}: {report}");
    }
}
