//! synod's deterministic simulator.
//!
//! Many nodes and clients run in one thread on one seeded event queue:
//! messages are dropped, duplicated, delayed and reordered; partitions of
//! every shape come and go; nodes crash (losing unsynced writes, the last
//! one possibly torn), restart from their disks, pause, and run on clocks
//! that drift. Each run has a safety phase with faults and a liveness phase
//! with faults healed that must serve every client and converge within a
//! bounded number of election timeouts. Checkers: one value per slot,
//! equal replica states per slot, durability before send, linearizable
//! client histories, no acknowledged write lost, none applied twice.
//!
//! The simulator owns time and randomness; it never touches real clocks,
//! files or sockets, so a seed replays exactly.

mod checks;
pub mod client;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod world;

pub use profile::Profile;
pub use report::{RunReport, Stats, Violation};
pub use scenario::Scenario;
pub use sweep::{sweep, SweepOptions, SweepSummary};
pub use world::{SimConfig, World};

/// Runs one seed.
pub fn run(cfg: SimConfig) -> RunReport {
    World::new(cfg).run()
}
