//! synod's deterministic key-value simulator.
//!
//! Runs the shipped service node (`synod_node::ServiceNode`: the Paxos
//! engine over the service state, whose key-value half the clients use)
//! over the real storage on simulated disks, on the shared simulated
//! cluster (crates/simcluster: one seeded event queue, nodes that crash,
//! restart from their disks, pause and drift, a peer network that drops,
//! duplicates, delays, reorders and partitions messages under the peer
//! transport's real frame and queue limits) and keeps, on top of it, only
//! what is its own: clients that read, write, compare-and-set and append
//! while retrying across nodes; an operator that grows and shrinks the
//! membership; the OmniPaxos partial-connectivity scenarios; and its
//! checks: linearizable client histories, no acknowledged write lost, none
//! applied twice, exactly-once replies, and liveness (every client served
//! and every replica converged within a bounded number of election
//! timeouts once faults heal). The cluster's own oracles (agreement,
//! replica state, durability before send, leases, recovery, engine
//! invariants, frame limit) run as well.
//!
//! The simulator owns time and randomness; it never touches real clocks,
//! files or sockets, so a seed replays exactly.

mod checks;
pub mod client;
mod liveness;
mod operator;
pub mod report;
mod requests;
pub mod scenario;
pub mod sweep;
pub mod world;

pub use report::{RunReport, Stats, Violation};
pub use scenario::Scenario;
pub use sweep::{sweep, SweepOptions, SweepSummary};
pub use synod_simcluster::Profile;
pub use world::{SimConfig, World};

/// Runs one seed.
pub fn run(cfg: SimConfig) -> RunReport {
    World::new(cfg).run()
}
