//! synod-coord: the coordination state machine.
//!
//! This crate owns ZooKeeper's data model as a pure, deterministic state
//! machine replicated through the Paxos log: the znode tree (persistent,
//! ephemeral, sequential, container and TTL nodes, with ZooKeeper 3.8's
//! Stat bookkeeping, path rules, error codes and their precedence), the
//! session table (create, touch, close, expiry), ACLs (world, auth, digest,
//! ip, super) and the zxid counter. Every replica applies the same
//! `CoordOp`s in the same order and ends in the same state, snapshot and
//! digest.
//!
//! It never does I/O, reads no clock, draws no randomness and iterates no
//! hash map: all maps are BTreeMap/BTreeSet, and the slot and ACL ids
//! that differ between replicas never reach a reply, a snapshot or a
//! digest. Chubby's locks live on the same znodes, in a replicated lock
//! table (`lock`: modes, FIFO queues, generations, lock-delay,
//! sequencers). Memory per znode is a design goal: see `table`, `node` and
//! `acl_cache` for the layout. Watches are not state:
//! applies leave `Trigger`s for the front door to drain with
//! `Tree::take_triggers` and match against its per-connection watches.
//! Reads are plain methods (`get_data`, `get_children`, ...) that the front
//! door calls on the engine task; `StateMachine::query` is unused.
//!
//! # Time
//!
//! Log time (`Tree::now_ms`) advances only when a `Tick` is applied, never
//! going backwards: the time the leader proposes, which is its wall clock
//! read once when its term began plus its monotonic clock since (see the
//! front door's `on_timer`), so a wall-clock step does not move it. Session expiry, container
//! and TTL deletion are judged against log time, and so is every session
//! refresh, so all replicas decide the same. A node's ctime and mtime are
//! different: they come from the submitting server's clock carried in the
//! `Batch`, as ZooKeeper's txn header time does, and are only reported,
//! except that a TTL node's age is log time minus its mtime.
//!
//! # zxids
//!
//! One per applied transaction, from 1: each write of a Batch (failed ones
//! too, as ZooKeeper logs error txns), a whole multi, a session create or
//! close, each session expiry and each container or TTL deletion. Touch,
//! Tick itself, sync, a dead session's writes and lock operations consume
//! none.

pub mod acl;
mod acl_cache;
mod apply;
pub mod lock;
mod machine;
pub mod node;
pub mod op;
pub mod path;
mod snapshot;
mod table;
pub mod tree;
pub mod types;
mod write;
pub mod zk_config;

pub use acl::digest_id;
pub use lock::{
    LockError, LockGrant, LockMode, LockOutcome, LockQuery, LockQueryReply, LockStatus, Sequencer,
};
pub use op::{CoordOp, CoordReply, DecodeError, Write, WriteOutcome, WriteResult};
pub use tree::{SessionInfo, Tree, Trigger};
pub use types::{perms, Acl, CreateMode, ErrorCode, EventKind, Id, Stat};
