//! The node the coordination simulator runs on the shared cluster: a Paxos
//! engine over the coordination tree with a ZooKeeper front door, driven
//! exactly as the server runtime (crates/server/src/runtime.rs) drives
//! them, until stage 2 gives the simulators the shipped service node.
//!
//! After every engine step the tree's triggers go to
//! `ZkFront::on_triggers` before the step's actions run; `Action::Reply`
//! goes to `ZkFront::on_reply`; what the front door proposes is stepped in
//! as `Input::Propose`; its output frames go to their connections in
//! order. The node end of each client connection (its request decoder)
//! lives here; the client end and the connection's bookkeeping are the
//! world's.
//!
//! The deliberate front-door bugs (`bugs.rs`) are applied here, to what
//! the front door proposes and emits; neither crate under test is touched.

use crate::bugs::{Bug, Bugs};
use crate::client::Time;
use crate::sm::{CoordSm, SessionEnd};
use std::collections::BTreeMap;
use synod_coord::{CoordOp, Tree, Trigger};
use synod_front::{ConnId, Outgoing, ZkFront, ZkLimits};
use synod_paxos::{Action, Command, Event, Input, Node, Rng};
use synod_simcluster::{Boot, Effect, NodeInput, NodeTime, SimNode};
use synod_zkproto as wire;

/// Why a node closes its connections when it installs a snapshot.
pub(crate) const SNAPSHOT_CLOSE: &str = "this server's state was replaced by a snapshot";

/// What every node of a run is built with.
#[derive(Clone, Debug)]
pub struct ZkSpec {
    pub bugs: Bugs,
    /// See `SimConfig::close_on_snapshot`.
    pub close_on_snapshot: bool,
}

/// What a client hands a node. Connections are named by their serial.
#[derive(Clone, Debug)]
pub enum ZkIn {
    /// A client's ConnectRequest.
    Open {
        serial: u64,
        connect: wire::ConnectRequest,
    },
    /// Request bytes.
    Bytes { serial: u64, bytes: Vec<u8> },
    /// The client closed its socket.
    Gone { serial: u64 },
}

/// What a node hands the world.
#[derive(Clone, Debug)]
pub enum ZkOut {
    /// The connection was accepted.
    Accepted { serial: u64 },
    /// The connection was refused (`behind`: the client has seen more).
    Refused {
        serial: u64,
        reason: String,
        behind: bool,
    },
    /// The node noticed the client closed the connection.
    Released { serial: u64 },
    /// A frame (or the close) for a connection; `zxid` is what the node
    /// had applied when it was emitted.
    ToClient {
        serial: u64,
        item: Outgoing,
        zxid: i64,
    },
    /// What one engine step applied, for the change history.
    Applied {
        triggers: Vec<Trigger>,
        ends: Vec<SessionEnd>,
    },
    /// The ephemerals oracle (checked inside the state machine) failed.
    Ephemerals(String),
    /// A request that does not decode.
    BadRequest(String),
}

pub struct ZkNode {
    pub(crate) engine: Node<CoordSm>,
    pub(crate) front: ZkFront,
    /// The node end of each connection: its serial and request decoder.
    pub(crate) conns: BTreeMap<ConnId, (u64, wire::FrameDecoder)>,
    by_serial: BTreeMap<u64, ConnId>,
    spec: ZkSpec,
    rng: Rng,
    at: NodeTime,
    /// For `Bug::StaleReads`: a copy of the tree and when it was taken.
    stale: Option<(Tree, Time)>,
    /// For `Bug::EventAfterReply`: events held back per connection.
    held: BTreeMap<ConnId, Vec<Outgoing>>,
    /// Watch event frames emitted, for `Bug::DropEvent`.
    event_frames: u64,
}

/// The front door's limits in the simulator.
fn limits() -> ZkLimits {
    ZkLimits {
        min_session_timeout_ms: 4_000,
        max_session_timeout_ms: 40_000,
        super_digest: None,
        max_buffer_bytes: 1 << 20,
        connections_max: 1_000,
        command_bytes_max: synod_front::budget::COMMAND_BYTES_MAX_DEFAULT,
    }
}

type Effects = Vec<Effect<ZkOut>>;

impl SimNode for ZkNode {
    type Sm = CoordSm;
    type Input = ZkIn;
    type Output = ZkOut;
    type Spec = ZkSpec;

    fn boot(spec: &ZkSpec, b: Boot) -> Self {
        let mut rng = Rng::new(b.seed);
        let engine_seed = rng.next_u64();
        let sm = CoordSm::new(b.id, spec.bugs.clone());
        let engine = match b.recovered {
            None => Node::new(b.id, b.engine, b.initial, sm, engine_seed, b.local_us),
            Some(durable) => Node::recover(
                b.id,
                b.engine,
                b.initial,
                durable,
                sm,
                engine_seed,
                b.local_us,
            ),
        };
        ZkNode {
            engine,
            front: ZkFront::new(limits(), rng.next_u64()),
            conns: BTreeMap::new(),
            by_serial: BTreeMap::new(),
            spec: spec.clone(),
            rng,
            at: NodeTime {
                now: 0,
                local_us: b.local_us,
                wall_ms: 0,
            },
            stale: None,
            held: BTreeMap::new(),
            event_frames: 0,
        }
    }

