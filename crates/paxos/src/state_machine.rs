//! The replicated state machine as the engine sees it.
//!
//! The engine applies chosen commands in slot order and never looks inside
//! them: operations and replies are opaque bytes whose meaning belongs to the
//! state machine (the key-value store, the coordination tree, a shard).

use crate::snapshot_data::{SnapshotData, SnapshotWriter};

/// A deterministic state machine driven by the replicated log.
///
/// Every replica applies the same operations in the same order, so every
/// implementation must be a pure function of its prior state and the
/// operation: no clock, no randomness, no I/O, no iteration over hash maps
/// with per-process seeds.
pub trait StateMachine {
    /// Applies one chosen write and returns its reply.
    fn apply(&mut self, op: &[u8]) -> Vec<u8>;

    /// Answers a read without changing state. The engine calls this only
    /// when it knows the read is linearizable (a valid lease) or in log
    /// order.
    fn query(&self, op: &[u8]) -> Vec<u8>;

    /// Writes the whole state into `out`, which keeps it in chunks of
    /// bounded size (never one buffer). `restore` of what was written must
    /// give an equal state.
    fn snapshot(&self, out: &mut SnapshotWriter);

    /// Replaces the whole state with a snapshot `snapshot` wrote. Read it
    /// with `snapshot.reader()` (or slices of it), so that a large state is
    /// never copied into one buffer. A snapshot that does not decode
    /// leaves the state as it was.
    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError>;

    /// `snapshot` into chunks of the default size: for tests and tools.
    fn snapshot_data(&self) -> SnapshotData
    where
        Self: Sized,
    {
        let mut out = SnapshotWriter::new(crate::snapshot_data::SNAPSHOT_CHUNK_BYTES_DEFAULT);
        self.snapshot(&mut out);
        out.finish()
    }

    /// A digest of the state, equal on every replica that applied the same
    /// prefix. Checkers compare it; it need not be cryptographic.
    fn digest(&self) -> u64;

    /// The engine applied a membership change in `slot` (in log order with
    /// `apply`, on every replica). For a state machine that shows the
    /// membership to its clients; by default it changes nothing.
    fn on_membership_change(
        &mut self,
        slot: crate::types::Slot,
        change: crate::types::ConfigChange,
    ) {
        let _ = (slot, change);
    }
}

/// A snapshot could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("snapshot is corrupt: {0}")]
pub struct RestoreError(pub String);
