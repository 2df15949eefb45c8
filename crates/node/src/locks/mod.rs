//! The lock door: Chubby's session and lock calls (issue 12) as the node
//! serves them to native clients, pure, beside the ZooKeeper front door.
//!
//! A native lock client (crates/client's `LockSession`, `synod lock`)
//! talks to the leader. Each call becomes one engine input:
//!
//! - Commands go through the log as the client's own exactly-once command
//!   (`Input::Command` with the client's id and seq, so a follower answers
//!   `NotLeader` and a retry with the same seq is answered from the engine's
//!   client table, never applied twice):
//!   - `OpenSession`: `CoordOp::CreateSession`, the timeout clamped to the
//!     ZooKeeper limits; a lock session is a tree session like a
//!     ZooKeeper client's, with the same expiry in log time.
//!   - `KeepAlive`: `CoordOp::Touch` of the one session. Once the touch
//!     is applied the tree says whether the session lives (its expiry is
//!     now at least a full timeout past the log time of the apply): if not,
//!     `Expired` at once; if so, `Alive` with the session's queued events,
//!     at once when there are some, else when one comes or the hold the
//!     client asked for runs out (`events`: Chubby's KeepAlive that returns
//!     early). So a client that sent a keepalive at local time `t` and
//!     heard `Alive` knows its session lives until about `t + timeout`
//!     (less the log-time tick and clock drift, which the client library
//!     subtracts).
//!   - `CloseSession`: `CoordOp::CloseSession`: its locks are released at
//!     once (no lock-delay), its waits withdrawn.
//!   - `Create`: a `RuledBatch` creating the lock's znode and any missing
//!     ancestor as persistent znodes with the open ACL (Chubby's open with
//!     create); a znode that exists already is not an error, and one the
//!     leader's applied tree holds is answered `Created` with no write.
//!   - `SetContents`: a `RuledBatch` of one `SetData`, quota-checked as
//!     the front door checks it.
//!   - `Acquire`, `Release`: `CoordOp::Acquire`/`Release`. An acquire that
//!     queues is *parked* here until its session holds the lock: the tree's
//!     `LockGrant`s wake it in the step that granted it, and the tree is
//!     checked when the queued reply arrives (a grant in the same engine
//!     step as the acquire itself came before its reply). Every
//!     `POLL_US` the parked acquires are also checked against the tree, so
//!     a wake-up can never be missed: a session that ended is answered
//!     `SessionExpired`, one that holds is answered `Acquired`, one that
//!     neither holds nor waits (its wait withdrawn by a release on another
//!     node) is answered `NotHeld`.
//! - Reads go through the engine's linearizable read path (`Input::Read`:
//!   the leader under its lease, after its no-op), as a
//!   `synod_coord::LockQuery`: `Check` (CheckSequencer), `Status` and
//!   `Contents` (GetContentsAndStat). A check is never older than a
//!   release or an expiry that completed before it was asked.
//!
//! # Limits
//!
//! Parked acquires at most `PARKED_MAX` per node; beyond it an acquire is
//! answered `Busy` before it is proposed (the client retries it). One held
//! keepalive per session (a newer one answers the older), held at most
//! `HOLD_MAX_US`; `SUBSCRIPTIONS_MAX` subscriptions and `QUEUED_MAX`
//! queued events per session (see `events`). Every other call holds one
//! entry until the engine answers it, and the engine answers every
//! command and read (a lost leadership answers `NotLeader`); a node that
//! stops leading answers its held keepalives and forgets subscriptions.

pub mod cache;
mod events;

use std::collections::{BTreeMap, HashMap};

use cache::CacheGate;
pub use events::{mask, LockEvent, HOLD_MAX_US, QUEUED_MAX, SUBSCRIPTIONS_MAX};
use events::{Events, Held};

use synod_coord::{
    Acl, CoordOp, CoordReply, CreateMode, Id, LockError, LockGrant, LockMode, LockOutcome,
    LockQuery, LockQueryReply, LockStatus, Sequencer, Tree, Write,
};
use synod_front::front::coord_command;
use synod_front::ZkLimits;
use synod_paxos::{ClientId, Command, Input, Micros, Outcome};

/// Parked acquires a node keeps at most.
pub const PARKED_MAX: usize = 10_000;
/// How often parked acquires are checked against the tree.
pub const POLL_US: Micros = 500_000;
/// The client id of the door's reads (`Input::Read`'s `client`): the
/// engine hands it back in `ReadReply`, so the drive loop knows the read
/// is the door's.
pub const READ_CLIENT: ClientId = 0x10c4_d00d;

