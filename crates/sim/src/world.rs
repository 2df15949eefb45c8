//! One simulated cluster: nodes, their disks and clocks, the network, the
//! clients and the fault schedule, all driven by one seeded event queue in
//! one thread. Same seed, same run.

use crate::client::{SimClient, APPEND_KEYS};
use crate::profile::Profile;
use crate::report::{RunReport, Stats, Violation};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use synod_check::Operation;
use synod_kv::{KvOp, KvReply, KvStore};
use synod_paxos::{
    Action, ClientId, Command, Config, ConfigChange, DurableState, EngineConfig, Event, Input,
    Message, Micros, Node, NodeId, Outcome, Record, Rng, Slot,
};

/// Simulated real time in microseconds.
pub type Time = u64;

const TICK_US: Time = 10_000;
const CLIENT_TIMEOUT_US: Time = 1_000_000;
const CLIENT_LATENCY_US: (Time, Time) = (100, 1_000);
const DISK_LATENCY_US: (Time, Time) = (50, 600);
const ADMIN_EVERY_US: Time = 700_000;
const SCRIPT_START_US: Time = 2_000_000;
const SCRIPT_STEP_US: Time = 4_000_000;

/// Everything a run is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub profile: Profile,
    pub clients: usize,
    /// Length of the phase with faults.
    pub safety_us: Time,
    /// After faults heal, the cluster must serve every client and converge
    /// within this many election timeouts.
    pub liveness_timeouts: u64,
    pub engine: EngineConfig,
    pub trace: bool,
    /// Also trace heartbeats and their acknowledgements.
    pub trace_heartbeats: bool,
    /// A scripted partial-connectivity scenario instead of random faults.
    pub scenario: Option<crate::scenario::Scenario>,
    /// The share of writes submitted at a random node with
    /// `Input::Propose` (forwarded to the leader) instead of chasing the
    /// leader with `Input::Command`.
    pub propose_anywhere_p: f64,
}

impl SimConfig {
    pub fn new(seed: u64, profile: Profile) -> Self {
        let engine = EngineConfig {
            events: true,
            snapshot_interval_slots: 60,
            log_retain_slots: 20,
            // Tiny chunks, so nearly every snapshot a lagging replica gets
            // crosses the faulty network in many parts.
            snapshot_chunk_bytes: 32,
            snapshot_chunk_retry_us: 200_000,
            drift_ppm_max: 50_000,
            ..EngineConfig::default()
        };
        let mut engine = engine;
        if profile.drift_ppm > 0 {
            // Elections start as soon as acceptors' lease promises run out,
            // so a lease that ignores drift is caught serving stale reads.
            engine.election_timeout_us = engine.lease_us;
        }
        SimConfig {
            seed,
            profile,
            clients: 4,
            safety_us: 10_000_000,
            liveness_timeouts: 12,
            engine,
            trace: false,
            trace_heartbeats: false,
            scenario: None,
            propose_anywhere_p: 0.5,
        }
    }
}

