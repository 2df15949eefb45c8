//! The tree as the Paxos engine's state machine: apply, snapshot, restore,
//! digest.

use std::hash::Hasher as _;

use synod_paxos::{Fnv64, RestoreError, StateMachine};

use crate::op::CoordOp;
use crate::tree::{State, Tree};

/// Leads every snapshot; bump it when `State`'s encoding changes.
const SNAPSHOT_VERSION: u8 = 1;

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

    /// Reads go through the tree's methods on the engine task instead.
    fn query(&self, _op: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = vec![SNAPSHOT_VERSION];
        bincode::serialize_into(&mut out, &self.state).expect("tree state serializes");
        out
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError> {
        let (version, body) = snapshot
            .split_first()
            .ok_or_else(|| RestoreError("empty coordination snapshot".into()))?;
        if *version != SNAPSHOT_VERSION {
            return Err(RestoreError(format!(
                "coordination snapshot version {version}, this build reads {SNAPSHOT_VERSION}"
            )));
        }
        let state: State = bincode::deserialize(body)
            .map_err(|e| RestoreError(format!("coordination snapshot: {e}")))?;
        self.state = state;
        self.rebuild_indexes();
        self.triggers.clear();
        Ok(())
    }

    /// FNV-1a over the snapshot bytes: every field of the state, in a
    /// deterministic order (all maps are BTreeMaps).
    fn digest(&self) -> u64 {
        let mut h = Fnv64::default();
        h.write(&self.snapshot());
        h.finish()
    }
}
