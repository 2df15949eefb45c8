//! One run of the coordination simulator: the shared simulated cluster
//! (crates/simcluster: the shipped service nodes on their disks and
//! clocks, the peer network, faults and the cluster-wide oracles), with
//! ZooKeeper clients speaking the wire protocol to them over simulated
//! connections, and this simulator's oracles. Same seed, same run.
//!
//! Client bytes go through the real codec both ways. Each connection is
//! FIFO in both directions (a TCP stream). Its node end is what the
//! server's connection code does, with the same decoders
//! (`wire::FrameDecoder` at `max_buffer_bytes`, `synod_front::decode_packet`):
//! bytes become `NodeInput::ZkPacket`s, a frame that does not decode ends
//! the connection, and a socket that closes becomes `ZkClosed`
//! (`runtime.rs`). Its client end and bookkeeping (`Wire`) are here.

use crate::applies::Replica;
use crate::bugs::{Bugs, LockBug};
use crate::cachecheck::CacheHistory;
use crate::cacheclient::CacheClient;
use crate::changes::ChangeLog;
use crate::client::{Time, ZkClient};
use crate::lockcheck::LockHistory;
use crate::lockclient::{Chan, LockClient};
use crate::lockdelay::DelayModel;
use crate::report::{RunReport, Stats};
use crate::resource::Resource;
use crate::watch::{ConnRecord, End};
use std::collections::BTreeMap;
use std::hash::Hasher as _;
use synod_front::{ConnId, Outgoing};
use synod_paxos::{EngineConfig, Fnv64, NodeId};
use synod_simcluster::{Advance, Cluster, ClusterConfig, Load, NetLimits, NodeSpec, Profile};
use synod_zkproto as wire;

/// The coordination checks need a fixed group of three: clients connect
/// to nodes 1 to 3.
pub(crate) const NODES: u64 = 3;

/// Everything a run is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// Always run with three nodes and without membership churn.
    pub profile: Profile,
    pub clients: usize,
    /// Length of the phase with faults.
    pub safety_us: Time,
    /// Length of the healed phase that follows; abandoned sessions must
    /// expire within it and pinging ones must not.
    pub liveness_us: Time,
    pub engine: EngineConfig,
    /// The peer transport's limits (its defaults unless a test lowers them).
    pub net: NetLimits,
    /// Deliberate bugs (`bugs.rs`). The node's closing of its client
    /// connections when a snapshot replaces its state (found by this
    /// simulator; see `tests/snapshot_close.rs`) is turned off by the
    /// node bug `KeepConnectionsOnSnapshot`.
    pub bugs: Bugs,
    pub trace: bool,
}

impl SimConfig {
    pub fn new(seed: u64, profile: Profile) -> Self {
        // Many short sessions (some 40 a run, over a hundred
        // connections): what a careless or hostile fleet does. More
        // clients cost more than they find: every change fans out to
        // every watcher.
        let clients = if profile.load == Load::Adversarial {
            16
        } else {
            5
        };
        SimConfig {
            seed,
            profile: Profile {
                nodes: NODES as usize,
                churn: false,
                ..profile
            },
            clients,
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
            net: NetLimits::transport(),
            bugs: Bugs::none(),
            trace: false,
        }
    }
}

/// What a client sends up its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Up {
    /// The ConnectRequest, the connection's first frame.
    Open { connect: wire::ConnectRequest },
    /// Request bytes.
    Bytes(Vec<u8>),
    /// The client closed its socket.
    Gone,
}

