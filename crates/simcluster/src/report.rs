//! What a run found, and the story it tells: violations (capped per
//! check), the trace, and the counters the cluster keeps.

use crate::network::NetStats;
use crate::scheduler::Time;
use std::collections::BTreeMap;
use std::fmt;

/// Violations kept per check: the first few tell the story, the rest are
/// usually its echoes.
const VIOLATIONS_PER_CHECK_MAX: usize = 5;

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which checker, e.g. agreement, replica-state, durability, lease,
    /// recovery, invariant, frame-limit, and each simulator's own.
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

/// What the cluster counted during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    pub net: NetStats,
    /// Fault events injected (partitions, crashes, pauses).
    pub faults: u64,
    pub crashes: u64,
    /// Nodes stopped by a failed disk write.
    pub disk_failures: u64,
    pub elections: u64,
    /// The highest commit point any node reached.
    pub max_commit: u64,
    /// `Forward` messages sent by followers.
    pub forwards: u64,
    pub lease_reads: u64,
    pub snapshots: u64,
    pub snapshots_installed: u64,
    /// Snapshot chunks taken in by replicas receiving a snapshot in parts.
    pub snapshot_chunks: u64,
    pub sim_time_us: Time,
}

impl ClusterStats {
    pub fn add(&mut self, o: &ClusterStats) {
        self.net.add(&o.net);
        self.faults += o.faults;
        self.crashes += o.crashes;
        self.disk_failures += o.disk_failures;
        self.elections += o.elections;
        self.max_commit += o.max_commit;
        self.forwards += o.forwards;
        self.lease_reads += o.lease_reads;
        self.snapshots += o.snapshots;
        self.snapshots_installed += o.snapshots_installed;
        self.snapshot_chunks += o.snapshot_chunks;
        self.sim_time_us += o.sim_time_us;
    }
}

/// Violations and trace lines of one run.
#[derive(Debug, Default)]
pub struct RunLog {
    tracing: bool,
    pub violations: Vec<Violation>,
    per_check: BTreeMap<&'static str, usize>,
    pub trace: Vec<String>,
}

impl RunLog {
    pub fn new(tracing: bool) -> RunLog {
        RunLog {
            tracing,
            ..RunLog::default()
        }
    }

    pub fn tracing(&self) -> bool {
        self.tracing
    }

    /// Adds a trace line stamped with `now`; `line` runs only when tracing.
    pub fn note(&mut self, now: Time, line: impl FnOnce() -> String) {
        if self.tracing {
            let text = line();
            self.trace.push(format!(
                "[{:>4}.{:06}s] {text}",
                now / 1_000_000,
                now % 1_000_000
            ));
        }
    }

    pub fn violation(&mut self, now: Time, check: &'static str, detail: String) {
        let n = self.per_check.entry(check).or_default();
        *n += 1;
        if *n > VIOLATIONS_PER_CHECK_MAX {
            return;
        }
        self.note(now, || format!("VIOLATION {check}: {detail}"));
        self.violations.push(Violation { check, detail });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_capped_per_check_and_traced() {
        let mut log = RunLog::new(true);
        for i in 0..10 {
            log.violation(1_500_000, "agreement", format!("slot {i}"));
        }
        log.violation(0, "durability", "x".into());
        assert_eq!(log.violations.len(), VIOLATIONS_PER_CHECK_MAX + 1);
        assert_eq!(log.trace[0], "[   1.500000s] VIOLATION agreement: slot 0");
    }

    #[test]
    fn notes_cost_nothing_when_not_tracing() {
        let mut log = RunLog::new(false);
        log.note(0, || unreachable!("not formatted"));
        assert!(log.trace.is_empty());
    }
}