/// A native client's lock call. `client` and `seq` number a command as
/// the key-value API numbers writes (one outstanding per client id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockRequest {
    OpenSession {
        client: u64,
        seq: u64,
        timeout_ms: i32,
        /// The session's password: 16 unpredictable bytes from the runtime.
        passwd: Vec<u8>,
    },
    /// Keeps the session alive; `subscriptions` (path, `mask` bits) replace
    /// the session's event subscriptions; the answer is held up to
    /// `hold_ms` (at most `HOLD_MAX_US`) unless events are queued.
    ///
    /// `cache_term` is the term the client's cache is under (0: none yet)
    /// and `acked` the number of the last invalidation it applied
    /// (`cache`).
    KeepAlive {
        client: u64,
        seq: u64,
        session: i64,
        subscriptions: Vec<(String, u32)>,
        hold_ms: u32,
        cache_term: u64,
        acked: u64,
    },
    /// Marks the session as one whose client caches
    /// (`CoordOp::CacheSession`).
    CacheSession {
        client: u64,
        seq: u64,
        session: i64,
    },
    CloseSession {
        client: u64,
        seq: u64,
        session: i64,
    },
    /// Creates the lock's znode (and missing ancestors) if absent.
    Create {
        client: u64,
        seq: u64,
        session: i64,
        auth: Vec<Id>,
        path: String,
    },
    Acquire {
        client: u64,
        seq: u64,
        session: i64,
        auth: Vec<Id>,
        path: String,
        mode: LockMode,
        lock_delay_ms: i64,
        try_acquire: bool,
    },
    Release {
        client: u64,
        seq: u64,
        session: i64,
        path: String,
    },
    Check(Sequencer),
    Status {
        path: String,
        auth: Vec<Id>,
    },
    /// Chubby's GetContentsAndStat (linearizable); a fill of the cache
    /// of `session` (0: none), which the answer says it may keep or not.
    Contents {
        path: String,
        auth: Vec<Id>,
        session: i64,
    },
    /// Chubby's SetContents: the znode's data, if its version (Chubby's
    /// content generation) is `version` (-1: any), and, with `sequencer`
    /// (Chubby's SetSequencer), only while that sequencer is valid.
    SetContents {
        client: u64,
        seq: u64,
        session: i64,
        auth: Vec<Id>,
        path: String,
        data: Vec<u8>,
        version: i32,
        sequencer: Option<Sequencer>,
    },
}

/// The answer to a `LockRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockAnswer {
    Session {
        id: i64,
        timeout_ms: i32,
    },
    /// A keepalive was applied and the session lives; the session's
    /// events since the last answer, in order; the leader's `term`; the
    /// paths the client must drop from its cache, the last numbered
    /// `invalidation` (acknowledged by the next keepalive's `acked`).
    Alive {
        timeout_ms: i32,
        events: Vec<LockEvent>,
        term: u64,
        invalidated: Vec<String>,
        invalidation: u64,
    },
    /// The session now caches.
    Caching,
    /// The session is not live (expired, or closed).
    Expired,
    Closed,
    /// The znode exists now.
    Created,
    Acquired(Sequencer),
    /// Released (the holder) or withdrawn (a waiter).
    Released,
    /// A lock call or a create failed; nothing changed.
    Failed(LockError),
    /// The create's write failed with this ZooKeeper error.
    CreateFailed(synod_coord::ErrorCode),
    Check(Result<(), synod_coord::lock::Invalid>),
    Status(Result<LockStatus, synod_coord::ErrorCode>),
    /// Data (`None`: null) and Stat, or the ZooKeeper error; `cached` is
    /// the term under which the session may cache this answer (its data
    /// and the Stat but for the child fields, or the absence when the
    /// error is NoNode), 0 if it may not.
    Contents {
        result: Result<(Option<Vec<u8>>, synod_coord::Stat), synod_coord::ErrorCode>,
        cached: u64,
    },
    /// SetContents' new Stat, or the ZooKeeper error (BadVersion, ...).
    ContentsSet(Result<synod_coord::Stat, synod_coord::ErrorCode>),
    /// The call's sequencer was no longer valid: nothing changed.
    Fenced(synod_coord::lock::Invalid),
    /// The engine did not run it: not the leader, busy, stale, rejected.
    Refused(Outcome),
}

