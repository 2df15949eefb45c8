//! The cluster: nodes on their disks and clocks, the peer network, the
//! fault schedule and the oracles every run keeps, driven by one event
//! queue that the simulator's clients share.
//!
//! A simulator owns a `Cluster` and runs the loop: [`Cluster::advance`]
//! handles the cluster's own events and hands back the simulator's;
//! after each call the simulator drains [`Cluster::next_output`] (replies
//! for its clients, engine events, inputs that found their node down, and
//! notices of faults). Clients reach nodes with [`Cluster::send_input`].

use crate::member::{Held, Member};
use crate::network::Network;
use crate::node::{ClientInput, NodeSpec, Outputs, Running, ZkOpened};
use crate::oracles::Oracles;
use crate::profile::Profile;
use crate::report::{ClusterStats, RunLog};
use crate::scheduler::{Scheduler, Time};
use crate::NetLimits;
use std::collections::{BTreeMap, VecDeque};
use synod_paxos::{Config, EngineConfig, Event, Message, NodeId, Rng};

/// How often a node's timers are stepped.
pub const TICK_US: Time = 10_000;
/// Latency between a client and a node, each way.
pub const CLIENT_LATENCY_US: (Time, Time) = (100, 1_000);

/// What a cluster is made of.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub seed: u64,
    pub profile: Profile,
    pub engine: EngineConfig,
    pub net: NetLimits,
    /// Faults are injected until then; then every fault heals.
    pub safety_us: Time,
    pub trace: bool,
    /// Also trace heartbeats and their acknowledgements.
    pub trace_heartbeats: bool,
}

/// The cluster's events, and the simulator's (`World`).
pub(crate) enum Ev<W> {
    Deliver {
        from: NodeId,
        to: NodeId,
        id: u64,
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
    Input {
        node: NodeId,
        incarnation: Option<u32>,
        input: ClientInput,
    },
    Fault,
    Heal,
    Restart {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    World(W),
}

/// What one call of [`Cluster::advance`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Advance<W> {
    /// Nothing is due by the deadline.
    End,
    /// A cluster event ran; its outputs are waiting.
    Cluster,
    /// One of the simulator's own events is due.
    World(W),
}

/// Faults as they happen, for simulators that track disturbances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Crashed(NodeId),
    Restarted(NodeId),
    Paused(NodeId),
    Resumed(NodeId),
    Partitioned,
    /// A partition ended (or a heal found none).
    PartitionHealed,
    /// A node stopped because its disk failed (the server runtime stops
    /// on a failed write); it restarts from its disk later.
    DiskFailed(NodeId),
    /// Every fault healed: the safety phase is over.
    Healed,
}

/// What the cluster hands the simulator.
#[derive(Debug)]
pub enum Out {
    /// What a node's step produced for clients: `WriteReply`,
    /// `ReadReply`, `ReconfigReply` or `Zk` (and `Applied`, with
    /// `NodeSpec::apply_tap`).
    Output {
        node: NodeId,
        output: synod_node::NodeOutput,
    },
    /// The answer to `ClientInput::ZkOpen`.
    ZkOpened {
        node: NodeId,
        token: u64,
        result: ZkOpened,
    },
    /// An engine event, after the cluster's oracles saw it.
    Event {
        node: NodeId,
        event: Event,
    },
    /// A client input that found its node down, or restarted since the
    /// client connected.
    Undelivered {
        node: NodeId,
        input: ClientInput,
    },
    Notice(Notice),
}

pub struct Cluster<W> {
    pub(crate) cfg: ClusterConfig,
    pub(crate) spec: NodeSpec,
    pub(crate) rng: Rng,
    pub(crate) sched: Scheduler<Ev<W>>,
    pub(crate) members: BTreeMap<NodeId, Member>,
    pub(crate) net: Network,
    pub(crate) oracles: Oracles,
    pub(crate) log: RunLog,
    pub(crate) stats: ClusterStats,
    pub(crate) healed_at: Option<Time>,
    pub(crate) outbox: VecDeque<Out>,
    /// What the node being stepped asked for (kept to reuse its memory).
    pub(crate) effects: Outputs,
}

