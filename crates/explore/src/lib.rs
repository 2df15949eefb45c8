//! Bounded exhaustive search of small Multi-Paxos configurations (layer 4
//! of synod's testing).
//!
//! A few nodes running the real engine, a few client commands, and budgets
//! for message loss, crashes and timer firings: the search takes every
//! nondeterministic step from every reachable state (deliver any in-flight
//! message, in any order; drop one; complete a node's oldest disk write;
//! fire a timer; submit a command to a leader; crash a node and restart it
//! from its durable records) and checks every state it reaches:
//!
//! - at most one value is ever chosen per slot, over the whole path (a
//!   node that chose and then crashed still counts);
//! - replicas that applied the same slots hold the same state;
//! - no command takes effect twice;
//! - the engine does not panic.
//!
//! States are deduplicated by a 64-bit hash of every node's
//! `Node::fingerprint`, clock and disk, the in-flight messages as a
//! multiset, the budgets spent and what the checks remember. A violation
//! comes with the trace that led to it, replayed step by step with every
//! message, write and event, for a person to read.
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