/// What a pending command is waiting for.
#[derive(Clone, Debug)]
enum Pending {
    Open,
    KeepAlive {
        session: i64,
        subscriptions: Vec<(String, u32)>,
        hold_us: Micros,
    },
    Close,
    Caching {
        session: i64,
    },
    Create,
    Acquire {
        session: i64,
        path: String,
    },
    Release,
    SetContents,
}

/// The lock door's state: calls waiting for the engine, parked acquires.
#[derive(Default)]
pub struct LockDoor {
    /// Commands proposed, by (client, seq): the calls waiting for them (a
    /// retry of the same seq waits beside the first).
    commands: HashMap<(ClientId, u64), Vec<(u64, Pending)>>,
    /// Reads asked, by the door's read id: the call's id, and the
    /// (session, path) of a cache fill.
    reads: HashMap<u64, (u64, Option<(i64, String)>)>,
    next_read: u64,
    /// Acquires that queued, by (session, path): the calls waiting.
    parked: BTreeMap<(i64, String), Vec<u64>>,
    parked_count: usize,
    last_poll_us: Micros,
    /// The local time of the step under way.
    now_us: Micros,
    /// Chubby's events: subscriptions, queues, held keepalives.
    events: Events,
    /// Chubby's client cache: registrations and the write gate.
    pub(crate) cache: CacheGate,
    inputs: Vec<Input>,
    answers: Vec<(u64, LockAnswer)>,
    /// `NodeBug::GrantQueued` (`bugs.rs`): always false without the
    /// `broken` feature.
    #[cfg(feature = "broken")]
    pub(crate) grant_queued: bool,
    /// `NodeBug::GrantEventsFromReplies` (`bugs.rs`).
    #[cfg(feature = "broken")]
    pub(crate) grant_events_from_replies: bool,
}

