//! One run of the key-value simulator: the shared simulated cluster
//! (crates/simcluster: nodes, disks, clocks, network, faults and the
//! cluster-wide oracles) with this simulator's clients, its operator (for
//! membership churn), its scripted scenarios and its checks. Same seed,
//! same run.

use crate::client::{BigValues, SimClient, APPEND_KEYS};
use crate::report::{RunReport, Stats};
use synod_check::Operation;
use synod_kv::{KvOp, KvReply, KvStore};
use synod_node::NodeOutput;
use synod_paxos::{ClientId, ConfigChange, EngineConfig, NodeId, Outcome};
use synod_simcluster::{
    Advance, Cluster, ClusterConfig, Load, NetLimits, NodeSpec, Out, Profile, Time,
};

pub(crate) const ADMIN_EVERY_US: Time = 700_000;
pub(crate) const SCRIPT_START_US: Time = 2_000_000;

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
    /// The peer transport's limits (its defaults unless a test lowers them).
    pub net: NetLimits,
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
        let mut engine = EngineConfig {
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
        if profile.drift_ppm > 0 {
            // Elections start as soon as acceptors' lease promises run out,
            // so a lease that ignores drift is caught serving stale reads.
            engine.election_timeout_us = engine.lease_us;
        }
        let mut net = NetLimits::transport();
        let heavy = matches!(profile.load, Load::Big | Load::Adversarial);
        let adversarial = profile.load == Load::Adversarial;
        if heavy {
            engine = big_engine(engine);
            // The tightest frame the server accepts for this engine: any
            // message the engine's bounds let through too big is caught.
            net.frame_bytes_max = engine.message_encoded_bytes_max();
        }
        SimConfig {
            seed,
            profile,
            // The key-value simulator's adversarial load: many clients,
            // each writing values up to (and over) the limit.
            clients: if adversarial { 16 } else { 4 },
            safety_us: 10_000_000,
            liveness_timeouts: 12,
            engine,
            net,
            trace: false,
            trace_heartbeats: false,
            scenario: None,
            propose_anywhere_p: 0.5,
        }
    }
}

/// The engine of the `big` profile: every byte limit scaled down 32 times
/// from the defaults (a 64 KiB command instead of 2 MiB, and so on), so a
/// run meets each of them many times without moving gigabytes. The rules
/// that keep messages, windows and queues within their limits do not
/// depend on the scale.
pub fn big_engine(engine: EngineConfig) -> EngineConfig {
    let d = EngineConfig::default();
    EngineConfig {
        command_bytes_max: d.command_bytes_max / 32,
        batch_bytes_max: d.batch_bytes_max / 32,
        message_bytes_max: d.message_bytes_max / 32,
        window_bytes_max: d.window_bytes_max / 32,
        queue_bytes_max: d.queue_bytes_max / 32,
        forwarded_bytes_max: d.forwarded_bytes_max / 32,
        reads_waiting_bytes_max: d.reads_waiting_bytes_max / 32,
        snapshot_chunk_bytes: 16 << 10,
        ..engine
    }
}

/// A node's answer to a client: to a write (`seq`) or a read (its id).
#[derive(Clone, Debug)]
pub(crate) struct ClientReply {
    pub(crate) seq: u64,
    pub(crate) outcome: Outcome,
    pub(crate) is_read: bool,
}

/// A read's id at the node names its client too (the node answers reads
/// by id alone): the client in the high 32 bits, its read number below.
pub(crate) fn read_id(client: ClientId, read: u64) -> u64 {
    (client << 32) | (read & 0xffff_ffff)
}

fn read_id_parts(id: u64) -> (ClientId, u64) {
    (id >> 32, id & 0xffff_ffff)
}

/// This simulator's own events; the cluster schedules them with its own.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// A node's reply reaches its client.
    ToClient {
        client: ClientId,
        reply: ClientReply,
    },
    ClientWake {
        client: ClientId,
    },
    /// `attempt` at or above `RESEND` is a "send again" timer instead.
    ClientTimeout {
        client: ClientId,
        seq: u64,
        attempt: u32,
    },
    Script {
        step: usize,
    },
    Admin,
    Decommission {
        node: NodeId,
    },
}

