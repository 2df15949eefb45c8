//! The node's typed boundary: how it is built, the clocks a step reads,
//! what goes in and what comes out. Everything here is plain data; the
//! runtime and the simulators build inputs and execute outputs.

use crate::locks::{LockAnswer, LockRequest};
use crate::tap::Applied;
use synod_front::{ConnId, Outgoing, Pending, ZkLimits};
use synod_paxos::{
    ClientId, Command, Config, ConfigChange, EngineConfig, Event, Message, Micros, NodeId, Outcome,
    Record,
};

/// How to build a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub id: NodeId,
    pub engine: EngineConfig,
    /// The configuration a node with an empty disk starts in (empty for a
    /// node that joins a running cluster and learns it by catching up).
    pub initial: Config,
    pub zk: ZkLimits,
    /// Seeds the engine's election timeouts and the front door's
    /// connection identities. Need not be secret.
    pub seed: u64,
}

/// The two clocks a step needs: the node's monotonic local time, and wall
/// time for ZooKeeper's ctime/mtime and the leader's log-time ticks.
///
/// `now_us` must never decrease from one call to the next (the node checks
/// it: rule `clock-monotonic`); `wall_ms` may jump either way, as a wall
/// clock does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub now_us: Micros,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

/// One thing that happened to the node.
#[derive(Debug)]
pub enum NodeInput {
    /// The tick timer fired: the engine's tick, then the front door's timer
    /// (keepalives, log time, leaderless closes).
    Tick,
    /// A message from a peer.
    Peer { from: NodeId, msg: Message },
    /// Every `Persist` up to and including `id` is durable.
    Persisted { id: u64 },
    /// A native client's write, for clients that find the leader
    /// themselves (the engine's `Input::Command`).
    Write(Command),
    /// A write submitted at any node (the engine's `Input::Propose`).
    Propose(Command),
    /// A linearizable read under the leader's lease; answered by
    /// `ReadReply` with the same `id`.
    Read { id: u64, op: Vec<u8> },
    /// A membership change, submitted at any node (a follower forwards it
    /// to the leader it knows); answered by `ReconfigReply` with the same
    /// `id`.
    Reconfigure { id: u64, change: ConfigChange },
    /// A request on an open ZooKeeper connection, in its arrival order.
    ZkPacket {
        conn: ConnId,
        xid: i32,
        op: i32,
        request: Pending,
    },
    /// The connection's socket closed, or the runtime gave up on it (a
    /// client that does not read what it is sent).
    ZkClosed { conn: ConnId },
    /// A native client's lock call (`locks`); answered by `LockReply` with
    /// the same `id`.
    Lock { id: u64, request: LockRequest },
}

/// One thing the runtime must do, in the order given.
#[derive(Debug)]
pub enum NodeOutput {
    /// Make these records durable (fsync), then step `Persisted { id }`.
    /// Ids increase by one; completing `id` completes every smaller one.
    Persist { id: u64, records: Vec<Record> },
    /// Send a message to a peer (best effort: it may be lost).
    Send { to: NodeId, msg: Message },
    /// The answer to a `Write` or `Propose` the front door did not send.
    WriteReply {
        client: ClientId,
        seq: u64,
        outcome: Outcome,
    },
    /// The answer to `Read { id, .. }`.
    ReadReply { id: u64, outcome: Outcome },
    /// The answer to `Reconfigure { id, .. }`.
    ReconfigReply { id: u64, outcome: Outcome },
    /// A frame for a ZooKeeper connection, or its close; in order per
    /// connection, and nothing for a connection after its close.
    Zk { conn: ConnId, item: Outgoing },
    /// The answer to `Lock { id, .. }`.
    LockReply { id: u64, answer: LockAnswer },
    /// An engine event (only with `EngineConfig::events`).
    Event(Event),
    /// What one apply of the coordination tree did (only while the apply
    /// tap is on: `ServiceNode::set_apply_tap`; see `tap.rs`).
    Applied(Box<Applied>),
}

/// Why the front door refused a ZooKeeper connection: the socket is then
/// closed unanswered and the client tries another server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    pub reason: String,
}