impl LockDoor {
    /// Takes call `id`: queues its engine input, or answers it at once.
    /// `limits` bound a new session's timeout and what a create may add
    /// to the tree (the ZooKeeper front door's quotas, judged the same
    /// way); `wall_ms` stamps a new session and a created znode.
    pub fn request(
        &mut self,
        id: u64,
        request: LockRequest,
        tree: &Tree,
        limits: &ZkLimits,
        wall_ms: i64,
    ) {
        let (client, seq, op, pending) = match request {
            LockRequest::OpenSession {
                client,
                seq,
                timeout_ms,
                passwd,
            } => {
                let lo = i32::try_from(limits.min_session_timeout_ms).unwrap_or(i32::MAX);
                let hi = i32::try_from(limits.max_session_timeout_ms).unwrap_or(i32::MAX);
                let timeout_ms = timeout_ms.clamp(lo, hi.max(lo));
                let op = CoordOp::CreateSession {
                    passwd,
                    timeout_ms,
                    time_ms: wall_ms,
                };
                (client, seq, op, Pending::Open)
            }
            LockRequest::KeepAlive {
                client,
                seq,
                session,
                subscriptions,
                hold_ms,
                cache_term,
                acked,
            } => {
                if let Some(info) = tree.session(session).filter(|_| tree.is_caching(session)) {
                    let (timeout, now) = (info.timeout_ms, self.now_us);
                    self.cache
                        .on_keepalive(session, cache_term, acked, timeout, now);
                }
                (
                    client,
                    seq,
                    CoordOp::Touch {
                        sessions: vec![session],
                    },
                    Pending::KeepAlive {
                        session,
                        subscriptions,
                        hold_us: (Micros::from(hold_ms) * 1000).min(HOLD_MAX_US),
                    },
                )
            }
            LockRequest::CacheSession {
                client,
                seq,
                session,
            } => (
                client,
                seq,
                CoordOp::CacheSession { session },
                Pending::Caching { session },
            ),
            LockRequest::CloseSession {
                client,
                seq,
                session,
            } => (
                client,
                seq,
                CoordOp::CloseSession { session },
                Pending::Close,
            ),
            LockRequest::Create {
                client,
                seq,
                session,
                auth,
                path,
            } => {
                if path != "/" && tree.exists(&path).is_some() {
                    // Chubby's open of an existing node writes nothing (a
                    // write would invalidate every cache holding it).
                    self.answers.push((id, LockAnswer::Created));
                    return;
                }
                let op = create_op(tree, session, auth, &path, wall_ms);
                let mut growth = synod_front::quota::Growth::default();
                let over = op.batch_writes().unwrap_or_default().iter().find_map(|w| {
                    synod_front::quota::admit(
                        tree,
                        w,
                        &mut growth,
                        limits.znodes_max,
                        limits.data_bytes_max,
                    )
                });
                if over.is_some() {
                    let code = synod_coord::ErrorCode::QuotaExceeded;
                    self.answers.push((id, LockAnswer::CreateFailed(code)));
                    return;
                }
                (client, seq, op, Pending::Create)
            }
            LockRequest::Acquire {
                client,
                seq,
                session,
                auth,
                path,
                mode,
                lock_delay_ms,
                try_acquire,
            } => {
                if !try_acquire && self.parked_count >= PARKED_MAX {
                    self.answers.push((id, LockAnswer::Refused(Outcome::Busy)));
                    return;
                }
                let op = CoordOp::Acquire {
                    rules: synod_coord::acl::Rules::CURRENT.number(),
                    session,
                    auth,
                    path: path.clone(),
                    mode,
                    lock_delay_ms,
                    try_acquire,
                };
                (client, seq, op, Pending::Acquire { session, path })
            }
            LockRequest::Release {
                client,
                seq,
                session,
                path,
            } => (
                client,
                seq,
                CoordOp::Release { session, path },
                Pending::Release,
            ),
            LockRequest::Check(sequencer) => {
                self.read(id, LockQuery::Check(sequencer), None);
                return;
            }
            LockRequest::Status { path, auth } => {
                self.read(id, LockQuery::Status { path, auth }, None);
                return;
            }
            LockRequest::Contents {
                path,
                auth,
                session,
            } => {
                let fill = (session != 0).then(|| (session, path.clone()));
                self.read(id, LockQuery::Contents { path, auth }, fill);
                return;
            }
            LockRequest::SetContents {
                client,
                seq,
                session,
                auth,
                path,
                data,
                version,
                sequencer,
            } => {
                let write = Write::SetData {
                    path,
                    data,
                    version,
                };
                let mut growth = synod_front::quota::Growth::default();
                if synod_front::quota::admit(
                    tree,
                    &write,
                    &mut growth,
                    limits.znodes_max,
                    limits.data_bytes_max,
                )
                .is_some()
                {
                    let code = synod_coord::ErrorCode::QuotaExceeded;
                    self.answers.push((id, LockAnswer::ContentsSet(Err(code))));
                    return;
                }
                let mut op = CoordOp::RuledBatch {
                    rules: synod_coord::acl::Rules::CURRENT.number(),
                    session,
                    auth,
                    time_ms: wall_ms,
                    writes: vec![write],
                };
                if let Some(sequencer) = sequencer {
                    op = CoordOp::Fenced {
                        sequencer,
                        op: Box::new(op),
                    };
                }
                (client, seq, op, Pending::SetContents)
            }
        };
        let waiting = self.commands.entry((client, seq)).or_default();
        waiting.push((id, pending));
        if waiting.len() == 1 {
            self.inputs.push(Input::Command(Command {
                client,
                seq,
                op: coord_command(&op),
            }));
        }
    }

    fn read(&mut self, id: u64, query: LockQuery, fill: Option<(i64, String)>) {
        self.next_read += 1;
        self.reads.insert(self.next_read, (id, fill));
        let mut op = vec![synod_front::front::COORD_TAG];
        op.extend_from_slice(&query.encode());
        self.inputs.push(Input::Read {
            client: READ_CLIENT,
            id: self.next_read,
            op,
        });
    }

    /// Whether the engine's reply to (client, seq) is the door's.
    pub fn owns(&self, client: ClientId, seq: u64) -> bool {
        self.commands.contains_key(&(client, seq))
    }

    /// The engine answered a command of the door's; `tree` is the state
    /// as applied here now.
    pub fn on_reply(&mut self, tree: &Tree, client: ClientId, seq: u64, outcome: &Outcome) {
        let Some(waiting) = self.commands.remove(&(client, seq)) else {
            return;
        };
        for (id, pending) in waiting {
            let answer = match outcome {
                Outcome::Ok(bytes) => match CoordReply::decode(bytes) {
                    Ok(reply) => self.answer(tree, id, pending, reply),
                    Err(e) => Some(LockAnswer::Refused(Outcome::Rejected(format!(
                        "undecodable reply from the state machine: {e}"
                    )))),
                },
                refusal => Some(LockAnswer::Refused(refusal.clone())),
            };
            if let Some(answer) = answer {
                self.answers.push((id, answer));
            }
        }
    }