/// This simulator's own events; the cluster schedules them with its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    /// A frame (or the close) reaches the client end of a connection.
    ToClient {
        serial: u64,
        item: Outgoing,
    },
    /// What the client sent reaches the node end of a connection.
    ToServer {
        serial: u64,
        up: Up,
    },
    /// The client notices its node is gone (refused, crashed).
    ServerGone {
        serial: u64,
    },
    ClientWake {
        client: u64,
    },
    /// A cache client has something due.
    CacheWake {
        client: u64,
    },
    /// A lock client has something due.
    LockWake {
        client: u64,
    },
    /// A node's answer to lock call `id` reaches its client.
    LockAnswer {
        id: u64,
        answer: synod_node::LockAnswer,
    },
    /// A holder's write reaches the fenced resource; `stale` when written
    /// on resuming from a pause, before looking at anything.
    ResourceWrite {
        seq: synod_coord::Sequencer,
        stale: bool,
    },
    /// An event client has something due (`eventclients.rs`).
    EventWake {
        client: u64,
    },
    /// A node's answer to event call `id` reaches its client, stamped
    /// with the node's output order and apply position when it emitted it.
    EventAnswer {
        id: u64,
        node: NodeId,
        emit_seq: u64,
        emit_pos: u64,
        answer: synod_node::LockAnswer,
    },
}

/// Both ends of one client connection.
pub(crate) struct Wire {
    pub(crate) client: u64,
    pub(crate) node: NodeId,
    /// The node's incarnation when the client connected: a node that
    /// crashed since does not know the connection.
    pub(crate) incarnation: u32,
    /// The client still reads from it.
    pub(crate) client_open: bool,
    /// The node accepted it and has not closed it.
    pub(crate) server_open: bool,
    /// The node's id for it, once accepted.
    pub(crate) conn: Option<ConnId>,
    /// The node end's request decoder (the server's, at the front
    /// door's `max_buffer_bytes`).
    pub(crate) decoder: wire::FrameDecoder,
    /// The zxid its ConnectRequest said the client had seen.
    pub(crate) last_zxid_seen: i64,
    /// The client's close reached the node end.
    pub(crate) gone: bool,
    /// FIFO: the latest delivery time scheduled in each direction.
    pub(crate) up_at: Time,
    pub(crate) down_at: Time,
    /// How the node ended it, known when it emitted the close.
    pub(crate) server_end: Option<End>,
    /// The session the node handed out or resumed on it.
    pub(crate) session: i64,
    pub(crate) saw_first_frame: bool,
}

/// A stretch of simulated time during which faults were active.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Disturbance {
    pub(crate) from: Time,
    pub(crate) to: Time,
}

pub struct World {
    pub(crate) cfg: SimConfig,
    pub(crate) cluster: Cluster<Ev>,
    /// The nodes' ZooKeeper limits and bugs.
    pub(crate) spec: NodeSpec,
    /// Open connections by node and the node's id for them.
    pub(crate) conns: BTreeMap<(NodeId, ConnId), u64>,
    /// Each replica's apply oracle, from its apply tap.
    pub(crate) replicas: BTreeMap<NodeId, Replica>,
    /// For `OutputBug::EventAfterReply`: events held back per connection.
    pub(crate) held: BTreeMap<(NodeId, ConnId), Vec<(Outgoing, i64)>>,
    /// Watch event frames the nodes emitted, for `OutputBug::DropEvent`.
    pub(crate) event_frames: u64,
    pub(crate) clients: BTreeMap<u64, ZkClient>,
    pub(crate) wires: BTreeMap<u64, Wire>,
    pub(crate) next_serial: u64,
    pub(crate) records: BTreeMap<u64, ConnRecord>,
    pub(crate) changes: ChangeLog,
    pub(crate) disturbances: Vec<Disturbance>,
    /// Open disturbances by cause (partition, pause or crash of a node).
    pub(crate) open_disturbances: BTreeMap<String, Time>,
    pub(crate) stats: Stats,
    digest: Fnv64,
    pub(crate) sessions: BTreeMap<i64, crate::clients::SessionFate>,
    /// The Chubby lock clients (`lockclients.rs`).
    pub(crate) lock_clients: BTreeMap<u64, LockClient>,
    /// Lock calls on their way, by id: client, channel, call serial.
    pub(crate) lock_calls: BTreeMap<u64, (u64, Chan, u64)>,
    pub(crate) next_lock_call: u64,
    pub(crate) lock_history: LockHistory,
    pub(crate) resource: Resource,
    /// Each running replica's lock-delay model, from its apply tap.
    pub(crate) delay_models: BTreeMap<NodeId, DelayModel>,
    /// The caching Chubby clients (`cacheclients.rs`).
    pub(crate) cache_clients: BTreeMap<u64, CacheClient>,
    /// Cache client calls on their way, by id (numbered with the lock
    /// clients' calls): client, channel, call serial.
    pub(crate) cache_calls: BTreeMap<u64, (u64, Chan, u64)>,
    pub(crate) cache_history: CacheHistory,
    /// The highest zxid a reply that reached a client carried: committed
    /// (`cachecheck.rs`).
    pub(crate) zxid_known: i64,
    /// The Chubby event clients and their oracle's logs
    /// (`eventclients.rs`, `eventcheck.rs`).
    pub(crate) event_clients: crate::eventclients::EventClients,
}

