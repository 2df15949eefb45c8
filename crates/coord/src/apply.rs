//! Applying log entries: sessions, log time, and batches of writes.

use crate::acl::Rules;
use crate::lock::AcquireArgs;
use crate::node::OwnerKind;
use crate::op::{CoordOp, CoordReply, Write, WriteOutcome, WriteResult};
use crate::tree::{SessionInfo, Tree, Trigger};
use crate::types::{ErrorCode, Id};
use crate::write::Ctx;

impl Tree {
    /// Applies one decoded op and returns its reply.
    pub fn apply_op(&mut self, op: &CoordOp) -> CoordReply {
        match op {
            CoordOp::CreateSession {
                passwd,
                timeout_ms,
                time_ms,
            } => self.on_create_session(passwd, *timeout_ms, *time_ms),
            CoordOp::CloseSession { session } => self.on_close_session(*session),
            CoordOp::Touch { sessions } => {
                for id in sessions {
                    self.refresh(*id);
                }
                CoordReply::Done
            }
            CoordOp::ServerLines { lines } => {
                self.on_server_lines(lines);
                CoordReply::Done
            }
            CoordOp::Tick { time_ms, term } => {
                self.on_tick(*time_ms, *term);
                CoordReply::Done
            }
            CoordOp::Acquire {
                rules,
                session,
                auth,
                path,
                mode,
                lock_delay_ms,
                try_acquire,
            } => CoordReply::Lock(self.on_acquire(&AcquireArgs {
                rules: *rules,
                session: *session,
                auth,
                path,
                mode: *mode,
                lock_delay_ms: *lock_delay_ms,
                try_acquire: *try_acquire,
            })),
            CoordOp::Release { session, path } => CoordReply::Lock(self.on_release(*session, path)),
            CoordOp::Fenced { sequencer, op } => match self.check_sequencer(sequencer) {
                Ok(()) => self.apply_op(op),
                Err(invalid) => CoordReply::Fenced(invalid),
            },
            CoordOp::CacheSession { session } => {
                if self.state.sessions.contains_key(session) && self.state.caching.insert(*session)
                {
                    self.caching_marks += 1;
                }
                CoordReply::Done
            }
            CoordOp::Batch {
                session,
                auth,
                time_ms,
                writes,
            } => CoordReply::Batch(self.on_batch(Rules::V1, *session, auth, *time_ms, writes)),
            CoordOp::RuledBatch {
                rules,
                session,
                auth,
                time_ms,
                writes,
            } => match Rules::from_number(*rules) {
                Some(rules) => {
                    CoordReply::Batch(self.on_batch(rules, *session, auth, *time_ms, writes))
                }
                // A command of a newer build (a directory downgraded to an
                // older synod): every node of this build answers the same,
                // and none applies a rule it does not know.
                None => CoordReply::Batch(
                    writes
                        .iter()
                        .map(|_| WriteOutcome {
                            zxid: self.state.last_zxid,
                            result: Err(ErrorCode::Unimplemented),
                        })
                        .collect(),
                ),
            },
        }
    }

    pub(crate) fn next_zxid(&mut self) -> i64 {
        self.state.last_zxid = self
            .state
            .last_zxid
            .checked_add(1)
            .expect("zxids are 64-bit and never roll over");
        self.state.last_zxid
    }

    /// A new session. Ids start from the first session's time shifted as
    /// ZooKeeper's SessionTrackerImpl does (so two incarnations of a
    /// cluster hand out different ids) and count up from there; the top
    /// byte stays clear of the container and TTL owner encodings.
    fn on_create_session(&mut self, passwd: &[u8], timeout_ms: i32, time_ms: i64) -> CoordReply {
        if self.state.next_session_id == 0 {
            let base = ((time_ms as u64) << 24 >> 8) as i64;
            self.state.next_session_id = base.max(1);
        }
        let id = self.state.next_session_id;
        self.state.next_session_id = id.checked_add(1).expect("session ids exhausted");
        assert!(
            matches!(OwnerKind::of(id), OwnerKind::Session),
            "session id {id:#x} collides with an owner encoding"
        );
        let zxid = self.next_zxid();
        let expires_at_ms = self.state.now_ms.saturating_add(i64::from(timeout_ms));
        self.state.sessions.insert(
            id,
            SessionInfo {
                passwd: passwd.to_vec(),
                timeout_ms,
                expires_at_ms,
            },
        );
        CoordReply::Session {
            id,
            passwd: passwd.to_vec(),
            timeout_ms,
            zxid,
        }
    }

    /// A client's close. Closing a session the tree does not know (already
    /// closed or expired) changes nothing and consumes no zxid.
    fn on_close_session(&mut self, session: i64) -> CoordReply {
        if !self.state.sessions.contains_key(&session) {
            return CoordReply::Closed {
                zxid: self.state.last_zxid,
            };
        }
        let zxid = self.next_zxid();
        self.end_session(session, zxid, false);
        CoordReply::Closed { zxid }
    }