    /// The answer to one call from its command's reply; `None` when the
    /// call parked.
    fn answer(
        &mut self,
        tree: &Tree,
        id: u64,
        pending: Pending,
        reply: CoordReply,
    ) -> Option<LockAnswer> {
        Some(match (pending, reply) {
            (Pending::Open, CoordReply::Session { id, timeout_ms, .. }) => {
                self.events.on_opened(id);
                LockAnswer::Session { id, timeout_ms }
            }
            (
                Pending::KeepAlive {
                    session,
                    subscriptions,
                    hold_us,
                },
                _,
            ) => {
                let Some(info) = tree.session(session) else {
                    return Some(LockAnswer::Expired);
                };
                self.events.on_keepalive(session, subscriptions);
                if hold_us == 0 || self.events.pending(session) || self.cache.has_news(session) {
                    self.alive(session, info.timeout_ms)
                } else {
                    let held = Held {
                        id,
                        until_us: self.now_us.saturating_add(hold_us),
                        timeout_ms: info.timeout_ms,
                    };
                    // One held keepalive per session: an older one is
                    // answered now.
                    if let Some(old) = self.events.held.insert(session, held) {
                        let (term, invalidation, invalidated) = self.cache.take_news(session);
                        self.answers.push((
                            old.id,
                            LockAnswer::Alive {
                                timeout_ms: old.timeout_ms,
                                events: Vec::new(),
                                term,
                                invalidated,
                                invalidation,
                            },
                        ));
                    }
                    return None;
                }
            }
            (Pending::Close, _) => LockAnswer::Closed,
            (Pending::Caching { session }, _) => {
                if tree.is_caching(session) {
                    // Its client starts caching with this answer, under
                    // this leader: it has no older leader's cache to flush.
                    self.cache.caching_from_now(session);
                    LockAnswer::Caching
                } else {
                    LockAnswer::Expired
                }
            }
            (Pending::Create, CoordReply::Batch(outcomes)) => {
                match outcomes.last().map(|o| &o.result) {
                    Some(Err(synod_coord::ErrorCode::NodeExists)) | Some(Ok(_)) | None => {
                        LockAnswer::Created
                    }
                    Some(Err(code)) => LockAnswer::CreateFailed(*code),
                }
            }
            (Pending::Acquire { session, path }, CoordReply::Lock(result)) => match result {
                // Its `LockAcquired` was queued from the tree's grant
                // (`on_grants`), in apply order; a retry answered from
                // the client table applied nothing and announces nothing.
                Ok(LockOutcome::Acquired(seq)) => {
                    #[cfg(feature = "broken")]
                    if self.grant_events_from_replies {
                        self.events.on_acquired(&path, session, seq.generation);
                    }
                    LockAnswer::Acquired(seq)
                }
                Err(LockError::Conflict) => {
                    self.conflict(tree, &path);
                    LockAnswer::Failed(LockError::Conflict)
                }
                #[cfg(feature = "broken")]
                Ok(LockOutcome::Queued { .. }) if self.grant_queued => {
                    let generation = tree.lock_status(&path, &[]).map_or(0, |s| s.generation);
                    LockAnswer::Acquired(Sequencer::new(
                        &path,
                        synod_coord::LockMode::Exclusive,
                        generation,
                        session,
                    ))
                }
                Ok(LockOutcome::Queued { .. }) => {
                    self.conflict(tree, &path);
                    // A grant applied in the same engine step as the
                    // acquire was taken before this reply: look.
                    if let Some(seq) = tree.lock_holding(session, &path) {
                        return Some(LockAnswer::Acquired(seq));
                    }
                    self.parked.entry((session, path)).or_default().push(id);
                    self.parked_count += 1;
                    return None;
                }
                Ok(_) => LockAnswer::Failed(LockError::NotHeld),
                Err(e) => LockAnswer::Failed(e),
            },
            (Pending::SetContents, CoordReply::Batch(outcomes)) => {
                match outcomes.into_iter().next().map(|o| o.result) {
                    Some(Ok(synod_coord::WriteResult::SetData { stat })) => {
                        LockAnswer::ContentsSet(Ok(stat))
                    }
                    Some(Err(code)) => LockAnswer::ContentsSet(Err(code)),
                    other => LockAnswer::Refused(Outcome::Rejected(format!(
                        "unexpected write result: {other:?}"
                    ))),
                }
            }
            (_, CoordReply::Fenced(invalid)) => LockAnswer::Fenced(invalid),
            (Pending::Release, CoordReply::Lock(result)) => match result {
                Ok(_) => LockAnswer::Released,
                Err(e) => LockAnswer::Failed(e),
            },
            (_, other) => LockAnswer::Refused(Outcome::Rejected(format!(
                "unexpected reply from the state machine: {other:?}"
            ))),
        })
    }

