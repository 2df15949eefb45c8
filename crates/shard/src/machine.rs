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

use std::io::{Read, Write};

use bincode::Options as _;
use serde::{Deserialize, Serialize};
use synod_paxos::{FnvIo, RestoreError, SnapshotData, SnapshotWriter, StateMachine};

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
        out.write_all(&[SNAPSHOT_VERSION])
            .expect("writing to memory");
        let mut body = FnvIo::new(&mut *out);
        let snapshot = SnapshotOut {
            settings: &self.settings,
            configs: self.history().collect(),
        };
        bincode::DefaultOptions::new()
            .serialize_into(&mut body, &snapshot)
            .expect("writing to memory");
        let hash = body.hash();
        out.write_all(&hash.to_le_bytes())
            .expect("writing to memory");
    }

    fn decode_snapshot(snapshot: &SnapshotData) -> Result<ShardController, RestoreError> {
        let corrupt = |what: String| RestoreError(format!("shard controller snapshot: {what}"));
        let mut reader = snapshot.reader();
        let mut version = [0u8];
        reader
            .read_exact(&mut version)
            .map_err(|_| corrupt("empty".into()))?;
        if version[0] != SNAPSHOT_VERSION {
            return Err(corrupt(format!(
                "unknown version {} (expected {SNAPSHOT_VERSION})",
                version[0]
            )));
        }
        let mut body = FnvIo::new(&mut reader);
        // Limited to the snapshot's length: a corrupt length reads, and so
        // allocates, no more than the snapshot holds.
        let decoded: SnapshotIn = bincode::DefaultOptions::new()
            .with_limit(snapshot.len())
            .deserialize_from(&mut body)
            .map_err(|e| corrupt(e.to_string()))?;
        let hash = body.hash();
        let mut trailer = [0u8; 8];
        reader
            .read_exact(&mut trailer)
            .map_err(|_| corrupt("no hash after the body".into()))?;
        if reader.remaining() != 0 {
            return Err(corrupt(format!("{} trailing bytes", reader.remaining())));
        }
        if u64::from_le_bytes(trailer) != hash {
            return Err(corrupt(format!(
                "hash mismatch: snapshot says {:#018x}, body hashes to {hash:#018x}",
                u64::from_le_bytes(trailer)
            )));
        }
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
