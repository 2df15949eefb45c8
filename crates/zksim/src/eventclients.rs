//! Simulated Chubby event clients (issue 12): lock sessions that only
//! listen. Each opens a session at the node it thinks leads, subscribes
//! (its whole list with every keepalive, as crates/client's `LockSession`
//! does) to a few znodes the ZooKeeper clients and the lock clients
//! change, and keeps one keepalive outstanding, held by the leader up to
//! a third of the session timeout, sending the next as soon as one is
//! answered. Every `Alive` answer it receives is recorded with its local
//! receive time, the node that sent it and where that node stood (see
//! `eventcheck.rs`, which judges them at the end of the run).
//!
//! Calls are exactly-once by (client id, seq) as the lock clients' are: a
//! keepalive unanswered past its hold and `RETRY_AFTER_HOLD_US` is sent
//! again with the same seq to the next node; a `NotLeader` is followed.
//! A session that expires is replaced by a new one, judged on its own.

use crate::client::Time;
use crate::eventcheck::{judge, Answer, EventLogs};
use crate::lockclient::SESSION_TIMEOUT_MS;
use crate::world::{Ev, World, NODES};
use std::collections::{BTreeMap, BTreeSet};
use synod_node::locks::mask;
use synod_node::{LockAnswer, LockRequest, NodeInput};
use synod_paxos::{ClientId, NodeId, Outcome};
use synod_simcluster::ClientInput;

/// Event clients in every run.
pub const EVENT_CLIENTS: u64 = 2;
/// The znodes they choose their subscriptions from: the ZooKeeper
/// clients' parents and data nodes, and the lock clients' lock znodes.
pub const EVENT_PATHS: [&str; 9] = [
    "/w", "/w/n0", "/w/n1", "/e", "/q", "/locks", "/locks/a", "/locks/b", "/big",
];
/// Subscriptions per client.
const SUBSCRIPTIONS: usize = 4;
/// A keepalive unanswered this long past its hold is sent again.
const RETRY_AFTER_HOLD_US: Time = 700_000;
/// Any other call (the open) unanswered this long is sent again.
const OPEN_RETRY_US: Time = 1_000_000;
/// The engine client ids of event client `n` are this plus `2n` and
/// `2n+1` (keepalives, then the open).
const CLIENT_ID_BASE: ClientId = 0x10c7_0000_0000_0000;
/// Event clients' call ids start here, apart from the lock clients'.
const CALL_ID_BASE: u64 = 1 << 48;

/// One call on its way: the same (client id, seq) until answered.
#[derive(Clone, Debug)]
struct Call {
    serial: u64,
    request: LockRequest,
    retry_at: Time,
    /// The retry goes to the next node (the call timed out), not to the
    /// one a refusal named.
    next_node: bool,
}

/// One event client.
#[derive(Clone, Debug)]
pub(crate) struct EventClient {
    leader: NodeId,
    seqs: [u64; 2],
    /// The session and its timeout.
    session: Option<(i64, i32)>,
    subs: Vec<(String, u32)>,
    call: Option<Call>,
    calls_started: u64,
    wakes: BTreeSet<Time>,
}

/// What one session received.
#[derive(Clone, Debug)]
pub(crate) struct SessionLog {
    pub(crate) client: u64,
    pub(crate) subs: Vec<(String, u32)>,
    pub(crate) answers: Vec<Answer>,
}

/// A call on its way: its client, serial, session (0 for the open), the
/// node it went to and that node's position then.
#[derive(Clone, Copy, Debug)]
struct Sent {
    client: u64,
    serial: u64,
    session: i64,
    sent_pos: u64,
}

/// The event clients, their calls, what they received, and the nodes'
/// logs the oracle judges them by.
#[derive(Default)]
pub(crate) struct EventClients {
    clients: BTreeMap<u64, EventClient>,
    calls: BTreeMap<u64, Sent>,
    next_call: u64,
    pub(crate) sessions: BTreeMap<i64, SessionLog>,
    pub(crate) logs: EventLogs,
    /// Outputs each node emitted so far (answers are stamped with it).
    emitted: BTreeMap<NodeId, u64>,
}

impl EventClients {
    /// Whether lock call `id` is an event client's.
    pub(crate) fn owns(&self, id: u64) -> bool {
        self.calls.contains_key(&id)
    }
}

