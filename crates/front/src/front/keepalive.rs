//! Keepalives and log time: which sessions were active on this server
//! (`Touch`, at most what fits one command; see `budget`), log time
//! advanced by the leader (`Tick`), and (through `read_only`) a server
//! without a leader sending its clients elsewhere.

use super::{
    coord_command, TickAnchor, ZkFront, HOUSEKEEPING_TIMEOUT_MS, TICK_INTERVAL_MS,
    TOUCH_INTERVAL_MS,
};
use crate::budget;
use std::collections::BTreeSet;
use synod_coord::{CoordOp, Tree};
use synod_paxos::Command;
use tracing::warn;

impl ZkFront {
    /// Called on every engine tick: tells the log which sessions were
    /// active, and on the leader advances log time. `leader_term` is the
    /// leader's term when this server leads; `tree` is the state as
    /// applied here.
    ///
    /// Log time judges session expiry, so it must not jump when someone
    /// steps a wall clock. A leader reads its wall clock once, when it
    /// takes its term over: the term starts at the larger of the log time
    /// applied here and that wall time (so log time stays near the epoch
    /// that ctime and mtime, and so TTLs, are measured in). From then on
    /// its `Tick`s carry that start plus its monotonic time since. The tree
    /// never lets log time go backwards, and gives every session a full
    /// timeout from the first `Tick` of a new term, so the one wall-clock
    /// reading cannot expire a session either.
    ///
    /// `has_leader` says whether this server knows a leader. A server that
    /// has known none for `LEADERLESS_CLOSE_MS` closes its connections and
    /// refuses new ones, so clients move to servers that can serve them
    /// (ZooKeeper's servers do the same when they lose their quorum); in
    /// read-only mode it serves read-only clients meanwhile (`read_only`).
    pub fn on_timer(&mut self, tree: &Tree, leader_term: Option<u64>, has_leader: bool) {
        self.on_reconfig_timer(tree);
        let now = self.now_ms;
        self.answer_auth_failures(tree);
        self.track_leader(has_leader);
        if self
            .touch_pending
            .is_some_and(|sent| now.saturating_sub(sent) > HOUSEKEEPING_TIMEOUT_MS)
        {
            self.touch_pending = None;
        }
        self.touch(now);
        // The anchor is kept by term, not dropped when this server stops
        // leading: a term is one ballot, and a server that pauses acting as
        // leader within it must not take a second wall-clock reading for it.
        let Some(term) = leader_term else {
            return;
        };
        if now.saturating_sub(self.last_tick_ms) >= TICK_INTERVAL_MS {
            self.last_tick_ms = now;
            self.tick_seq += 1;
            let time_ms = self.log_time_ms(tree, term);
            self.proposals.push(Command {
                client: self.tick_client,
                seq: self.tick_seq,
                op: coord_command(&CoordOp::Tick { time_ms, term }),
            });
        }
    }

    /// The log time this leader's next `Tick` carries (see `on_timer`).
    fn log_time_ms(&mut self, tree: &Tree, term: u64) -> i64 {
        let now = self.now_ms;
        let wall = self.wall_ms;
        let anchor = match self.tick_anchor {
            Some(a) if a.term == term => a,
            _ => *self.tick_anchor.insert(TickAnchor {
                term,
                log_ms: tree.now_ms().max(wall),
                mono_ms: now,
            }),
        };
        let since = i64::try_from(now.saturating_sub(anchor.mono_ms)).unwrap_or(i64::MAX);
        anchor.log_ms.saturating_add(since)
    }

    /// Tells the log which sessions were active here, once a
    /// `TOUCH_INTERVAL_MS` (at once again while sessions wait that did not
    /// fit the last `Touch`), one `Touch` at a time.
    fn touch(&mut self, now: u64) {
        let due = self.touch_backlog || now.saturating_sub(self.last_touch_ms) >= TOUCH_INTERVAL_MS;
        if self.touch_pending.is_some() || self.touched.is_empty() || !due {
            return;
        }
        if !self.touch_backlog {
            self.last_touch_ms = now;
        }
        let Some(sessions) = self.take_touched() else {
            return;
        };
        self.touch_seq += 1;
        self.touch_pending = Some(now);
        self.proposals.push(Command {
            client: self.touch_client,
            seq: self.touch_seq,
            op: coord_command(&CoordOp::Touch { sessions }),
        });
    }

    /// The sessions the next `Touch` carries: all that were active, or as
    /// many as fit the byte budget, lowest ids first; the rest wait for the
    /// next `Touch`, sent as soon as this one is answered. One `Touch` at a
    /// time, so they are applied in the order sent (a later seq applied
    /// first would make an earlier one a duplicate, never applied).
    fn take_touched(&mut self) -> Option<Vec<i64>> {
        let cap = budget::touch_sessions_max(self.limits.command_bytes_max);
        if cap == 0 {
            // Only a budget below COMMAND_BYTES_MIN gets here; the server
            // refuses such a configuration.
            warn!(
                bytes_max = self.limits.command_bytes_max,
                "no session fits a Touch command; sessions are not kept alive"
            );
            return None;
        }
        let rest = match self.touched.iter().nth(cap) {
            Some(&first_left) => self.touched.split_off(&first_left),
            None => BTreeSet::new(),
        };
        let sessions = std::mem::replace(&mut self.touched, rest);
        self.touch_backlog = !self.touched.is_empty();
        Some(sessions.into_iter().collect())
    }
}
