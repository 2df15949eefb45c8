//! One simulated synod cluster, shared by the deterministic simulators
//! (crates/sim, the key-value simulator; crates/zksim, the coordination
//! simulator), which keep only their clients and their own oracles.
//!
//! # What it owns
//!
//! - [`Scheduler`]: simulated time and the one event queue of a run, in a
//!   stable order (same seed, same run);
//! - [`Clock`]: each node's monotonic and wall clocks, drifting and offset;
//! - [`Disk`]: each node's simulated device (`synod_wal::SimFs`) under the
//!   node's real storage, the group-commit timing of its writes, what a
//!   power loss leaves of them, and disk failures;
//! - [`Network`]: the peer network with loss, duplicates, delays,
//!   partitions and the transport's limits;
//! - [`Cluster`]: the nodes' lifecycle (start, crash, restart from disk,
//!   pause, resume, leave), the fault schedule, and the oracles every run
//!   keeps (see `oracles.rs`: agreement, replica state, durability before
//!   send, leases, recovery, engine invariants, frame limit);
//! - [`Profile`]: every fault knob in one type, and the named profiles;
//! - [`sweep()`]: many seeds over threads, with a summary.
//!
//! The node is the shipped one: `synod_node::ServiceNode` (the type the
//! server runtime drives) over `synod_storage::NodeStorage` on the
//! member's `SimFs` (see `node.rs`). The cluster does for it what the
//! runtime's I/O does: it carries peer messages, runs the disk thread's
//! group commit, delivers clients' inputs and hands back the node's
//! outputs.
//!
//! # Fault model
//!
//! Peer messages are lost (probability `drop_p`), duplicated
//! (`duplicate_p`) and delayed uniformly within `delay_us`, which reorders
//! them. Partitions cut directed links in five shapes (halves, isolated
//! leader, majorities ring, one way, chain; see `partition.rs`). A crash is
//! a power loss: the process dies and the disk keeps only what `SimFs`'s
//! crash model lets survive of unsynced writes (with torn writes, the
//! write in progress is cut at a random file-system operation and any
//! prefix of it may survive, the last piece torn; without, every unsynced
//! write is lost). A disk fault fails a write or an fsync (EIO), lands a
//! write in part or fills the disk (ENOSPC); the node stops, as the server
//! does, and restarts later from its disk. A pause
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
//! | disk writes in progress | one group commit at a time; persists that arrive meanwhile wait and go in the next one (the engine's persist pipeline bounds them) | - |
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
pub mod node;
mod oracles;
pub mod partition;
mod profile;
mod report;
mod scheduler;
mod step;
pub mod sweep;

pub use clock::{Clock, EPOCH_MS};
pub use cluster::{Advance, Cluster, ClusterConfig, Notice, Out, CLIENT_LATENCY_US, TICK_US};
pub use disk::{Disk, BYTES_PER_US, DISK_LATENCY_US};
pub use limits::{frame_bytes, NetLimits};
pub use network::{InFlight, NetStats, Network, SendError};
pub use node::{ClientInput, NodeSpec, Running, ZkOpened, DATA_DIR};
pub use profile::{Load, Profile};
pub use report::{ClusterStats, RunLog, Violation};
pub use scheduler::{Scheduler, Time};
pub use sweep::{sweep, SeedRun, Seeds, Swept};