    /// Someone asked for the lock at `path`: its holders hear of it.
    fn conflict(&mut self, tree: &Tree, path: &str) {
        if self.events.any_subscribed() {
            self.events.on_conflict(path, &tree.lock_holders(path));
        }
    }

    /// The local time of the step under way.
    pub fn set_clock(&mut self, now_us: Micros) {
        self.now_us = now_us;
    }

    /// The tree's triggers of one engine step (before the front door gets
    /// them): events for subscribed sessions.
    pub fn on_triggers(&mut self, triggers: &[synod_coord::Trigger]) {
        // Always: a session's end must clear what the door knows of it.
        self.events.on_triggers(triggers);
        for t in triggers {
            if let synod_coord::Trigger::SessionClosed { session, .. } = t {
                self.cache.forget(*session);
            }
        }
    }

    /// Held keepalives of sessions with events queued are answered.
    fn answer_ready(&mut self) {
        let mut ready = self.events.ready();
        ready.extend(self.cache.ready());
        for session in ready {
            if let Some(h) = self.events.held.remove(&session) {
                let answer = self.alive(session, h.timeout_ms);
                self.answers.push((h.id, answer));
            }
        }
    }

    /// A keepalive's `Alive` answer with what is queued for `session`.
    fn alive(&mut self, session: i64, timeout_ms: i32) -> LockAnswer {
        let (term, invalidation, invalidated) = self.cache.take_news(session);
        LockAnswer::Alive {
            timeout_ms,
            events: self.events.take(session),
            term,
            invalidated,
            invalidation,
        }
    }

    /// The engine answered a read of the door's (`READ_CLIENT`); `tree`
    /// is the state it was answered from, `in_flight` the engine's
    /// `Node::in_flight` (for a cache fill).
    pub fn on_read_reply(
        &mut self,
        read: u64,
        outcome: &Outcome,
        tree: &Tree,
        in_flight: impl Fn(ClientId, u64) -> bool,
    ) {
        let Some((id, fill)) = self.reads.remove(&read) else {
            return;
        };
        let answer = match outcome {
            Outcome::Ok(bytes) => match LockQueryReply::decode(bytes) {
                LockQueryReply::Check(r) => LockAnswer::Check(r),
                LockQueryReply::Status(r) => LockAnswer::Status(r),
                LockQueryReply::Contents(result) => {
                    let kind_ok = |path: &str| match &result {
                        Ok(_) | Err(synod_coord::ErrorCode::NoNode) => {
                            cache::cacheable_kind(tree, path)
                        }
                        Err(_) => false,
                    };
                    let cached = match fill {
                        Some((session, path)) if kind_ok(&path) => {
                            let caching = tree.is_caching(session);
                            let now = self.now_us;
                            if self.cache.on_fill(session, &path, caching, now, in_flight) {
                                self.cache.term()
                            } else {
                                0
                            }
                        }
                        _ => 0,
                    };
                    LockAnswer::Contents { result, cached }
                }
                LockQueryReply::Undecodable => {
                    LockAnswer::Refused(Outcome::Rejected("the lock query did not decode".into()))
                }
            },
            refusal => LockAnswer::Refused(refusal.clone()),
        };
        self.answers.push((id, answer));
    }

    /// Grants the tree made, in apply order: subscribers hear
    /// `LockAcquired`, and waiters' parked acquires are answered.
    pub fn on_grants(&mut self, grants: Vec<LockGrant>) {
        for grant in grants {
            let s = &grant.sequencer;
            if self.announces(&grant) {
                self.events.on_acquired(&s.path, s.session, s.generation);
            }
            let key = (grant.sequencer.session, grant.sequencer.path.clone());
            if let Some(ids) = self.parked.remove(&key) {
                self.parked_count -= ids.len();
                for id in ids {
                    self.answers
                        .push((id, LockAnswer::Acquired(grant.sequencer.clone())));
                }
            }
        }
    }

