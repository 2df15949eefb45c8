//! What the node task watches for monitoring, and the view of the node it
//! hands the admin listener.
//!
//! The node is pure and keeps no metrics: everything here is derived from
//! what the node exposes (its slots, leader, role) after each step, and
//! from the inputs and outputs the task carries (a heartbeat sent, its
//! acknowledgement received), timed with the task's real clock. Every
//! collection is bounded: [`LEADER_CHANGES_KEPT`] changes, and at most
//! [`HEARTBEATS_TIMED_MAX`] unacknowledged heartbeats per peer.

use crate::metrics::Metrics;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use synod_net::PeerBytes;
use synod_node::{NodeStatus, ServiceNode};
use synod_paxos::{Ballot, Message, NodeId, Slot};

/// Leader changes kept for the status page; older ones are forgotten.
pub const LEADER_CHANGES_KEPT: usize = 32;
/// Heartbeats per peer waiting for their acknowledgement; beyond it the
/// oldest is forgotten (its acknowledgement, if it comes, is not timed).
pub const HEARTBEATS_TIMED_MAX: usize = 64;

/// The leader this node knows changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderChange {
    pub at: SystemTime,
    pub from: Option<NodeId>,
    pub to: Option<NodeId>,
    /// The highest ballot this node had promised then.
    pub ballot: Ballot,
}

/// The node as the admin listener sees it: built by the node task in one
/// go, so every field is of the same moment.
#[derive(Clone, Debug)]
pub struct AdminView {
    pub status: NodeStatus,
    /// Leading with phase 1 done (a candidate still preparing is not).
    pub is_leader: bool,
    pub proposals_pending: u64,
    pub zk_connections: u64,
    /// ZooKeeper connections this server takes at most (`[zk]
    /// connections_max`).
    pub zk_connections_max: u64,
    pub sessions: u64,
    pub znodes: u64,
    pub watches: u64,
    pub last_zxid: i64,
    /// Persist requests the disk has not completed yet.
    pub persist_backlog: u64,
    /// Oldest first.
    pub leader_changes: Vec<LeaderChange>,
    /// The last heartbeat round trip to each peer (while this node led).
    pub peer_rtt: BTreeMap<NodeId, Duration>,
    pub peer_bytes: BTreeMap<NodeId, PeerBytes>,
    pub started: SystemTime,
}

/// The node task's monitoring state.
pub struct Observer {
    metrics: Arc<Metrics>,
    started: SystemTime,
    /// The leader as of the last step, and the last one that was not none.
    leader: Option<NodeId>,
    last_leader: Option<NodeId>,
    commit: Slot,
    applied: Slot,
    changes: VecDeque<LeaderChange>,
    heartbeats: BTreeMap<NodeId, VecDeque<(Ballot, u64, Instant)>>,
    last_rtt: BTreeMap<NodeId, Duration>,
}

impl Observer {
    /// Counts from the node's state as recovered: slots committed before
    /// this process started are not counted again.
    pub fn new(metrics: Arc<Metrics>, node: &ServiceNode) -> Observer {
        let engine = node.engine();
        Observer {
            metrics,
            started: SystemTime::now(),
            leader: None,
            last_leader: None,
            commit: engine.commit(),
            applied: engine.applied(),
            changes: VecDeque::new(),
            heartbeats: BTreeMap::new(),
            last_rtt: BTreeMap::new(),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// After every step: advances the slot counters and notes a change of
    /// leader.
    pub fn after_step(&mut self, node: &ServiceNode) {
        let engine = node.engine();
        let m = &self.metrics;
        m.proposals_committed
            .inc_by(engine.commit().saturating_sub(self.commit));
        m.proposals_applied
            .inc_by(engine.applied().saturating_sub(self.applied));
        self.commit = self.commit.max(engine.commit());
        self.applied = self.applied.max(engine.applied());
        let leader = engine.leader();
        if leader == self.leader {
            return;
        }
        if leader.is_some() && leader != self.last_leader {
            m.leader_changes.inc();
            self.last_leader = leader;
        }
        if self.changes.len() == LEADER_CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(LeaderChange {
            at: SystemTime::now(),
            from: self.leader,
            to: leader,
            ballot: engine.promised(),
        });
        self.leader = leader;
    }

    /// A message is handed to the transport: a heartbeat starts a timing.
    pub fn on_send(&mut self, to: NodeId, msg: &Message) {
        if let Message::Heartbeat { ballot, seq, .. } = msg {
            let sent = self.heartbeats.entry(to).or_default();
            if sent.len() == HEARTBEATS_TIMED_MAX {
                sent.pop_front();
            }
            sent.push_back((*ballot, *seq, Instant::now()));
        }
    }

    /// A message arrived: a heartbeat's acknowledgement ends its timing
    /// (and forgets the older ones to that peer, which will not be
    /// acknowledged after it).
    pub fn on_receive(&mut self, from: NodeId, msg: &Message) {
        let Message::HeartbeatAck { ballot, seq, .. } = msg else {
            return;
        };
        let Some(sent) = self.heartbeats.get_mut(&from) else {
            return;
        };
        let Some(i) = sent.iter().position(|(b, s, _)| b == ballot && s == seq) else {
            return;
        };
        let (_, _, at) = sent[i];
        sent.drain(..=i);
        let rtt = at.elapsed();
        self.metrics
            .peer_round_trip
            .with_label_values(&[&from.to_string()])
            .observe(rtt.as_secs_f64());
        self.last_rtt.insert(from, rtt);
    }

    /// The node as of now, for the admin listener.
    pub fn view(
        &self,
        node: &ServiceNode,
        peer_bytes: BTreeMap<NodeId, PeerBytes>,
        zk_connections_max: usize,
    ) -> AdminView {
        let engine = node.engine();
        let front = node.front();
        let tree = &engine.state_machine().tree;
        AdminView {
            status: node.status(),
            is_leader: engine.is_active_leader(),
            proposals_pending: (engine.proposals_in_flight()
                + engine.queued_commands()
                + engine.forwarded_len()) as u64,
            zk_connections: front.connection_count() as u64,
            zk_connections_max: zk_connections_max as u64,
            sessions: tree.session_count() as u64,
            znodes: tree.node_count() as u64,
            watches: front.watches.total() as u64,
            last_zxid: tree.last_zxid(),
            persist_backlog: engine.persist_backlog(),
            leader_changes: self.changes.iter().cloned().collect(),
            peer_rtt: self.last_rtt.clone(),
            peer_bytes,
            started: self.started,
        }
    }
}
