//! The lock clients in the world: their calls reach the nodes as
//! `NodeInput::Lock` after a client latency, the nodes' `LockReply`s come
//! back the same way, and a call to a node that is down comes back as a
//! refusal. What a client decides is here; its state is in
//! `lockclient.rs`, the oracles in `lockcheck.rs`, `resource.rs` and
//! `lockdelay.rs`.

use crate::bugs::LockBug;
use crate::client::Time;
use crate::lockclient::{
    mode_name, Call, Chan, Holding, LockClient, LockSessionView, Next, CALL_RETRY_US,
    KEEPALIVE_RETRY_US, LEASE_MARGIN_US, LOCK_CLIENTS, LOCK_DELAYS_MS, LOCK_PATHS,
    SESSION_TIMEOUT_MS,
};
use crate::resource::Written;
use crate::world::{Ev, World, NODES};
use synod_coord::{LockMode, Sequencer};
use synod_node::{LockAnswer, LockRequest, NodeInput};
use synod_paxos::Outcome;
use synod_simcluster::ClientInput;

/// A holder pauses (a GC pause) in about this share of its holdings.
const PAUSE_CHANCE: f64 = 0.35;
/// How long a pause lasts: often past the session timeout and more.
const PAUSE_US: (Time, Time) = (2_000_000, 8_000_000);
/// How long a holder holds its lock, and how long a client rests between
/// lock calls: each acquire and release is a log command that all three
/// replicas apply, so these set most of what the lock clients cost.
const HOLD_US: (Time, Time) = (500_000, 3_000_000);
const IDLE_US: (Time, Time) = (200_000, 1_000_000);

impl World {
    /// Starts the lock clients, each at a random moment of the first half
    /// second.
    pub(crate) fn start_lock_clients(&mut self) {
        for n in 1..=LOCK_CLIENTS {
            let at = self.cluster.rng().range(0, 500_000);
            let mut c = LockClient::new(n, at, NODES);
            self.lock_wake_at(&mut c, at);
            self.lock_clients.insert(n, c);
        }
    }

    fn lock_wake_at(&mut self, c: &mut LockClient, at: Time) {
        if c.wakes.insert(at) {
            self.cluster.schedule(at, Ev::LockWake { client: c.n });
        }
    }

    pub(crate) fn on_lock_wake(&mut self, n: u64) {
        let now = self.now();
        let Some(mut c) = self.lock_clients.remove(&n) else {
            return;
        };
        c.wakes.retain(|t| *t > now);
        self.lock_step(&mut c);
        self.lock_clients.insert(n, c);
    }

    /// A node's answer to lock call `id` reaches its client.
    pub(crate) fn on_lock_answer(&mut self, id: u64, answer: LockAnswer) {
        let Some((n, chan, serial)) = self.lock_calls.remove(&id) else {
            self.digest_bytes(0xcac4e, format!("{id} {answer:?}").as_bytes());
            return self.on_cache_answer(id, answer);
        };
        self.digest_bytes(0x10c4, format!("{n} {answer:?}").as_bytes());
        self.note(|| format!("lock client {n} call {id}: {answer:?}"));
        let Some(mut c) = self.lock_clients.remove(&n) else {
            return;
        };
        if c.paused_until.is_some() {
            c.buffered.push((chan, serial, answer));
        } else {
            self.lock_answer(&mut c, chan, serial, answer);
            self.lock_step(&mut c);
        }
        self.lock_clients.insert(n, c);
    }

    /// A node sent the answer to lock call `id`.
    pub(crate) fn lock_reply_out(&mut self, id: u64, answer: LockAnswer) {
        let at = self.now() + self.cluster.client_latency();
        self.cluster.schedule(at, Ev::LockAnswer { id, answer });
    }

    /// Lock call `id` found its node down: the client's connection is
    /// refused, and it tries another node.
    pub(crate) fn lock_undelivered(&mut self, id: u64) {
        let at = self.now() + self.cluster.rng().range(1_000, 5_000);
        let answer = LockAnswer::Refused(Outcome::NotLeader { leader: None });
        self.cluster.schedule(at, Ev::LockAnswer { id, answer });
    }

