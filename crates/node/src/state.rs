//! The state machine a server replicates: the key-value store of the
//! native API and the coordination tree of the ZooKeeper protocol, side by
//! side in one log. A coordination operation starts with `COORD_TAG`, a
//! byte no key-value encoding starts with; everything else is key-value.

use crate::bugs::StateHooks;
use crate::tap::{Applied, Mark};
use std::io::{Read as _, Write as _};
use synod_coord::{CoordOp, Tree};
use synod_kv::KvStore;

use synod_paxos::{ConfigChange, RestoreError, SnapshotData, SnapshotWriter, StateMachine};

pub use synod_front::front::{coord_command as coord_op, COORD_TAG};

/// Snapshot format version of the pair.
const SNAPSHOT_VERSION: u8 = 1;

#[derive(Default)]
pub struct ServiceState {
    pub kv: KvStore,
    pub tree: Tree,
    /// A snapshot replaced the state since the drive loop last asked (not
    /// replicated state: the node must close its ZooKeeper connections,
    /// whose watches could not see the changes the snapshot skipped).
    restored: bool,
    /// The apply tap's records since the drive loop last took them, while
    /// the tap is on (`tap.rs`); not replicated state.
    tap: Option<Vec<Applied>>,
    /// The deliberate tree bugs (`bugs.rs`); empty without `broken`.
    pub(crate) hooks: StateHooks,
}

impl ServiceState {
    pub fn new() -> Self {
        ServiceState {
            kv: KvStore::new(),
            tree: Tree::new(),
            restored: false,
            tap: None,
            hooks: StateHooks::default(),
        }
    }

    /// Whether a snapshot replaced the state since the last call.
    pub fn take_restored(&mut self) -> bool {
        std::mem::take(&mut self.restored)
    }

    /// Switches the apply tap on or off. Switched on, its first record is
    /// the state as it is now.
    pub(crate) fn set_apply_tap(&mut self, on: bool) {
        self.tap = match (on, self.tap.take()) {
            (false, _) => None,
            (true, Some(records)) => Some(records),
            (true, None) => {
                let now = Mark::of(&self.tree);
                Some(vec![Applied::new(None, &self.tree, now)])
            }
        };
    }

    /// The apply tap's records since the last call (none while it is off).
    pub(crate) fn take_applied(&mut self) -> Vec<Applied> {
        self.tap.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// One coordination entry (after its tag). With the tap off and no
    /// deliberate bug, exactly `Tree::apply`; otherwise decoded here (as
    /// `Tree::apply` decodes it) so the record can hold the operation.
    fn apply_coord(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.tap.is_none() && !self.hooks.active() {
            return self.tree.apply(bytes);
        }
        let Ok(mut op) = CoordOp::decode(bytes) else {
            // Changes nothing, on every replica.
            return self.tree.apply(bytes);
        };
        let before = Mark::of(&self.tree);
        let reply = match self.hooks.on_apply(&mut self.tree, &mut op) {
            Some(reply) => return self.record(op, before, reply),
            None => self.tree.apply_op(&op),
        };
        self.record(op, before, reply.encode())
    }

    /// Hands `op`'s apply to the tap, if on; returns its encoded reply.
    fn record(&mut self, op: CoordOp, before: Mark, bytes: Vec<u8>) -> Vec<u8> {
        if let Some(tap) = &mut self.tap {
            tap.push(Applied::new(Some(op), &self.tree, before));
        }
        bytes
    }
}

impl StateMachine for ServiceState {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        match op.split_first() {
            Some((&COORD_TAG, rest)) => self.apply_coord(rest),
            _ => self.kv.apply(op),
        }
    }

    fn query(&self, op: &[u8]) -> Vec<u8> {
        match op.split_first() {
            Some((&COORD_TAG, rest)) => self.tree.query(rest),
            _ => self.kv.query(op),
        }
    }

    /// The version byte, the key-value part's length (it is written
    /// first, into chunks of its own, then appended without a copy), the
    /// key-value part, then the tree's.
    fn snapshot(&self, out: &mut SnapshotWriter) {
        let mut kv = SnapshotWriter::new(out.chunk_bytes());
        self.kv.snapshot(&mut kv);
        let kv = kv.finish();
        out.write_all(&[SNAPSHOT_VERSION])
            .and_then(|()| out.write_all(&kv.len().to_be_bytes()))
            .expect("writing to memory cannot fail");
        out.append(&kv);
        self.tree.snapshot(out);
    }

    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        let mut head = [0u8; 9];
        if snapshot.reader().read_exact(&mut head).is_err() {
            return Err(RestoreError("service snapshot is truncated".into()));
        }
        let version = head[0];
        if version != SNAPSHOT_VERSION {
            return Err(RestoreError(format!(
                "service snapshot version {version} is not {SNAPSHOT_VERSION}"
            )));
        }
        let len = u64::from_be_bytes(head[1..].try_into().expect("8 bytes"));
        let rest = snapshot.len() - 9;
        if rest < len {
            return Err(RestoreError(format!(
                "service snapshot says its key-value part has {len} bytes but {rest} remain"
            )));
        }
        let kv = snapshot.slice(9..9 + len);
        let tree = snapshot.slice(9 + len..snapshot.len());
        let mut new_kv = KvStore::new();
        new_kv.restore(&kv)?;
        let mut new_tree = Tree::new();
        new_tree.restore(&tree)?;
        self.kv = new_kv;
        self.tree = new_tree;
        self.restored = true;
        if let Some(tap) = &mut self.tap {
            tap.push(Applied::new(None, &self.tree, Mark::default()));
        }
        Ok(())
    }

    fn digest(&self) -> u64 {
        self.kv.content_digest().rotate_left(17) ^ self.tree.digest()
    }

    /// `/zookeeper/config`'s version becomes the change's slot, and its
    /// data watches fire (see `synod_coord::zk_config`).
    fn on_membership_change(&mut self, slot: synod_paxos::Slot, change: ConfigChange) {
        let removed = match change {
            ConfigChange::Remove(id) => Some(id),
            ConfigChange::AddLearner(_) | ConfigChange::Promote(_) => None,
        };
        self.tree.on_membership_change(slot, removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_kv::KvOp;

    #[test]
    fn both_halves_survive_a_snapshot() {
        let mut s = ServiceState::new();
        s.apply(
            &KvOp::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }
            .encode(),
        );
        s.apply(&coord_op(&synod_coord::CoordOp::CreateSession {
            passwd: vec![1; 16],
            timeout_ms: 4000,
            time_ms: 1,
        }));
        let snap = s.snapshot_data();
        let mut t = ServiceState::new();
        assert!(!t.take_restored());
        t.restore(&snap).unwrap();
        assert!(t.take_restored(), "the drive loop learns of the jump once");
        assert!(!t.take_restored());
        assert_eq!(t.digest(), s.digest());
        assert_eq!(t.tree.session_count(), 1);
        assert!(t.restore(&snap.slice(0..5)).is_err());
    }
}
