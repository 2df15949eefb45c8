//! The lock table's reads as state-machine queries: what the node's lock
//! door asks through the engine's linearizable read path (`Input::Read`,
//! answered by the leader under its lease), so a `CheckSequencer` or a
//! status is never older than a release that completed before it.

use serde::{Deserialize, Serialize};

use super::{Invalid, LockStatus, Sequencer};
use crate::tree::Tree;
use crate::types::{ErrorCode, Id};

/// A read of the lock table, encoded with bincode after `COORD_TAG`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockQuery {
    /// Chubby's CheckSequencer.
    Check(Sequencer),
    /// `synod lock status`: needs READ on the znode for `auth`.
    Status { path: String, auth: Vec<Id> },
    /// Chubby's GetContentsAndStat: the znode's data and Stat; needs READ.
    Contents { path: String, auth: Vec<Id> },
}

/// The answer to a `LockQuery`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockQueryReply {
    Check(Result<(), Invalid>),
    Status(Result<LockStatus, ErrorCode>),
    /// The data (`None`: null) and the Stat.
    Contents(Result<(Option<Vec<u8>>, crate::types::Stat), ErrorCode>),
    /// The query did not decode (a newer client, or garbage).
    Undecodable,
}

impl LockQuery {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("LockQuery serializes")
    }
}

impl LockQueryReply {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("LockQueryReply serializes")
    }

    /// An empty or undecodable answer reads as `Undecodable`.
    pub fn decode(bytes: &[u8]) -> Self {
        bincode::deserialize(bytes).unwrap_or(LockQueryReply::Undecodable)
    }
}

impl Tree {
    /// Answers an encoded `LockQuery` from the applied tree.
    pub fn lock_query(&self, op: &[u8]) -> Vec<u8> {
        let reply = match bincode::deserialize::<LockQuery>(op) {
            Ok(LockQuery::Check(seq)) => LockQueryReply::Check(self.check_sequencer(&seq)),
            Ok(LockQuery::Status { path, auth }) => {
                LockQueryReply::Status(self.lock_status(&path, &auth))
            }
            Ok(LockQuery::Contents { path, auth }) => {
                LockQueryReply::Contents(self.get_data(&path, &auth))
            }
            Err(_) => LockQueryReply::Undecodable,
        };
        reply.encode()
    }

    /// The sequencer of `session`'s holding of the lock at `path`, if it
    /// holds it now.
    pub fn lock_holding(&self, session: i64, path: &str) -> Option<Sequencer> {
        let lock = self.state.locks.get(path)?;
        lock.holders
            .contains_key(&session)
            .then(|| Sequencer::new(path, lock.mode, lock.generation, session))
    }

    /// The sessions holding the lock at `path` (no ACL check: for the
    /// node's own bookkeeping).
    pub fn lock_holders(&self, path: &str) -> Vec<i64> {
        self.state
            .locks
            .get(path)
            .map(|l| l.holders.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether `session` waits in the queue of the lock at `path`.
    pub fn lock_waiting(&self, session: i64, path: &str) -> bool {
        self.state
            .locks
            .get(path)
            .is_some_and(|l| l.waiters.iter().any(|w| w.session == session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockMode;

    #[test]
    fn queries_read_back_and_garbage_is_named() {
        let tree = Tree::new();
        let seq = Sequencer::new("/a", LockMode::Exclusive, 1, 7);
        let reply = LockQueryReply::decode(&tree.lock_query(&LockQuery::Check(seq).encode()));
        assert_eq!(reply, LockQueryReply::Check(Err(Invalid::Free)));
        let reply = LockQueryReply::decode(
            &tree.lock_query(
                &LockQuery::Status {
                    path: "/".into(),
                    auth: vec![],
                }
                .encode(),
            ),
        );
        assert!(matches!(reply, LockQueryReply::Status(Ok(_))));
        assert_eq!(
            LockQueryReply::decode(&tree.lock_query(&[0xff; 3])),
            LockQueryReply::Undecodable
        );
        assert_eq!(LockQueryReply::decode(&[]), LockQueryReply::Undecodable);
    }
}
