//! The controller as the Paxos engine drives it, and its snapshot.
//!
//! Snapshot layout: a version byte; the settings and the kept
//! configurations (oldest first) in bincode (varint integers); then the
//! 64-bit FNV-1a hash of those bincode bytes, little-endian. A restore reads
//! through the snapshot's chunks, refuses a snapshot whose hash, layout or
//! invariants (`ShardController::check_invariants`) do not hold, and then
//! leaves the state as it was. The history's limits bound the snapshot:
//! at most `history_bytes_max` plus the settings and a few bytes of
//! framing.

use serde::{Deserialize, Serialize};
use synod_paxos::{
    read_framed, write_framed, RestoreError, SnapshotData, SnapshotWriter, StateMachine,
};

use crate::config::Config;
use crate::controller::ShardController;
use crate::op::{decode_op, encode_reply, ShardError, ShardOp, ShardReply};
use crate::settings::Settings;

/// Leads every snapshot; bump it when the layout changes.
pub const SNAPSHOT_VERSION: u8 = 1;

#[derive(Serialize)]
struct SnapshotOut<'a> {
    settings: &'a Settings,
    configs: Vec<&'a Config>,
}

#[derive(Deserialize)]
struct SnapshotIn {
    settings: Settings,
    configs: Vec<Config>,
}

impl ShardController {
    /// Decodes an operation within `op_bytes_max` (refused before any
    /// decoding work when longer).
    fn decode_bounded(&self, op: &[u8]) -> Result<ShardOp, ShardError> {
        if op.len() > self.settings.op_bytes_max as usize {
            return Err(ShardError::OpTooLarge {
                bytes: op.len() as u64,
                max: self.settings.op_bytes_max,
            });
        }
        decode_op(op).map_err(|e| ShardError::Undecodable(e.to_string()))
    }

    fn encode_snapshot(&self, out: &mut SnapshotWriter) {
        let snapshot = SnapshotOut {
            settings: &self.settings,
            configs: self.history().collect(),
        };
        write_framed(out, SNAPSHOT_VERSION, &snapshot);
    }

    fn decode_snapshot(snapshot: &SnapshotData) -> Result<ShardController, RestoreError> {
        let corrupt = |what: String| RestoreError(format!("shard controller snapshot: {what}"));
        let decoded: SnapshotIn =
            read_framed(snapshot, SNAPSHOT_VERSION).map_err(|e| corrupt(e.to_string()))?;
        ShardController::from_history(decoded.settings, decoded.configs)
            .map_err(|e| corrupt(e.to_string()))
    }
}

impl StateMachine for ShardController {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        let reply = match self.decode_bounded(op) {
            Ok(op) => self.execute(&op),
            Err(error) => ShardReply::Error(error),
        };
        encode_reply(&reply)
    }

    fn query(&self, op: &[u8]) -> Vec<u8> {
        let reply = match self.decode_bounded(op) {
            Ok(op) => self.read(&op),
            Err(error) => ShardReply::Error(error),
        };
        encode_reply(&reply)
    }

    fn snapshot(&self, out: &mut SnapshotWriter) {
        self.encode_snapshot(out);
    }

    /// Leaves the controller unchanged when the snapshot is refused.
    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        *self = Self::decode_snapshot(snapshot)?;
        Ok(())
    }

    fn digest(&self) -> u64 {
        self.content_digest()
    }
}
