//! What `/health` and `/readyz` decide, from one `AdminView`: pure, so the
//! rules are tested without a cluster.
//!
//! - healthy: this node knows a live leader (itself, or one it heard
//!   within its lease) and its applied slot trails the commit point it
//!   knows by at most `lag_slots_max` slots;
//! - ready (can serve clients now): healthy, and if it leads, its phase 1
//!   is done, and it has room for another ZooKeeper connection. Storage is
//!   open whenever the node task answers at all: a disk failure stops it.

use crate::observe::AdminView;
use serde::Serialize;
use synod_paxos::{NodeId, Slot};

/// Why the node is not healthy or not ready.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("no leader")]
    NoLeader,
    #[error("applied {applied} behind commit {commit} by {lag} slots (more than {lag_max})")]
    Behind {
        applied: Slot,
        commit: Slot,
        lag: u64,
        lag_max: u64,
    },
    #[error("leader {0} still preparing (phase 1 not done)")]
    Preparing(NodeId),
    #[error("ZooKeeper connections full ({open} of {max})")]
    ConnectionsFull { open: u64, max: u64 },
    #[error("the node task did not answer within {0} ms")]
    NotAnswering(u64),
}

/// Healthy, or the first reason it is not.
pub fn health(view: &AdminView, lag_slots_max: u64) -> Result<(), Problem> {
    let s = &view.status;
    if s.leader.is_none() {
        return Err(Problem::NoLeader);
    }
    let lag = s.commit.saturating_sub(s.applied);
    if lag > lag_slots_max {
        return Err(Problem::Behind {
            applied: s.applied,
            commit: s.commit,
            lag,
            lag_max: lag_slots_max,
        });
    }
    Ok(())
}

/// Ready to serve clients, or the first reason it is not.
pub fn readiness(view: &AdminView, lag_slots_max: u64, zk_served: bool) -> Result<(), Problem> {
    health(view, lag_slots_max)?;
    let s = &view.status;
    if s.leader == Some(s.id) && !view.is_leader {
        return Err(Problem::Preparing(s.id));
    }
    if zk_served && view.zk_connections >= view.zk_connections_max {
        return Err(Problem::ConnectionsFull {
            open: view.zk_connections,
            max: view.zk_connections_max,
        });
    }
    Ok(())
}

/// The JSON body of `/health`. `health` is the string "true" or "false",
/// as etcd's is.
#[derive(Clone, Debug, Serialize)]
pub struct HealthBody {
    pub health: &'static str,
    /// Empty when healthy.
    pub reason: String,
    pub node: Option<NodeId>,
    pub role: Option<&'static str>,
    pub leader: Option<NodeId>,
    pub commit: Option<Slot>,
    pub applied: Option<Slot>,
    pub lag_slots: Option<u64>,
    pub lag_slots_max: u64,
}

impl HealthBody {
    /// The answer for `view`, or for a node task that did not answer.
    pub fn new(
        view: Option<&AdminView>,
        verdict: &Result<(), Problem>,
        lag_slots_max: u64,
    ) -> Self {
        let s = view.map(|v| &v.status);
        HealthBody {
            health: if verdict.is_ok() { "true" } else { "false" },
            reason: verdict
                .as_ref()
                .err()
                .map_or(String::new(), |p| p.to_string()),
            node: s.map(|s| s.id),
            role: s.map(|s| s.role),
            leader: s.and_then(|s| s.leader),
            commit: s.map(|s| s.commit),
            applied: s.map(|s| s.applied),
            lag_slots: s.map(|s| s.commit.saturating_sub(s.applied)),
            lag_slots_max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use synod_node::NodeStatus;
    use synod_paxos::{Ballot, Config};

    fn view(leader: Option<NodeId>, commit: Slot, applied: Slot) -> AdminView {
        AdminView {
            status: NodeStatus {
                id: 1,
                role: "follower",
                promised: Ballot::new(3, 2),
                leader,
                commit,
                applied,
                snapshot_slot: 0,
                config: Config::new([1, 2, 3]),
                peer_commits: Vec::new(),
            },
            is_leader: false,
            proposals_pending: 0,
            zk_connections: 0,
            zk_connections_max: 10,
            sessions: 0,
            znodes: 1,
            watches: 0,
            last_zxid: 0,
            persist_backlog: 0,
            leader_changes: Vec::new(),
            peer_rtt: Default::default(),
            peer_bytes: Default::default(),
            started: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_node_that_knows_no_leader_is_unhealthy() {
        assert_eq!(health(&view(None, 5, 5), 1000), Err(Problem::NoLeader));
    }

    #[test]
    fn a_node_with_a_leader_and_applied_within_the_bound_is_healthy() {
        assert_eq!(health(&view(Some(2), 1500, 500), 1000), Ok(()));
    }

    #[test]
    fn a_node_applied_further_behind_than_the_bound_is_unhealthy_and_says_by_how_much() {
        let verdict = health(&view(Some(2), 5000, 10), 1000);
        assert_eq!(
            verdict.clone().unwrap_err().to_string(),
            "applied 10 behind commit 5000 by 4990 slots (more than 1000)"
        );
        let body = HealthBody::new(Some(&view(Some(2), 5000, 10)), &verdict, 1000);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["health"], "false");
        assert_eq!(json["leader"], 2);
        assert_eq!(json["lag_slots"], 4990);
    }

    #[test]
    fn a_leader_still_preparing_is_healthy_but_not_ready() {
        let mut v = view(Some(1), 5, 5);
        v.status.role = "preparing";
        assert_eq!(health(&v, 1000), Ok(()));
        assert_eq!(readiness(&v, 1000, false), Err(Problem::Preparing(1)));
        v.is_leader = true;
        assert_eq!(readiness(&v, 1000, false), Ok(()));
    }

    #[test]
    fn a_server_with_no_room_for_another_zookeeper_connection_is_not_ready() {
        let mut v = view(Some(2), 5, 5);
        v.zk_connections = 10;
        assert!(matches!(
            readiness(&v, 1000, true),
            Err(Problem::ConnectionsFull { open: 10, max: 10 })
        ));
        assert_eq!(readiness(&v, 1000, false), Ok(()));
    }
}
