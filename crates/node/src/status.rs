//! A node's view of itself, for `synod status` and the four-letter words.

use crate::node::ServiceNode;
use synod_paxos::{Ballot, Config, NodeId, Slot};

/// A node's view of itself.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: &'static str,
    pub promised: Ballot,
    pub leader: Option<NodeId>,
    pub commit: Slot,
    pub applied: Slot,
    pub snapshot_slot: Slot,
    pub config: Config,
    /// The leader's view of each peer's commit point.
    pub peer_commits: Vec<(NodeId, Slot)>,
}

impl ServiceNode {
    pub fn status(&self) -> NodeStatus {
        let n = &self.engine;
        NodeStatus {
            id: n.id(),
            role: n.role_name(),
            promised: n.promised(),
            leader: n.leader(),
            commit: n.commit(),
            applied: n.applied(),
            snapshot_slot: n.snapshot_slot(),
            config: n.config().clone(),
            peer_commits: n.peer_commits(),
        }
    }
}
