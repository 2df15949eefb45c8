//! A node's view of itself and of the cluster, as plain Rust types.
//!
//! These mirror `synod_api::pb::StatusResponse` so that callers (the
//! `synod status` command) need not handle protobuf's optional fields and
//! integer enums.

use synod_api::pb;

/// A node's role in the Paxos engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader, or waits for one.
    Follower,
    /// Asks for pre-votes; has nothing promised yet.
    Candidate,
    /// Runs phase 1 (prepare/promise) for its ballot.
    Preparing,
    /// Has finished phase 1 and proposes in phase 2.
    Leader,
    /// A role this client does not know (a newer server), by its number.
    Unknown(i32),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Follower => f.write_str("follower"),
            Role::Candidate => f.write_str("candidate"),
            Role::Preparing => f.write_str("preparing"),
            Role::Leader => f.write_str("leader"),
            Role::Unknown(n) => write!(f, "unknown role {n}"),
        }
    }
}

/// A ballot: (round, node id), ordered by round then node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// The round number.
    pub round: u64,
    /// The node that leads (or tries to lead) in this ballot.
    pub node: u64,
}

/// What the leader knows about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's node id.
    pub peer_id: u64,
    /// The peer's last reported commit point.
    pub commit_slot: u64,
    /// How many slots the peer's commit point trails the leader's.
    pub lag_slots: u64,
}

/// One node's view of itself and of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReply {
    /// The endpoint that answered.
    pub endpoint: String,
    /// The node's id.
    pub node_id: u64,
    /// The node's role.
    pub role: Role,
    /// The highest ballot the node has seen.
    pub ballot: Ballot,
    /// The leader the node believes in, if any.
    pub leader_id: Option<u64>,
    /// That leader's client address, if known.
    pub leader_addr: Option<String>,
    /// The node's commit point: this slot and all below are known chosen.
    pub commit_slot: u64,
    /// The last slot the node's state machine applied.
    pub applied_slot: u64,
    /// The voting members.
    pub voters: Vec<u64>,
    /// The members that replicate but do not vote.
    pub learners: Vec<u64>,
    /// Per-peer replication progress; filled only by the leader.
    pub peers: Vec<PeerStatus>,
}

impl StatusReply {
    /// Converts the wire message from `endpoint`.
    pub fn from_pb(endpoint: String, reply: pb::StatusResponse) -> StatusReply {
        let role = match pb::Role::try_from(reply.role) {
            Ok(pb::Role::Follower) => Role::Follower,
            Ok(pb::Role::Candidate) => Role::Candidate,
            Ok(pb::Role::Preparing) => Role::Preparing,
            Ok(pb::Role::Leader) => Role::Leader,
            Ok(pb::Role::Unspecified) | Err(_) => Role::Unknown(reply.role),
        };
        let ballot = reply.ballot.map_or_else(Ballot::default, |b| Ballot {
            round: b.round,
            node: b.node,
        });
        let config = reply.config.unwrap_or_default();
        StatusReply {
            endpoint,
            node_id: reply.node_id,
            role,
            ballot,
            leader_id: reply.leader_id,
            leader_addr: reply.leader_addr,
            commit_slot: reply.commit_slot,
            applied_slot: reply.applied_slot,
            voters: config.voters,
            learners: config.learners,
            peers: reply
                .peers
                .into_iter()
                .map(|p| PeerStatus {
                    peer_id: p.peer_id,
                    commit_slot: p.commit_slot,
                    lag_slots: p.lag_slots,
                })
                .collect(),
        }
    }
}
