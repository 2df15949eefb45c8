//! The cache clients in the world: like the lock clients (`lockclients.rs`)
//! their calls reach the nodes as `NodeInput::Lock` after a client latency
//! and come back as `LockReply`s, a call to a node that is down comes back
//! refused, and calls are exactly-once by (client id, seq). Each client
//! opens a session, marks it caching, keeps one held keepalive always
//! outstanding, and reads and writes `CACHE_PATHS`: a read from its cache
//! when it may (`cacheclient.rs`), else a fill; a write with
//! `SetContents`. Every read goes to the oracle (`cachecheck.rs`).

use crate::bugs::LockBug;
use crate::cachecheck::{CacheRead, Seen};
use crate::cacheclient::{
    CacheClient, CacheSessionView, Entry, Fill, CACHE_CLIENTS, CACHE_PATHS, KEEPALIVE_HOLD_MS,
    OWN_PATH,
};
use crate::client::Time;
use crate::lockclient::{
    Call, Chan, CALL_RETRY_US, KEEPALIVE_RETRY_US, LEASE_MARGIN_US, SESSION_TIMEOUT_MS,
};
use crate::world::{Ev, World, NODES};
use synod_node::{LockAnswer, LockRequest, NodeInput};
use synod_paxos::Outcome;
use synod_simcluster::ClientInput;

/// How long a cache client rests after a call (a fill or a write).
const IDLE_US: (Time, Time) = (30_000, 300_000);
/// How long it rests after a read from its cache (no message, so they
/// can come often: they are what the oracle is about).
const CACHED_IDLE_US: (Time, Time) = (5_000, 60_000);
/// The share of its operations that are writes (`SetContents`).
const WRITE_CHANCE: f64 = 0.25;
/// The chance that a client with something cached pauses (a GC pause)
/// before an operation, and how long a pause lasts: often past the lease
/// and the session timeout.
const PAUSE_CHANCE: f64 = 0.01;
const PAUSE_US: (Time, Time) = (2_000_000, 8_000_000);

impl World {
    /// Starts the cache clients, each at a random moment of the first half
    /// second.
    pub(crate) fn start_cache_clients(&mut self) {
        for n in 1..=CACHE_CLIENTS {
            let at = self.cluster.rng().range(0, 500_000);
            let mut c = CacheClient::new(n, at, NODES);
            c.no_lease = self.cfg.bugs.has_lock(LockBug::CacheWithoutLease);
            self.cache_wake_at(&mut c, at);
            self.cache_clients.insert(n, c);
        }
    }

    fn cache_wake_at(&mut self, c: &mut CacheClient, at: Time) {
        if c.wakes.insert(at) {
            self.cluster.schedule(at, Ev::CacheWake { client: c.n });
        }
    }

    pub(crate) fn on_cache_wake(&mut self, n: u64) {
        let now = self.now();
        let Some(mut c) = self.cache_clients.remove(&n) else {
            return;
        };
        c.wakes.retain(|t| *t > now);
        self.cache_step(&mut c);
        self.cache_clients.insert(n, c);
    }

    /// A node's answer to the cache client call `id` (`on_lock_answer`
    /// hands over the ids that are not a lock client's).
    pub(crate) fn on_cache_answer(&mut self, id: u64, answer: LockAnswer) {
        let Some((n, chan, serial)) = self.cache_calls.remove(&id) else {
            return;
        };
        self.note(|| format!("cache client {n} call {id}: {answer:?}"));
        let Some(mut c) = self.cache_clients.remove(&n) else {
            return;
        };
        if c.paused_until.is_some() {
            c.buffered.push((chan, serial, answer));
        } else {
            self.cache_answer(&mut c, chan, serial, answer);
            self.cache_step(&mut c);
        }
        self.cache_clients.insert(n, c);
    }

