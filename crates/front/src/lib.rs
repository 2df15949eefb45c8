//! The ZooKeeper front door's logic, as a pure state machine of its own:
//! connections and their request order, watches, session keepalives and
//! log time. Inputs are decoded requests, the tree's triggers and the log's
//! replies; outputs are frames for connections and commands to propose.
//!
//! It does no I/O and reads no clock: the server runtime (tokio sockets,
//! the real clock, OS randomness for passwords) and the deterministic
//! simulator (simulated clients and time) drive the same code. Watches and
//! connections are per server and never replicated; everything replicated
//! lives in the coordination tree (synod-coord).

pub mod budget;
pub mod convert;
pub mod front;
pub mod packet;
pub mod quota;
pub mod sasl;
pub mod watches;
pub mod zkconfig;

pub use front::{
    is_read_only_session, FrontStats, Outgoing, Pending, ServingMode, ZkFront, ZkLimits,
};
pub use packet::decode_packet;
pub use watches::{ConnId, WatchKind, WatcherType, Watches};
pub use zkconfig::{ReconfigRequest, ReconfigSettings};
