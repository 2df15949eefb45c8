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

/// The node's own event bug (`synod_node::NodeBug::DropEvents`).
#[cfg(feature = "broken")]
mod node_bugs {
    use super::{calm, run, SEEDS};
    use synod_zksim::{Bugs, NodeBug};

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
}

/// Found by the events oracle, not fixed: the lock door queues an
/// immediate grant's `LockAcquired` when the `Acquire`'s reply reaches
/// it, not when the grant is applied. An acquire retried with the same
/// seq (to another node, after the first leader lost its place) is
/// answered from the engine's client table, and that node's door
/// announces the old grant again, after events of later changes: its
/// subscribers hear it late, out of apply order (or twice, from one
/// door). In one sweep, seed 23 of `all`: the acquire of /locks/b
/// (generation 5) was sent to n1 at 7.12 s and again to n3 at 8.12 s, and
/// n3 announced it at 8.12 s. Some 3 in 60 seeds of `all` and
/// `partitions` show it; run with `--ignored` to see it fail.
#[test]
#[ignore = "a known bug of the lock door: a retried acquire announces its grant again"]
fn a_retried_acquire_does_not_announce_its_grant_again() {
    let seeds: Vec<u64> = (1..=60)
        .filter(|seed| {
            let mut cfg = SimConfig::new(*seed, profile::named("all").expect("all"));
            cfg.grant_events_order = true;
            run(cfg).has("grant-events-order")
        })
        .collect();
    assert!(
        seeds.is_empty(),
        "late or repeated LockAcquired in seeds {seeds:?} of all"
    );
}