impl World {
    pub fn new(cfg: SimConfig) -> Self {
        let mut cfg = cfg;
        cfg.profile.nodes = NODES as usize;
        cfg.profile.churn = false;
        let spec = NodeSpec {
            bugs: cfg.bugs.node_bugs(),
            apply_tap: true,
            ..NodeSpec::default()
        };
        let cluster = Cluster::new(
            ClusterConfig {
                seed: cfg.seed,
                profile: cfg.profile.clone(),
                engine: cfg.engine.clone(),
                net: cfg.net,
                safety_us: cfg.safety_us,
                trace: cfg.trace,
                trace_heartbeats: false,
            },
            spec.clone(),
        );
        let mut world = World {
            cluster,
            spec,
            conns: BTreeMap::new(),
            replicas: BTreeMap::new(),
            held: BTreeMap::new(),
            event_frames: 0,
            clients: BTreeMap::new(),
            wires: BTreeMap::new(),
            next_serial: 1,
            records: BTreeMap::new(),
            changes: ChangeLog::default(),
            disturbances: Vec::new(),
            open_disturbances: BTreeMap::new(),
            stats: Stats::default(),
            digest: Fnv64::default(),
            sessions: BTreeMap::new(),
            lock_clients: BTreeMap::new(),
            lock_calls: BTreeMap::new(),
            next_lock_call: 1,
            lock_history: LockHistory::default(),
            resource: Resource::new(cfg.bugs.has_lock(LockBug::UnfencedResource)),
            delay_models: BTreeMap::new(),
            cache_clients: BTreeMap::new(),
            cache_calls: BTreeMap::new(),
            cache_history: CacheHistory::default(),
            zxid_known: 0,
            event_clients: Default::default(),
            cfg,
        };
        if world.cfg.profile.lossy() {
            // A network that loses messages is never quiet before it heals.
            world.open_disturbances.insert("lossy network".into(), 0);
        }
        for c in 1..=world.cfg.clients as u64 {
            let at = world.cluster.rng().range(0, 200_000);
            world.clients.insert(c, ZkClient::new(c, at));
            world.cluster.schedule(at, Ev::ClientWake { client: c });
        }
        world.start_lock_clients();
        world.start_cache_clients();
        world.start_event_clients();
        world.cluster.start_faults();
        world
    }

