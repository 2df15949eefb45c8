//! The fixed parts of a search, shared by every state: the knobs, the
//! engine configuration, the initial membership, and the commands and
//! membership changes the search may submit.

use crate::config::ExploreConfig;
use synod_paxos::{Command, Config, ConfigChange, EngineConfig, NodeId};

/// The client id every explored command uses; commands differ by sequence
/// number, so exactly-once bookkeeping sees one client moving forward.
const CLIENT: u64 = 7;

pub(crate) struct Setup {
    pub explore: ExploreConfig,
    pub engine: EngineConfig,
    /// Voters `1..=nodes`, learners after them. Every node boots (and
    /// restarts from a disk without a snapshot) with it.
    pub membership: Config,
}

impl Setup {
    pub fn new(explore: &ExploreConfig) -> Self {
        let voters = explore.nodes as NodeId;
        let mut membership = Config::new(1..=voters);
        membership.learners = (voters + 1..=explore.hosts() as NodeId).collect();
        Setup {
            membership,
            engine: explore.engine(),
            explore: explore.clone(),
        }
    }

    pub fn command(&self, index: usize) -> Command {
        Command {
            client: CLIENT,
            seq: index as u64 + 1,
            op: vec![b'c', index as u8],
        }
    }

    /// The command index an operation encodes, if it is one of ours.
    pub fn command_index(op: &[u8]) -> Option<usize> {
        match op {
            [b'c', i] => Some(*i as usize),
            _ => None,
        }
    }

    pub fn change(&self, index: usize) -> ConfigChange {
        self.explore.changes[index]
    }

    /// Which of the configured changes `change` is, if any.
    pub fn change_index(&self, change: ConfigChange) -> Option<usize> {
        self.explore.changes.iter().position(|c| *c == change)
    }
}
