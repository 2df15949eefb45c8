//! synod-zksim: the coordination service in the deterministic simulator.
//!
//! Three shipped service nodes (`synod_node::ServiceNode`: the Paxos
//! engine over the service state, the ZooKeeper front door, the drive
//! loop the server runtime runs) on the shared simulated cluster
//! (crates/simcluster, which also runs their real storage on simulated
//! disks), and simulated ZooKeeper clients speaking the wire protocol to
//! them: sessions, pings, ephemeral and sequential nodes, one-shot and
//! persistent watches, null and empty data, moves between nodes with
//! SetWatches; under the
//! `adversarial` load also pipelined bursts, values up to and just over
//! `max_buffer_bytes`, addauth with large ids and many short sessions. The
//! node end of each connection decodes bytes as the server does
//! (`runtime.rs`). The cluster brings the faults (drops, duplicates,
//! delays, partitions of every shape, power loss with torn writes, disk
//! failures, pauses, clock drift; then a healed phase), the transport's
//! frame and queue limits, and its own oracles (agreement, replica state,
//! durability before send, leases, recovery, engine invariants, frame
//! limit). Beside them, simulated Chubby lock clients (issue 12) speak the
//! node's lock door (`NodeInput::Lock`) as crates/client's `LockSession`
//! does: sessions with keepalives and a local lease, exactly-once
//! retries, acquires, writes to a fenced resource, releases, and pauses
//! while holding (`lockclient.rs`, `lockclients.rs`); and caching clients
//! that keep znodes the ZooKeeper clients write, invalidated by the
//! leader's cache gate (`cacheclient.rs`, `cacheclients.rs`). Nothing of the node
//! while holding (`lockclient.rs`, `lockclients.rs`); and Chubby event
//! clients, lock sessions that subscribe to znodes the others change and
//! keep one held keepalive outstanding (`eventclients.rs`). Nothing of the node
//! is re-created here: this crate holds the clients, the connections'
//! bookkeeping and the oracles.
//!
//! Oracles, each with a test that shows it catching a broken build
//! (`bugs.rs`; the node's bugs need the `broken` feature):
//! 1. ephemerals live exactly as long as their session, after every apply
//!    on every replica (`applies.rs`, from the node's apply tap), and no
//!    write over `max_buffer_bytes` reaches the log;
//! 2. sessions expire only when they should: never while the client pings
//!    and the cluster is quiet, always within a bound once it stops
//!    (`checks.rs`);
//! 3. watch events are never lost, reordered or invented for a connected
//!    client, and arrive before any reply that could show their change
//!    (`watch.rs`, from the committed change history);
//! 4. replies in request order, and a session reads its own writes
//!    (`clients.rs`), with the data it wrote, null told apart from empty
//!    (`data.rs`);
//! 5. replicas agree: same changes at the same zxid (`outputs.rs`,
//!    `changes.rs`; the cluster checks the state digests);
//! 6. at most one exclusive holder of a lock at any instant of simulated
//!    real time, judged by the holders' safe intervals (Acquired answer to
//!    release sent or local lease out; `lockcheck.rs`);
//! 7. the fenced resource never accepts a write from a generation older
//!    than one it accepted (`resource.rs`);
//! 8. no lock is granted within the lock-delay after its holder's session
//!    expired, in log time, on every replica (`lockdelay.rs`, from the
//!    apply tap);
//! 9. CheckSequencer is linearizable: never valid after the release of
//!    its sequencer, or a later grant, completed (`lockcheck.rs`);
//! 10. Chubby's client cache is consistent: no read of a cached path,
//!     from the cache or filled at the leader, returns a state that a
//!     write known committed before the read started had replaced
//!     (`cachecheck.rs`, over the reads of the caching clients of
//!     `cacheclient.rs` and `cacheclients.rs`).
//! 10. Chubby's events reach a live session in apply order, none lost
//!     between two answers of one leader that announced no failover or
//!     overflow, none before its change was applied on the leader that
//!     sent it (`eventcheck.rs`, judging the event clients of
//!     `eventclients.rs` by every node's apply tap).
//!
//! The simulator owns time and randomness: a seed replays exactly.

mod applies;
pub mod bugs;
mod cachecheck;
mod cacheclient;
mod cacheclients;
pub mod changes;
mod checks;
pub mod client;
mod clients;
mod data;
mod eventcheck;
pub mod eventclients;
mod lockcheck;
mod lockclient;
mod lockclients;
mod lockdelay;
mod outputs;
pub mod profile;
pub mod report;
mod resource;
mod runtime;
pub mod watch;
pub mod world;

pub use bugs::{Bugs, LockBug, OutputBug};
pub use profile::Profile;
pub use report::{RunReport, Stats, Violation};
#[cfg(feature = "broken")]
pub use synod_node::NodeBug;
pub use world::{SimConfig, World};

/// Runs one seed.
pub fn run(cfg: SimConfig) -> RunReport {
    World::new(cfg).run()
}
