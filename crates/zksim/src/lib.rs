//! synod-zksim: the coordination service in the deterministic simulator.
//!
//! Three nodes on the shared simulated cluster (crates/simcluster), each
//! a Paxos engine (synod-paxos) over the coordination tree (synod-coord)
//! with a ZooKeeper front door (synod-front) driven exactly as the server
//! runtime drives it (`zk_node.rs`), and simulated ZooKeeper clients
//! speaking the wire protocol (synod-zkproto) to them: sessions, pings,
//! ephemeral and sequential nodes, one-shot and persistent watches, moves
//! between nodes with SetWatches. The cluster brings the faults (drops,
//! duplicates, delays, partitions of every shape, crashes losing unsynced
//! writes, pauses, clock drift; then a healed phase), the transport's
//! frame and queue limits, and its own oracles (agreement, replica state,
//! durability before send, leases, recovery, engine invariants, frame
//! limit).
//!
//! Oracles, each with a test that shows it catching a broken build
//! (`bugs.rs`):
//! 1. ephemerals live exactly as long as their session (`sm.rs`, after
//!    every apply on every replica);
//! 2. sessions expire only when they should: never while the client pings
//!    and the cluster is quiet, always within a bound once it stops
//!    (`checks.rs`);
//! 3. watch events are never lost, reordered or invented for a connected
//!    client, and arrive before any reply that could show their change
//!    (`watch.rs`, from the committed change history);
//! 4. replies in request order, and a session reads its own writes
//!    (`clients.rs`);
//! 5. replicas agree: same changes at the same zxid (`outputs.rs`,
//!    `changes.rs`; the cluster checks the state digests).
//!
//! The simulator owns time and randomness: a seed replays exactly.

pub mod bugs;
pub mod changes;
mod checks;
pub mod client;
mod clients;
mod outputs;
pub mod profile;
pub mod report;
pub mod sm;
pub mod watch;
pub mod world;
pub mod zk_node;

pub use bugs::{Bug, Bugs};
pub use profile::Profile;
pub use report::{RunReport, Stats, Violation};
pub use world::{SimConfig, World};

/// Runs one seed.
pub fn run(cfg: SimConfig) -> RunReport {
    World::new(cfg).run()
}