impl<W> Cluster<W> {
    /// Nodes `1..=profile.nodes`, all voters, each ticking. Faults start
    /// only with [`Cluster::start_faults`].
    pub fn new(cfg: ClusterConfig, spec: NodeSpec) -> Self {
        let n = cfg.profile.nodes as NodeId;
        let mut cluster = Cluster {
            rng: Rng::new(cfg.seed),
            sched: Scheduler::default(),
            members: BTreeMap::new(),
            net: Network::new(cfg.net, &cfg.profile),
            oracles: Oracles::default(),
            log: RunLog::new(cfg.trace),
            stats: ClusterStats::default(),
            healed_at: None,
            outbox: VecDeque::new(),
            effects: Vec::new(),
            spec,
            cfg,
        };
        let initial = Config::new(1..=n);
        for id in 1..=n {
            cluster.spawn(id, initial.clone());
        }
        cluster
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    pub fn now(&self) -> Time {
        self.sched.now()
    }

    /// The run's randomness: everything random draws from it, so a seed
    /// replays exactly.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Schedules one of the simulator's events.
    pub fn schedule(&mut self, at: Time, event: W) {
        self.sched.at(at, Ev::World(event));
    }

    /// A client-to-node latency drawn from [`CLIENT_LATENCY_US`].
    pub fn client_latency(&mut self) -> Time {
        self.rng.range(CLIENT_LATENCY_US.0, CLIENT_LATENCY_US.1)
    }

    /// `input` reaches `node` at `at`, if the node is then up (and, with
    /// an `incarnation`, has not restarted since); otherwise it comes back
    /// as [`Out::Undelivered`]. A paused node gets it when it resumes.
    pub fn send_input(
        &mut self,
        at: Time,
        node: NodeId,
        incarnation: Option<u32>,
        input: ClientInput,
    ) {
        self.sched.at(
            at,
            Ev::Input {
                node,
                incarnation,
                input,
            },
        );
    }

    /// Steps `input` into `node` now (an operator at the node's console).
    pub fn input_now(&mut self, node: NodeId, input: ClientInput) {
        self.deliver_to(
            node,
            Held::Input {
                incarnation: None,
                input,
            },
        );
    }

    /// Runs the next event due by `deadline`. The first event at or after
    /// the end of the safety phase heals every fault before it runs.
    pub fn advance(&mut self, deadline: Time) -> Advance<W> {
        let Some(ev) = self.sched.next_until(deadline) else {
            return Advance::End;
        };
        if self.healed_at.is_none() && self.now() >= self.cfg.safety_us {
            self.heal_all();
        }
        match ev {
            Ev::World(w) => Advance::World(w),
            other => {
                self.handle(other);
                Advance::Cluster
            }
        }
    }

    /// After the run: the simulator's events still queued, in order, with
    /// time moving to each (cluster events are skipped).
    pub fn next_leftover(&mut self) -> Option<W> {
        loop {
            match self.sched.next_any()? {
                Ev::World(w) => return Some(w),
                _ => continue,
            }
        }
    }

    /// The next output waiting for the simulator.
    pub fn next_output(&mut self) -> Option<Out> {
        self.outbox.pop_front()
    }

    fn handle(&mut self, ev: Ev<W>) {
        match ev {
            Ev::Deliver { from, to, id, msg } => self.deliver_to(to, Held::Peer { from, id, msg }),
            Ev::Tick { node, incarnation } => self.on_tick(node, incarnation),
            Ev::DiskDone { node, incarnation } => self.on_disk_done(node, incarnation),
            Ev::Input {
                node,
                incarnation,
                input,
            } => self.deliver_to(node, Held::Input { incarnation, input }),
            Ev::Fault => self.inject_fault(),
            Ev::Heal => self.heal_partition(),
            Ev::Restart { node } => self.restart(node),
            Ev::Resume { node } => self.resume(node),
            Ev::World(_) => unreachable!("advance hands world events back"),
        }
    }

    // ---- what the simulator may read ----

    /// The node `id`, while it runs.
    pub fn node(&self, id: NodeId) -> Option<&synod_node::ServiceNode> {
        Some(&self.members.get(&id)?.node.as_ref()?.node)
    }

    /// The process `id` (its node and open storage), while it runs.
    pub fn running(&self, id: NodeId) -> Option<&Running> {
        self.members.get(&id)?.node.as_ref()
    }

    /// The disk of `id` (it outlives crashes).
    pub fn disk(&self, id: NodeId) -> Option<&crate::Disk> {
        Some(&self.members.get(&id)?.disk)
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.members.get(&id).is_some_and(|m| m.paused)
    }

    /// How many times `id` has crashed (or left).
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.members.get(&id).map_or(0, |m| m.incarnation)
    }

    /// Every node ever started, including those that left.
    pub fn ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// Nodes that have not left the cluster, up or down.
    pub fn members(&self) -> Vec<NodeId> {
        self.members
            .iter()
            .filter(|(_, m)| m.member)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Members that are up.
    pub fn live_members(&self) -> Vec<NodeId> {
        self.members
            .iter()
            .filter(|(_, m)| m.member && m.is_up())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The first node (by id) that leads with an active lease.
    pub fn current_leader(&self) -> Option<NodeId> {
        self.members
            .iter()
            .find(|(_, m)| {
                m.node
                    .as_ref()
                    .is_some_and(|n| n.node.engine().is_active_leader())
            })
            .map(|(id, _)| *id)
    }

    pub fn is_healed(&self) -> bool {
        self.healed_at.is_some()
    }

    /// When faults healed (0 while they have not).
    pub fn healed_at(&self) -> Time {
        self.healed_at.unwrap_or(0)
    }

    /// The cluster's counters so far.
    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            net: *self.net.stats(),
            sim_time_us: self.now(),
            ..self.stats.clone()
        }
    }

    pub fn tracing(&self) -> bool {
        self.log.tracing()
    }

    /// Adds a trace line; `line` runs only when tracing.
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        self.log.note(self.sched.now(), line);
    }

    pub fn violation(&mut self, check: &'static str, detail: String) {
        self.log.violation(self.sched.now(), check, detail);
    }

    /// Ends the run: its violations and trace, and the counters.
    pub fn finish(self) -> (RunLog, ClusterStats) {
        let stats = self.stats();
        (self.log, stats)
    }
}
