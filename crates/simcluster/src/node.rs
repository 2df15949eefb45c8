//! The seam between the cluster and the node it runs.
//!
//! The cluster owns each node's lifecycle, disk, clock and network; the
//! node is whatever a simulator runs on them (today: the key-value
//! simulator's `Node<KvStore>`, the coordination simulator's engine with
//! its ZooKeeper front door). Stage 2 replaces this trait with the one node
//! type both will run, the shipped service node, whose inputs and outputs
//! these mirror.

use crate::scheduler::Time;
use synod_paxos::{
    Config, DurableState, EngineConfig, Event, Message, Micros, Node, NodeId, Record, StateMachine,
};

/// Everything a node is started from.
#[derive(Clone, Debug)]
pub struct Boot {
    pub id: NodeId,
    pub engine: EngineConfig,
    /// The configuration it boots with: the initial voters, or empty for a
    /// node added later.
    pub initial: Config,
    /// What its disk held, when it restarts after a crash.
    pub recovered: Option<DurableState>,
    /// For everything random inside the node.
    pub seed: u64,
    pub local_us: Micros,
}

/// The instant a node is stepped at, on every clock it can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeTime {
    /// Simulated real time: only deliberately broken builds look at it.
    pub now: Time,
    /// The node's monotonic clock.
    pub local_us: Micros,
    /// The node's wall clock, ms since the epoch.
    pub wall_ms: i64,
}

/// What a node is stepped with.
#[derive(Clone, Debug)]
pub enum NodeInput<I> {
    Tick,
    Peer {
        from: NodeId,
        msg: Message,
    },
    /// Every persist up to `id` is on disk.
    Persisted {
        id: u64,
    },
    /// Something from the simulator's clients.
    Client(I),
}

/// What a step asks of the cluster.
#[derive(Clone, Debug)]
pub enum Effect<O> {
    /// Write these records durably, then step `Persisted { id }`.
    Persist {
        id: u64,
        records: Vec<Record>,
    },
    Send {
        to: NodeId,
        msg: Message,
    },
    /// An engine event, for the cluster's oracles and then the simulator.
    Event(Event),
    /// Something for the simulator's clients.
    Output(O),
}

/// A node the cluster can run.
pub trait SimNode: Sized {
    type Sm: StateMachine;
    /// What clients hand a node.
    type Input;
    /// What a node hands its clients.
    type Output;
    /// What every node of a run is built from besides its [`Boot`].
    type Spec;

    /// A fresh node, or one recovered from `boot.recovered`.
    fn boot(spec: &Self::Spec, boot: Boot) -> Self;

    /// The engine inside, for the cluster's oracles.
    fn engine(&self) -> &Node<Self::Sm>;

    /// Steps one input; what it asks for goes to `effects`, in order.
    fn step(
        &mut self,
        at: NodeTime,
        input: NodeInput<Self::Input>,
        effects: &mut Vec<Effect<Self::Output>>,
    );
}
