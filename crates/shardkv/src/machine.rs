//! The group as the Paxos engine drives it, and its snapshot: a version
//! byte, the whole state in bincode, and the FNV-1a 64 hash of that
//! bincode, little-endian. A restore refuses a snapshot whose hash,
//! layout or invariants do not hold, and leaves the state as it was.

use std::io::{Read, Write};

use bincode::Options as _;
use synod_paxos::{FnvIo, RestoreError, SnapshotData, SnapshotWriter, StateMachine};

use crate::group::ShardGroup;
use crate::op::{decode, encode, GroupOp, GroupReply};

/// Leads every snapshot; bump it when the layout changes.
pub const SNAPSHOT_VERSION: u8 = 1;

impl StateMachine for ShardGroup {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        let reply = match decode::<GroupOp>(op) {
            Ok(op) => self.apply(op),
            Err(e) => GroupReply::Refused(e.to_string()),
        };
        encode(&reply)
    }

    /// Reads go through the log for now (`GroupOp::Client`).
    fn query(&self, _op: &[u8]) -> Vec<u8> {
        encode(&GroupReply::Refused("reads go through the log".into()))
    }

    fn snapshot(&self, out: &mut SnapshotWriter) {
        out.write_all(&[SNAPSHOT_VERSION])
            .expect("writing to memory");
        let mut body = FnvIo::new(&mut *out);
        bincode::DefaultOptions::new()
            .serialize_into(&mut body, self)
            .expect("writing to memory");
        let hash = body.hash();
        out.write_all(&hash.to_le_bytes())
            .expect("writing to memory");
    }

    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        let corrupt = |what: String| RestoreError(format!("shard group snapshot: {what}"));
        let mut reader = snapshot.reader();
        let mut version = [0u8];
        reader
            .read_exact(&mut version)
            .map_err(|_| corrupt("empty".into()))?;
        if version[0] != SNAPSHOT_VERSION {
            return Err(corrupt(format!("unknown version {}", version[0])));
        }
        let mut body = FnvIo::new(&mut reader);
        let group: ShardGroup = bincode::DefaultOptions::new()
            .with_limit(snapshot.len())
            .deserialize_from(&mut body)
            .map_err(|e| corrupt(e.to_string()))?;
        let hash = body.hash();
        let mut trailer = [0u8; 8];
        reader
            .read_exact(&mut trailer)
            .map_err(|_| corrupt("no hash after the body".into()))?;
        if u64::from_le_bytes(trailer) != hash {
            return Err(corrupt("hash mismatch".into()));
        }
        if reader.remaining() != 0 {
            return Err(corrupt(format!("{} trailing bytes", reader.remaining())));
        }
        group.check_invariants().map_err(corrupt)?;
        self.replace_state(group);
        Ok(())
    }

    fn digest(&self) -> u64 {
        synod_paxos::digest(self)
    }
}
