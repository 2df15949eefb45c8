//! synod's Multi-Paxos engine.
//!
//! This crate owns the replicated log: every node is an acceptor, a replica
//! and a potential leader, as in "Paxos Made Moderately Complex". It is pure
//! and deterministic: it does no I/O, reads no clock, spawns no thread and
//! uses no global randomness. Inputs (peer messages, ticks carrying `now`,
//! disk-write completions, client commands) go in; typed actions (persist,
//! send, reply) come out. The runtime, the simulator and the model checker
//! all drive the same code.
//!
//! Where things live: `acceptor` (promises and accepts), `election`
//! (pre-vote, phase 1 and its rule, promises in pages), `leader`
//! (proposals, heartbeats, lease), `replica` (learning, applying,
//! snapshots, catch-up), `transfer` (snapshots too large for one message,
//! sent in chunks), `forward` (commands submitted at a follower and
//! forwarded to the leader), `node` (state, step, persistence handshake),
//! `durable` (what is on disk and how it is replayed), `invariants` (the
//! rules every state must keep, checked after each step in simulation).

mod acceptor;
pub mod action;
pub mod bugs;
pub mod config;
pub mod durable;
mod election;
mod forward;
mod framed;
mod hash;
mod invariants;
mod leader;
pub mod message;
mod node;
mod reconfig;
mod replica;
mod rng;
pub mod snapshot_data;
pub mod state_machine;
mod transfer;
pub mod types;

pub use action::{Action, Event, Input, Outcome};
pub use bugs::{Bug, Bugs};
pub use bytes::Bytes;
pub use config::{EngineConfig, ROUND_MAX, SLOT_MAX};
pub use durable::{ClientRecord, DurableState, Record, Snapshot};
pub use framed::{read_framed, write_framed, FramedError};
pub use hash::{digest, Fnv64, FnvIo};
pub use invariants::InvariantViolation;
pub use message::{Message, ReconfigRefusal, SnapshotHead};
pub use node::Node;
pub use rng::Rng;
pub use snapshot_data::{
    SnapshotData, SnapshotReader, SnapshotWriter, SNAPSHOT_CHUNK_BYTES_DEFAULT,
};
pub use state_machine::{RestoreError, StateMachine};
pub use transfer::encode_head as encode_snapshot_head;
pub use types::{
    Ballot, ClientId, Command, Config, ConfigChange, Micros, NodeId, Slot, Value,
    COMMAND_OVERHEAD_BYTES,
};
