//! Linearizability checking of client histories.
//!
//! This crate decides whether a concurrent history of operations (each with
//! the time it was called and, if it returned, the time it returned and its
//! output) could have come from a single copy of a sequential object, the
//! [`Model`]. It is the algorithm of Wing and Gong with Lowe's improvements,
//! as in Porcupine: a depth-first search for a linearization over a
//! doubly-linked list of call and return entries, with undo on backtrack and
//! a cache of (set of linearized operations, model state) pairs already
//! explored. A model may split a history into independent partitions (for a
//! key-value store, one per key) that are checked separately, which is what
//! keeps the search fast.
//!
//! A check ends in one of three verdicts: linearizable, illegal (with an
//! [`Explanation`] a person can read), or unknown when the search [`Budget`]
//! ran out. It never reports a history as linearizable without having
//! found a linearization.
//!
//! It is a pure library: no I/O, no clock, no threads, no randomness.
//! [`KvModel`] is the model of `synod-kv`'s key-value store.
//!
//! [`check_txns`] is a second, separate checker: strict serializability of
//! multi-key transaction histories (Elle's dependency-graph cycle check),
//! for the sharded store's transactions; see the `txn` module.

mod bitset;
mod check;
mod entries;
mod explain;
mod hash;
mod kv_model;
mod model;
mod txn;

pub use check::{check, Budget, CheckResult, MalformedHistory};
pub use explain::{Explanation, OpView, StuckOp};
pub use kv_model::KvModel;
pub use model::{Model, Operation};
pub use txn::{
    check_txns, CycleClass, CycleStep, Dependency, EdgeKind, InternalViolation,
    MalformedTxnHistory, RevConflict, TxnAnomaly, TxnCycle, TxnOutcome, TxnRead, TxnRecord,
    TxnVerdict, TxnWrite,
};