    /// Everything due for client `c` now, then its next wake-up.
    fn cache_step(&mut self, c: &mut CacheClient) {
        let now = self.now();
        if let Some(until) = c.paused_until {
            if now < until {
                return self.cache_wake_at(c, until);
            }
            self.cache_resume(c, now);
        }
        if c.settle_lease(now) {
            self.stats.cache_flushes += 1;
            let n = c.n;
            self.note(|| format!("cache client {n}: lease out, cache flushed"));
        }
        for chan in [Chan::Keeper, Chan::Ops] {
            if c.call(chan).is_some_and(|call| call.retry_at <= now) {
                self.cache_resend(c, chan);
            }
        }
        self.cache_keep_alive(c);
        while c.call(Chan::Ops).is_none() && c.next_op_at <= now {
            if self.cache_maybe_pause(c, now) {
                return;
            }
            self.cache_next_op(c, now);
        }
        let mut next = [Chan::Keeper, Chan::Ops]
            .into_iter()
            .filter_map(|chan| c.call(chan).map(|call| call.retry_at))
            .min()
            .unwrap_or(Time::MAX);
        if c.call(Chan::Ops).is_none() {
            next = next.min(c.next_op_at);
        }
        if let Some(s) = c.session.as_ref().filter(|_| !c.cache.is_empty()) {
            next = next.min(s.lease_end.max(now + 1));
        }
        if next != Time::MAX {
            self.cache_wake_at(c, next);
        }
    }

    /// The end of a pause: one read first, from the cache if the lease
    /// allows (the lease rule, then the cache), then the answers that
    /// arrived meanwhile.
    fn cache_resume(&mut self, c: &mut CacheClient, now: Time) {
        c.paused_until = None;
        let n = c.n;
        self.note(|| format!("cache client {n} resumes"));
        if c.settle_lease(now) {
            self.stats.cache_flushes += 1;
        }
        let rng = self.cluster.rng();
        let path = CACHE_PATHS[rng.range(0, CACHE_PATHS.len() as u64) as usize];
        if let Some(entry) = c.cached(path, now) {
            let read = CacheRead {
                client: c.n,
                path: path.to_string(),
                start: now,
                known: self.zxid_known,
                seen: seen(entry),
                cached: true,
            };
            self.cache_history.read(read);
            self.stats.cache_reads += 1;
        }
        for (chan, serial, answer) in std::mem::take(&mut c.buffered) {
            self.cache_answer(c, chan, serial, answer);
        }
    }

    /// Pauses `c` if its dice say so (never close to the end of the run).
    fn cache_maybe_pause(&mut self, c: &mut CacheClient, now: Time) -> bool {
        if c.cache.is_empty() || !self.cluster.rng().chance(PAUSE_CHANCE) {
            return false;
        }
        let end = self.cfg.safety_us + self.cfg.liveness_us;
        let pause = self.cluster.rng().range(PAUSE_US.0, PAUSE_US.1);
        if now + pause + 2_000_000 > end {
            return false;
        }
        self.stats.cache_pauses += 1;
        c.paused_until = Some(now + pause);
        let n = c.n;
        self.note(|| format!("cache client {n} pauses for {}ms", pause / 1000));
        self.cache_wake_at(c, now + pause);
        true
    }

    /// One keepalive always outstanding once a session is open, held by
    /// the leader so invalidations come at once.
    fn cache_keep_alive(&mut self, c: &mut CacheClient) {
        let Some(session) = c.session.as_ref().map(|s| s.id) else {
            return;
        };
        if c.call(Chan::Keeper).is_some() {
            return;
        }
        let request = LockRequest::KeepAlive {
            client: c.client_id(Chan::Keeper),
            seq: c.take_seq(Chan::Keeper),
            session,
            subscriptions: Vec::new(),
            hold_ms: KEEPALIVE_HOLD_MS,
            cache_term: c.cache_term,
            acked: c.acked,
        };
        self.cache_start_call(c, Chan::Keeper, request);
    }

