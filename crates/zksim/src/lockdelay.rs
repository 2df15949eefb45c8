//! The lock-delay oracle (**lock-delay**), per replica, from the node's
//! apply tap (`Applied::grants`, `ends`, `now_ms`): after a holder's
//! session expires at log time `t`, no session is granted that lock before
//! `t` plus the lock-delay the holder *asked for* (as its client sent it,
//! clamped as Chubby clamps it), whatever the log says it asked for.
//!
//! A small model of the holders, kept from the grants the tap shows,
//! releases and session ends. A snapshot that replaces the state starts it
//! afresh (holders it never saw granted cannot be judged; nothing is
//! judged wrongly).

use std::collections::BTreeMap;
use synod_coord::lock::LOCK_DELAY_MAX_MS;
use synod_coord::CoordOp;
use synod_node::Applied;

/// One replica's view of the holders and of running lock-delays.
#[derive(Debug, Default)]
pub(crate) struct DelayModel {
    /// Holders per lock, with the lock-delay each asked for.
    holders: BTreeMap<String, BTreeMap<i64, i64>>,
    /// Per lock: the log time its lock-delay ends and whose expiry began it.
    delayed: BTreeMap<String, (i64, i64)>,
}

impl DelayModel {
    /// One apply; `requested` holds the lock-delays the clients asked for.
    /// Returns problems, and counts in `judged` the grants made after a
    /// lock-delay began on their lock.
    pub(crate) fn on_applied(
        &mut self,
        a: &Applied,
        requested: &BTreeMap<(i64, String), i64>,
        judged: &mut u64,
    ) -> Vec<String> {
        let Some(op) = &a.op else {
            *self = DelayModel::default();
            return Vec::new();
        };
        if let CoordOp::Release { session, path } = op {
            if let Some(h) = self.holders.get_mut(path) {
                h.remove(session);
            }
        }
        for end in &a.ends {
            for (path, holders) in self.holders.iter_mut() {
                let Some(delay) = holders.remove(&end.session) else {
                    continue;
                };
                let delay = delay.clamp(0, LOCK_DELAY_MAX_MS);
                if end.expired && delay > 0 {
                    let until = a.now_ms.saturating_add(delay);
                    let d = self
                        .delayed
                        .entry(path.clone())
                        .or_insert((until, end.session));
                    if until > d.0 {
                        *d = (until, end.session);
                    }
                }
            }
        }
        let mut problems = Vec::new();
        for g in &a.grants {
            if let Some((until, expired)) = self.delayed.remove(&g.path) {
                *judged += 1;
                if a.now_ms < until {
                    problems.push(format!(
                        "{g} granted at log time {} ms, before the lock-delay after session {expired:#x} expired ends at {until} ms",
                        a.now_ms
                    ));
                }
            }
            let delay = requested
                .get(&(g.session, g.path.clone()))
                .copied()
                .unwrap_or(0);
            self.holders
                .entry(g.path.clone())
                .or_default()
                .insert(g.session, delay);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_coord::{LockMode, Sequencer};
    use synod_node::SessionEnd;

    fn applied(op: CoordOp, now_ms: i64, ends: Vec<SessionEnd>, grants: &[i64]) -> Applied {
        Applied {
            op: Some(op),
            zxid: 0,
            now_ms,
            triggers: Vec::new(),
            ends,
            grants: grants
                .iter()
                .map(|s| Sequencer::new("/l", LockMode::Exclusive, 1, *s))
                .collect(),
            sessions: BTreeMap::new(),
            ephemeral_count: 0,
        }
    }

    fn expiry(session: i64) -> SessionEnd {
        SessionEnd {
            session,
            zxid: 0,
            expired: true,
        }
    }

    /// A grant in the Tick that expired the holder, one inside the delay
    /// and one after it.
    #[test]
    fn a_grant_before_the_requested_delay_ends_is_reported() {
        let requested = BTreeMap::from([((1, "/l".to_string()), 1_000)]);
        let tick = |t| CoordOp::Tick {
            time_ms: t,
            term: 1,
        };
        for (grant_at, bad) in [(5_000, true), (5_999, true), (6_000, false)] {
            let mut m = DelayModel::default();
            let mut judged = 0;
            assert!(m
                .on_applied(&applied(tick(0), 0, vec![], &[1]), &requested, &mut judged)
                .is_empty());
            let at_expiry = if grant_at == 5_000 { vec![2] } else { vec![] };
            let a = applied(tick(5_000), 5_000, vec![expiry(1)], &at_expiry);
            let mut problems = m.on_applied(&a, &requested, &mut judged);
            if grant_at > 5_000 {
                let a = applied(tick(grant_at), grant_at, vec![], &[2]);
                problems = m.on_applied(&a, &requested, &mut judged);
            }
            assert_eq!(!problems.is_empty(), bad, "grant at {grant_at}");
            assert_eq!(judged, 1);
        }
    }
}