    /// A write reaches the fenced resource.
    pub(crate) fn on_resource_write(&mut self, seq: Sequencer, stale: bool) {
        let now = self.now();
        match self.resource.write(&seq, now) {
            Written::Accepted => self.stats.fenced_writes += 1,
            Written::Refused => {
                self.stats.stale_writes_refused += 1;
                self.note(|| format!("the resource refuses {seq} (stale {stale})"));
            }
            Written::AcceptedStale(detail) => self.violation("fence", detail),
        }
    }

    /// Everything due for client `c` now, then its next wake-up.
    fn lock_step(&mut self, c: &mut LockClient) {
        let now = self.now();
        if let Some(until) = c.paused_until {
            if now < until {
                return self.lock_wake_at(c, until);
            }
            self.resume(c);
        }
        self.settle_lease(c, now);
        for chan in [Chan::Keeper, Chan::Ops] {
            if c.call(chan).is_some_and(|call| call.retry_at <= now) {
                self.resend(c, chan);
            }
        }
        self.keep_alive(c, now);
        if c.holding.is_some() {
            self.hold(c, now);
        } else if c.call(Chan::Ops).is_none() {
            self.next_op(c, now);
        }
        let mut wake = Vec::new();
        wake.extend(c.calls.iter().flatten().map(|call| call.retry_at));
        if let (Some(s), None) = (&c.session, c.call(Chan::Keeper)) {
            wake.push(s.next_keepalive);
        }
        if let Some(h) = &c.holding {
            wake.extend([h.release_at, h.next_write]);
            wake.extend(h.pause_at);
        }
        if let Next::IdleUntil(t) = c.next {
            wake.push(t);
        }
        wake.extend(c.paused_until);
        if let Some(at) = wake.into_iter().filter(|t| *t > now).min() {
            self.lock_wake_at(c, at);
        }
    }

    /// The end of a pause: the holder writes with its old sequencer before
    /// it looks at anything, then reads what arrived meanwhile.
    fn resume(&mut self, c: &mut LockClient) {
        c.paused_until = None;
        let n = c.n;
        self.note(|| format!("lock client {n} resumes"));
        if let Some(h) = &c.holding {
            self.write_resource(h.seq.clone(), true);
        }
        for (chan, serial, answer) in std::mem::take(&mut c.buffered) {
            self.lock_answer(c, chan, serial, answer);
        }
    }

    /// Closes the current safe interval if the lease ran out.
    fn settle_lease(&mut self, c: &mut LockClient, now: Time) {
        let lease_end = c.lease_end();
        if let Some(h) = &mut c.holding {
            if let Some(from) = h.safe_from.filter(|_| lease_end <= now) {
                self.lock_history.piece(c.n, &h.seq, from, lease_end);
                h.safe_from = None;
            }
        }
    }

    /// The client stops acting on its lock at `now`.
    fn end_safe(&mut self, c: &mut LockClient, now: Time) {
        let lease_end = c.lease_end();
        if let Some(h) = &mut c.holding {
            if let Some(from) = h.safe_from.take() {
                self.lock_history
                    .piece(c.n, &h.seq, from, now.min(lease_end));
            }
        }
    }

    /// At the end of the run: every safe interval still open closes.
    pub(crate) fn finish_lock_clients(&mut self) {
        let now = self.now();
        let ns: Vec<u64> = self.lock_clients.keys().copied().collect();
        for n in ns {
            let mut c = self.lock_clients.remove(&n).expect("listed");
            self.settle_lease(&mut c, now);
            self.end_safe(&mut c, now);
            self.lock_clients.insert(n, c);
        }
        for (check, detail) in self.lock_history.check_exclusion() {
            self.violation(check, detail);
        }
    }