#[derive(Clone, Debug)]
enum Ev {
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
    ToNode {
        node: NodeId,
        input: Input,
    },
    ToClient {
        client: ClientId,
        action: Action,
    },
    ClientWake {
        client: ClientId,
    },
    ClientTimeout {
        client: ClientId,
        seq: u64,
        attempt: u32,
    },
    Fault,
    Script {
        step: usize,
    },
    Heal,
    Restart {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    Admin,
    Decommission {
        node: NodeId,
    },
}

struct Scheduled {
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

/// A node's disk: durable records, and writes not yet synced.
#[derive(Default)]
struct Disk {
    durable: Vec<Record>,
    state: DurableState,
    pending: VecDeque<(u64, Vec<Record>)>,
    busy_until: Time,
}

struct SimNode {
    node: Option<Node<KvStore>>,
    incarnation: u32,
    disk: Disk,
    /// Local clock = now * (1 + drift) + offset.
    drift_ppm: i64,
    offset_us: u64,
    paused: bool,
    inbox: Vec<Ev>,
    /// The configuration it boots with: the initial voters, or empty for a
    /// node added later.
    initial: Config,
    /// Still part of the cluster (not decommissioned).
    member: bool,
    /// Clients may submit writes here with `Propose`: the operator takes a
    /// node out of the clients' server list once it is removed (it may run
    /// on, not knowing it was removed, and would hold such writes until
    /// the client times out).
    serves_clients: bool,
}

impl SimNode {
    fn local(&self, now: Time) -> Micros {
        let skew = (now as i128 * self.drift_ppm as i128 / 1_000_000) as i64;
        (now as i64 + skew) as u64 + self.offset_us
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Safety,
    Liveness,
    Done,
}

pub struct World {
    cfg: SimConfig,
    rng: Rng,
    now: Time,
    order: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: BTreeMap<NodeId, SimNode>,
    next_node_id: NodeId,
    clients: BTreeMap<ClientId, SimClient>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    drop_p: f64,
    duplicate_p: f64,
    phase: Phase,
    healed_at: Time,
    history: Vec<Operation<KvOp, KvReply>>,
    chosen: BTreeMap<Slot, (u64, NodeId)>,
    states: BTreeMap<Slot, (u64, NodeId)>,
    violations: Vec<Violation>,
    stats: Stats,
    trace: Vec<String>,
    admin_pending: Option<(u64, ConfigChange, NodeId, Time)>,
    admin_id: u64,
    grow: bool,
    scenario_special: NodeId,
    scenario_started: Time,
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let n = cfg.profile.nodes as NodeId;
        let initial = Config::new(1..=n);
        let mut world = World {
            rng: Rng::new(rng.next_u64()),
            now: 0,
            order: 0,
            queue: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            next_node_id: n + 1,
            clients: BTreeMap::new(),
            blocked: BTreeSet::new(),
            drop_p: cfg.profile.drop_p,
            duplicate_p: cfg.profile.duplicate_p,
            phase: Phase::Safety,
            healed_at: 0,
            history: Vec::new(),
            chosen: BTreeMap::new(),
            states: BTreeMap::new(),
            violations: Vec::new(),
            stats: Stats::default(),
            trace: Vec::new(),
            admin_pending: None,
            admin_id: 0,
            grow: true,
            scenario_special: 0,
            scenario_started: 0,
            cfg,
        };
        for id in 1..=n {
            world.spawn(id, initial.clone());
        }
        for c in 0..world.cfg.clients as ClientId {
            let client = 100 + c;
            let target = world.rng.range(1, n + 1);
            world.clients.insert(client, SimClient::new(client, target));
            let at = world.rng.range(0, 50_000);
            world.schedule(at, Ev::ClientWake { client });
        }
        if world.cfg.scenario.is_some() {
            world.schedule(SCRIPT_START_US, Ev::Script { step: 0 });
        } else {
            let first_fault = world.fault_delay();
            world.schedule(first_fault, Ev::Fault);
        }
        if world.cfg.profile.churn {
            world.schedule(ADMIN_EVERY_US, Ev::Admin);
        }
        world
    }

    fn spawn(&mut self, id: NodeId, initial: Config) {
        let ppm = self.cfg.profile.drift_ppm as i64;
        let drift_ppm = if ppm == 0 {
            0
        } else if self.rng.chance(0.5) {
            // Extremes are where lease bugs live.
            if self.rng.chance(0.5) {
                ppm
            } else {
                -ppm
            }
        } else {
            self.rng.range(0, 2 * ppm as u64 + 1) as i64 - ppm
        };
        let offset_us = self.rng.range(0, 10_000_000);
        let mut sn = SimNode {
            node: None,
            incarnation: 0,
            disk: Disk::default(),
            drift_ppm,
            offset_us,
            paused: false,
            inbox: Vec::new(),
            initial: initial.clone(),
            member: true,
            serves_clients: true,
        };
        let local = sn.local(self.now);
        let seed = self.rng.next_u64();
        sn.node = Some(Node::new(
            id,
            self.cfg.engine.clone(),
            initial,
            KvStore::new(),
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
        self.note(format!("node {id} starts (clock drift {drift_ppm} ppm)"));
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            order: self.order,
            ev,
        }));
    }

    fn note(&mut self, line: String) {
        if self.cfg.trace {
            let t = self.now;
            self.trace.push(format!(
                "[{:>4}.{:06}s] {line}",
                t / 1_000_000,
                t % 1_000_000
            ));
        }
    }

    fn violation(&mut self, check: &'static str, detail: String) {
        self.note(format!("VIOLATION {check}: {detail}"));
        if self.violations.len() < 20 {
            self.violations.push(Violation { check, detail });
        }
    }

    /// Runs the whole simulation and checks it.
    pub fn run(mut self) -> RunReport {
        let liveness_us = self.cfg.liveness_timeouts * self.cfg.engine.election_timeout_us;
        let deadline = self.cfg.safety_us + liveness_us;
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.at > deadline {
                break;
            }
            self.now = s.at;
            if self.phase == Phase::Safety && self.now >= self.cfg.safety_us {
                self.heal_all();
            }
            self.handle(s.ev);
            if self.phase == Phase::Liveness && self.converged() {
                self.phase = Phase::Done;
                break;
            }
        }
        if self.phase == Phase::Safety {
            self.heal_all();
        }
        if self.phase != Phase::Done {
            let why = self.liveness_failure();
            self.violation(
                "liveness",
                format!(
                    "faults healed at {:.3}s but the cluster did not serve every client and converge within {} election timeouts: {why}",
                    self.healed_at as f64 / 1e6,
                    self.cfg.liveness_timeouts
                ),
            );
        }
        self.final_checks();
        self.stats.sim_time_us = self.now;
        RunReport {
            seed: self.cfg.seed,
            profile: self.cfg.profile.name,
            violations: self.violations,
            stats: self.stats,
            trace: self.trace,
        }
    }