impl World {
    /// Starts the event clients, each with its subscriptions, at a random
    /// moment of the first half second.
    pub(crate) fn start_event_clients(&mut self) {
        for n in 1..=EVENT_CLIENTS {
            let rng = self.cluster.rng();
            let at = rng.range(0, 500_000);
            let mut paths: Vec<&str> = EVENT_PATHS.to_vec();
            let mut subs = Vec::new();
            while subs.len() < SUBSCRIPTIONS {
                let path = paths.remove(rng.range(0, paths.len() as u64) as usize);
                // The first client hears everything; the others a mix.
                let bits = if n == 1 {
                    mask::ALL
                } else {
                    rng.range(1, mask::ALL as u64 + 1) as u32
                };
                subs.push((path.to_string(), bits));
            }
            for (p, _) in &subs {
                self.event_clients.logs.watched.insert(p.clone());
            }
            let c = EventClient {
                leader: 1 + (n + 1) % NODES,
                seqs: [0, 0],
                session: None,
                subs,
                call: None,
                calls_started: 0,
                wakes: BTreeSet::new(),
            };
            self.event_clients.clients.insert(n, c);
            self.event_wake_at(n, at);
        }
        self.event_clients.next_call = CALL_ID_BASE;
    }

    fn event_wake_at(&mut self, n: u64, at: Time) {
        let c = self.event_clients.clients.get_mut(&n).expect("exists");
        if c.wakes.insert(at) {
            self.cluster.schedule(at, Ev::EventWake { client: n });
        }
    }

    pub(crate) fn on_event_wake(&mut self, n: u64) {
        let now = self.now();
        let Some(c) = self.event_clients.clients.get_mut(&n) else {
            return;
        };
        c.wakes.retain(|t| *t > now);
        self.event_step(n);
    }

    /// Sends what is due for client `n`, then schedules its next wake-up.
    fn event_step(&mut self, n: u64) {
        let now = self.now();
        let c = self.event_clients.clients.get_mut(&n).expect("exists");
        match &c.call {
            Some(call) if call.retry_at <= now => {
                // Unanswered: the node may be down or cut off; try the next.
                if call.next_node {
                    c.leader = c.leader % NODES + 1;
                }
                self.event_send(n);
            }
            Some(_) => {}
            None => {
                let request = match c.session {
                    None => {
                        c.seqs[1] += 1;
                        LockRequest::OpenSession {
                            client: CLIENT_ID_BASE + 2 * n + 1,
                            seq: c.seqs[1],
                            timeout_ms: SESSION_TIMEOUT_MS,
                            passwd: vec![0xe0 | n as u8; 16],
                        }
                    }
                    Some((session, timeout_ms)) => {
                        c.seqs[0] += 1;
                        LockRequest::KeepAlive {
                            client: CLIENT_ID_BASE + 2 * n,
                            seq: c.seqs[0],
                            session,
                            subscriptions: c.subs.clone(),
                            hold_ms: (timeout_ms / 3) as u32,
                            cache_term: 0,
                            acked: 0,
                        }
                    }
                };
                c.calls_started += 1;
                c.call = Some(Call {
                    serial: c.calls_started,
                    request,
                    retry_at: 0,
                    next_node: true,
                });
                self.event_send(n);
            }
        }
        let c = &self.event_clients.clients[&n];
        if let Some(at) = c.call.as_ref().map(|call| call.retry_at) {
            self.event_wake_at(n, at);
        }
    }

    /// Sends client `n`'s call (again) to the node it thinks leads.
    fn event_send(&mut self, n: u64) {
        let now = self.now();
        let c = self.event_clients.clients.get_mut(&n).expect("exists");
        let call = c.call.as_mut().expect("a call");
        let (retry, session) = match &call.request {
            LockRequest::KeepAlive {
                hold_ms, session, ..
            } => (Time::from(*hold_ms) * 1000 + RETRY_AFTER_HOLD_US, *session),
            _ => (OPEN_RETRY_US, 0),
        };
        call.retry_at = now + retry;
        call.next_node = true;
        let (request, serial, node) = (call.request.clone(), call.serial, c.leader);
        let ec = &mut self.event_clients;
        let id = ec.next_call;
        ec.next_call += 1;
        let sent_pos = ec.logs.pos(node);
        ec.calls.insert(
            id,
            Sent {
                client: n,
                serial,
                session,
                sent_pos,
            },
        );
        let at = now + self.cluster.client_latency();
        self.note(|| format!("event client {n} sends {id} to n{node}: {request:?}"));
        let input = ClientInput::Node(NodeInput::Lock { id, request });
        self.cluster.send_input(at, node, None, input);
    }