    fn keep_alive(&mut self, c: &mut LockClient, now: Time) {
        let Some(s) = &c.session else {
            return;
        };
        if c.call(Chan::Keeper).is_some() || now < s.next_keepalive {
            return;
        }
        let session = s.id;
        // Periodic and answered at once (no hold, no subscriptions): the
        // lease oracle judges the library's lease rule, not events.
        let request = LockRequest::KeepAlive {
            client: c.client_id(Chan::Keeper),
            seq: c.take_seq(Chan::Keeper),
            session,
            subscriptions: Vec::new(),
            hold_ms: 0,
            cache_term: 0,
            acked: 0,
        };
        self.start_call(c, Chan::Keeper, request);
    }

    /// Holding: writes while the lease runs, releases when done, pauses
    /// if due.
    fn hold(&mut self, c: &mut LockClient, now: Time) {
        let h = c.holding.as_ref().expect("holding");
        if h.pause_at.is_some_and(|t| t <= now) {
            return self.pause(c, now);
        }
        if h.next_write <= now {
            let seq = h.seq.clone();
            if c.safe(now) {
                self.write_resource(seq.clone(), false);
                if c.call(Chan::Ops).is_none() && self.cluster.rng().chance(0.15) {
                    self.start_call(c, Chan::Ops, LockRequest::Check(seq));
                }
            }
            let gap = self.cluster.rng().range(100_000, 400_000);
            c.holding.as_mut().expect("holding").next_write = now + gap;
        }
        let h = c.holding.as_ref().expect("holding");
        if h.release_at <= now && c.call(Chan::Ops).is_none() {
            let seq = h.seq.clone();
            self.end_safe(c, now);
            c.holding = None;
            let request = LockRequest::Release {
                client: c.client_id(Chan::Ops),
                seq: c.take_seq(Chan::Ops),
                session: c.session.as_ref().map_or(0, |s| s.id),
                path: seq.path.clone(),
            };
            c.releasing = Some(seq);
            self.start_call(c, Chan::Ops, request);
        }
    }

    fn pause(&mut self, c: &mut LockClient, now: Time) {
        let end = self.cfg.safety_us + self.cfg.liveness_us;
        let pause = self.cluster.rng().range(PAUSE_US.0, PAUSE_US.1);
        if let Some(h) = &mut c.holding {
            h.pause_at = None;
        }
        if now + pause + 2_000_000 > end {
            return;
        }
        self.stats.lock_pauses += 1;
        c.paused_until = Some(now + pause);
        let n = c.n;
        self.note(|| format!("lock client {n} pauses for {}ms", pause / 1000));
    }

    fn write_resource(&mut self, seq: Sequencer, stale: bool) {
        let at = self.now() + self.cluster.client_latency();
        self.cluster.schedule(at, Ev::ResourceWrite { seq, stale });
    }

    /// The ops channel is free and nothing is held: what comes next.
    fn next_op(&mut self, c: &mut LockClient, now: Time) {
        let Some(s) = &c.session else {
            let request = LockRequest::OpenSession {
                client: c.client_id(Chan::Ops),
                seq: c.take_seq(Chan::Ops),
                timeout_ms: SESSION_TIMEOUT_MS,
                passwd: vec![c.n as u8; 16],
            };
            return self.start_call(c, Chan::Ops, request);
        };
        let (session, client, rng) = (s.id, c.client_id(Chan::Ops), self.cluster.rng());
        let request = match c.next.clone() {
            Next::IdleUntil(t) if t > now => return,
            Next::Open | Next::IdleUntil(_) => {
                let path = LOCK_PATHS[rng.range(0, LOCK_PATHS.len() as u64) as usize];
                if c.created.contains(path) {
                    c.next = Next::Acquire(path.into());
                    return self.next_op(c, now);
                }
                c.next = Next::Acquire(path.into());
                LockRequest::Create {
                    client,
                    seq: c.take_seq(Chan::Ops),
                    session,
                    auth: Vec::new(),
                    path: path.into(),
                }
            }
            Next::Acquire(path) => {
                let mode = if rng.chance(0.25) {
                    LockMode::Shared
                } else {
                    LockMode::Exclusive
                };
                let try_acquire = rng.chance(0.2);
                let delay = LOCK_DELAYS_MS[rng.range(0, LOCK_DELAYS_MS.len() as u64) as usize];
                self.lock_history
                    .requested_delay
                    .insert((session, path.clone()), delay);
                LockRequest::Acquire {
                    client,
                    seq: c.take_seq(Chan::Ops),
                    session,
                    auth: Vec::new(),
                    path,
                    mode,
                    lock_delay_ms: delay,
                    try_acquire,
                }
            }
            Next::CheckReleased(seq) => LockRequest::Check(seq),
            Next::Close => LockRequest::CloseSession {
                client,
                seq: c.take_seq(Chan::Ops),
                session,
            },
        };
        self.start_call(c, Chan::Ops, request);
    }