    /// Removes a session, its ephemerals (in path order) at `zxid`, and
    /// its locks and waits (with lock-delay if it `expired`).
    fn end_session(&mut self, session: i64, zxid: i64, expired: bool) {
        self.state.sessions.remove(&session);
        self.state.caching.remove(&session);
        let now_ms = self.state.now_ms;
        self.state.locks.on_session_end(now_ms, session, expired);
        let paths = self
            .index
            .ephemerals
            .get(&session)
            .cloned()
            .unwrap_or_default();
        let mut triggers = Vec::new();
        for p in &paths {
            // Ephemerals cannot have children, so each delete succeeds.
            self.remove_child(p, zxid, &mut Vec::new(), &mut triggers);
        }
        self.triggers.append(&mut triggers);
        self.triggers.push(Trigger::SessionClosed { session, zxid });
    }

    /// Pushes a live session's expiry a full timeout past log time.
    pub(crate) fn refresh(&mut self, id: i64) -> bool {
        let now = self.state.now_ms;
        match self.state.sessions.get_mut(&id) {
            Some(s) => {
                s.expires_at_ms = s
                    .expires_at_ms
                    .max(now.saturating_add(i64::from(s.timeout_ms)));
                true
            }
            None => false,
        }
    }

    /// Advances log time; on a new term gives every session a full timeout
    /// (a new leader cannot know when clients last spoke to the old one);
    /// expires sessions; serves the locks whose lock-delay ended; deletes
    /// empty used containers and expired TTL nodes. Each expiry and each
    /// deletion consumes one zxid.
    fn on_tick(&mut self, time_ms: i64, term: u64) {
        let now = self.state.now_ms.max(time_ms);
        self.state.now_ms = now;
        if self.state.last_term != Some(term) {
            self.state.last_term = Some(term);
            for s in self.state.sessions.values_mut() {
                s.expires_at_ms = s
                    .expires_at_ms
                    .max(now.saturating_add(i64::from(s.timeout_ms)));
            }
        }
        let expired: Vec<i64> = self
            .state
            .sessions
            .iter()
            .filter(|(_, s)| s.expires_at_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let zxid = self.next_zxid();
            self.end_session(id, zxid, true);
        }
        self.state.locks.on_tick(now);
        for p in self.cleanup_candidates() {
            let zxid = self.next_zxid();
            let mut triggers = Vec::new();
            self.remove_child(&p, zxid, &mut Vec::new(), &mut triggers);
            self.triggers.append(&mut triggers);
        }
    }

    /// ContainerManager.getCandidates: childless containers that have had a
    /// child (stored cversion > 0), and childless TTL nodes whose TTL has
    /// passed since their last change. In path order.
    fn cleanup_candidates(&self) -> Vec<String> {
        let now = self.state.now_ms;
        let mut out: Vec<String> = Vec::new();
        for p in &self.index.containers {
            let n = self.node(p).expect("indexed container exists");
            if n.stat.num_children == 0 && n.stat.cversion > 0 {
                out.push(p.clone());
            }
        }
        for p in &self.index.ttls {
            let n = self.node(p).expect("indexed TTL node exists");
            if let OwnerKind::Ttl(ttl) = n.owner_kind() {
                if n.stat.num_children == 0 && ttl != 0 && now.saturating_sub(n.stat.mtime) > ttl {
                    out.push(p.clone());
                }
            }
        }
        out.sort();
        out
    }

    /// One session's writes, in order. A dead session's writes all fail
    /// with SessionExpired and consume nothing.
    fn on_batch(
        &mut self,
        rules: Rules,
        session: i64,
        auth: &[Id],
        time_ms: i64,
        writes: &[Write],
    ) -> Vec<WriteOutcome> {
        if !self.refresh(session) {
            let zxid = self.state.last_zxid;
            return writes
                .iter()
                .map(|_| WriteOutcome {
                    zxid,
                    result: Err(ErrorCode::SessionExpired),
                })
                .collect();
        }
        writes
            .iter()
            .map(|w| self.on_write(rules, session, auth, time_ms, w))
            .collect()
    }

    fn on_write(
        &mut self,
        rules: Rules,
        session: i64,
        auth: &[Id],
        time_ms: i64,
        w: &Write,
    ) -> WriteOutcome {
        if let Write::Sync { path } = w {
            return WriteOutcome {
                zxid: self.state.last_zxid,
                result: Ok(WriteResult::Synced { path: path.clone() }),
            };
        }
        let zxid = self.next_zxid();
        let ctx = Ctx {
            rules,
            session,
            auth,
            time_ms,
            zxid,
        };
        let mut triggers = Vec::new();
        let result = self.apply_write(&ctx, w, &mut Vec::new(), &mut triggers);
        self.triggers.append(&mut triggers);
        WriteOutcome { zxid, result }
    }
}
