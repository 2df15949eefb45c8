//! The tree as the Paxos engine's state machine: apply, snapshot, restore,
//! digest.

use std::hash::Hasher as _;
use std::io;

use synod_paxos::{Fnv64, RestoreError, SnapshotData, SnapshotWriter, StateMachine};

use crate::op::CoordOp;
use crate::snapshot;
use crate::tree::Tree;

impl StateMachine for Tree {
    /// Applies an encoded `CoordOp` and returns the encoded `CoordReply`.
    /// An entry that does not decode changes nothing and gets an empty
    /// reply, the same on every replica.
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        match CoordOp::decode(op) {
            Ok(op) => self.apply_op(&op).encode(),
            Err(_) => Vec::new(),
        }
    }

    /// The lock table's reads (`lock::LockQuery`), for the engine's
    /// linearizable read path; every other read goes through the tree's
    /// methods on the engine task.
    fn query(&self, op: &[u8]) -> Vec<u8> {
        self.lock_query(op)
    }

    fn snapshot(&self, out: &mut SnapshotWriter) {
        snapshot::encode_into(&self.state, out).expect("writing to memory cannot fail");
    }

    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        self.state = snapshot::decode(snapshot).map_err(RestoreError)?;
        self.rebuild_indexes();
        self.triggers.clear();
        self.caching_marks += 1;
        Ok(())
    }

    /// FNV-1a over the snapshot bytes: every field of the state, in a
    /// deterministic order. Streamed, so a large tree is not copied.
    fn digest(&self) -> u64 {
        let mut h = HashWriter(Fnv64::default());
        snapshot::encode_into(&self.state, &mut h).expect("hashing cannot fail");
        h.0.finish()
    }
}

/// Feeds written bytes to the hasher.
struct HashWriter(Fnv64);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