    fn engine(&self) -> &Node<CoordSm> {
        &self.engine
    }

    fn step(&mut self, at: NodeTime, input: NodeInput<ZkIn>, effects: &mut Effects) {
        self.at = at;
        self.front.set_clock(at.local_us / 1000, at.wall_ms);
        match input {
            NodeInput::Tick => {
                self.engine_step(Input::Tick, effects);
                self.propose(effects);
                let term = self.engine.is_active_leader().then(|| {
                    let b = self.engine.promised();
                    (b.round << 16) | (b.node & 0xffff)
                });
                let has_leader = self.engine.leader().is_some();
                self.front.on_timer(term, has_leader);
            }
            NodeInput::Peer { from, msg } => {
                self.engine_step(Input::Message { from, msg }, effects)
            }
            NodeInput::Persisted { id } => self.engine_step(Input::Persisted { id }, effects),
            NodeInput::Client(ZkIn::Open { serial, connect }) => {
                self.on_open(serial, connect, effects)
            }
            NodeInput::Client(ZkIn::Bytes { serial, bytes }) => {
                self.on_bytes(serial, &bytes, effects)
            }
            NodeInput::Client(ZkIn::Gone { serial }) => self.on_gone(serial, effects),
        }
        self.propose(effects);
        self.flush(effects);
    }
}

impl ZkNode {
    pub(crate) fn tree(&self) -> &Tree {
        &self.engine.state_machine().tree
    }

    /// One engine step, as the runtime takes it: the applied changes'
    /// triggers go to the front door (so watch events precede any reply
    /// that could show their change), then the step's actions run.
    fn engine_step(&mut self, input: Input, effects: &mut Effects) {
        let actions = self.engine.step(self.at.local_us, input);
        let installed = actions
            .iter()
            .any(|a| matches!(a, Action::Event(Event::SnapshotInstalled { .. })));
        if installed && self.spec.close_on_snapshot {
            // What the server runtime does (crates/server/src/runtime.rs).
            self.front.close_all(SNAPSHOT_CLOSE);
        }
        let sm = self.engine.state_machine_mut();
        let triggers = sm.take_triggers();
        let ends = sm.take_ends();
        let broken = sm.take_violations();
        if !triggers.is_empty() || !ends.is_empty() {
            effects.push(Effect::Output(ZkOut::Applied {
                triggers: triggers.clone(),
                ends,
            }));
        }
        if !triggers.is_empty() {
            self.front.on_triggers(triggers);
        }
        effects.extend(
            broken
                .into_iter()
                .map(|b| Effect::Output(ZkOut::Ephemerals(b))),
        );
        for action in actions {
            match action {
                Action::Persist { id, records } => effects.push(Effect::Persist { id, records }),
                Action::Send { to, msg } => effects.push(Effect::Send { to, msg }),
                Action::Event(e) => effects.push(Effect::Event(e)),
                Action::Reply {
                    client,
                    seq,
                    outcome,
                } => {
                    let tree = &self.engine.state_machine().tree;
                    self.front.on_reply(tree, client, seq, &outcome);
                }
                Action::ReadReply { .. } | Action::ReconfigReply { .. } => {}
            }
        }
        self.flush(effects);
    }

    /// Proposes what the front door queued (its replies may queue more).
    fn propose(&mut self, effects: &mut Effects) {
        loop {
            let mut proposals = self.front.take_proposals();
            if proposals.is_empty() {
                return;
            }
            proposals.retain(|c| !self.dropped_by_bug(c));
            if self.spec.bugs.has(Bug::LogTimeJumps) && self.at.now > 6_000_000 {
                for c in proposals.iter_mut() {
                    if let Some(Ok(CoordOp::Tick { time_ms, term })) =
                        c.op.split_first().map(|(_, rest)| CoordOp::decode(rest))
                    {
                        c.op = synod_front::front::coord_command(&CoordOp::Tick {
                            time_ms: time_ms + 30_000,
                            term,
                        });
                    }
                }
            }
            for command in proposals {
                self.engine_step(Input::Propose(command), effects);
            }
        }
    }

    fn dropped_by_bug(&self, c: &Command) -> bool {
        self.spec.bugs.has(Bug::DropTicks)
            && matches!(
                c.op.split_first().map(|(_, rest)| CoordOp::decode(rest)),
                Some(Ok(CoordOp::Tick { .. }))
            )
    }

