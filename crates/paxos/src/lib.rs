//! synod's Multi-Paxos engine.
//!
//! This crate owns the replicated log: every node is an acceptor, a replica
//! and a potential leader, as in "Paxos Made Moderately Complex". It is pure
//! and deterministic: it does no I/O, reads no clock, spawns no thread and
//! uses no global randomness. Inputs (peer messages, ticks carrying `now`,
//! disk-write completions, client commands) go in; typed actions (persist,
//! send, reply) come out. The runtime, the simulator and the model checker
//! all drive the same code.

pub mod state_machine;

pub use state_machine::{RestoreError, StateMachine};
