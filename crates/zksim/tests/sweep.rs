//! The CI sweep: every fault profile over a range of seeds, with every
//! oracle on. `SYNOD_ZKSIM_SEEDS=N` runs N seeds per profile (nightly),
//! from `SYNOD_ZKSIM_START` (default 1);
//! `SYNOD_ZKSIM_SEED` and `SYNOD_ZKSIM_PROFILE` replay one run with its
//! trace (`replay_one`).

use synod_simcluster::{sweep as run_seeds, Seeds};
use synod_zksim::{profile, run, SimConfig};

/// Seeds per profile in CI.
const CI_SEEDS: u64 = 40;

fn seeds() -> u64 {
    std::env::var("SYNOD_ZKSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

fn sweep(name: &str) {
    sweep_seeds(name, seeds());
}

/// The first seed of the sweep.
fn start() -> u64 {
    std::env::var("SYNOD_ZKSIM_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn sweep_seeds(name: &str, n: u64) {
    let profile = profile::named(name).expect("known profile");
    let first = start();
    let seeds = Seeds {
        range: first..first + n,
        jobs: std::thread::available_parallelism().map_or(1, |j| j.get()),
        fail_fast: false,
    };
    let started = std::time::Instant::now();
    let run_one = |seed| run(SimConfig::new(seed, profile.clone()));
    let swept = run_seeds(&seeds, &run_one, &|_| {});
    let (s, failed) = (&swept.stats, &swept.failed);
    println!(
        "{profile}: {n} seeds from {first}, {} failed; {} watch events, {} sessions expired ({} of them while their client was active, under faults), {} abandoned sessions checked; {} messages, {} dropped, {} dropped at a full queue, {} over the frame limit (largest frame {} bytes); wall {:.1}s",
        failed.len(),
        s.events,
        s.sessions_expired,
        s.active_sessions_expired,
        s.abandoned_checked,
        s.cluster.net.messages,
        s.cluster.net.dropped,
        s.cluster.net.dropped_queue_full,
        s.cluster.net.dropped_oversized,
        s.cluster.net.frame_bytes_max,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{profile}: {} sessions, {} replies; {} requests over max_buffer_bytes sent, {} connections ended by the node end, {} writes of over half of max_buffer_bytes acknowledged, {} addauth refused; {} reads compared with the session's write ({} of null data)",
        s.sessions,
        s.replies,
        s.oversized_sent,
        s.connections_ended_by_runtime,
        s.big_writes_acked,
        s.auth_failed,
        s.data_checked,
        s.null_data_checked
    );
    println!(
        "{profile}: locks: {} sessions, {} acquired, {} holders paused, {} fenced writes accepted, {} refused as stale, {} grants judged against a lock-delay, {} sequencer checks judged",
        s.lock_sessions,
        s.locks_acquired,
        s.lock_pauses,
        s.fenced_writes,
        s.stale_writes_refused,
        s.lock_delays_judged,
        s.lock_checks_judged
    );
    println!(
        "{profile}: cache: {} sessions, {} reads from caches and {} fills ({} kept), {} invalidations applied, {} caches flushed, {} writes, {} pauses; {} cached reads and {} fills judged, {} stale",
        s.cache_sessions,
        s.cache_reads,
        s.cache_fills,
        s.cache_fills_kept,
        s.cache_invalidations,
        s.cache_flushes,
        s.cache_writes,
        s.cache_pauses,
        s.cache_reads_judged,
        s.cache_fills_judged,
        s.cache_stale_reads
    );
    println!(
        "{profile}: events: {} event sessions, {} answers, {} events received, {} judged",
        s.event_sessions, s.event_answers, s.events_received, s.events_judged
    );
    for r in failed {
        println!("{r}");
    }
    assert!(
        failed.is_empty(),
        "{} of {n} seeds failed on {profile}",
        failed.len()
    );
}

#[test]
fn calm() {
    sweep("calm");
}

#[test]
fn lossy() {
    sweep("lossy");
}

#[test]
fn partitions() {
    sweep("partitions");
}

#[test]
fn crashes() {
    sweep("crashes");
}

#[test]
fn drift() {
    sweep("drift");
}

#[test]
fn all() {
    sweep("all");
}

/// A seed of this load costs some ten of the others (bursts, values up
/// to a MiB, sixteen clients' watches): CI runs a quarter as many.
#[test]
fn adversarial() {
    let n = std::env::var("SYNOD_ZKSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS / 4);
    sweep_seeds("adversarial", n);
}

/// Replays one run with its trace, e.g.
/// `SYNOD_ZKSIM_SEED=7 SYNOD_ZKSIM_PROFILE=all cargo test -p synod-zksim --test sweep replay_one -- --nocapture`.
#[test]
fn replay_one() {
    let Ok(seed) = std::env::var("SYNOD_ZKSIM_SEED") else {
        return;
    };
    let seed: u64 = seed.parse().expect("SYNOD_ZKSIM_SEED is a number");
    let name = std::env::var("SYNOD_ZKSIM_PROFILE").unwrap_or_else(|_| "all".into());
    let profile = profile::named(&name).expect("SYNOD_ZKSIM_PROFILE names a profile");
    let mut cfg = SimConfig::new(seed, profile);
    cfg.trace = true;
    let report = run(cfg);
    for line in &report.trace {
        println!("{line}");
    }
    println!("{:?}", report.stats);
    println!("{report}");
    assert!(report.ok());
}