    fn on_open(&mut self, serial: u64, connect: wire::ConnectRequest, effects: &mut Effects) {
        let passwd: Vec<u8> = (0..16).map(|_| self.rng.next_u64() as u8).collect();
        let tree = &self.engine.state_machine().tree;
        let behind = connect.last_zxid_seen > tree.last_zxid();
        let peer = std::net::SocketAddr::from(([10, 0, 0, (serial % 250) as u8 + 1], 40_000));
        match self.front.open(tree, connect, peer, passwd) {
            Ok(conn) => {
                self.conns
                    .insert(conn, (serial, wire::FrameDecoder::default()));
                self.by_serial.insert(serial, conn);
                effects.push(Effect::Output(ZkOut::Accepted { serial }));
            }
            Err(reason) => effects.push(Effect::Output(ZkOut::Refused {
                serial,
                reason,
                behind,
            })),
        }
    }

    fn on_bytes(&mut self, serial: u64, bytes: &[u8], effects: &mut Effects) {
        let Some(&conn) = self.by_serial.get(&serial) else {
            return;
        };
        let Some((_, decoder)) = self.conns.get_mut(&conn) else {
            return;
        };
        decoder.push(bytes);
        let mut bodies = Vec::new();
        while let Ok(Some(body)) = decoder.pop() {
            bodies.push(body);
        }
        for body in bodies {
            let (header, request) = match wire::decode_request(&body) {
                Ok(decoded) => decoded,
                Err(e) => {
                    let detail = format!("n{} cannot decode a request: {e}", self.engine.id());
                    effects.push(Effect::Output(ZkOut::BadRequest(detail)));
                    continue;
                }
            };
            self.refresh_stale();
            let live = &self.engine.state_machine().tree;
            let tree = match &self.stale {
                Some((t, _)) if self.spec.bugs.has(Bug::StaleReads) => t,
                _ => live,
            };
            self.front.on_packet(
                tree,
                conn,
                header.xid,
                header.op,
                synod_front::Pending::Request(request),
            );
        }
    }

    fn refresh_stale(&mut self) {
        if !self.spec.bugs.has(Bug::StaleReads) {
            return;
        }
        let now = self.at.now;
        if self
            .stale
            .as_ref()
            .is_none_or(|(_, at)| now - at > 1_000_000)
        {
            self.stale = Some((self.tree().clone(), now));
        }
    }

    fn on_gone(&mut self, serial: u64, effects: &mut Effects) {
        let Some(conn) = self.by_serial.remove(&serial) else {
            return;
        };
        self.conns.remove(&conn);
        self.held.remove(&conn);
        self.front.on_closed(conn);
        effects.push(Effect::Output(ZkOut::Released { serial }));
    }

    /// Hands the front door's frames to their connections, in order.
    fn flush(&mut self, effects: &mut Effects) {
        let output = self.front.take_output();
        if output.is_empty() {
            return;
        }
        let zxid = self.tree().last_zxid();
        for (conn, item) in self.apply_output_bugs(output) {
            let Some(&(serial, _)) = self.conns.get(&conn) else {
                continue;
            };
            if let Outgoing::Close(_) = &item {
                self.conns.remove(&conn);
                self.by_serial.remove(&serial);
                self.held.remove(&conn);
            }
            effects.push(Effect::Output(ZkOut::ToClient { serial, item, zxid }));
        }
    }

    /// The deliberate front-door bugs that corrupt what connections are sent.
    fn apply_output_bugs(&mut self, output: Vec<(ConnId, Outgoing)>) -> Vec<(ConnId, Outgoing)> {
        let bugs = &self.spec.bugs;
        let mut out: Vec<(ConnId, Outgoing)> = Vec::with_capacity(output.len());
        for (conn, item) in output {
            let event = is_event(&item);
            if event {
                self.event_frames += 1;
                if bugs.has(Bug::DropEvent) && self.event_frames.is_multiple_of(5) {
                    continue;
                }
            }
            if bugs.has(Bug::EventAfterReply) {
                // Holds an event, and every later one so their order stays,
                // until the next reply on the connection has gone out.
                let holding = self.held.contains_key(&conn);
                if event && (holding || self.event_frames.is_multiple_of(3)) {
                    self.held.entry(conn).or_default().push(item);
                    continue;
                }
                if matches!(item, Outgoing::Reply(_)) && holding {
                    let held = self.held.remove(&conn).unwrap_or_default();
                    out.push((conn, item));
                    out.extend(held.into_iter().map(|h| (conn, h)));
                    continue;
                }
            }
            let swap = match out.last() {
                Some((c, prev)) if *c == conn => {
                    (bugs.has(Bug::SwapEvents) && event && is_event(prev))
                        || (bugs.has(Bug::SwapReplies)
                            && matches!(item, Outgoing::Reply(_))
                            && matches!(prev, Outgoing::Reply(_)))
                }
                _ => false,
            };
            if swap {
                let prev = out.pop().expect("checked");
                out.push((conn, item));
                out.push(prev);
            } else {
                out.push((conn, item));
            }
        }
        out
    }
}

/// Whether a frame is a watch event (its xid is the event xid).
pub(crate) fn is_event(item: &Outgoing) -> bool {
    match item {
        Outgoing::Frame(bytes) | Outgoing::Reply(bytes) => {
            bytes.len() >= 8
                && i32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"))
                    == wire::xid::WATCH_EVENT
        }
        Outgoing::Close(_) => false,
    }
}