    /// The ops channel is free and due: the next call, or a read from
    /// the cache (which takes no call: the next one is due after a rest).
    fn cache_next_op(&mut self, c: &mut CacheClient, now: Time) {
        let client = c.client_id(Chan::Ops);
        let Some(s) = &c.session else {
            let request = LockRequest::OpenSession {
                client,
                seq: c.take_seq(Chan::Ops),
                timeout_ms: SESSION_TIMEOUT_MS,
                passwd: vec![0xc0 | c.n as u8; 16],
            };
            return self.cache_start_call(c, Chan::Ops, request);
        };
        let session = s.id;
        let request = if !s.caching {
            LockRequest::CacheSession {
                client,
                seq: c.take_seq(Chan::Ops),
                session,
            }
        } else if !c.created {
            LockRequest::Create {
                client,
                seq: c.take_seq(Chan::Ops),
                session,
                auth: Vec::new(),
                path: OWN_PATH.into(),
            }
        } else {
            let rng = self.cluster.rng();
            let path = CACHE_PATHS[rng.range(0, CACHE_PATHS.len() as u64) as usize].to_string();
            if rng.chance(WRITE_CHANCE) {
                c.writes += 1;
                LockRequest::SetContents {
                    client,
                    seq: c.take_seq(Chan::Ops),
                    session,
                    auth: Vec::new(),
                    path,
                    data: format!("cache{}.{}", c.n, c.writes).into_bytes(),
                    version: -1,
                    sequencer: None,
                }
            } else if let Some(entry) = c.cached(&path, now) {
                let read = CacheRead {
                    client: c.n,
                    path,
                    start: now,
                    known: self.zxid_known,
                    seen: seen(entry),
                    cached: true,
                };
                self.cache_history.read(read);
                self.stats.cache_reads += 1;
                let rest = self.cluster.rng().range(CACHED_IDLE_US.0, CACHED_IDLE_US.1);
                c.next_op_at = now + rest;
                return;
            } else {
                c.fill = Some(Fill {
                    path: path.clone(),
                    generation: c.generation,
                    started: now,
                    known: self.zxid_known,
                });
                LockRequest::Contents {
                    path,
                    auth: Vec::new(),
                    session,
                }
            }
        };
        self.cache_start_call(c, Chan::Ops, request);
    }

    fn cache_start_call(&mut self, c: &mut CacheClient, chan: Chan, request: LockRequest) {
        c.calls_started += 1;
        c.calls[chan as usize] = Some(Call {
            serial: c.calls_started,
            request,
            first_sent: self.now(),
            retry_at: 0,
        });
        self.cache_resend(c, chan);
    }

    /// Sends `chan`'s call (again) to the node the client thinks leads.
    fn cache_resend(&mut self, c: &mut CacheClient, chan: Chan) {
        let now = self.now();
        let retry = match chan {
            // A held keepalive is answered within its hold.
            Chan::Keeper => Time::from(KEEPALIVE_HOLD_MS) * 1000 + KEEPALIVE_RETRY_US,
            Chan::Ops => CALL_RETRY_US,
        };
        let call = c.calls[chan as usize].as_mut().expect("a call");
        call.retry_at = now + retry;
        let (request, serial) = (call.request.clone(), call.serial);
        let id = self.next_lock_call;
        self.next_lock_call += 1;
        self.cache_calls.insert(id, (c.n, chan, serial));
        let at = now + self.cluster.client_latency();
        let node = c.leader;
        self.note(|| format!("cache client sends {id} to n{node}: {request:?}"));
        let input = ClientInput::Node(NodeInput::Lock { id, request });
        self.cluster.send_input(at, c.leader, None, input);
    }

    /// The session is gone: so is the cache, and everything under way.
    fn cache_lose_session(&mut self, c: &mut CacheClient) {
        if !c.cache.is_empty() {
            self.stats.cache_flushes += 1;
        }
        c.flush();
        c.session = None;
        c.calls = [None, None];
        c.fill = None;
        c.cache_term = 0;
        c.acked = 0;
        let n = c.n;
        self.note(|| format!("cache client {n}: session gone"));
    }

