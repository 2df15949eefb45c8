//! One simulated coordination cluster: three nodes, each a Paxos engine
//! over the coordination tree plus a ZooKeeper front door, their disks and
//! clocks, the peer network with its faults, and ZooKeeper clients, all
//! driven by one seeded event queue in one thread. Same seed, same run.
//!
//! Each node's engine and front door are driven exactly as the server
//! runtime (crates/server/src/runtime.rs) drives them: after every engine
//! step the tree's triggers go to `ZkFront::on_triggers` before the step's
//! actions run; `Action::Reply` goes to `ZkFront::on_reply`; what the front
//! door proposes is stepped in as `Input::Propose`; its output frames go to
//! their connections in order. Client bytes go through the real codec both
//! ways.

use crate::bugs::{Bug, Bugs};
use crate::changes::ChangeLog;
use crate::client::{Time, ZkClient};
use crate::profile::Profile;
use crate::report::{RunReport, Stats, Violation};
use crate::sm::CoordSm;
use crate::watch::{ConnRecord, End};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::hash::Hasher as _;
use synod_coord::{CoordOp, Tree};
use synod_front::{ConnId, Outgoing, ZkFront, ZkLimits};
use synod_paxos::{
    Action, Command, Config, DurableState, EngineConfig, Event, Fnv64, Input, Message, Micros,
    Node, NodeId, Record, Rng, Slot,
};
use synod_zkproto as wire;

pub(crate) const TICK_US: Time = 10_000;
const DISK_LATENCY_US: (Time, Time) = (50, 600);
pub(crate) const CLIENT_LATENCY_US: (Time, Time) = (100, 1_000);
/// Wall-clock time at simulated time zero, in ms since the epoch.
const EPOCH_MS: i64 = 1_700_000_000_000;
/// Why a node closes its connections when it installs a snapshot.
const SNAPSHOT_CLOSE: &str = "this server's state was replaced by a snapshot";
/// A restarted node is counted as disturbed for this long after it is back.
const RECOVERY_GRACE_US: Time = 1_000_000;

/// Everything a run is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub profile: Profile,
    pub clients: usize,
    /// Length of the phase with faults.
    pub safety_us: Time,
    /// Length of the healed phase that follows; abandoned sessions must
    /// expire within it and pinging ones must not.
    pub liveness_us: Time,
    pub engine: EngineConfig,
    pub bugs: Bugs,
    pub trace: bool,
    /// When a node installs a snapshot from a peer, its front door closes
    /// every client connection before it sees the new state's triggers.
    /// The front door misses the triggers of every change the snapshot
    /// covers, so without this a connected client silently loses the
    /// watch events of those changes (see `tests/snapshot_close.rs`). Closing
    /// is what ZooKeeper does when a follower resyncs with a snapshot: the
    /// clients reconnect and SetWatches fires what they missed. The server
    /// runtime does the same (found by this simulator); the switch exists
    /// so `tests/snapshot_close.rs` can show the loss without it.
    pub close_on_snapshot: bool,
}