    fn start_call(&mut self, c: &mut LockClient, chan: Chan, request: LockRequest) {
        c.calls_started += 1;
        c.calls[chan as usize] = Some(Call {
            serial: c.calls_started,
            request,
            first_sent: self.now(),
            retry_at: 0,
        });
        self.resend(c, chan);
    }

    /// Sends `chan`'s call (again) to the node the client thinks leads.
    fn resend(&mut self, c: &mut LockClient, chan: Chan) {
        let now = self.now();
        let retry = match chan {
            Chan::Keeper => KEEPALIVE_RETRY_US,
            Chan::Ops => CALL_RETRY_US,
        };
        let call = c.calls[chan as usize].as_mut().expect("a call");
        call.retry_at = now + retry;
        let (request, serial) = (call.request.clone(), call.serial);
        let id = self.next_lock_call;
        self.next_lock_call += 1;
        self.lock_calls.insert(id, (c.n, chan, serial));
        let at = now + self.cluster.client_latency();
        let node = c.leader;
        self.note(|| format!("lock client sends {id} to n{node}: {request:?}"));
        let input = ClientInput::Node(NodeInput::Lock { id, request });
        self.cluster.send_input(at, c.leader, None, input);
    }

    /// The client's session is gone (or it gave it up): its lock too.
    fn lose_session(&mut self, c: &mut LockClient, now: Time) {
        self.settle_lease(c, now);
        self.end_safe(c, now);
        c.holding = None;
        c.session = None;
        c.calls = [None, None];
        c.next = Next::Open;
        let n = c.n;
        self.note(|| format!("lock client {n}: session gone"));
    }

