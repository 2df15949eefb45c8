//! The synod server runtime: the only layer with I/O. It drives the pure
//! Paxos engine with a real clock, real disks (write-ahead log with group
//! commit, on its own thread) and real sockets (the peer transport), and
//! serves clients through `NodeHandle`.
//!
//! It never decides anything the engine decides: it executes the engine's
//! actions in order and reports completions back.

pub mod config;
mod disk;
pub mod grpc;
pub mod runtime;
mod serve;
pub mod state;
pub mod zk;

pub use serve::{serve, GRPC_MESSAGE_BYTES_MAX};

pub use config::{ConfigError, EngineKnobs, Member, ServerConfig, ZkKnobs};
pub use runtime::{start, NodeHandle, NodeStatus, Request, RunningNode, Stopped, ZkRequest};
