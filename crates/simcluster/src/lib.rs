//! One simulated synod cluster, shared by the deterministic simulators
//! (crates/sim, the key-value simulator; crates/zksim, the coordination
//! simulator), which keep only their clients and their own oracles.
//!
//! # What it owns
//!
//! - [`Scheduler`]: simulated time and the one event queue of a run, in a
//!   stable order (same seed, same run);
//! - [`Clock`]: each node's monotonic and wall clocks, drifting and offset;
//! - [`Disk`]: each node's writes, completing one at a time after a drawn
//!   latency, and what a crash leaves of them;
//! - [`Network`]: the peer network with loss, duplicates, delays,
//!   partitions and the transport's limits;
//! - [`Cluster`]: the nodes' lifecycle (start, crash, restart from disk,
//!   pause, resume, leave), the fault schedule, and the oracles every run
//!   keeps (see `oracles.rs`: agreement, replica state, durability before
//!   send, leases, recovery, engine invariants, frame limit);
//! - [`Profile`]: every fault knob in one type, and the named profiles;
//! - [`sweep()`]: many seeds over threads, with a summary.
//!
//! The node itself sits behind [`SimNode`]: each simulator runs its own
//! today; stage 2 gives both the shipped service node.
//!
//! # Fault model
//!
//! Peer messages are lost (probability `drop_p`), duplicated
//! (`duplicate_p`) and delayed uniformly within `delay_us`, which reorders
//! them. Partitions cut directed links in five shapes (halves, isolated
//! leader, majorities ring, one way, chain; see `partition.rs`). A crash
//! loses the process and every disk write not yet completed; with torn
//! writes a prefix of them survives and the next record is torn. A pause
//! stops a process while its peers, clients and disk go on. Clocks drift
//! within `drift_ppm` and start at different offsets. At the end of the
//! safety phase every fault heals: no more loss, partitions end, paused
//! nodes resume and crashed ones restart. Nothing here touches real time,
//! files or sockets.
//!
//! # Limits enforced, and where their numbers come from
//!
//! | limit | value | at the limit |
//! |---|---|---|
//! | frame size | `synod_net::NetConfig`'s default `frame_bytes_max` (64 MiB), a message's size from `synod_net::codec` | the message is dropped (as the transport drops it) and a `frame-limit` violation is reported: the engine must never produce one |
//! | per-link queue | `NetConfig`'s default `queue_messages_max` (4096 messages), counting messages in flight and those waiting for a paused receiver; the transport has no byte bound, so none is modelled (the largest backlog in bytes is reported) | the oldest message on the link is dropped and counted (`dropped_queue_full`) |
//! | violations kept | 5 per check | later ones of the same check are not kept |
//! | disk writes in progress | as many as the engine asks for (its own persist pipeline bounds them) | - |
//! | what a paused process holds | its peer messages count against their links' queues; client inputs and disk completions are held in full | - |
//! | trace | one line per event, only when tracing (one seed at a time) | - |
//!
//! [`NetLimits`] holds the two network limits; a test may lower them.

mod clock;
mod cluster;
mod disk;
mod faults;
mod lifecycle;
mod limits;
mod member;
mod network;
mod node;
mod oracles;
pub mod partition;
mod profile;
mod report;
mod scheduler;
mod step;
pub mod sweep;

pub use clock::{Clock, EPOCH_MS};
pub use cluster::{Advance, Cluster, ClusterConfig, Notice, Out, CLIENT_LATENCY_US, TICK_US};
pub use disk::{CrashLoss, Disk, DISK_LATENCY_US};
pub use limits::{frame_bytes, NetLimits};
pub use network::{InFlight, NetStats, Network, SendError};
pub use node::{Boot, Effect, NodeInput, NodeTime, SimNode};
pub use profile::Profile;
pub use report::{ClusterStats, RunLog, Violation};
pub use scheduler::{Scheduler, Time};
pub use sweep::{sweep, SeedRun, Seeds, Swept};