    /// One answer to `chan`'s call `serial`.
    fn cache_answer(&mut self, c: &mut CacheClient, chan: Chan, serial: u64, answer: LockAnswer) {
        let now = self.now();
        let Some(call) = c.calls[chan as usize]
            .as_mut()
            .filter(|k| k.serial == serial)
        else {
            return;
        };
        match &answer {
            LockAnswer::Refused(Outcome::NotLeader { leader }) => {
                let wait = match leader {
                    Some(_) => (5_000, 50_000),
                    None => (50_000, 150_000),
                };
                c.leader = leader.unwrap_or(c.leader % NODES + 1);
                call.retry_at = now + self.cluster.rng().range(wait.0, wait.1);
                return;
            }
            LockAnswer::Refused(_) => {
                call.retry_at = now + 100_000;
                return;
            }
            _ => {}
        }
        let call = c.calls[chan as usize].take().expect("matched");
        if chan == Chan::Ops {
            c.next_op_at = now + self.cluster.rng().range(IDLE_US.0, IDLE_US.1);
        }
        match (call.request, answer) {
            (LockRequest::OpenSession { .. }, LockAnswer::Session { id, timeout_ms }) => {
                c.session = Some(CacheSessionView {
                    id,
                    lease_end: lease_end(call.first_sent, timeout_ms),
                    caching: false,
                });
                self.stats.cache_sessions += 1;
            }
            (LockRequest::CacheSession { .. }, LockAnswer::Caching) => {
                if let Some(s) = &mut c.session {
                    s.caching = true;
                }
            }
            (LockRequest::KeepAlive { session, .. }, answer) => {
                if c.session.as_ref().map(|s| s.id) != Some(session) {
                    return;
                }
                match answer {
                    LockAnswer::Alive {
                        timeout_ms,
                        term,
                        invalidated,
                        invalidation,
                        ..
                    } => {
                        let s = c.session.as_mut().expect("checked");
                        s.lease_end = s.lease_end.max(lease_end(call.first_sent, timeout_ms));
                        let ignore = self.cfg.bugs.has_lock(LockBug::CacheIgnoresInvalidations);
                        let had = !c.cache.is_empty();
                        let (new_term, fresh) =
                            c.on_alive(term, &invalidated, invalidation, ignore);
                        self.stats.cache_flushes += u64::from(new_term && had);
                        self.stats.cache_invalidations += fresh;
                    }
                    LockAnswer::Expired => self.cache_lose_session(c),
                    _ => {}
                }
            }
            (LockRequest::Create { .. }, LockAnswer::Created) => c.created = true,
            (LockRequest::Contents { path, .. }, LockAnswer::Contents { result, cached }) => {
                self.on_filled(c, path, result, cached);
            }
            (LockRequest::SetContents { .. }, LockAnswer::ContentsSet(Ok(stat))) => {
                self.zxid_known = self.zxid_known.max(stat.mzxid);
                self.stats.cache_writes += 1;
            }
            (_, LockAnswer::Expired) => self.cache_lose_session(c),
            _ => {}
        }
    }

    /// A fill's answer: a read for the oracle, kept in the cache if the
    /// rules allow.
    fn on_filled(&mut self, c: &mut CacheClient, path: String, result: Entry, cached: u64) {
        let Some(fill) = c.fill.clone() else {
            return;
        };
        self.stats.cache_fills += 1;
        if let Ok((_, stat)) = &result {
            self.zxid_known = self.zxid_known.max(stat.mzxid);
        }
        if matches!(result, Ok(_) | Err(synod_coord::ErrorCode::NoNode)) {
            self.cache_history.read(CacheRead {
                client: c.n,
                path: path.clone(),
                start: fill.started,
                known: fill.known,
                seen: seen(&result),
                cached: false,
            });
        }
        let raced = self.cfg.bugs.has_lock(LockBug::CacheKeepsRacedFills);
        if c.on_fill(&fill, &result, cached, raced) {
            self.stats.cache_fills_kept += 1;
        }
        c.fill = None;
    }

    /// At the end of the run: every read judged.
    pub(crate) fn finish_cache_clients(&mut self) {
        let verdict = self.cache_history.check(&self.changes.ordered());
        self.stats.cache_reads_judged += verdict.cached_judged;
        self.stats.cache_fills_judged += verdict.filled_judged;
        self.stats.cache_stale_reads += verdict.problems.len() as u64;
        for (check, detail) in verdict.problems {
            self.violation(check, detail);
        }
    }
}

/// What an entry shows the oracle.
fn seen(entry: &Entry) -> Seen {
    match entry {
        Ok((_, stat)) => Seen::Present { mzxid: stat.mzxid },
        Err(_) => Seen::Absent,
    }
}

/// The local lease after a keepalive (or the open) sent at `sent` was
/// answered with `timeout_ms`: crates/client's `lease_end`, as the lock
/// clients keep it.
fn lease_end(sent: Time, timeout_ms: i32) -> Time {
    let timeout_us = timeout_ms as Time * 1000;
    sent + timeout_us.saturating_sub(LEASE_MARGIN_US)
}
