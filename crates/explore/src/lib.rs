//! Bounded exhaustive search of small Multi-Paxos configurations (layer 4
//! of synod's testing).
//!
//! # What is explored
//!
//! A few voters and learners running the real engine, a few client
//! commands, an operator's plan of membership changes, and budgets for
//! message loss, crashes, timer firings and operator requests. From every
//! reachable state the search takes every nondeterministic step: deliver
//! any in-flight message, in any order; drop one; complete a node's oldest
//! disk write; fire a node's election or heartbeat timer; submit a command
//! to a leader; ask a leader for the next membership change of the plan
//! (or the last one again); crash a node and restart it from its durable
//! records. It checks every state it reaches:
//!
//! - at most one value is ever chosen per slot, over the whole path (a
//!   node that chose and then crashed still counts);
//! - replicas that applied the same slots hold the same state;
//! - no command takes effect twice;
//! - the engine does not panic.
//!
//! A violation comes with the trace that led to it, replayed step by step
//! with every message, write and event, for a person to read.
//!
//! # Orders
//!
//! Depth-first ([`SearchOrder::DepthFirst`], `depth_first.rs`) keeps the
//! visited set and one path: the mode for a full search. Breadth-first
//! (`breadth_first.rs`) reaches every violation by a shortest path, which
//! brings back the deep ones depth-first order buries (the minority-quorum
//! engine: ten thousand states instead of more than 20M), and keeps only
//! the search tree, eight bytes a state, rebuilding states by replay.
//!
//! # What is not explored, and why that hides no violation
//!
//! - States are deduplicated by a 64-bit hash of every node's
//!   `Node::fingerprint`, clock and disk, the in-flight messages as a
//!   multiset, the budgets spent and what the checks remember. Two states
//!   with one key are one state (a collision could hide one; among ten
//!   million states the odds are about one in 400,000).
//! - Equal copies of a message give one delivery and one drop: either
//!   copy leads to the same state.
//! - A delivery that changes nothing (the receiver's fingerprint, what it
//!   saw, its disk, and it sends nothing) is not a state of its own. That
//!   state is the parent less one message, and the parent, with the
//!   message still in flight, reaches everything it reaches: the same
//!   steps apply to the same nodes, and the checks read only nodes and
//!   history, never what is in flight.
//! - An operator request the engine refuses at once (a leader still in
//!   phase 1, another change in progress, a change already made) changes
//!   no node, so it is not explored; the operator's plan moves on only
//!   past a change a leader took in, so the parent reaches everything the
//!   refused request would. Requests go only to leaders with phase 1
//!   done, since the others all refuse.
//! - No partial-order reduction: deliveries to different nodes commute,
//!   but any node may later send to any other and budgets are shared, so
//!   a persistent set is almost always every enabled step. Breadth-first
//!   order is what reaches depth instead.
//!
//! The budgets, `timer_nodes`, `heartbeat_timers` and the depth bound
//! narrow what is explored on purpose; a report says which limit cut a
//! search.
//!
//! This crate does no I/O and reads no clock: a search is a pure function
//! of its [`ExploreConfig`]. With the `broken` feature the search can run
//! a deliberately broken engine, and its tests require it to find the
//! bug.
//!
//! ```no_run
//! let report = synod_explore::explore(&synod_explore::ExploreConfig::small()).unwrap();
//! println!("{report}");
//! assert!(report.complete && report.violation.is_none());
//! ```

mod breadth_first;
mod checks;
mod config;
mod depth_first;
mod register;
mod report;
mod search;
mod setup;
mod text;
mod transition;
mod world;

pub use checks::ViolationKind;
pub use config::{ConfigError, ExploreConfig, SearchOrder};
pub use register::Register;
pub use report::{ExploreReport, Limit, TraceStep, Violation};
pub use search::explore;
pub use synod_paxos::{Bug, ConfigChange};