impl SimConfig {
    pub fn new(seed: u64, profile: Profile) -> Self {
        SimConfig {
            seed,
            profile,
            clients: 5,
            safety_us: 10_000_000,
            liveness_us: 12_000_000,
            engine: EngineConfig {
                events: true,
                // Small, so that lagging replicas catch up from snapshots
                // while they serve clients.
                snapshot_interval_slots: 60,
                log_retain_slots: 20,
                ..EngineConfig::default()
            },
            bugs: Bugs::none(),
            trace: false,
            close_on_snapshot: true,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Ev {
    Deliver {
        to: NodeId,
        from: NodeId,
        msg: Message,
    },
    Tick {
        node: NodeId,
        incarnation: u32,
    },
    DiskDone {
        node: NodeId,
        incarnation: u32,
    },
    /// A client's ConnectRequest reaches a node.
    Open {
        serial: u64,
        connect: wire::ConnectRequest,
    },
    /// Request bytes reach the node end of a connection.
    ToServer {
        serial: u64,
        bytes: Vec<u8>,
    },
    /// The client closed its socket; the node notices.
    ClientGone {
        serial: u64,
    },
    /// A frame (or the close) reaches the client end of a connection.
    ToClient {
        serial: u64,
        item: Outgoing,
    },
    /// The client notices its node is gone (refused, crashed).
    ServerGone {
        serial: u64,
    },
    ClientWake {
        client: u64,
    },
    Fault,
    Heal,
    Restart {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
}

pub(crate) struct Scheduled {
    at: Time,
    order: u64,
    ev: Ev,
}
impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

#[derive(Default)]
struct Disk {
    durable: Vec<Record>,
    state: DurableState,
    pending: VecDeque<(u64, Vec<Record>)>,
    busy_until: Time,
}

pub(crate) struct SimNode {
    pub(crate) node: Option<Node<CoordSm>>,
    pub(crate) front: ZkFront,
    pub(crate) incarnation: u32,
    disk: Disk,
    drift_ppm: i64,
    offset_us: u64,
    wall_skew_ms: i64,
    pub(crate) paused: bool,
    inbox: Vec<Ev>,
    /// The node end of each connection: its serial and request decoder.
    conns: BTreeMap<ConnId, (u64, wire::FrameDecoder)>,
    /// For `Bug::StaleReads`: a copy of the tree and when it was taken.
    stale: Option<(Tree, Time)>,
    /// For `Bug::EventAfterReply`: events held back per connection.
    held: BTreeMap<ConnId, Vec<Outgoing>>,
    /// Disk writes that completed while the process was paused.
    persisted_while_paused: Vec<u64>,
}

impl SimNode {
    fn local_us(&self, now: Time) -> Micros {
        let skew = (now as i128 * self.drift_ppm as i128 / 1_000_000) as i64;
        (now as i64 + skew) as u64 + self.offset_us
    }

    fn wall_ms(&self, now: Time) -> i64 {
        let skew = (now as i128 * self.drift_ppm as i128 / 1_000_000) as i64;
        EPOCH_MS + (now as i64 + skew) / 1000 + self.wall_skew_ms
    }

    pub(crate) fn tree(&self) -> Option<&Tree> {
        self.node.as_ref().map(|n| &n.state_machine().tree)
    }
}

/// Both ends of one client connection.
pub(crate) struct Wire {
    pub(crate) client: u64,
    pub(crate) node: NodeId,
    pub(crate) incarnation: u32,
    /// Set once the node accepted the ConnectRequest.
    pub(crate) conn: Option<ConnId>,
    /// The client still reads from it.
    pub(crate) client_open: bool,
    pub(crate) server_open: bool,
    /// FIFO: the latest delivery time scheduled in each direction.
    up_at: Time,
    down_at: Time,
    /// How the node ended it, known when it emitted the close.
    pub(crate) server_end: Option<End>,
    /// The session the node handed out or resumed on it.
    pub(crate) session: i64,
    saw_first_frame: bool,
}

/// A stretch of simulated time during which faults were active.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Disturbance {
    pub(crate) from: Time,
    pub(crate) to: Time,
}

pub struct World {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: Rng,
    pub(crate) now: Time,
    order: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    pub(crate) nodes: BTreeMap<NodeId, SimNode>,
    pub(crate) clients: BTreeMap<u64, ZkClient>,
    pub(crate) wires: BTreeMap<u64, Wire>,
    pub(crate) next_serial: u64,
    pub(crate) records: BTreeMap<u64, ConnRecord>,
    pub(crate) changes: ChangeLog,
    states: BTreeMap<Slot, (u64, NodeId)>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    drop_p: f64,
    duplicate_p: f64,
    pub(crate) healed: bool,
    pub(crate) healed_at: Time,
    pub(crate) disturbances: Vec<Disturbance>,
    /// Open disturbances by cause (partition, pause or crash of a node).
    open_disturbances: BTreeMap<String, Time>,
    pub(crate) violations: Vec<Violation>,
    per_check: BTreeMap<&'static str, usize>,
    pub(crate) stats: Stats,
    trace: Vec<String>,
    digest: Fnv64,
    pub(crate) sessions: BTreeMap<i64, crate::clients::SessionFate>,
    event_frames: u64,
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let rng = Rng::new(cfg.seed);
        let lossy = cfg.profile.lossy();
        let mut world = World {
            rng,
            now: 0,
            order: 0,
            queue: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            clients: BTreeMap::new(),
            wires: BTreeMap::new(),
            next_serial: 1,
            records: BTreeMap::new(),
            changes: ChangeLog::default(),
            states: BTreeMap::new(),
            blocked: BTreeSet::new(),
            drop_p: cfg.profile.drop_p,
            duplicate_p: cfg.profile.duplicate_p,
            healed: false,
            healed_at: 0,
            disturbances: Vec::new(),
            open_disturbances: BTreeMap::new(),
            violations: Vec::new(),
            per_check: BTreeMap::new(),
            stats: Stats::default(),
            trace: Vec::new(),
            digest: Fnv64::default(),
            sessions: BTreeMap::new(),
            event_frames: 0,
            cfg,
        };
        if lossy {
            // A network that loses messages is never quiet before it heals.
            world.open_disturbances.insert("lossy network".into(), 0);
        }
        let initial = Config::new(1..=3);
        for id in 1..=3 {
            world.spawn(id, initial.clone());
        }
        for c in 1..=world.cfg.clients as u64 {
            let at = world.rng.range(0, 200_000);
            world.clients.insert(c, ZkClient::new(c, at));
            world.schedule(at, Ev::ClientWake { client: c });
        }
        let first = world.fault_delay();
        world.schedule(first, Ev::Fault);
        world
    }

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

    fn spawn(&mut self, id: NodeId, initial: Config) {
        let ppm = self.cfg.profile.drift_ppm as i64;
        let drift_ppm = if ppm == 0 {
            0
        } else {
            self.rng.range(0, 2 * ppm as u64 + 1) as i64 - ppm
        };
        let offset_us = self.rng.range(0, 10_000_000);
        let wall_skew_ms = self.rng.range(0, 50) as i64;
        let seed = self.rng.next_u64();
        let front_seed = self.rng.next_u64();
        let mut sn = SimNode {
            node: None,
            front: ZkFront::new(Self::limits(), front_seed),
            incarnation: 0,
            disk: Disk::default(),
            drift_ppm,
            offset_us,
            wall_skew_ms,
            paused: false,
            inbox: Vec::new(),
            conns: BTreeMap::new(),
            stale: None,
            held: BTreeMap::new(),
            persisted_while_paused: Vec::new(),
        };
        let local = sn.local_us(self.now);
        sn.node = Some(Node::new(
            id,
            self.cfg.engine.clone(),
            initial,
            CoordSm::new(id, self.cfg.bugs.clone()),
            seed,
            local,
        ));
        self.nodes.insert(id, sn);
        let at = self.now + self.rng.range(0, TICK_US);
        self.schedule(
            at,
            Ev::Tick {
                node: id,
                incarnation: 0,
            },
        );
    }

    pub(crate) fn schedule(&mut self, at: Time, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            order: self.order,
            ev,
        }));
    }

    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        if self.cfg.trace {
            let t = self.now;
            let text = line();
            self.trace.push(format!(
                "[{:>3}.{:06}s] {text}",
                t / 1_000_000,
                t % 1_000_000
            ));
        }
    }

    pub(crate) fn violation(&mut self, check: &'static str, detail: String) {
        let n = self.per_check.entry(check).or_default();
        *n += 1;
        if *n > 5 {
            return;
        }
        self.note(|| format!("VIOLATION {check}: {detail}"));
        self.violations.push(Violation { check, detail });
    }

    pub(crate) fn digest_bytes(&mut self, tag: u64, bytes: &[u8]) {
        self.digest.write_u64(tag);
        self.digest.write(bytes);
    }

    /// Runs the whole simulation and checks it.
    pub fn run(mut self) -> RunReport {
        let deadline = self.cfg.safety_us + self.cfg.liveness_us;
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.at > deadline {
                self.queue.push(Reverse(s));
                break;
            }
            self.now = s.at;
            if !self.healed && self.now >= self.cfg.safety_us {
                self.heal_all();
            }
            self.handle(s.ev);
        }
        self.drain_to_clients();
        self.final_checks();
        self.stats.sim_time_us = self.now;
        RunReport {
            seed: self.cfg.seed,
            profile: self.cfg.profile.name,
            violations: self.violations,
            stats: self.stats,
            trace_digest: self.digest.finish(),
            trace: self.trace,
        }
    }

    /// After the deadline: frames already on their way still reach their
    /// clients; nothing else happens.
    fn drain_to_clients(&mut self) {
        while let Some(Reverse(s)) = self.queue.pop() {
            if let Ev::ToClient { serial, item } = s.ev {
                self.now = self.now.max(s.at);
                self.on_to_client(serial, item);
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        let target = match &ev {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::DiskDone { node, .. } => Some(*node),
            Ev::Open { serial, .. } | Ev::ToServer { serial, .. } | Ev::ClientGone { serial } => {
                self.wires.get(serial).map(|w| w.node)
            }
            _ => None,
        };
        if let Some(t) = target {
            if let Some(sn) = self.nodes.get_mut(&t) {
                if sn.paused {
                    if let Ev::DiskDone { incarnation, .. } = ev {
                        if incarnation == sn.incarnation {
                            self.complete_write(t, false);
                        }
                        return;
                    }
                    sn.inbox.push(ev);
                    return;
                }
            }
        }
        match ev {
            Ev::Deliver { to, from, msg } => {
                if self.alive(to) {
                    self.step(to, Input::Message { from, msg });
                }
            }
            Ev::Tick { node, incarnation } => self.on_tick(node, incarnation),
            Ev::DiskDone { node, incarnation } => {
                if self
                    .nodes
                    .get(&node)
                    .is_some_and(|n| n.incarnation == incarnation && n.node.is_some())
                {
                    self.complete_write(node, true);
                }
            }
            Ev::Open { serial, connect } => self.on_open(serial, connect),
            Ev::ToServer { serial, bytes } => self.on_to_server(serial, bytes),
            Ev::ClientGone { serial } => self.on_client_gone(serial),
            Ev::ToClient { serial, item } => self.on_to_client(serial, item),
            Ev::ServerGone { serial } => self.on_server_gone(serial),
            Ev::ClientWake { client } => self.client_wake(client),
            Ev::Fault => self.inject_fault(),
            Ev::Heal => self.heal_partition(),
            Ev::Restart { node } => self.restart(node),
            Ev::Resume { node } => self.resume(node),
        }
    }

    pub(crate) fn alive(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.node.is_some())
    }

    // ---- driving one node as the server runtime does ----

    fn set_clock(&mut self, id: NodeId) {
        let now = self.now;
        let sn = self.nodes.get_mut(&id).expect("node exists");
        let local_ms = sn.local_us(now) / 1000;
        let wall = sn.wall_ms(now);
        sn.front.set_clock(local_ms, wall);
    }

    /// The runtime's `step`: one input, then what the front door proposes,
    /// then the front door's output.
    pub(crate) fn step(&mut self, id: NodeId, input: Input) {
        self.set_clock(id);
        self.step_once(id, input);
        self.step_proposals(id);
        self.flush(id);
    }

    fn step_once(&mut self, id: NodeId, input: Input) {
        let sn = self.nodes.get_mut(&id).expect("node exists");
        let local = sn.local_us(self.now);
        let Some(node) = sn.node.as_mut() else {
            return;
        };
        let actions = node.step(local, input);
        let installed = actions
            .iter()
            .any(|a| matches!(a, Action::Event(Event::SnapshotInstalled { .. })));
        if installed && self.cfg.close_on_snapshot {
            // What the server runtime does (crates/server/src/runtime.rs).
            sn.front.close_all(SNAPSHOT_CLOSE);
        }
        let node = sn.node.as_mut().expect("stepped");
        let sm = node.state_machine_mut();
        let triggers = sm.take_triggers();
        let ends = sm.take_ends();
        let broken = sm.take_violations();
        let now = self.now;
        for t in &triggers {
            if let synod_coord::Trigger::Node { .. } = t {
                self.stats.changes += 1;
            }
        }
        let disagreements = self.changes.record(id, triggers.clone(), &ends, now);
        // Watch events go out before the replies of this step, so a client
        // sees an event before it can read the change that fired it.
        if !triggers.is_empty() {
            let sn = self.nodes.get_mut(&id).expect("node exists");
            sn.front.on_triggers(triggers);
        }
        for d in disagreements {
            self.violation("replica-changes", d);
        }
        for b in broken {
            self.violation("ephemerals", b);
        }
        for action in actions {
            self.execute(id, action);
        }
        self.flush(id);
    }

    /// Proposes what the front door queued (its replies may queue more).
    pub(crate) fn step_proposals(&mut self, id: NodeId) {
        loop {
            let sn = self.nodes.get_mut(&id).expect("node exists");
            let mut proposals = sn.front.take_proposals();
            if proposals.is_empty() {
                return;
            }
            proposals.retain(|c| !self.dropped_by_bug(c));
            if self.cfg.bugs.has(Bug::LogTimeJumps) && self.now > 6_000_000 {
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
                self.step_once(id, Input::Propose(command));
            }
        }
    }

    fn dropped_by_bug(&self, c: &Command) -> bool {
        let bugs = &self.cfg.bugs;
        if !bugs.has(Bug::DropTicks) {
            return false;
        }
        matches!(
            c.op.split_first().map(|(_, rest)| CoordOp::decode(rest)),
            Some(Ok(CoordOp::Tick { .. }))
        )
    }

    fn execute(&mut self, id: NodeId, action: Action) {
        match action {
            Action::Persist { id: pid, records } => {
                let lat = self.rng.range(DISK_LATENCY_US.0, DISK_LATENCY_US.1);
                let sn = self.nodes.get_mut(&id).expect("node exists");
                sn.disk.pending.push_back((pid, records));
                let at = sn.disk.busy_until.max(self.now) + lat;
                sn.disk.busy_until = at;
                let incarnation = sn.incarnation;
                self.schedule(
                    at,
                    Ev::DiskDone {
                        node: id,
                        incarnation,
                    },
                );
            }
            Action::Send { to, msg } => self.send(id, to, msg),
            Action::Reply {
                client,
                seq,
                outcome,
            } => {
                let sn = self.nodes.get_mut(&id).expect("node exists");
                let Some(node) = sn.node.as_ref() else {
                    return;
                };
                let tree = &node.state_machine().tree;
                sn.front.on_reply(tree, client, seq, &outcome);
            }
            Action::ReadReply { .. } | Action::ReconfigReply { .. } => {}
            Action::Event(event) => self.on_event(id, event),
        }
    }

    fn on_event(&mut self, id: NodeId, event: Event) {
        match event {
            Event::Applied { slot, state, .. } => {
                self.digest.write_u64(id);
                self.digest.write_u64(slot);
                self.digest.write_u64(state);
                match self.states.get(&slot) {
                    Some((s, other)) if *s != state => {
                        let other = *other;
                        self.violation(
                            "replica-state",
                            format!("after slot {slot} n{id} has state {state:#x} but n{other} had {s:#x}"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        self.states.insert(slot, (state, id));
                    }
                }
            }
            Event::BecameLeader { ballot, .. } => {
                self.stats.elections += 1;
                let now = self.now;
                // A new leader is a disturbance for as long as the front
                // doors take to find it.
                self.disturbances.push(Disturbance {
                    from: now,
                    to: now + 500_000,
                });
                self.note(|| format!("n{id}: leader in ballot {ballot}"));
            }
            Event::SnapshotInstalled { slot } => {
                self.stats.snapshots_installed += 1;
                let sn = &self.nodes[&id];
                let zxid = sn.tree().map_or(0, Tree::last_zxid);
                let conns = sn.conns.len();
                self.note(|| {
                    format!("n{id}: installed a snapshot at slot {slot} (zxid now {zxid:#x}) with {conns} client connections open")
                });
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, id: NodeId, incarnation: u32) {
        let Some(sn) = self.nodes.get(&id) else {
            return;
        };
        if sn.incarnation != incarnation || sn.node.is_none() {
            return;
        }
        if !sn.paused {
            self.step(id, Input::Tick);
            let node = self.nodes[&id].node.as_ref().expect("live");
            let term = node.is_active_leader().then(|| {
                let b = node.promised();
                (b.round << 16) | (b.node & 0xffff)
            });
            let has_leader = node.leader().is_some();
            self.set_clock(id);
            self.nodes
                .get_mut(&id)
                .expect("exists")
                .front
                .on_timer(term, has_leader);
            self.step_proposals(id);
            self.flush(id);
        }
        self.schedule(
            self.now + TICK_US,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
    }

    // ---- the front door's output ----

    /// Hands the front door's frames to their connections, in order.
    pub(crate) fn flush(&mut self, id: NodeId) {
        let sn = self.nodes.get_mut(&id).expect("node exists");
        let output = sn.front.take_output();
        if output.is_empty() {
            return;
        }
        let zxid = sn.tree().map_or(0, Tree::last_zxid);
        let output = self.apply_output_bugs(id, output);
        for (conn, item) in output {
            let Some(&(serial, _)) = self.nodes[&id].conns.get(&conn) else {
                continue;
            };
            if let Outgoing::Close(reason) = &item {
                let sn = self.nodes.get_mut(&id).expect("node exists");
                sn.conns.remove(&conn);
                sn.held.remove(&conn);
                let w = self.wires.get_mut(&serial).expect("wire exists");
                w.server_open = false;
                w.server_end = Some(if reason == "the session expired" {
                    End::SessionClosed(w.session)
                } else if reason == SNAPSHOT_CLOSE {
                    // What the snapshot skipped was never seen by the
                    // front door: the client must only have a prefix.
                    End::Partial
                } else {
                    End::Zxid(zxid)
                });
                let reason = reason.clone();
                self.note(|| format!("n{id} closes connection #{serial}: {reason}"));
            } else if let Outgoing::Frame(bytes) = &item {
                let w = self.wires.get_mut(&serial).expect("wire exists");
                if !w.saw_first_frame {
                    w.saw_first_frame = true;
                    if let Ok(r) = wire::decode_connect_response(&bytes[4..]) {
                        if r.session_id != 0 {
                            w.session = r.session_id;
                        }
                    }
                }
            }
            self.send_to_client(serial, item);
        }
    }

    /// The deliberate front-door bugs that corrupt what connections are sent.
    fn apply_output_bugs(
        &mut self,
        id: NodeId,
        output: Vec<(ConnId, Outgoing)>,
    ) -> Vec<(ConnId, Outgoing)> {
        let bugs = self.cfg.bugs.clone();
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
                let sn = self.nodes.get_mut(&id).expect("exists");
                let holding = sn.held.contains_key(&conn);
                if event && (holding || self.event_frames.is_multiple_of(3)) {
                    sn.held.entry(conn).or_default().push(item);
                    continue;
                }
                if matches!(item, Outgoing::Reply(_)) && holding {
                    let held = sn.held.remove(&conn).unwrap_or_default();
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

    pub(crate) fn send_to_client(&mut self, serial: u64, item: Outgoing) {
        let lat = self.rng.range(CLIENT_LATENCY_US.0, CLIENT_LATENCY_US.1);
        let w = self.wires.get_mut(&serial).expect("wire exists");
        let at = w.down_at.max(self.now + lat);
        w.down_at = at;
        self.schedule(at, Ev::ToClient { serial, item });
    }

    pub(crate) fn send_to_server(&mut self, serial: u64, ev: Ev) {
        let lat = self.rng.range(CLIENT_LATENCY_US.0, CLIENT_LATENCY_US.1);
        let w = self.wires.get_mut(&serial).expect("wire exists");
        let at = w.up_at.max(self.now + lat);
        w.up_at = at;
        self.schedule(at, ev);
    }

    /// A new connection from `client` to `node`, not yet accepted.
    pub(crate) fn new_wire(&mut self, client: u64, node: NodeId, session: i64) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let incarnation = self.nodes[&node].incarnation;
        self.wires.insert(
            serial,
            Wire {
                client,
                node,
                incarnation,
                conn: None,
                client_open: true,
                server_open: false,
                up_at: 0,
                down_at: 0,
                server_end: None,
                session,
                saw_first_frame: false,
            },
        );
        self.records.insert(
            serial,
            ConnRecord {
                serial,
                client,
                node,
                session,
                items: Vec::new(),
                end: None,
            },
        );
        serial
    }

    // ---- the node end of client connections ----

    fn on_open(&mut self, serial: u64, connect: wire::ConnectRequest) {
        let w = &self.wires[&serial];
        let node = w.node;
        let up = self
            .nodes
            .get(&node)
            .is_some_and(|n| n.node.is_some() && n.incarnation == w.incarnation);
        if !up {
            self.refuse(serial);
            return;
        }
        let mut passwd = vec![0u8; 16];
        for b in passwd.iter_mut() {
            *b = self.rng.next_u64() as u8;
        }
        self.set_clock(node);
        let sn = self.nodes.get_mut(&node).expect("exists");
        let tree = &sn.node.as_ref().expect("up").state_machine().tree;
        let behind = connect.last_zxid_seen > tree.last_zxid();
        let peer = std::net::SocketAddr::from(([10, 0, 0, (serial % 250) as u8 + 1], 40_000));
        match sn.front.open(tree, connect, peer, passwd) {
            Ok(conn) => {
                sn.conns
                    .insert(conn, (serial, wire::FrameDecoder::default()));
                let w = self.wires.get_mut(&serial).expect("exists");
                w.conn = Some(conn);
                w.server_open = true;
                self.step_proposals(node);
                self.flush(node);
            }
            Err(why) => {
                if behind {
                    self.stats.refused_behind += 1;
                }
                self.note(|| format!("n{node} refuses connection #{serial}: {why}"));
                self.refuse(serial);
            }
        }
    }

    fn refuse(&mut self, serial: u64) {
        let at = self.now + self.rng.range(1_000, 5_000);
        self.schedule(at, Ev::ServerGone { serial });
    }

    fn on_to_server(&mut self, serial: u64, bytes: Vec<u8>) {
        let w = &self.wires[&serial];
        let (node, incarnation) = (w.node, w.incarnation);
        let Some(conn) = w.conn.filter(|_| w.server_open) else {
            return;
        };
        let Some(sn) = self.nodes.get_mut(&node) else {
            return;
        };
        if sn.incarnation != incarnation || sn.node.is_none() {
            return;
        }
        let Some((_, decoder)) = sn.conns.get_mut(&conn) else {
            return;
        };
        decoder.push(&bytes);
        let mut bodies = Vec::new();
        while let Ok(Some(body)) = decoder.pop() {
            bodies.push(body);
        }
        self.set_clock(node);
        for body in bodies {
            let (header, request) = match wire::decode_request(&body) {
                Ok(decoded) => decoded,
                Err(e) => {
                    self.violation("client", format!("n{node} cannot decode a request: {e}"));
                    continue;
                }
            };
            self.refresh_stale(node);
            let sn = self.nodes.get_mut(&node).expect("exists");
            let live = &sn.node.as_ref().expect("up").state_machine().tree;
            let tree = match &sn.stale {
                Some((t, _)) if self.cfg.bugs.has(Bug::StaleReads) => t,
                _ => live,
            };
            sn.front.on_packet(
                tree,
                conn,
                header.xid,
                header.op,
                synod_front::Pending::Request(request),
            );
        }
        self.step_proposals(node);
        self.flush(node);
    }

    fn refresh_stale(&mut self, node: NodeId) {
        if !self.cfg.bugs.has(Bug::StaleReads) {
            return;
        }
        let now = self.now;
        let sn = self.nodes.get_mut(&node).expect("exists");
        if sn.stale.as_ref().is_none_or(|(_, at)| now - at > 1_000_000) {
            let tree = sn.node.as_ref().expect("up").state_machine().tree.clone();
            sn.stale = Some((tree, now));
        }
    }

    fn on_client_gone(&mut self, serial: u64) {
        let w = &self.wires[&serial];
        let (node, incarnation) = (w.node, w.incarnation);
        let Some(conn) = w.conn.filter(|_| w.server_open) else {
            return;
        };
        let Some(sn) = self.nodes.get_mut(&node) else {
            return;
        };
        if sn.incarnation != incarnation || sn.node.is_none() {
            return;
        }
        sn.conns.remove(&conn);
        sn.held.remove(&conn);
        sn.front.on_closed(conn);
        self.wires.get_mut(&serial).expect("exists").server_open = false;
        self.flush(node);
    }

    // ---- peer network ----

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        if self.blocked.contains(&(from, to)) || self.rng.chance(self.drop_p) {
            return;
        }
        let copies = if self.rng.chance(self.duplicate_p) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let (lo, hi) = self.cfg.profile.delay_us;
            let at = self.now + self.rng.range(lo, hi);
            self.schedule(
                at,
                Ev::Deliver {
                    to,
                    from,
                    msg: msg.clone(),
                },
            );
        }
    }

    // ---- disks ----

    fn complete_write(&mut self, id: NodeId, notify: bool) {
        let sn = self.nodes.get_mut(&id).expect("node exists");
        let Some((pid, records)) = sn.disk.pending.pop_front() else {
            return;
        };
        for r in &records {
            sn.disk.state.apply(r);
        }
        sn.disk.durable.extend(records);
        compact_disk(&mut sn.disk);
        if notify {
            self.step(id, Input::Persisted { id: pid });
        } else {
            // The disk finished while the process slept: it learns on resume.
            sn.persisted_while_paused.push(pid);
        }
    }

    // ---- faults ----

    fn fault_delay(&mut self) -> Time {
        let mean = self.cfg.profile.fault_every_us;
        self.rng.range(mean / 2, mean * 3 / 2)
    }

    fn current_leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.node.as_ref().is_some_and(|n| n.is_active_leader()))
            .map(|(id, _)| *id)
            .next()
    }

    fn disturb(&mut self, cause: String) {
        self.open_disturbances.entry(cause).or_insert(self.now);
    }

    fn settle(&mut self, cause: &str, grace: Time) {
        if let Some(from) = self.open_disturbances.remove(cause) {
            self.disturbances.push(Disturbance {
                from,
                to: self.now + grace,
            });
        }
    }

    fn inject_fault(&mut self) {
        if self.healed {
            return;
        }
        let next = self.now + self.fault_delay();
        self.schedule(next, Ev::Fault);
        let p = self.cfg.profile.clone();
        let mut kinds = Vec::new();
        if p.partitions && self.blocked.is_empty() {
            kinds.push(0);
        }
        if p.crashes {
            kinds.push(1);
        }
        if p.pauses {
            kinds.push(2);
        }
        if kinds.is_empty() {
            return;
        }
        let kind = kinds[self.rng.range(0, kinds.len() as u64) as usize];
        self.stats.faults += 1;
        let live: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.node.is_some())
            .map(|(id, _)| *id)
            .collect();
        match kind {
            0 => self.partition(),
            1 => {
                if live.len() <= 1 {
                    return;
                }
                let victim = self.pick_victim(&live);
                self.crash(victim);
                let down = self.rng.range(50_000, 1_000_000);
                self.schedule(self.now + down, Ev::Restart { node: victim });
            }
            _ => {
                let victim = self.pick_victim(&live);
                let sn = self.nodes.get_mut(&victim).expect("live");
                if sn.paused {
                    return;
                }
                sn.paused = true;
                let dur = self.rng.range(50_000, 1_200_000);
                self.disturb(format!("pause n{victim}"));
                self.note(|| format!("FAULT n{victim} paused for {}ms", dur / 1000));
                self.schedule(self.now + dur, Ev::Resume { node: victim });
            }
        }
    }

    fn pick_victim(&mut self, live: &[NodeId]) -> NodeId {
        if let Some(l) = self.current_leader() {
            if self.rng.chance(0.5) {
                return l;
            }
        }
        live[self.rng.range(0, live.len() as u64) as usize]
    }

    fn partition(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let mut blocked = BTreeSet::new();
        let kind = self.rng.range(0, 3);
        let what = match kind {
            0 => {
                let l = self.current_leader().unwrap_or(ids[0]);
                for b in &ids {
                    if *b != l {
                        blocked.insert((l, *b));
                        blocked.insert((*b, l));
                    }
                }
                format!("leader n{l} isolated")
            }
            1 => {
                let x = ids[self.rng.range(0, ids.len() as u64) as usize];
                let inbound = self.rng.chance(0.5);
                for b in &ids {
                    if *b != x {
                        if inbound {
                            blocked.insert((*b, x));
                        } else {
                            blocked.insert((x, *b));
                        }
                    }
                }
                format!("one-way around n{x}")
            }
            _ => {
                let a = ids[self.rng.range(0, ids.len() as u64) as usize];
                let b = ids[self.rng.range(0, ids.len() as u64) as usize];
                if a != b {
                    blocked.insert((a, b));
                    blocked.insert((b, a));
                }
                format!("chain: n{a} and n{b} cut")
            }
        };
        self.blocked = blocked;
        self.disturb("partition".into());
        self.note(|| format!("FAULT partition: {what}"));
        let dur = self.rng.range(200_000, 2_000_000);
        self.schedule(self.now + dur, Ev::Heal);
    }

    fn heal_partition(&mut self) {
        if !self.blocked.is_empty() {
            self.blocked.clear();
            self.note(|| "partition healed".into());
        }
        self.settle("partition", RECOVERY_GRACE_US);
    }

    fn crash(&mut self, id: NodeId) {
        let keep_p = self.rng.next_u64();
        let sn = self.nodes.get_mut(&id).expect("exists");
        if sn.node.is_none() {
            return;
        }
        sn.node = None;
        sn.paused = false;
        sn.inbox.clear();
        sn.incarnation += 1;
        sn.held.clear();
        sn.stale = None;
        sn.persisted_while_paused.clear();
        let pending: Vec<Record> = sn.disk.pending.drain(..).flat_map(|(_, r)| r).collect();
        let total = pending.len();
        // Any prefix of the unsynced writes may have reached the platter;
        // the record after it is torn and cut by recovery.
        let kept = if total > 0 {
            (keep_p % (total as u64 + 1)) as usize
        } else {
            0
        };
        for r in pending.into_iter().take(kept) {
            sn.disk.state.apply(&r);
            sn.disk.durable.push(r);
        }
        sn.disk.busy_until = 0;
        let conns: Vec<u64> = std::mem::take(&mut sn.conns)
            .into_values()
            .map(|(s, _)| s)
            .collect();
        self.stats.crashes += 1;
        self.settle(&format!("pause n{id}"), 0);
        self.disturb(format!("crash n{id}"));
        self.note(|| format!("FAULT n{id} crashed: {kept} of {total} unsynced records survive"));
        for serial in conns {
            self.wires.get_mut(&serial).expect("exists").server_open = false;
            let detect = self.rng.range(50_000, 2_000_000);
            let w = &self.wires[&serial];
            let at = w.down_at.max(self.now) + detect;
            self.schedule(at, Ev::ServerGone { serial });
        }
    }

    fn restart(&mut self, id: NodeId) {
        let seed = self.rng.next_u64();
        let front_seed = self.rng.next_u64();
        let bugs = self.cfg.bugs.clone();
        let engine = self.cfg.engine.clone();
        let now = self.now;
        let Some(sn) = self.nodes.get_mut(&id) else {
            return;
        };
        if sn.node.is_some() {
            return;
        }
        let durable = DurableState::replay(sn.disk.durable.iter());
        let local = sn.local_us(now);
        sn.node = Some(Node::recover(
            id,
            engine,
            Config::new(1..=3),
            durable,
            CoordSm::new(id, bugs),
            seed,
            local,
        ));
        sn.front = ZkFront::new(Self::limits(), front_seed);
        let incarnation = sn.incarnation;
        self.settle(&format!("crash n{id}"), RECOVERY_GRACE_US);
        self.note(|| format!("n{id} restarts from its disk"));
        self.schedule(
            self.now + 1,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
    }

    fn resume(&mut self, id: NodeId) {
        let Some(sn) = self.nodes.get_mut(&id) else {
            return;
        };
        if !sn.paused {
            return;
        }
        sn.paused = false;
        let inbox = std::mem::take(&mut sn.inbox);
        let persisted = std::mem::take(&mut sn.persisted_while_paused);
        self.settle(&format!("pause n{id}"), RECOVERY_GRACE_US);
        self.note(|| format!("n{id} resumes"));
        for pid in persisted {
            if self.alive(id) {
                self.step(id, Input::Persisted { id: pid });
            }
        }
        for ev in inbox {
            self.handle(ev);
        }
    }

    fn heal_all(&mut self) {
        self.healed = true;
        self.healed_at = self.now;
        self.drop_p = 0.0;
        self.duplicate_p = 0.0;
        self.note(|| "=== faults healed ===".into());
        self.heal_partition();
        self.settle("lossy network", RECOVERY_GRACE_US);
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.resume(id);
            self.restart(id);
        }
    }

    /// Whether any fault was active in `[from, to]`.
    pub(crate) fn disturbed(&self, from: Time, to: Time) -> bool {
        self.open_disturbances.values().any(|start| *start <= to)
            || self
                .disturbances
                .iter()
                .any(|d| d.from <= to && d.to >= from)
    }
}

fn is_event(item: &Outgoing) -> bool {
    match item {
        Outgoing::Frame(bytes) | Outgoing::Reply(bytes) => {
            bytes.len() >= 8
                && i32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"))
                    == wire::xid::WATCH_EVENT
        }
        Outgoing::Close(_) => false,
    }
}

/// Keeps the simulated disk small: the records describe `state`, so a long
/// list is replaced by the equivalent short one.
fn compact_disk(disk: &mut Disk) {
    if disk.durable.len() < 4_096 {
        return;
    }
    let s = &disk.state;
    let mut records = Vec::new();
    if let Some(snap) = &s.snapshot {
        records.push(Record::Snapshot(Box::new(snap.clone())));
    }
    records.push(Record::Promise(s.promised));
    for (slot, e) in &s.log {
        records.push(Record::Accept {
            slot: *slot,
            ballot: e.ballot,
            value: e.value.clone(),
        });
        if e.chosen {
            records.push(Record::Learned {
                slot: *slot,
                value: e.value.clone(),
            });
        }
    }
    records.push(Record::Commit(s.commit));
    disk.durable = records;
}