    pub(crate) fn now(&self) -> Time {
        self.cluster.now()
    }

    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        self.cluster.note(line);
    }

    pub(crate) fn violation(&mut self, check: &'static str, detail: String) {
        self.cluster.violation(check, detail);
    }

    pub(crate) fn digest_bytes(&mut self, tag: u64, bytes: &[u8]) {
        self.digest.write_u64(tag);
        self.digest.write(bytes);
    }

    pub(crate) fn digest_applied(&mut self, node: NodeId, slot: u64, state: u64) {
        self.digest.write_u64(node);
        self.digest.write_u64(slot);
        self.digest.write_u64(state);
    }

    /// Runs the whole simulation and checks it.
    pub fn run(mut self) -> RunReport {
        let deadline = self.cfg.safety_us + self.cfg.liveness_us;
        loop {
            match self.cluster.advance(deadline) {
                Advance::End => break,
                Advance::Cluster => {}
                Advance::World(ev) => self.handle(ev),
            }
            self.drain_outputs();
        }
        // After the deadline, frames already on their way still reach
        // their clients; nothing else happens.
        while let Some(ev) = self.cluster.next_leftover() {
            match ev {
                Ev::ToClient { serial, item } => self.on_to_client(serial, item),
                Ev::LockAnswer { id, answer } => self.on_lock_answer(id, answer),
                Ev::EventAnswer {
                    id,
                    node,
                    emit_seq,
                    emit_pos,
                    answer,
                } => self.on_event_answer(id, node, (emit_seq, emit_pos), answer),
                _ => {}
            }
        }
        self.final_checks();
        let digest = self.digest.finish();
        let (log, cluster) = self.cluster.finish();
        RunReport {
            seed: self.cfg.seed,
            profile: self.cfg.profile.name,
            violations: log.violations,
            stats: Stats {
                cluster,
                ..self.stats
            },
            trace_digest: digest,
            trace: log.trace,
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::ToClient { serial, item } => self.on_to_client(serial, item),
            Ev::ToServer { serial, up } => self.on_to_server(serial, up),
            Ev::ServerGone { serial } => self.on_server_gone(serial),
            Ev::ClientWake { client } => self.client_wake(client),
            Ev::LockWake { client } => self.on_lock_wake(client),
            Ev::CacheWake { client } => self.on_cache_wake(client),
            Ev::LockAnswer { id, answer } => self.on_lock_answer(id, answer),
            Ev::ResourceWrite { seq, stale } => self.on_resource_write(seq, stale),
            Ev::EventWake { client } => self.on_event_wake(client),
            Ev::EventAnswer {
                id,
                node,
                emit_seq,
                emit_pos,
                answer,
            } => self.on_event_answer(id, node, (emit_seq, emit_pos), answer),
        }
    }

    // ---- the client end of connections ----

    pub(crate) fn send_to_client(&mut self, serial: u64, item: Outgoing) {
        let lat = self.cluster.client_latency();
        let now = self.now();
        let w = self.wires.get_mut(&serial).expect("wire exists");
        let at = w.down_at.max(now + lat);
        w.down_at = at;
        self.cluster.schedule(at, Ev::ToClient { serial, item });
    }

    /// Sends `up` up connection `serial`, after what was sent before.
    pub(crate) fn send_to_server(&mut self, serial: u64, up: Up) {
        let lat = self.cluster.client_latency();
        let now = self.now();
        let w = self.wires.get_mut(&serial).expect("wire exists");
        let at = w.up_at.max(now + lat);
        w.up_at = at;
        self.cluster.schedule(at, Ev::ToServer { serial, up });
    }

    /// The tree's last zxid on `node` (0 while it is down).
    pub(crate) fn node_zxid(&self, node: NodeId) -> i64 {
        self.cluster
            .node(node)
            .map_or(0, |n| n.engine().state_machine().tree.last_zxid())
    }

    /// The client learns its connection was refused.
    pub(crate) fn refuse(&mut self, serial: u64) {
        let at = self.now() + self.cluster.rng().range(1_000, 5_000);
        self.cluster.schedule(at, Ev::ServerGone { serial });
    }

    /// A new connection from `client` to `node`, not yet accepted.
    pub(crate) fn new_wire(&mut self, client: u64, node: NodeId, session: i64) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let incarnation = self.cluster.incarnation(node);
        self.wires.insert(
            serial,
            Wire {
                client,
                node,
                incarnation,
                client_open: true,
                server_open: false,
                conn: None,
                decoder: wire::FrameDecoder::new(self.spec.zk.max_buffer_bytes),
                last_zxid_seen: 0,
                gone: false,
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
                unanswered_set_watches: Vec::new(),
            },
        );
        serial
    }
}
