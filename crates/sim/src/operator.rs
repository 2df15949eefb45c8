//! The operator of the churn profile: every so often it asks the leader to
//! grow the cluster towards five voters (start a node, add it as a
//! learner, promote it) or shrink it back towards three (remove a learner
//! or a voter), and shuts removed nodes down.

use crate::world::{Ev, World, ADMIN_EVERY_US};
use synod_node::NodeInput;
use synod_paxos::{Config, ConfigChange, NodeId, Outcome};
use synod_simcluster::ClientInput;

/// An unanswered change is given up on (its answer died with a crashed
/// leader) after this long.
const ADMIN_PATIENCE_US: u64 = 3_000_000;
/// A removed node runs on for this long before it is shut down.
const DECOMMISSION_AFTER_US: u64 = 1_000_000;

impl World {
    pub(crate) fn admin(&mut self) {
        if self.cluster.is_healed() {
            return;
        }
        self.cluster
            .schedule(self.now() + ADMIN_EVERY_US, Ev::Admin);
        if let Some((_, _, _, asked_at)) = self.admin_pending {
            if self.now() < asked_at + ADMIN_PATIENCE_US {
                return;
            }
            self.admin_pending = None;
        }
        let Some(leader) = self.cluster.current_leader() else {
            return;
        };
        let config = self
            .cluster
            .node(leader)
            .expect("the leader is up")
            .engine()
            .config()
            .clone();
        // The operator keeps the clients' server list to the members it
        // sees, which also drops nodes whose removal it never heard of.
        self.not_serving = self
            .cluster
            .ids()
            .into_iter()
            .filter(|id| !config.contains(*id))
            .collect();
        if config.voters.len() >= 5 {
            self.grow = false;
        } else if config.voters.len() <= 3 {
            self.grow = true;
        }
        let change = if self.grow {
            if let Some(l) = config.learners.iter().next() {
                ConfigChange::Promote(*l)
            } else {
                let id = self.next_node_id;
                self.next_node_id += 1;
                self.cluster.spawn(id, Config::default());
                ConfigChange::AddLearner(id)
            }
        } else if let Some(l) = config.learners.iter().next() {
            ConfigChange::Remove(*l)
        } else {
            let voters: Vec<NodeId> = config.voters.iter().copied().collect();
            let pick = self.cluster.rng().range(0, voters.len() as u64) as usize;
            ConfigChange::Remove(voters[pick])
        };
        self.admin_id += 1;
        let id = self.admin_id;
        // Half the time through a member that may be a follower, which
        // forwards the change to the leader it knows (the path a ZooKeeper
        // client's reconfig takes).
        let members: Vec<NodeId> = config
            .voters
            .iter()
            .chain(config.learners.iter())
            .copied()
            .filter(|n| self.cluster.is_up(*n))
            .collect();
        let asked = if self.cluster.rng().range(0, 2) == 0 || members.is_empty() {
            leader
        } else {
            members[self.cluster.rng().range(0, members.len() as u64) as usize]
        };
        self.admin_pending = Some((id, change, asked, self.now()));
        self.cluster
            .note(|| format!("operator asks n{asked} for {change:?}"));
        self.cluster.input_now(
            asked,
            ClientInput::Node(NodeInput::Reconfigure { id, change }),
        );
    }

    pub(crate) fn on_admin_reply(&mut self, id: u64, outcome: Outcome) {
        let Some((pid, change, _, _)) = self.admin_pending else {
            return;
        };
        if pid != id {
            return;
        }
        self.admin_pending = None;
        self.cluster
            .note(|| format!("operator: {change:?} -> {outcome:?}"));
        if !matches!(outcome, Outcome::Ok(_)) {
            return;
        }
        self.stats.reconfigs += 1;
        if let ConfigChange::Remove(n) = change {
            self.not_serving.insert(n);
            self.cluster.schedule(
                self.now() + DECOMMISSION_AFTER_US,
                Ev::Decommission { node: n },
            );
        }
    }

    /// Shuts `id` down once no running node counts it as a member.
    pub(crate) fn decommission(&mut self, id: NodeId) {
        let in_config = self
            .cluster
            .ids()
            .into_iter()
            .filter_map(|n| self.cluster.node(n))
            .any(|n| n.engine().config().contains(id));
        if !in_config {
            self.cluster.decommission(id);
        }
    }
}
