//! What a run reports: violations of the oracles, counters, and a digest
//! of everything clients saw and replicas applied (same seed, same digest).

use std::fmt;
/// A failed check: one of this simulator's oracles ("ephemerals",
/// "oversized",
/// "expiry-active", "expiry-abandoned", "watches", "watch-order", "fifo",
/// "read-your-writes", "replica-changes", "client", "lock-exclusive",
/// "fence", "lock-delay", "check-linearizable", "cache-linearizable",
/// "panic") or the
/// "fence", "lock-delay", "check-linearizable", "events-lost",
/// "events-order", "events-early", "panic") or the
/// cluster's (agreement, replica-state, durability, lease, recovery,
/// invariant, frame-limit).
pub use synod_simcluster::Violation;
use synod_simcluster::{ClusterStats, SeedRun};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// What the shared cluster counted: network, faults, elections,
    /// snapshots, the highest commit point, simulated time.
    pub cluster: ClusterStats,
    pub replies: u64,
    pub events: u64,
    pub sessions: u64,
    pub sessions_closed: u64,
    pub sessions_expired: u64,
    /// Expiries of sessions whose client had not stopped: allowed only
    /// when faults were active within the session's timeout.
    pub active_sessions_expired: u64,
    pub abandoned_checked: u64,
    pub reconnects: u64,
    pub refused_behind: u64,
    pub set_watches: u64,
    pub connections_checked: u64,
    pub connections_complete: u64,
    pub ephemerals_created: u64,
    pub changes: u64,
    /// Connections the node end closed because a frame could not be read
    /// (longer than `max_buffer_bytes`, or malformed).
    pub connections_ended_by_runtime: u64,
    /// Requests sent with a frame over `max_buffer_bytes`.
    pub oversized_sent: u64,
    /// Writes of data up to `max_buffer_bytes` acknowledged.
    pub big_writes_acked: u64,
    /// addauth requests refused (AuthFailed).
    pub auth_failed: u64,
    /// getData replies whose data the data oracle compared with the
    /// session's own write (the node unchanged since).
    pub data_checked: u64,
    /// Of those, the ones where that write stored null.
    pub null_data_checked: u64,
    /// Lock sessions opened by the lock clients.
    pub lock_sessions: u64,
    /// `Acquired` answers the lock clients received.
    pub locks_acquired: u64,
    /// Holders that paused (a GC pause) while holding.
    pub lock_pauses: u64,
    /// Writes the fenced resource accepted.
    pub fenced_writes: u64,
    /// Writes it refused as stale (a superseded holder's).
    pub stale_writes_refused: u64,
    /// Grants judged against a lock-delay that began on their lock.
    pub lock_delays_judged: u64,
    /// CheckSequencer answers judged against a completed release or a
    /// later grant.
    pub lock_checks_judged: u64,
    /// Lock sessions the cache clients opened.
    pub cache_sessions: u64,
    /// Reads the cache clients answered from their caches.
    pub cache_reads: u64,
    /// Fills (reads at the leader) answered, and the ones kept.
    pub cache_fills: u64,
    pub cache_fills_kept: u64,
    /// Invalidations the cache clients applied (paths, counted once).
    pub cache_invalidations: u64,
    /// Whole caches flushed (a new term, a lease out, a session lost).
    pub cache_flushes: u64,
    /// SetContents writes of the cache clients that succeeded.
    pub cache_writes: u64,
    /// Cache clients that paused (a GC pause) with something cached.
    pub cache_pauses: u64,
    /// Reads the cache oracle judged: from caches, and fills.
    pub cache_reads_judged: u64,
    pub cache_fills_judged: u64,
    /// Reads it found stale (each one a violation).
    pub cache_stale_reads: u64,
    /// Sessions the event clients opened.
    pub event_sessions: u64,
    /// `Alive` answers they received, and the events in them.
    pub event_answers: u64,
    pub events_received: u64,
    /// Events the events oracle judged (node events and grants).
    pub events_judged: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.cluster.add(&o.cluster);
        self.replies += o.replies;
        self.events += o.events;
        self.sessions += o.sessions;
        self.sessions_closed += o.sessions_closed;
        self.sessions_expired += o.sessions_expired;
        self.active_sessions_expired += o.active_sessions_expired;
        self.abandoned_checked += o.abandoned_checked;
        self.reconnects += o.reconnects;
        self.refused_behind += o.refused_behind;
        self.set_watches += o.set_watches;
        self.connections_checked += o.connections_checked;
        self.connections_complete += o.connections_complete;
        self.ephemerals_created += o.ephemerals_created;
        self.changes += o.changes;
        self.connections_ended_by_runtime += o.connections_ended_by_runtime;
        self.oversized_sent += o.oversized_sent;
        self.big_writes_acked += o.big_writes_acked;
        self.auth_failed += o.auth_failed;
        self.data_checked += o.data_checked;
        self.null_data_checked += o.null_data_checked;
        self.lock_sessions += o.lock_sessions;
        self.locks_acquired += o.locks_acquired;
        self.lock_pauses += o.lock_pauses;
        self.fenced_writes += o.fenced_writes;
        self.stale_writes_refused += o.stale_writes_refused;
        self.lock_delays_judged += o.lock_delays_judged;
        self.event_sessions += o.event_sessions;
        self.event_answers += o.event_answers;
        self.events_received += o.events_received;
        self.events_judged += o.events_judged;
        self.lock_checks_judged += o.lock_checks_judged;
        self.cache_sessions += o.cache_sessions;
        self.cache_reads += o.cache_reads;
        self.cache_fills += o.cache_fills;
        self.cache_fills_kept += o.cache_fills_kept;
        self.cache_invalidations += o.cache_invalidations;
        self.cache_flushes += o.cache_flushes;
        self.cache_writes += o.cache_writes;
        self.cache_pauses += o.cache_pauses;
        self.cache_reads_judged += o.cache_reads_judged;
        self.cache_fills_judged += o.cache_fills_judged;
        self.cache_stale_reads += o.cache_stale_reads;
    }
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub profile: &'static str,
    pub violations: Vec<Violation>,
    pub stats: Stats,
    /// FNV-1a over every frame clients received and every replica state
    /// digest, in order.
    pub trace_digest: u64,
    pub trace: Vec<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn has(&self, check: &str) -> bool {
        self.violations.iter().any(|v| v.check == check)
    }

    /// One command that replays this run with a trace.
    pub fn replay_command(&self) -> String {
        format!(
            "SYNOD_ZKSIM_SEED={} SYNOD_ZKSIM_PROFILE={} cargo test -p synod-zksim --test sweep replay_one -- --nocapture",
            self.seed, self.profile
        )
    }
}

impl SeedRun for RunReport {
    type Stats = Stats;

    fn seed(&self) -> u64 {
        self.seed
    }

    fn ok(&self) -> bool {
        RunReport::ok(self)
    }

    fn add_stats_to(&self, total: &mut Stats) {
        total.add(&self.stats);
    }

    /// A run that panicked: a violation like any other. (The sweep sets
    /// the profile name.)
    fn panicked(seed: u64, message: String) -> Self {
        RunReport {
            seed,
            profile: "",
            violations: vec![Violation {
                check: "panic",
                detail: message,
            }],
            stats: Stats::default(),
            trace_digest: 0,
            trace: Vec::new(),
        }
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} profile {}: {} violation(s)",
            self.seed,
            self.profile,
            self.violations.len()
        )?;
        for v in &self.violations {
            writeln!(f, "  [{}] {}", v.check, v.detail)?;
        }
        write!(f, "  replay: {}", self.replay_command())
    }
}