    /// One answer to `chan`'s call `serial`.
    fn lock_answer(&mut self, c: &mut LockClient, chan: Chan, serial: u64, answer: LockAnswer) {
        let now = self.now();
        self.settle_lease(c, now);
        let Some(call) = c.calls[chan as usize]
            .as_mut()
            .filter(|k| k.serial == serial)
        else {
            return;
        };
        match &answer {
            LockAnswer::Refused(Outcome::NotLeader { leader }) => {
                // A hint is followed at once; without one (no leader
                // known, a node down) the next node is tried after a
                // pause, as the library's client backs off.
                let wait = match leader {
                    Some(_) => (5_000, 50_000),
                    None => (50_000, 150_000),
                };
                c.leader = leader.unwrap_or(c.leader % NODES + 1);
                call.retry_at = now + self.cluster.rng().range(wait.0, wait.1);
                return;
            }
            LockAnswer::Refused(Outcome::Busy | Outcome::Rejected(_)) => {
                call.retry_at = now + 100_000;
                return;
            }
            _ => {}
        }
        let call = c.calls[chan as usize].take().expect("matched");
        let first_sent = call.first_sent;
        let idle = now + self.cluster.rng().range(IDLE_US.0, IDLE_US.1);
        match (call.request, answer) {
            (LockRequest::OpenSession { .. }, LockAnswer::Session { id, timeout_ms }) => {
                let timeout_us = timeout_ms as Time * 1000;
                c.session = Some(LockSessionView {
                    id,
                    lease_end: self.lease_end(first_sent, timeout_ms),
                    next_keepalive: first_sent + timeout_us / 3,
                });
                self.stats.lock_sessions += 1;
                c.next = Next::IdleUntil(now);
            }
            (LockRequest::KeepAlive { session, .. }, answer) => {
                if c.session.as_ref().map(|s| s.id) != Some(session) {
                    return;
                }
                match answer {
                    LockAnswer::Alive { timeout_ms, .. } => {
                        self.on_alive(c, first_sent, timeout_ms)
                    }
                    LockAnswer::Expired => self.lose_session(c, now),
                    _ => {}
                }
            }
            (LockRequest::CloseSession { .. }, _) => {
                c.session = None;
                c.next = Next::IdleUntil(idle);
            }
            (LockRequest::Create { path, .. }, LockAnswer::Created) => {
                c.created.insert(path);
            }
            (LockRequest::Acquire { .. }, LockAnswer::Acquired(seq)) => self.on_acquired(c, seq),
            (_, LockAnswer::Failed(synod_coord::LockError::SessionExpired)) => {
                self.lose_session(c, now)
            }
            (LockRequest::Release { .. }, answer) => {
                let seq = c.releasing.take().expect("a release carries its sequencer");
                c.next = Next::IdleUntil(idle);
                if answer == LockAnswer::Released {
                    self.lock_history.on_released(&seq, now);
                    let rng = self.cluster.rng();
                    if rng.chance(0.4) {
                        c.next = Next::CheckReleased(seq);
                    } else if rng.chance(0.1) {
                        c.next = Next::Close;
                    }
                }
            }
            (LockRequest::Check(seq), LockAnswer::Check(result)) => {
                if let Some(why) = self.lock_history.must_be_invalid(&seq, first_sent) {
                    self.stats.lock_checks_judged += 1;
                    if result.is_ok() {
                        let detail = format!(
                            "CheckSequencer of {seq} sent at {:.6}s answered valid at {:.6}s, but {why}",
                            first_sent as f64 / 1e6,
                            now as f64 / 1e6
                        );
                        self.violation("check-linearizable", detail);
                    }
                }
                if matches!(c.next, Next::CheckReleased(_)) {
                    c.next = Next::IdleUntil(idle);
                }
            }
            _ => c.next = Next::IdleUntil(idle),
        }
    }

    /// The local lease after a keepalive (or the open) sent at `sent` was
    /// answered with `timeout_ms`: crates/client's `lease_end`.
    fn lease_end(&self, sent: Time, timeout_ms: i32) -> Time {
        if self.cfg.bugs.has_lock(LockBug::NoLease) {
            return Time::MAX;
        }
        let timeout_us = timeout_ms as Time * 1000;
        sent + timeout_us.saturating_sub(LEASE_MARGIN_US)
    }

    fn on_alive(&mut self, c: &mut LockClient, sent: Time, timeout_ms: i32) {
        let now = self.now();
        let timeout_us = timeout_ms as Time * 1000;
        let lease_end = self.lease_end(sent, timeout_ms);
        let Some(s) = &mut c.session else {
            return;
        };
        s.next_keepalive = sent + timeout_us / 3;
        if lease_end <= s.lease_end {
            return;
        }
        s.lease_end = lease_end;
        if let Some(h) = c.holding.as_mut().filter(|h| h.safe_from.is_none()) {
            if lease_end > now {
                h.safe_from = Some(now);
            }
        }
    }

    fn on_acquired(&mut self, c: &mut LockClient, seq: Sequencer) {
        let now = self.now();
        self.lock_history.on_acquired(&seq, now);
        self.stats.locks_acquired += 1;
        let rng = self.cluster.rng();
        let hold = rng.range(HOLD_US.0, HOLD_US.1);
        let pause_at = rng
            .chance(PAUSE_CHANCE)
            .then(|| now + rng.range(0, 300_000));
        let n = c.n;
        let text = format!("{seq} ({})", mode_name(seq.mode));
        self.note(|| format!("lock client {n} acquired {text}"));
        c.holding = Some(Holding {
            safe_from: c.safe(now).then_some(now),
            seq,
            release_at: now + hold,
            next_write: now,
            pause_at,
        });
    }
}
