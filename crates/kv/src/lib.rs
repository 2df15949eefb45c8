//! synod's key-value state machine.
//!
//! This crate owns the meaning of key-value operations: their binary
//! encoding ([`KvOp`], [`KvReply`]), their semantics, and the replicated
//! state they act on ([`KvStore`], an ordered map from byte-string keys to
//! byte-string values). The Paxos engine applies chosen operations to a
//! [`KvStore`] through [`synod_paxos::StateMachine`] and never looks inside
//! them.
//!
//! Like every state machine in synod it is pure and deterministic: it does
//! no I/O, reads no clock, uses no randomness and never iterates over a
//! hash map, so every replica that applies the same operations in the same
//! order holds the same state and the same [`KvStore::digest`].
//!
//! What a node lets into the store is capped (`quota.rs`: `[kv] keys_max`
//! and `bytes_max`), judged before a write is proposed and never on apply.

mod codec;
mod op;
mod quota;
mod store;

pub use codec::DecodeError;
pub use op::{KvOp, KvReply};
pub use quota::{admit, growth, Growth, KvLimits, QuotaExceeded};
pub use store::KvStore;
