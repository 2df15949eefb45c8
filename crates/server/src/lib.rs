//! The synod server runtime: the only layer with I/O. It drives the pure
//! service node (crates/node: the Paxos engine, the ZooKeeper front door
//! and the drive loop between them) with a real clock, real disks
//! (write-ahead log with group commit, on its own thread) and real sockets
//! (the peer transport, gRPC and ZooKeeper listeners), and serves clients
//! through `NodeHandle`. An optional admin HTTP listener (`admin`) serves
//! Prometheus metrics (`metrics`), health answers and a status page from
//! what the node task observes (`observe`).
//!
//! It never decides anything the node decides: it executes the node's
//! outputs in order and reports completions back.

pub mod access;
pub mod admin;
pub mod backup;
pub mod config;
pub mod datadir;
mod disk;
pub mod fds;
pub mod gate;
pub mod grpc;
pub mod locks;
pub mod metrics;
pub mod observe;
pub mod runtime;
mod serve;
pub mod shards;
pub mod tls;
pub mod zk;

pub use serve::{serve, GRPC_MESSAGE_BYTES_MAX};

pub use config::{
    AccessConfig, AdminKnobs, ClientAuth, ClientTlsFiles, ConfigError, EngineKnobs, GrpcKnobs,
    KvKnobs, Member, ServerConfig, ZkKnobs,
};
pub use synod_node::{state, ServiceState};

pub use runtime::{
    start, NodeHandle, NodeStatus, Request, RunningNode, Stopped, WriteError, ZkRequest,
};
