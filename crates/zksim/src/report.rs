//! What a run reports: violations of the oracles, counters, and a digest
//! of everything clients saw and replicas applied (same seed, same digest).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which oracle: "ephemerals", "expiry-active", "expiry-abandoned",
    /// "watches", "watch-order", "fifo", "read-your-writes",
    /// "replica-state", "replica-changes", "client".
    pub check: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sim_time_us: u64,
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
    pub crashes: u64,
    pub faults: u64,
    pub elections: u64,
    pub snapshots_installed: u64,
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
