//! What goes into the engine and what comes out.

use crate::durable::Record;
use crate::message::Message;
use crate::types::{Ballot, ClientId, Command, ConfigChange, NodeId, Slot};

/// Inputs, each stamped with the node's local time when it is stepped.
#[derive(Clone, Debug)]
pub enum Input {
    /// Time passed; timers may fire.
    Tick,
    /// A message from a peer.
    Message { from: NodeId, msg: Message },
    /// Every `Persist` up to and including `id` is durable.
    Persisted { id: u64 },
    /// A client write (or any command that must go through the log), for
    /// clients that find the leader themselves: a follower answers
    /// `NotLeader` with a hint.
    Command(Command),
    /// A client write submitted at any node. On the leader it is exactly
    /// `Command`. A follower forwards it to the leader (holding it while no
    /// leader is known, retrying every `forward_retry_us`) and answers only
    /// once it has applied the command itself, so the client can read its
    /// write from this node's state machine right after the answer.
    ///
    /// What a follower holds is volatile: a crash loses it without an
    /// answer, and the client must submit again with the same sequence
    /// number. A command this node took in while leading is answered
    /// `NotLeader` if it steps down, as `Command` is.
    Propose(Command),
    /// A linearizable read, served under the leader's lease.
    Read {
        client: ClientId,
        id: u64,
        op: Vec<u8>,
    },
    /// An operator asks for a membership change (answered `NotLeader` with
    /// a hint on a follower).
    Reconfigure { id: u64, change: ConfigChange },
    /// A membership change submitted at any node: on the leader exactly
    /// `Reconfigure`; a follower forwards it to the leader it knows
    /// (`Message::ReconfigForward`) and answers when the leader does, or
    /// `NotLeader` at once when it knows none. Nothing is retried or held:
    /// a lost message leaves the caller to its own timeout. `Ok` carries
    /// the change's slot (8 bytes, big-endian), as for `Reconfigure`.
    SubmitReconfigure { id: u64, change: ConfigChange },
}

/// The outcome of a client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The state machine's reply.
    Ok(Vec<u8>),
    /// This node is not the leader; try the hinted one.
    NotLeader { leader: Option<NodeId> },
    /// A queue is full; retry later.
    Busy,
    /// The command's sequence number is older than the client's latest:
    /// the client moved on and its reply is gone.
    Stale,
    /// The request is not valid (a membership change that is not allowed).
    Rejected(String),
}

/// Facts for traces and checkers, emitted only when `EngineConfig::events`
/// is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    PreVoteStarted {
        ballot: Ballot,
    },
    ElectionStarted {
        ballot: Ballot,
    },
    BecameLeader {
        ballot: Ballot,
        from_slot: Slot,
    },
    SteppedDown {
        ballot: Ballot,
        reason: &'static str,
    },
    /// This node (as leader) saw a majority accept `slot`.
    Chosen {
        slot: Slot,
        ballot: Ballot,
        value: u64,
    },
    /// This replica applied `slot`; `value` is the value's digest and
    /// `state` the state machine's digest after it.
    Applied {
        slot: Slot,
        value: u64,
        state: u64,
    },
    SnapshotTaken {
        slot: Slot,
    },
    SnapshotInstalled {
        slot: Slot,
    },
    /// This replica took in bytes `offset..offset + bytes` of the state of
    /// a snapshot at `slot` sent in chunks.
    SnapshotChunkReceived {
        slot: Slot,
        offset: u64,
        bytes: u64,
    },
    LeaseRead {
        client: ClientId,
        id: u64,
    },
}

/// What the runtime must do.
#[derive(Clone, Debug)]
pub enum Action {
    /// Append these records durably (fsync), then step `Persisted { id }`.
    /// Ids increase by one; completing `id` completes every smaller one.
    Persist {
        id: u64,
        records: Vec<Record>,
    },
    /// Send a message. The engine only emits it once whatever it depends
    /// on is durable.
    Send {
        to: NodeId,
        msg: Message,
    },
    /// Answer a client command.
    Reply {
        client: ClientId,
        seq: u64,
        outcome: Outcome,
    },
    /// Answer a read.
    ReadReply {
        client: ClientId,
        id: u64,
        outcome: Outcome,
    },
    /// Answer a membership change.
    ReconfigReply {
        id: u64,
        outcome: Outcome,
    },
    Event(Event),
}