    /// Answers held keepalives whose time has come (or whose session
    /// ended); forgets the sessions' subscriptions when this node does not
    /// lead; checks parked acquires against the tree every `POLL_US`.
    pub fn on_timer(&mut self, tree: &Tree, now_us: Micros, leading: bool) {
        self.now_us = now_us;
        if !leading {
            self.events.step_down();
        }
        let mut due: Vec<i64> = self
            .events
            .held
            .iter()
            .filter(|(s, h)| !leading || h.until_us <= now_us || tree.session(**s).is_none())
            .map(|(s, _)| *s)
            .collect();
        // In session order, not the map's (see `Events::ready`).
        due.sort_unstable();
        for session in due {
            let h = self.events.held.remove(&session).expect("listed above");
            let answer = if tree.session(session).is_some() {
                self.alive(session, h.timeout_ms)
            } else {
                LockAnswer::Expired
            };
            self.answers.push((h.id, answer));
        }
        if now_us.saturating_sub(self.last_poll_us) < POLL_US || self.parked.is_empty() {
            return;
        }
        self.last_poll_us = now_us;
        let keys: Vec<(i64, String)> = self.parked.keys().cloned().collect();
        for key in keys {
            let (session, path) = (key.0, key.1.as_str());
            let answer = if tree.session(session).is_none() {
                LockAnswer::Failed(LockError::SessionExpired)
            } else if let Some(seq) = tree.lock_holding(session, path) {
                LockAnswer::Acquired(seq)
            } else if tree.lock_waiting(session, path) {
                continue;
            } else {
                LockAnswer::Failed(LockError::NotHeld)
            };
            let ids = self.parked.remove(&key).unwrap_or_default();
            self.parked_count -= ids.len();
            for id in ids {
                self.answers.push((id, answer.clone()));
            }
        }
    }

    /// Engine inputs the door queued, in order.
    pub fn take_inputs(&mut self) -> Vec<Input> {
        std::mem::take(&mut self.inputs)
    }

    /// Answers ready, in order (held keepalives with events first
    /// answered).
    pub fn take_answers(&mut self) -> Vec<(u64, LockAnswer)> {
        self.answer_ready();
        std::mem::take(&mut self.answers)
    }

    /// Answers call `id` now, without the engine (a deliberate bug's
    /// answer, `bugs.rs`).
    pub(crate) fn answer_now(&mut self, id: u64, answer: LockAnswer) {
        self.answers.push((id, answer));
    }

    /// Whether the tree's `grant` is announced from it: always, short of
    /// `NodeBug::GrantEventsFromReplies` (immediate grants from replies).
    fn announces(&self, grant: &LockGrant) -> bool {
        #[cfg(feature = "broken")]
        if self.grant_events_from_replies {
            return grant.waited;
        }
        let _ = grant;
        true
    }

    /// Acquires parked now.
    pub fn parked(&self) -> usize {
        self.parked_count
    }

    /// `NodeBug::DropEvents` (`bugs.rs`).
    #[cfg(feature = "broken")]
    pub(crate) fn set_drop_events(&mut self, on: bool) {
        self.events.drop_events = on;
    }
}

/// The batch that creates `path` and its missing ancestors, persistent,
/// with the open ACL, as `session` with `auth`.
fn create_op(tree: &Tree, session: i64, auth: Vec<Id>, path: &str, wall_ms: i64) -> CoordOp {
    let mut writes = Vec::new();
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        if tree.exists(&prefix).is_none() || prefix == path {
            writes.push(Write::Create {
                path: prefix.clone(),
                data: Vec::new(),
                acl: vec![Acl {
                    perms: synod_coord::perms::ALL,
                    id: Id::anyone(),
                }],
                mode: CreateMode::Persistent,
                ttl_ms: -1,
            });
        }
    }
    if writes.is_empty() {
        // "/" or "": a create the tree refuses as a bad path.
        writes.push(Write::Create {
            path: path.to_string(),
            data: Vec::new(),
            acl: Vec::new(),
            mode: CreateMode::Persistent,
            ttl_ms: -1,
        });
    }
    CoordOp::RuledBatch {
        rules: synod_coord::acl::Rules::CURRENT.number(),
        session,
        auth,
        time_ms: wall_ms,
        writes,
    }
}
