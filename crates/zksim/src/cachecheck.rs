//! The client cache's oracle, **cache-linearizable**: no read of a cached
//! path, from the cache or filled at the leader, returns a state older
//! than one a completed operation had already shown to be superseded.
//!
//! Every write of the tree has a zxid, and the replicas apply them in zxid
//! order, so a path's history is a sequence of states, each established at
//! a zxid and replaced at the next zxid that changes the path (the
//! committed change history, `changes.rs`). A reply that reached a client
//! carries a zxid its node had applied, so everything up to it was chosen
//! before the reply arrived: `known`, the highest such zxid any client
//! had received (ZooKeeper reply headers, the Stat of a SetContents or a
//! fill), is a lower bound of the committed state at that instant.
//! A read that started at `s` must therefore return a state that was
//! still current at `known(s)`: a state established at `a` and replaced at
//! `b` is stale if `b <= known(s)`; an absence is stale if every stretch
//! of absence of the path ended at or before `known(s)`. A cached read is
//! an instantaneous read at its local time; a fill's interval starts when
//! it was first sent.
//!
//! With a total order on writes to lean on, this is linearizability of
//! each path's reads against its writes without a search (crates/check's
//! Wing-Gong-Lowe search needs each write's call and return times, which
//! a ZooKeeper multi or a failed conditional write make awkward to give).
//! A read is never judged against a change the history does not hold.

use crate::changes::Change;
use crate::client::Time;
use std::collections::BTreeMap;
use synod_coord::EventKind;

/// What a read showed of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Present, last modified at this zxid (the Stat's `mzxid`).
    Present {
        mzxid: i64,
    },
    Absent,
}

/// One read of a cached path.
#[derive(Clone, Debug)]
pub(crate) struct CacheRead {
    pub(crate) client: u64,
    pub(crate) path: String,
    /// When it started (a cached read: when it was answered).
    pub(crate) start: Time,
    /// The highest zxid known committed by a client at `start`.
    pub(crate) known: i64,
    pub(crate) seen: Seen,
    /// Answered from the cache.
    pub(crate) cached: bool,
}

/// The cache clients' reads, for the oracle.
#[derive(Debug, Default)]
pub(crate) struct CacheHistory {
    reads: Vec<CacheRead>,
}

/// What judging the history found: reads judged from the cache and by
/// fills, and the problems.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) cached_judged: u64,
    pub(crate) filled_judged: u64,
    pub(crate) problems: Vec<(&'static str, String)>,
}

/// A path's states in zxid order: the zxid that set each, and whether the
/// path was present after it.
type States = Vec<(i64, bool)>;

impl CacheHistory {
    pub(crate) fn read(&mut self, read: CacheRead) {
        self.reads.push(read);
    }

    /// Judges every read against the committed change history.
    pub(crate) fn check(&self, changes: &[(i64, Change)]) -> Verdict {
        let states = states(changes);
        let none = Vec::new();
        let mut verdict = Verdict::default();
        for r in &self.reads {
            let path_states = states.get(r.path.as_str()).unwrap_or(&none);
            if r.cached {
                verdict.cached_judged += 1;
            } else {
                verdict.filled_judged += 1;
            }
            if let Some(superseded) = stale(path_states, r.seen, r.known) {
                verdict
                    .problems
                    .push(("cache-linearizable", describe(r, superseded)));
            }
        }
        verdict
    }
}

/// Each path's states from the change history (node events only; a
/// child's change leaves its parent's data as it was).
fn states(changes: &[(i64, Change)]) -> BTreeMap<&str, States> {
    let mut out: BTreeMap<&str, States> = BTreeMap::new();
    for (zxid, change) in changes {
        let Change::Node { path, kind } = change else {
            continue;
        };
        let present = match kind {
            EventKind::Created | EventKind::DataChanged => true,
            EventKind::Deleted => false,
            EventKind::ChildrenChanged => continue,
        };
        let list = out.entry(path.as_str()).or_default();
        match list.last_mut() {
            // Several changes in one multi: the last one stands.
            Some((z, p)) if z == zxid => *p = present,
            _ => list.push((*zxid, present)),
        }
    }
    out
}

/// The zxid that had replaced what a read saw by `known`, if one had.
fn stale(states: &[(i64, bool)], seen: Seen, known: i64) -> Option<i64> {
    let replaced = match seen {
        Seen::Present { mzxid } => states.iter().find(|(z, _)| *z > mzxid)?.0,
        Seen::Absent => {
            // The path starts absent; the last stretch of absence ended
            // with the first presence after the last deletion.
            let last_delete = states.iter().rposition(|(_, present)| !present);
            let from = last_delete.map_or(0, |i| i + 1);
            states.get(from)?.0
        }
    };
    (replaced <= known).then_some(replaced)
}

fn describe(r: &CacheRead, replaced: i64) -> String {
    let how = if r.cached {
        "from its cache"
    } else {
        "by a fill"
    };
    let what = match r.seen {
        Seen::Present { mzxid } => format!("the state set at zxid {mzxid:#x}"),
        Seen::Absent => "its absence".to_string(),
    };
    format!(
        "cache client {} read {} {how} at {:.6}s and saw {what}, but zxid {replaced:#x} had replaced it and a client had seen zxid {:#x} committed before the read started",
        r.client,
        r.path,
        r.start as f64 / 1e6,
        r.known
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, kind: EventKind) -> Change {
        Change::Node {
            path: path.into(),
            kind,
        }
    }

    fn read(seen: Seen, known: i64) -> CacheRead {
        CacheRead {
            client: 1,
            path: "/p".into(),
            start: 0,
            known,
            seen,
            cached: true,
        }
    }

    /// /p created at 2, changed at 5, deleted at 8, created at 10 (a
    /// multi that creates and sets it: one state).
    fn history() -> Vec<(i64, Change)> {
        vec![
            (2, node("/p", EventKind::Created)),
            (3, node("/q", EventKind::Created)),
            (5, node("/p", EventKind::DataChanged)),
            (8, node("/p", EventKind::Deleted)),
            (10, node("/p", EventKind::Created)),
            (10, node("/p", EventKind::DataChanged)),
        ]
    }

    fn problems(seen: Seen, known: i64) -> usize {
        let mut h = CacheHistory::default();
        h.read(read(seen, known));
        h.check(&history()).problems.len()
    }

    #[test]
    fn a_state_replaced_by_a_write_known_before_the_read_is_stale() {
        let set_at_2 = Seen::Present { mzxid: 2 };
        assert_eq!(problems(set_at_2, 4), 0);
        assert_eq!(problems(set_at_2, 5), 1);
        let latest = Seen::Present { mzxid: 10 };
        assert_eq!(problems(latest, 100), 0);
    }

    #[test]
    fn an_absence_is_stale_only_once_every_stretch_of_it_ended() {
        assert_eq!(problems(Seen::Absent, 1), 0, "before the first create");
        assert_eq!(problems(Seen::Absent, 9), 0, "deleted at 8");
        assert_eq!(problems(Seen::Absent, 10), 1, "created again at 10");
        let mut h = CacheHistory::default();
        h.read(read(Seen::Absent, 100));
        let changes = vec![(3, node("/p", EventKind::Created))];
        assert_eq!(h.check(&changes).problems.len(), 1);
        assert_eq!(h.check(&[]).problems.len(), 0, "never created");
    }
}
