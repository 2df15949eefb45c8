//! End-of-run oracles: watch events per connection, and session expiry.
//! (Ephemerals are checked after every apply in `applies.rs`; FIFO and
//! read-your-writes as replies arrive in `clients.rs`; replica agreement
//! as replicas apply in `world.rs`.)

use crate::client::Ending;
use crate::watch::{check_conn, End, History};
use crate::world::World;

/// A pinging client's session may expire only if something was disturbed
/// within its timeout plus this (touch interval, tick interval, latency).
const QUIET_SLACK_US: u64 = 1_500_000;
/// An abandoned session must be gone within its timeout plus this after
/// the later of its client stopping and the faults healing (an election,
/// a full timeout granted by the new leader's first tick, tick interval).
const EXPIRY_SLACK_US: u64 = 4_000_000;
/// And this more while caching clients run (`cacheclients.rs`): the
/// leader's cache gate may hold a session's writes, and what the session
/// sends behind them (its closeSession), for as long as a cut-off caching
/// session's lease there or a new leader's wait for it lasts: one caching
/// session timeout. A client whose closeSession waits that long gives up
/// and hangs up, and its session then ends by expiry (seeds 27 and 1924
/// of `all`).
const CACHE_WAIT_US: u64 = crate::lockclient::SESSION_TIMEOUT_MS as u64 * 1000;

impl World {
    pub(crate) fn final_checks(&mut self) {
        self.check_watches();
        self.check_expiry();
        self.finish_lock_clients();
        self.finish_cache_clients();
        self.check_events();
    }

    fn check_watches(&mut self) {
        let history = History::new(self.changes.ordered());
        let serials: Vec<u64> = self.records.keys().copied().collect();
        let mut problems = Vec::new();
        for serial in serials {
            let end = {
                let w = &self.wires[&serial];
                match &self.records[&serial].end {
                    Some(e) => e.clone(),
                    None if w.client_open && w.server_open => match self.cluster.node(w.node) {
                        Some(n) if self.cluster.incarnation(w.node) == w.incarnation => {
                            End::Zxid(n.engine().state_machine().tree.last_zxid())
                        }
                        _ => End::Partial,
                    },
                    None => End::Partial,
                }
            };
            let rec = self.records.get_mut(&serial).expect("exists");
            rec.end = Some(end);
            let rec = &self.records[&serial];
            if rec.items.is_empty() {
                continue;
            }
            let result = check_conn(rec, &history);
            self.stats.connections_checked += 1;
            if result.complete {
                self.stats.connections_complete += 1;
            }
            problems.extend(result.problems);
        }
        for (check, detail) in problems {
            self.violation(check, detail);
        }
    }

    fn check_expiry(&mut self) {
        let end = self.now();
        let mut problems = Vec::new();
        for (session, zxid, at) in self.changes.expiries() {
            self.stats.sessions_expired += 1;
            let Some(fate) = self.sessions.get(&session) else {
                continue;
            };
            if fate.stopped_at.is_some_and(|s| s <= at) {
                continue;
            }
            self.stats.active_sessions_expired += 1;
            let timeout_us = fate.timeout_ms as u64 * 1000;
            // Quiet since the session began, or for a whole timeout and
            // slack: either way its pings must have kept it alive.
            let from = at
                .saturating_sub(timeout_us + QUIET_SLACK_US)
                .max(fate.established_at);
            if !self.disturbed(from, at) {
                problems.push((
                    "expiry-active",
                    format!(
                        "session {session:#x} of client {} (timeout {}ms) expired at zxid {zxid:#x} ({:.3}s) while its client kept pinging and nothing was disturbed since {:.3}s",
                        fate.client,
                        fate.timeout_ms,
                        at as f64 / 1e6,
                        from as f64 / 1e6
                    ),
                ));
            }
        }
        for (session, fate) in &self.sessions {
            if fate.how == Some(Ending::Close) && fate.closed_ack {
                self.stats.sessions_closed += 1;
                if self.changes.session_end(*session).is_none() {
                    problems.push((
                        "expiry-abandoned",
                        format!("session {session:#x}: its closeSession was acknowledged but no replica ended it"),
                    ));
                }
                continue;
            }
            if !matches!(
                fate.how,
                Some(Ending::Close | Ending::Vanish | Ending::Hang)
            ) {
                continue;
            }
            let Some(stopped) = fate.stopped_at else {
                continue;
            };
            let cache_wait = if self.cache_clients.is_empty() {
                0
            } else {
                CACHE_WAIT_US
            };
            let deadline = stopped.max(self.cluster.healed_at())
                + fate.timeout_ms as u64 * 1000
                + EXPIRY_SLACK_US
                + cache_wait;
            if deadline > end {
                continue;
            }
            self.stats.abandoned_checked += 1;
            match self.changes.session_end(*session) {
                Some((_, t, _)) if t <= deadline => {}
                Some((z, t, _)) => problems.push((
                    "expiry-abandoned",
                    format!(
                        "session {session:#x} of client {} (timeout {}ms, stopped {:?} at {:.3}s) ended only at {:.3}s (zxid {z:#x}), after its deadline {:.3}s",
                        fate.client, fate.timeout_ms, fate.how, stopped as f64 / 1e6, t as f64 / 1e6, deadline as f64 / 1e6
                    ),
                )),
                None => problems.push((
                    "expiry-abandoned",
                    format!(
                        "session {session:#x} of client {} (timeout {}ms, stopped {:?} at {:.3}s) never ended; deadline {:.3}s, run ended {:.3}s",
                        fate.client, fate.timeout_ms, fate.how, stopped as f64 / 1e6, deadline as f64 / 1e6, end as f64 / 1e6
                    ),
                )),
            }
        }
        for (check, detail) in problems {
            self.violation(check, detail);
        }
    }
}
