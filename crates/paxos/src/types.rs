//! The domain words of Paxos as types: node ids, ballots, slots, commands,
//! log values and cluster configurations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A node's identity within one cluster. Never zero.
pub type NodeId = u64;

/// A position in the replicated log. Slot 0 is "before the first entry":
/// real entries start at slot 1.
pub type Slot = u64;

/// Identifies a client for exactly-once commands.
pub type ClientId = u64;

/// Local time of one node in microseconds. Nodes' clocks drift apart; the
/// engine never compares times that came from different nodes.
pub type Micros = u64;

/// A ballot (round, node id), totally ordered: rounds first, ties broken by
/// node id, so two proposers never share a ballot.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

impl Ballot {
    /// The ballot below every real ballot; nobody proposes in it.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    pub fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

/// One client command: the client's id and sequence number make it
/// exactly-once; `op` is opaque to the engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    pub client: ClientId,
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub op: Vec<u8>,
}

impl Command {
    /// An upper bound of the command's encoded size in bytes: client and
    /// sequence number, the op's length and the op (see
    /// `Value::encoded_bytes`).
    pub fn encoded_bytes(&self) -> usize {
        COMMAND_OVERHEAD_BYTES + self.op.len()
    }
}

/// What a command costs on the wire besides its op.
pub const COMMAND_OVERHEAD_BYTES: usize = 24;

/// A change to the cluster's membership, one node at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfigChange {
    /// A new node joins as a non-voting learner and starts catching up.
    AddLearner(NodeId),
    /// A learner that has caught up becomes a voter.
    Promote(NodeId),
    /// A voter or learner leaves the cluster.
    Remove(NodeId),
}

/// The value decided in one slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// Fills a hole, or marks a new leader's first slot before it serves
    /// reads.
    Noop,
    /// Client commands, applied in order.
    Batch(Vec<Command>),
    /// A membership change. It governs its own slot and every later one
    /// (see `Node::config_for`).
    Reconfig(ConfigChange),
}

impl Value {
    /// A stable 64-bit digest of the value, for checkers and traces.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::hash::Fnv64::default();
        self.hash(&mut h);
        h.finish()
    }

    /// A short human description for traces.
    pub fn describe(&self) -> String {
        match self {
            Value::Noop => "no-op".to_string(),
            Value::Batch(cmds) => {
                let ids: Vec<String> = cmds
                    .iter()
                    .take(4)
                    .map(|c| format!("c{}#{}", c.client, c.seq))
                    .collect();
                let more = if cmds.len() > 4 { ", ..." } else { "" };
                format!("batch[{}{}]", ids.join(", "), more)
            }
            Value::Reconfig(change) => format!("reconfig {change:?}"),
        }
    }

    /// An upper bound of the value's encoded size in bytes, on the wire and
    /// on disk (bincode with fixed-width integers: a 4-byte variant tag, an
    /// 8-byte length per sequence). Every byte budget of the engine counts
    /// values with it, so a budget is never exceeded by an encoding.
    pub fn encoded_bytes(&self) -> usize {
        match self {
            Value::Noop => 4,
            Value::Batch(cmds) => 12 + cmds.iter().map(Command::encoded_bytes).sum::<usize>(),
            Value::Reconfig(_) => 16,
        }
    }
}

/// Who votes and who only learns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
}

impl Config {
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Config {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// The smallest number of voters that makes a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn is_quorum<'a>(&self, nodes: impl IntoIterator<Item = &'a NodeId>) -> bool {
        self.votes(nodes) >= self.quorum()
    }

    /// How many of `nodes` are voters.
    pub fn votes<'a>(&self, nodes: impl IntoIterator<Item = &'a NodeId>) -> usize {
        nodes
            .into_iter()
            .filter(|n| self.voters.contains(n))
            .count()
    }

    /// This configuration changed by every legal change among `values`, in
    /// order (an illegal one, which no leader proposes, changes nothing).
    pub fn changed_by<'a>(mut self, values: impl IntoIterator<Item = &'a Value>) -> Config {
        for v in values {
            if let Value::Reconfig(change) = v {
                if self.check(*change).is_ok() {
                    self = self.with(*change);
                }
            }
        }
        self
    }

    /// Everyone who receives the log: voters and learners.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.learners.iter()).copied()
    }

    pub fn contains(&self, node: NodeId) -> bool {
        self.voters.contains(&node) || self.learners.contains(&node)
    }

    /// Checks that `change` is a legal single-node step from this config.
    pub fn check(&self, change: ConfigChange) -> Result<(), String> {
        match change {
            ConfigChange::AddLearner(n) if self.contains(n) => {
                Err(format!("node {n} is already a member"))
            }
            ConfigChange::AddLearner(0) => Err("node id 0 is reserved".to_string()),
            ConfigChange::Promote(n) if !self.learners.contains(&n) => {
                Err(format!("node {n} is not a learner"))
            }
            ConfigChange::Remove(n) if !self.contains(n) => {
                Err(format!("node {n} is not a member"))
            }
            ConfigChange::Remove(n) if self.voters.len() == 1 && self.voters.contains(&n) => {
                Err("cannot remove the last voter".to_string())
            }
            _ => Ok(()),
        }
    }

    /// The config after `change`; assumes `check` passed.
    pub fn with(&self, change: ConfigChange) -> Config {
        let mut next = self.clone();
        match change {
            ConfigChange::AddLearner(n) => {
                next.learners.insert(n);
            }
            ConfigChange::Promote(n) => {
                next.learners.remove(&n);
                next.voters.insert(n);
            }
            ConfigChange::Remove(n) => {
                next.learners.remove(&n);
                next.voters.remove(&n);
            }
        }
        next
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "voters {:?}", self.voters)?;
        if !self.learners.is_empty() {
            write!(f, " learners {:?}", self.learners)?;
        }
        Ok(())
    }
}