    fn handle(&mut self, ev: Ev) {
        // A paused process sees nothing until it resumes; the network and
        // its disk keep the events for it.
        let target = match &ev {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::ToNode { node, .. } | Ev::DiskDone { node, .. } => Some(*node),
            _ => None,
        };
        if let Some(t) = target {
            if let Some(sn) = self.nodes.get_mut(&t) {
                if sn.paused {
                    if let Ev::DiskDone { .. } = ev {
                        // The disk finishes while the process sleeps.
                        self.complete_write(t, false);
                        return;
                    }
                    sn.inbox.push(ev);
                    return;
                }
            }
        }
        match ev {
            Ev::Deliver { to, from, msg } => self.deliver(to, from, msg),
            Ev::Tick { node, incarnation } => self.on_tick(node, incarnation),
            Ev::DiskDone { node, incarnation } => {
                if self
                    .nodes
                    .get(&node)
                    .is_some_and(|n| n.incarnation == incarnation)
                {
                    self.complete_write(node, true);
                }
            }
            Ev::ToNode { node, input } => self.step_node(node, input),
            Ev::ToClient { client, action } => self.on_client_reply(client, action),
            Ev::ClientWake { client } => self.client_start(client),
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            } => self.client_timeout(client, seq, attempt),
            Ev::Fault => self.inject_fault(),
            Ev::Script { step } => self.script(step),
            Ev::Heal => self.heal_partition(),
            Ev::Restart { node } => self.restart(node),
            Ev::Resume { node } => self.resume(node),
            Ev::Admin => self.admin(),
            Ev::Decommission { node } => self.decommission(node),
        }
    }

    // ---- nodes ----

    fn alive(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.node.is_some())
    }

    fn step_node(&mut self, id: NodeId, input: Input) {
        let Some(sn) = self.nodes.get_mut(&id) else {
            return;
        };
        let local = sn.local(self.now);
        let Some(node) = sn.node.as_mut() else {
            return;
        };
        let actions = node.step(local, input);
        if let Err(v) = node.check_invariants(false) {
            self.violation("invariant", format!("n{id}: {v}"));
        }
        for action in actions {
            self.execute(id, action);
        }
        self.stats.max_commit = self
            .stats
            .max_commit
            .max(self.nodes[&id].node.as_ref().map_or(0, |n| n.commit()));
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
            Action::Send { to, msg } => {
                self.check_durable_before_send(id, &msg);
                self.send(id, to, msg);
            }
            Action::Reply { client, .. } | Action::ReadReply { client, .. } => {
                let lat = self.rng.range(CLIENT_LATENCY_US.0, CLIENT_LATENCY_US.1);
                self.schedule(self.now + lat, Ev::ToClient { client, action });
            }
            Action::ReconfigReply { id: rid, outcome } => self.on_admin_reply(rid, outcome),
            Action::Event(event) => self.on_event(id, event),
        }
    }

    /// The persistence oracle: a promise or an accept may leave a node only
    /// when its disk already holds it.
    fn check_durable_before_send(&mut self, id: NodeId, msg: &Message) {
        let sn = &self.nodes[&id];
        let durable = &sn.disk.state;
        let problem = match msg {
            Message::Promise { ballot, .. } if durable.promised < *ballot => Some(format!(
                "node {id} sent a promise of ballot {ballot} while its disk holds promise {}",
                durable.promised
            )),
            Message::Accepted { ballot, slots, .. } => {
                let node = sn.node.as_ref().expect("a live node sends");
                slots
                    .iter()
                    .find(|s| {
                        let on_disk = durable
                            .log
                            .get(s)
                            // A higher ballot on disk for the slot was written
                            // after this accept (records are written in order),
                            // so this one reached the disk before it.
                            .is_some_and(|e| e.ballot >= *ballot || e.chosen);
                        // Acknowledging a slot already known chosen is safe:
                        // a majority holds it on disk already.
                        let chosen = **s <= node.commit()
                            || node.log_entry(**s).is_some_and(|(_, _, c)| c);
                        !on_disk && **s > durable.snapshot_slot() && !chosen
                    })
                    .map(|s| {
                        format!("node {id} acknowledged slot {s} in ballot {ballot} before it was on disk")
                    })
            }
            _ => None,
        };
        if let Some(p) = problem {
            self.violation("durability", p);
        }
    }

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
            self.step_node(id, Input::Persisted { id: pid });
        } else {
            sn.inbox.push(Ev::ToNode {
                node: id,
                input: Input::Persisted { id: pid },
            });
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
            self.step_node(id, Input::Tick);
        }
        self.schedule(
            self.now + TICK_US,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
    }

    fn on_event(&mut self, id: NodeId, event: Event) {
        match event {
            Event::Chosen {
                slot,
                ballot,
                value,
            } => {
                self.record_chosen(id, slot, value);
                if self.cfg.trace {
                    let what = self.describe_slot(id, slot);
                    self.note(format!(
                        "n{id}: slot {slot} chosen in ballot {ballot}: {what}"
                    ));
                }
            }
            Event::Applied { slot, value, state } => {
                self.record_chosen(id, slot, value);
                match self.states.get(&slot) {
                    Some((s, other)) if *s != state => {
                        let other = *other;
                        self.violation(
                            "replica-state",
                            format!("after slot {slot} node {id} has state {state:#x} but node {other} had {s:#x}"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        self.states.insert(slot, (state, id));
                    }
                }
            }
            Event::BecameLeader { ballot, from_slot } => {
                self.stats.elections += 1;
                self.check_no_other_lease(id, ballot);
                self.note(format!(
                    "n{id}: LEADER in ballot {ballot} (phase 1 from slot {from_slot} done)"
                ));
            }
            Event::PreVoteStarted { ballot } => {
                self.note(format!(
                    "n{id}: election timeout, asks for pre-votes for ballot {ballot}"
                ));
            }
            Event::ElectionStarted { ballot } => {
                self.note(format!("n{id}: pre-vote won, prepares ballot {ballot}"));
            }
            Event::SteppedDown { ballot, reason } => {
                self.note(format!("n{id}: steps down from ballot {ballot}: {reason}"));
            }
            Event::SnapshotTaken { slot } => {
                self.stats.snapshots += 1;
                self.note(format!("n{id}: snapshot at slot {slot}"));
            }
            Event::SnapshotInstalled { slot } => {
                self.stats.snapshots_installed += 1;
                self.note(format!(
                    "n{id}: installed a snapshot at slot {slot} from a peer"
                ));
            }
            Event::LeaseRead { .. } => self.stats.lease_reads += 1,
            Event::SnapshotChunkReceived {
                slot,
                offset,
                bytes,
            } => {
                self.stats.snapshot_chunks += 1;
                if self.cfg.trace {
                    self.note(format!(
                        "n{id}: snapshot at slot {slot}: received bytes {offset}..{}",
                        offset + bytes
                    ));
                }
            }
        }
    }

    /// Lease safety: a new leader may only finish phase 1 once every
    /// other leader's lease has run out, in real time. (A broken lease
    /// shows up here even when no client happened to read stale data.)
    fn check_no_other_lease(&mut self, id: NodeId, ballot: synod_paxos::Ballot) {
        let mut problems = Vec::new();
        for (m, sn) in &self.nodes {
            if *m == id {
                continue;
            }
            let Some(node) = &sn.node else {
                continue;
            };
            if let Some((theirs, until)) = node.lease_until() {
                // A leader in a lower ballot loses its lease to us; one in a
                // higher ballot (elected since) will preempt us.
                let local = sn.local(self.now);
                if theirs < ballot && until > local {
                    problems.push(format!(
                        "n{id} became leader in ballot {ballot} while n{m} still holds its lease of ballot {theirs} for {}us of its clock",
                        until - local
                    ));
                }
            }
        }
        for p in problems {
            self.violation("lease", p);
        }
    }

    fn describe_slot(&self, id: NodeId, slot: Slot) -> String {
        self.nodes[&id]
            .node
            .as_ref()
            .and_then(|n| n.log_entry(slot).map(|(_, v, _)| v.describe()))
            .unwrap_or_else(|| "?".into())
    }

    /// At most one value per slot, across every node and all time.
    fn record_chosen(&mut self, id: NodeId, slot: Slot, value: u64) {
        match self.chosen.get(&slot) {
            Some((v, other)) if *v != value => {
                let other = *other;
                self.violation(
                    "agreement",
                    format!("slot {slot}: node {id} has value {value:#x} chosen but node {other} had {v:#x}"),
                );
            }
            Some(_) => {}
            None => {
                self.chosen.insert(slot, (value, id));
            }
        }
    }

    // ---- network ----

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.stats.messages += 1;
        if let Message::Forward { .. } = msg {
            self.stats.forwards += 1;
        }
        let heartbeat = matches!(
            msg,
            Message::Heartbeat { .. } | Message::HeartbeatAck { .. }
        );
        if self.cfg.trace && (!heartbeat || self.cfg.trace_heartbeats) {
            self.note(format!("n{from} -> n{to}: {}", msg.describe()));
        }
        if self.blocked.contains(&(from, to)) || self.rng.chance(self.drop_p) {
            self.stats.dropped += 1;
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

    fn deliver(&mut self, to: NodeId, from: NodeId, msg: Message) {
        if !self.alive(to) {
            return;
        }
        self.step_node(to, Input::Message { from, msg });
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

    fn live_members(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.member && n.node.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    fn inject_fault(&mut self) {
        if self.phase != Phase::Safety {
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
        match kind {
            0 => self.partition(),
            1 => {
                let live = self.live_members();
                if live.len() <= 1 {
                    return;
                }
                let victim = self.pick_victim(&live);
                self.crash(victim);
                let down = self.rng.range(50_000, 1_000_000);
                self.schedule(self.now + down, Ev::Restart { node: victim });
            }
            _ => {
                let live = self.live_members();
                let victim = self.pick_victim(&live);
                let sn = self.nodes.get_mut(&victim).expect("live");
                if sn.paused {
                    return;
                }
                sn.paused = true;
                let dur = self.rng.range(50_000, 1_200_000);
                self.note(format!("FAULT n{victim} paused for {}ms", dur / 1000));
                self.schedule(self.now + dur, Ev::Resume { node: victim });
            }
        }
    }

    /// The leader half the time (where faults hurt most), anyone otherwise.
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
        let n = ids.len();
        let kind = self.rng.range(0, 5);
        let mut blocked = BTreeSet::new();
        let description = match kind {
            0 => {
                // Two halves.
                let mut side = BTreeSet::new();
                for id in &ids {
                    if self.rng.chance(0.5) {
                        side.insert(*id);
                    }
                }
                for a in &ids {
                    for b in &ids {
                        if side.contains(a) != side.contains(b) {
                            blocked.insert((*a, *b));
                        }
                    }
                }
                format!("halves {side:?} | rest")
            }
            1 => {
                // The leader alone.
                let l = self.current_leader().unwrap_or(ids[0]);
                for b in &ids {
                    if *b != l {
                        blocked.insert((l, *b));
                        blocked.insert((*b, l));
                    }
                }
                format!("leader n{l} isolated")
            }
            2 => {
                // Majorities ring: everyone reaches its two ring neighbours
                // only; with five nodes each sees a different majority.
                for (i, a) in ids.iter().enumerate() {
                    for (j, b) in ids.iter().enumerate() {
                        let d = (i + n - j) % n;
                        if d != 0 && d != 1 && d != n - 1 {
                            blocked.insert((*a, *b));
                        }
                    }
                }
                "majorities ring".to_string()
            }
            3 => {
                // One way: a node hears nobody but everyone hears it (or
                // the reverse).
                let x = ids[self.rng.range(0, n as u64) as usize];
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
                format!(
                    "one-way: n{x} {}",
                    if inbound {
                        "hears nobody"
                    } else {
                        "is heard by nobody"
                    }
                )
            }
            _ => {
                // A chain: two nodes cannot reach each other, a third
                // bridges them.
                let a = ids[self.rng.range(0, n as u64) as usize];
                let b = ids[self.rng.range(0, n as u64) as usize];
                if a != b {
                    blocked.insert((a, b));
                    blocked.insert((b, a));
                }
                format!("chain: n{a} and n{b} cut from each other")
            }
        };
        self.blocked = blocked;
        self.note(format!("FAULT partition: {description}"));
        let dur = self.rng.range(200_000, 2_000_000);
        self.schedule(self.now + dur, Ev::Heal);
    }

    /// Applies step `step` of the scripted scenario.
    fn script(&mut self, step: usize) {
        let Some(scenario) = self.cfg.scenario else {
            return;
        };
        let Some(leader) = self.current_leader() else {
            // Wait for a leader to script around.
            self.schedule(self.now + 100_000, Ev::Script { step });
            return;
        };
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        if step == 0 {
            let special = ids
                .iter()
                .copied()
                .find(|n| *n != leader)
                .expect("several nodes");
            self.scenario_special = special;
        }
        let special = self.scenario_special;
        match scenario.links(step, &ids, leader, special) {
            Some(cut) => {
                self.blocked = cut;
                self.scenario_started = self.now;
                self.note(format!(
                    "SCENARIO {} step {step}: leader n{leader}, special node n{special}",
                    scenario.name()
                ));
                self.schedule(self.now + SCRIPT_STEP_US, Ev::Script { step: step + 1 });
            }
            None => self.check_scenario_progress(scenario),
        }
    }

    /// The last step of the scenario has held for a while: clients must
    /// have been served under it, not only after it heals.
    fn check_scenario_progress(&mut self, scenario: crate::scenario::Scenario) {
        let since = self.scenario_started;
        let grace = 4 * self.cfg.engine.election_timeout_us;
        let served = self
            .history
            .iter()
            .filter(|op| op.call >= since && op.ret.is_some_and(|r| r >= since + grace))
            .count();
        self.note(format!(
            "SCENARIO {} held {:.1}s: {served} operations served after {:.1}s under it",
            scenario.name(),
            (self.now - since) as f64 / 1e6,
            grace as f64 / 1e6
        ));
        if served == 0 {
            self.violation(
                "liveness",
                format!(
                    "no client was served under the {} partition after {} election timeouts",
                    scenario.name(),
                    4
                ),
            );
        }
        self.stats.scenario_ops += served as u64;
    }

    fn heal_partition(&mut self) {
        if !self.blocked.is_empty() {
            self.blocked.clear();
            self.note("partition healed".to_string());
        }
    }

    fn crash(&mut self, id: NodeId) {
        let torn = self.cfg.profile.torn_writes;
        let keep_p = self.rng.next_u64();
        let sn = self.nodes.get_mut(&id).expect("exists");
        if sn.node.is_none() {
            return;
        }
        sn.node = None;
        sn.paused = false;
        sn.inbox.clear();
        sn.incarnation += 1;
        let pending: Vec<Record> = sn.disk.pending.drain(..).flat_map(|(_, r)| r).collect();
        let total = pending.len();
        // Unsynced writes may have partly reached the platter: any prefix
        // survives, the record after it torn and cut by recovery.
        let kept = if torn && total > 0 {
            (keep_p % (total as u64 + 1)) as usize
        } else {
            0
        };
        for r in pending.into_iter().take(kept) {
            sn.disk.state.apply(&r);
            sn.disk.durable.push(r);
        }
        sn.disk.busy_until = 0;
        self.stats.crashes += 1;
        self.note(format!(
            "FAULT n{id} crashed: {} of {total} unsynced records survive{}",
            kept,
            if kept < total && torn {
                ", the next one torn"
            } else {
                ""
            }
        ));
    }

    fn restart(&mut self, id: NodeId) {
        let seed = self.rng.next_u64();
        let Some(sn) = self.nodes.get_mut(&id) else {
            return;
        };
        if sn.node.is_some() || !sn.member {
            return;
        }
        let durable = DurableState::replay(sn.disk.durable.iter());
        debug_assert_eq!(durable, sn.disk.state);
        let local = sn.local(self.now);
        sn.node = Some(Node::recover(
            id,
            self.cfg.engine.clone(),
            sn.initial.clone(),
            durable,
            KvStore::new(),
            seed,
            local,
        ));
        let incarnation = sn.incarnation;
        let promised = sn.node.as_ref().expect("just recovered").promised();
        let durable_promise = sn.disk.state.promised;
        if promised < durable_promise {
            self.violation(
                "recovery",
                format!("n{id} restarted promising {promised} although its disk holds a promise of {durable_promise}"),
            );
        }
        self.note(format!("n{id} restarts from its disk"));
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
        self.note(format!("n{id} resumes with {} queued events", inbox.len()));
        for ev in inbox {
            self.handle(ev);
        }
    }

    fn heal_all(&mut self) {
        self.phase = Phase::Liveness;
        self.healed_at = self.now;
        self.drop_p = 0.0;
        self.duplicate_p = 0.0;
        self.note("=== faults healed: liveness phase ===".to_string());
        self.heal_partition();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.resume(id);
            self.restart(id);
        }
    }

    // ---- membership changes (churn) ----

    fn admin(&mut self) {
        if self.phase != Phase::Safety {
            return;
        }
        self.schedule(self.now + ADMIN_EVERY_US, Ev::Admin);
        if let Some((_, _, _, asked_at)) = self.admin_pending {
            // An answer lost with a crashed leader: look at the
            // configuration afresh.
            if self.now < asked_at + 3_000_000 {
                return;
            }
            self.admin_pending = None;
        }
        let Some(leader) = self.current_leader() else {
            return;
        };
        let config = self.nodes[&leader]
            .node
            .as_ref()
            .expect("live")
            .config()
            .clone();
        // The operator keeps the clients' server list to the members it
        // sees, which also drops nodes whose removal it never heard of.
        for (id, sn) in self.nodes.iter_mut() {
            sn.serves_clients = config.contains(*id);
        }
        if config.voters.len() >= 5 {
            self.grow = false;
        } else if config.voters.len() <= 3 {
            self.grow = true;
        }
        let change = if self.grow {
            if let Some(l) = config.learners.iter().next() {
                ConfigChange::Promote(*l)
            } else {
                let id = self.next_node_id;
                self.next_node_id += 1;
                self.spawn(id, Config::default());
                ConfigChange::AddLearner(id)
            }
        } else if let Some(l) = config.learners.iter().next() {
            ConfigChange::Remove(*l)
        } else {
            let voters: Vec<NodeId> = config.voters.iter().copied().collect();
            ConfigChange::Remove(voters[self.rng.range(0, voters.len() as u64) as usize])
        };
        self.admin_id += 1;
        let id = self.admin_id;
        self.admin_pending = Some((id, change, leader, self.now));
        self.note(format!("operator asks n{leader} for {change:?}"));
        self.step_node(leader, Input::Reconfigure { id, change });
    }

    fn on_admin_reply(&mut self, id: u64, outcome: Outcome) {
        let Some((pid, change, _, _)) = self.admin_pending else {
            return;
        };
        if pid != id {
            return;
        }
        self.admin_pending = None;
        self.note(format!("operator: {change:?} -> {outcome:?}"));
        if let (Outcome::Ok(_), ConfigChange::Remove(n)) = (&outcome, change) {
            self.stats.reconfigs += 1;
            if let Some(sn) = self.nodes.get_mut(&n) {
                sn.serves_clients = false;
            }
            self.schedule(self.now + 1_000_000, Ev::Decommission { node: n });
        } else if matches!(outcome, Outcome::Ok(_)) {
            self.stats.reconfigs += 1;
        }
    }

    fn decommission(&mut self, id: NodeId) {
        let in_config = self
            .nodes
            .values()
            .filter_map(|n| n.node.as_ref())
            .any(|n| n.config().contains(id));
        if in_config {
            return;
        }
        if let Some(sn) = self.nodes.get_mut(&id) {
            sn.member = false;
            sn.node = None;
            sn.incarnation += 1;
            self.note(format!("n{id} removed from the cluster and shut down"));
        }
    }

    // ---- clients ----

    /// The nodes a client may send to: every member for operations that
    /// chase the leader (a removed node bounces them with `NotLeader`),
    /// only those still in the clients' server list for writes submitted
    /// anywhere.
    fn client_targets(&self, anywhere: bool) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.member && (n.serves_clients || !anywhere))
            .map(|(id, _)| *id)
            .collect()
    }

    fn client_start(&mut self, id: ClientId) {
        let mut rng = Rng::new(self.rng.next_u64());
        let now = self.now;
        let targets = self.client_targets(true);
        let anywhere_p = self.cfg.propose_anywhere_p;
        let client = self.clients.get_mut(&id).expect("client exists");
        if client.pending.is_some() || client.done {
            return;
        }
        let (op, is_read) = client.next_op(&mut rng);
        // Drawn only when forwarding is on, so runs without it replay the
        // seeds they always did.
        let anywhere = !is_read && anywhere_p > 0.0 && rng.chance(anywhere_p);
        let seq = if is_read {
            client.read_id
        } else {
            client.write_seq
        };
        let history_index = self.history.len();
        self.history.push(Operation {
            client: id,
            input: op.clone(),
            call: now,
            output: None,
            ret: None,
        });
        let target = if anywhere {
            targets[rng.range(0, targets.len() as u64) as usize]
        } else {
            client.leader_guess
        };
        client.pending = Some(crate::client::Pending {
            history_index,
            op,
            seq,
            is_read,
            anywhere,
            target,
            attempt: 0,
        });
        self.client_send(id);
    }

    fn client_send(&mut self, id: ClientId) {
        let client = &self.clients[&id];
        let Some(p) = client.pending.clone() else {
            return;
        };
        let input = if p.is_read {
            Input::Read {
                client: id,
                id: p.seq,
                op: p.op.encode(),
            }
        } else {
            let cmd = Command {
                client: id,
                seq: p.seq,
                op: p.op.encode(),
            };
            if p.anywhere {
                Input::Propose(cmd)
            } else {
                Input::Command(cmd)
            }
        };
        self.note(format!(
            "client {id} {} n{}: {:?}{}",
            if p.anywhere { "proposes at" } else { "->" },
            p.target,
            p.op,
            if p.attempt > 0 {
                format!(" (attempt {})", p.attempt + 1)
            } else {
                String::new()
            }
        ));
        let lat = self.rng.range(CLIENT_LATENCY_US.0, CLIENT_LATENCY_US.1);
        self.schedule(
            self.now + lat,
            Ev::ToNode {
                node: p.target,
                input,
            },
        );
        self.schedule(
            self.now + CLIENT_TIMEOUT_US,
            Ev::ClientTimeout {
                client: id,
                seq: p.seq,
                attempt: p.attempt,
            },
        );
    }

    /// Retries the same operation elsewhere after `delay`.
    fn client_retry(&mut self, id: ClientId, hint: Option<NodeId>, delay: Time) {
        let anywhere = self.clients[&id]
            .pending
            .as_ref()
            .is_some_and(|p| p.anywhere);
        let targets = self.client_targets(anywhere);
        let pick = self.rng.range(0, targets.len() as u64) as usize;
        let client = self.clients.get_mut(&id).expect("exists");
        let Some(p) = client.pending.as_mut() else {
            return;
        };
        p.attempt += 1;
        // A write submitted anywhere whose node never answered (crashed,
        // cut off) goes to another node with the same sequence number.
        p.target = match hint {
            Some(h) if h != p.target && targets.contains(&h) => h,
            _ => {
                let idx = targets.iter().position(|t| *t == p.target).unwrap_or(pick);
                targets[(idx + 1) % targets.len()]
            }
        };
        if !p.anywhere {
            client.leader_guess = p.target;
        }
        let attempt = p.attempt;
        let seq = p.seq;
        if delay == 0 {
            self.client_send(id);
        } else {
            // Reuse the timeout event as a "send again" timer.
            self.schedule(
                self.now + delay,
                Ev::ClientTimeout {
                    client: id,
                    seq,
                    attempt: attempt + 1_000_000,
                },
            );
        }
    }

    fn client_timeout(&mut self, id: ClientId, seq: u64, attempt: u32) {
        let client = &self.clients[&id];
        let Some(p) = &client.pending else {
            return;
        };
        if p.seq != seq {
            return;
        }
        if attempt >= 1_000_000 {
            if p.attempt == attempt - 1_000_000 {
                self.client_send(id);
            }
            return;
        }
        if p.attempt != attempt {
            return;
        }
        self.client_retry(id, None, 0);
    }

    fn on_client_reply(&mut self, id: ClientId, action: Action) {
        let (seq, outcome, is_read) = match action {
            Action::Reply { seq, outcome, .. } => (seq, outcome, false),
            Action::ReadReply { id, outcome, .. } => (id, outcome, true),
            _ => return,
        };
        let client = &self.clients[&id];
        let Some(p) = &client.pending else {
            return;
        };
        if p.seq != seq || p.is_read != is_read {
            return;
        }
        match outcome {
            Outcome::Ok(bytes) => {
                let Some(reply) = SimClient::decode(&bytes) else {
                    self.violation("client", format!("client {id} got an undecodable reply"));
                    return;
                };
                let idx = p.history_index;
                if p.anywhere {
                    self.stats.ops_anywhere += 1;
                }
                self.history[idx].output = Some(reply);
                self.history[idx].ret = Some(self.now);
                let client = self.clients.get_mut(&id).expect("exists");
                client.pending = None;
                client.completed += 1;
                client.last_completed_at = self.now;
                self.stats.ops_completed += 1;
                let think = self.rng.range(0, 20_000);
                self.schedule(self.now + think, Ev::ClientWake { client: id });
            }
            Outcome::NotLeader { leader } => {
                // Follow a hint at once; with none (an election is on) back
                // off a little more each time, as real clients do.
                let backoff = 20_000 * u64::from(p.attempt.min(10) + 1);
                let delay = if leader.is_some() { 1_000 } else { backoff };
                self.client_retry(id, leader, delay);
            }
            Outcome::Busy => self.client_retry(id, Some(p.target), 30_000),
            Outcome::Stale => {
                self.violation(
                    "exactly-once",
                    format!("client {id} was told its current command #{seq} is stale"),
                );
            }
            Outcome::Rejected(why) => {
                self.violation("client", format!("client {id} command rejected: {why}"));
            }
        }
    }

    // ---- liveness and final checks ----

    fn converged(&mut self) -> bool {
        let healed = self.healed_at;
        let all_served = self
            .clients
            .values()
            .all(|c| c.last_completed_at >= healed && c.completed > 0);
        if !all_served {
            return false;
        }
        for c in self.clients.values_mut() {
            c.done = true;
        }
        if self.clients.values().any(|c| c.pending.is_some()) {
            return false;
        }
        let Some(leader) = self.current_leader() else {
            return false;
        };
        // Every member of the leader's configuration must have applied
        // everything; nodes outside it (removed, or added by an operator
        // whose change never made it) are not followed any more.
        let config = self.nodes[&leader]
            .node
            .as_ref()
            .expect("live")
            .config()
            .clone();
        let live: Vec<NodeId> = config.members().collect();
        if live.iter().any(|id| !self.alive(*id)) {
            return false;
        }
        let applied: Vec<Slot> = live
            .iter()
            .filter_map(|id| self.nodes[id].node.as_ref())
            .map(|n| n.applied())
            .collect();
        let max_commit = live
            .iter()
            .filter_map(|id| self.nodes[id].node.as_ref())
            .map(|n| n.commit())
            .max()
            .unwrap_or(0);
        applied.len() >= 2 && applied.iter().all(|a| *a == max_commit)
    }

    fn liveness_failure(&self) -> String {
        let stuck: Vec<String> = self
            .clients
            .values()
            .filter(|c| c.last_completed_at < self.healed_at || c.completed == 0)
            .map(|c| format!("client {}", c.id))
            .collect();
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.member)
            .map(|(id, n)| match &n.node {
                Some(node) => format!(
                    "n{id} {} promised {} commit {} applied {}",
                    node.role_name(),
                    node.promised(),
                    node.commit(),
                    node.applied()
                ),
                None => format!("n{id} down"),
            })
            .collect();
        format!(
            "{}; nodes: {}",
            if stuck.is_empty() {
                "replicas did not converge".to_string()
            } else {
                format!("not served: {}", stuck.join(", "))
            },
            nodes.join("; ")
        )
    }

    fn final_checks(&mut self) {
        crate::checks::check_history(self);
        crate::checks::check_appends(self);
    }

    pub(crate) fn history(&self) -> &[Operation<KvOp, KvReply>] {
        &self.history
    }

    /// The state of the most up-to-date live replica.
    pub(crate) fn final_store(&self) -> Option<(NodeId, &KvStore)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.node.as_ref().map(|node| (*id, node)))
            .max_by_key(|(_, n)| n.applied())
            .map(|(id, n)| (id, n.state_machine()))
    }

    pub(crate) fn report_violation(&mut self, check: &'static str, detail: String) {
        self.violation(check, detail);
    }

    pub(crate) fn report_unknown(&mut self, partition: String) {
        self.stats.lin_unknown += 1;
        self.note(format!(
            "linearizability check ran out of budget on {partition}"
        ));
    }

    pub(crate) fn append_keys() -> &'static [&'static str] {
        &APPEND_KEYS
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