    /// Node `node` emitted the answer to event call `id`: stamped with
    /// where the node stood, it travels to the client.
    pub(crate) fn event_reply_out(&mut self, node: NodeId, id: u64, answer: LockAnswer) {
        let ec = &mut self.event_clients;
        let seq = ec.emitted.entry(node).or_default();
        *seq += 1;
        let (emit_seq, emit_pos) = (*seq, ec.logs.pos(node));
        let at = self.now() + self.cluster.client_latency();
        let ev = Ev::EventAnswer {
            id,
            node,
            emit_seq,
            emit_pos,
            answer,
        };
        self.cluster.schedule(at, ev);
    }

    /// Event call `id` found its node down.
    pub(crate) fn event_undelivered(&mut self, id: u64) {
        let at = self.now() + self.cluster.rng().range(1_000, 5_000);
        let answer = LockAnswer::Refused(Outcome::NotLeader { leader: None });
        let ev = Ev::EventAnswer {
            id,
            node: 0,
            emit_seq: 0,
            emit_pos: 0,
            answer,
        };
        self.cluster.schedule(at, ev);
    }

    /// An answer reaches its event client: an `Alive` is recorded for its
    /// session whatever call it answers; then the client acts on it.
    pub(crate) fn on_event_answer(
        &mut self,
        id: u64,
        node: NodeId,
        stamp: (u64, u64),
        answer: LockAnswer,
    ) {
        let now = self.now();
        let Some(sent) = self.event_clients.calls.remove(&id) else {
            return;
        };
        let n = sent.client;
        self.digest_bytes(0xe7e7, format!("{n} {answer:?}").as_bytes());
        self.note(|| format!("event client {n} call {id} from n{node}: {answer:?}"));
        if let LockAnswer::Alive { events, .. } = &answer {
            self.stats.event_answers += 1;
            self.stats.events_received += events.len() as u64;
            if let Some(log) = self.event_clients.sessions.get_mut(&sent.session) {
                log.answers.push(Answer {
                    node,
                    emit_seq: stamp.0,
                    emit_pos: stamp.1,
                    sent_pos: sent.sent_pos,
                    received_at: now,
                    events: events.clone(),
                });
            }
        }
        let c = self.event_clients.clients.get_mut(&n).expect("exists");
        if c.call
            .as_ref()
            .is_none_or(|call| call.serial != sent.serial)
        {
            return;
        }
        let refused = match &answer {
            // A hint is followed at once; without one the next node is
            // tried after a pause.
            LockAnswer::Refused(Outcome::NotLeader { leader: Some(l) }) => Some((*l, 5_000)),
            LockAnswer::Refused(Outcome::NotLeader { leader: None }) => {
                Some((c.leader % NODES + 1, 50_000))
            }
            LockAnswer::Refused(_) => Some((c.leader, 100_000)),
            _ => None,
        };
        if let Some((leader, wait)) = refused {
            c.leader = leader;
            let call = c.call.as_mut().expect("matched");
            call.retry_at = now + wait;
            call.next_node = false;
            return self.event_wake_at(n, now + wait);
        }
        match answer {
            LockAnswer::Session { id, timeout_ms } => {
                c.session = Some((id, timeout_ms));
                let subs = c.subs.clone();
                self.stats.event_sessions += 1;
                self.event_clients.sessions.insert(
                    id,
                    SessionLog {
                        client: n,
                        subs,
                        answers: Vec::new(),
                    },
                );
            }
            LockAnswer::Alive { .. } => {}
            _ => c.session = None,
        }
        let c = self.event_clients.clients.get_mut(&n).expect("exists");
        c.call = None;
        self.event_step(n);
    }

    /// At the end of the run: every event client session is judged.
    pub(crate) fn check_events(&mut self) {
        let ec = &self.event_clients;
        let mut problems = Vec::new();
        let mut judged = 0;
        for (session, log) in &ec.sessions {
            let v = judge(*session, &log.subs, &log.answers, &ec.logs);
            judged += v.judged;
            problems.extend(v.problems.into_iter().map(|(c, d)| {
                let d = format!("event client {}: {d}", log.client);
                (c, d)
            }));
        }
        self.stats.events_judged += judged;
        for (check, detail) in problems {
            self.violation(check, detail);
        }
    }
}
