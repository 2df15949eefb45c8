//! The group as the Paxos engine drives it, and its snapshot: a version
//! byte, the whole state in bincode, and the FNV-1a 64 hash of that
//! bincode, little-endian. A restore refuses a snapshot whose hash,
//! layout or invariants do not hold, and leaves the state as it was.

use synod_paxos::{
    read_framed, write_framed, RestoreError, SnapshotData, SnapshotWriter, StateMachine,
};

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
        write_framed(out, SNAPSHOT_VERSION, self);
    }

    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        let corrupt = |what: String| RestoreError(format!("shard group snapshot: {what}"));
        let group: ShardGroup =
            read_framed(snapshot, SNAPSHOT_VERSION).map_err(|e| corrupt(e.to_string()))?;
        group.check_invariants().map_err(corrupt)?;
        self.replace_state(group);
        Ok(())
    }

    fn digest(&self) -> u64 {
        synod_paxos::digest(self)
    }
}
