//! The state machine a server replicates: the key-value store of the
//! native API and the coordination tree of the ZooKeeper protocol, side by
//! side in one log. A coordination operation starts with `COORD_TAG`, a
//! byte no key-value encoding starts with; everything else is key-value.

use crate::bugs::StateHooks;
use crate::tap::Applied;
use synod_coord::{CoordOp, Tree};
use synod_kv::KvStore;
use synod_paxos::{ConfigChange, RestoreError, StateMachine};

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
                let pending = self.tree.pending_triggers().len();
                Some(vec![Applied::new(None, &self.tree, pending)])
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
        let before = self.tree.pending_triggers().len();
        let reply = match self.hooks.on_apply(&mut self.tree, &mut op) {
            Some(reply) => reply,
            None => self.tree.apply_op(&op).encode(),
        };
        if let Some(tap) = &mut self.tap {
            tap.push(Applied::new(Some(op), &self.tree, before));
        }
        reply
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

    fn snapshot(&self) -> Vec<u8> {
        let kv = self.kv.snapshot();
        let tree = self.tree.snapshot();
        let mut out = Vec::with_capacity(1 + 8 + kv.len() + tree.len());
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&(kv.len() as u64).to_be_bytes());
        out.extend_from_slice(&kv);
        out.extend_from_slice(&tree);
        out
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError> {
        let Some((&version, rest)) = snapshot.split_first() else {
            return Err(RestoreError("empty service snapshot".into()));
        };
        if version != SNAPSHOT_VERSION {
            return Err(RestoreError(format!(
                "service snapshot version {version} is not {SNAPSHOT_VERSION}"
            )));
        }
        if rest.len() < 8 {
            return Err(RestoreError("service snapshot is truncated".into()));
        }
        let (len, rest) = rest.split_at(8);
        let len = u64::from_be_bytes(len.try_into().expect("8 bytes")) as usize;
        if rest.len() < len {
            return Err(RestoreError(format!(
                "service snapshot says its key-value part has {len} bytes but {} remain",
                rest.len()
            )));
        }
        let (kv, tree) = rest.split_at(len);
        let mut new_kv = KvStore::new();
        new_kv.restore(kv)?;
        let mut new_tree = Tree::new();
        new_tree.restore(tree)?;
        self.kv = new_kv;
        self.tree = new_tree;
        self.restored = true;
        if let Some(tap) = &mut self.tap {
            tap.push(Applied::new(None, &self.tree, 0));
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
        let snap = s.snapshot();
        let mut t = ServiceState::new();
        assert!(!t.take_restored());
        t.restore(&snap).unwrap();
        assert!(t.take_restored(), "the drive loop learns of the jump once");
        assert!(!t.take_restored());
        assert_eq!(t.digest(), s.digest());
        assert_eq!(t.tree.session_count(), 1);
        assert!(t.restore(&snap[..5]).is_err());
    }
}