pub struct World {
    pub(crate) cfg: SimConfig,
    pub(crate) cluster: Cluster<Ev>,
    pub(crate) clients: std::collections::BTreeMap<ClientId, SimClient>,
    /// Nodes the operator took out of the clients' server list.
    pub(crate) not_serving: std::collections::BTreeSet<NodeId>,
    pub(crate) next_node_id: NodeId,
    /// Every client served and every replica converged after the heal.
    pub(crate) converged: bool,
    pub(crate) history: Vec<Operation<KvOp, KvReply>>,
    pub(crate) stats: Stats,
    pub(crate) admin_pending: Option<(u64, ConfigChange, NodeId, Time)>,
    pub(crate) admin_id: u64,
    pub(crate) grow: bool,
    pub(crate) scenario_special: NodeId,
    pub(crate) scenario_started: Time,
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let n = cfg.profile.nodes as NodeId;
        let cluster = Cluster::new(
            ClusterConfig {
                seed: cfg.seed,
                profile: cfg.profile.clone(),
                engine: cfg.engine.clone(),
                net: cfg.net,
                safety_us: cfg.safety_us,
                trace: cfg.trace,
                trace_heartbeats: cfg.trace_heartbeats,
            },
            NodeSpec::default(),
        );
        let mut world = World {
            cluster,
            clients: Default::default(),
            not_serving: Default::default(),
            next_node_id: n + 1,
            converged: false,
            history: Vec::new(),
            stats: Stats::default(),
            admin_pending: None,
            admin_id: 0,
            grow: true,
            scenario_special: 0,
            scenario_started: 0,
            cfg,
        };
        for c in 0..world.cfg.clients as ClientId {
            let client = 100 + c;
            let target = world.cluster.rng().range(1, n + 1);
            world.clients.insert(client, SimClient::new(client, target));
            let at = world.cluster.rng().range(0, 50_000);
            world.cluster.schedule(at, Ev::ClientWake { client });
        }
        if world.cfg.scenario.is_some() {
            world
                .cluster
                .schedule(SCRIPT_START_US, Ev::Script { step: 0 });
        } else {
            world.cluster.start_faults();
        }
        if world.cfg.profile.churn {
            world.cluster.schedule(ADMIN_EVERY_US, Ev::Admin);
        }
        world
    }

    pub(crate) fn now(&self) -> Time {
        self.cluster.now()
    }

    /// Runs the whole simulation and checks it.
    pub fn run(mut self) -> RunReport {
        let liveness_us = self.cfg.liveness_timeouts * self.cfg.engine.election_timeout_us;
        let deadline = self.cfg.safety_us + liveness_us;
        loop {
            match self.cluster.advance(deadline) {
                Advance::End => break,
                Advance::Cluster => {}
                Advance::World(ev) => self.handle(ev),
            }
            self.drain_outputs();
            if self.cluster.is_healed() && self.converged() {
                self.converged = true;
                break;
            }
        }
        self.cluster.heal_all();
        self.drain_outputs();
        if !self.converged {
            let why = self.liveness_failure();
            let detail = format!(
                "faults healed at {:.3}s but the cluster did not serve every client and converge within {} election timeouts: {why}",
                self.cluster.healed_at() as f64 / 1e6,
                self.cfg.liveness_timeouts
            );
            self.cluster.violation("liveness", detail);
        }
        crate::checks::check_history(&mut self);
        crate::checks::check_appends(&mut self);
        let (log, cluster) = self.cluster.finish();
        RunReport {
            seed: self.cfg.seed,
            profile: self.cfg.profile.name,
            violations: log.violations,
            stats: Stats {
                cluster,
                ..self.stats
            },
            trace: log.trace,
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::ToClient { client, reply } => self.on_client_reply(client, reply),
            Ev::ClientWake { client } => self.client_start(client),
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            } => self.client_timeout(client, seq, attempt),
            Ev::Script { step } => self.script(step),
            Ev::Admin => self.admin(),
            Ev::Decommission { node } => self.decommission(node),
        }
    }

    /// Replies travel back to their clients; the operator hears about its
    /// changes. (Engine events were checked by the cluster already.)
    fn drain_outputs(&mut self) {
        while let Some(out) = self.cluster.next_output() {
            let Out::Output { output, .. } = out else {
                continue;
            };
            let (client, reply) = match output {
                NodeOutput::WriteReply {
                    client,
                    seq,
                    outcome,
                } => (
                    client,
                    ClientReply {
                        seq,
                        outcome,
                        is_read: false,
                    },
                ),
                NodeOutput::ReadReply { id, outcome } => {
                    let (client, seq) = read_id_parts(id);
                    let reply = ClientReply {
                        seq,
                        outcome,
                        is_read: true,
                    };
                    (client, reply)
                }
                NodeOutput::ReconfigReply { id, outcome } => {
                    self.on_admin_reply(id, outcome);
                    continue;
                }
                _ => continue,
            };
            let at = self.now() + self.cluster.client_latency();
            self.cluster.schedule(at, Ev::ToClient { client, reply });
        }
    }

    pub(crate) fn history(&self) -> &[Operation<KvOp, KvReply>] {
        &self.history
    }

    /// The state of the most up-to-date live replica.
    pub(crate) fn final_store(&self) -> Option<(NodeId, &KvStore)> {
        self.cluster
            .ids()
            .into_iter()
            .filter_map(|id| self.cluster.node(id).map(|n| (id, n.engine())))
            .max_by_key(|(_, n)| n.applied())
            .map(|(id, n)| (id, &n.state_machine().kv))
    }

    pub(crate) fn report_violation(&mut self, check: &'static str, detail: String) {
        self.cluster.violation(check, detail);
    }

    pub(crate) fn report_unknown(&mut self, partition: String) {
        self.stats.lin_unknown += 1;
        self.cluster
            .note(|| format!("linearizability check ran out of budget on {partition}"));
    }

    /// The value sizes the clients draw from, under `Load::Big` and
    /// `Load::Adversarial`.
    pub(crate) fn big_values(&self) -> Option<BigValues> {
        matches!(self.cfg.profile.load, Load::Big | Load::Adversarial)
            .then(|| BigValues::for_command_bytes_max(self.cfg.engine.command_bytes_max))
    }

    pub(crate) fn append_keys() -> &'static [&'static str] {
        &APPEND_KEYS
    }
}
