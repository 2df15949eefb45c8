//! What one search explores: cluster size, client commands, fault budgets
//! and the limits that keep the search finite.

use synod_paxos::{Bug, EngineConfig};

/// The bounded configuration a search explores. Every budget bounds one
/// kind of nondeterministic step on any path from the initial state; the
/// search is exhaustive within them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExploreConfig {
    /// Voters in the cluster, with ids `1..=nodes`. At most
    /// [`ExploreConfig::NODES_MAX`].
    pub nodes: usize,
    /// Distinct client commands; each may be submitted once, to any node
    /// that leads at that moment. At most [`ExploreConfig::COMMANDS_MAX`].
    pub commands: usize,
    /// In-flight messages that may be dropped on any one path.
    pub loss_budget: u32,
    /// Crash-and-restarts on any one path. A crash loses the node's memory
    /// and every record whose write was not yet complete.
    pub crash_budget: u32,
    /// Timer firings on any one path, over all nodes. Elections and
    /// heartbeats happen only when a timer fires, so this bounds how many
    /// elections and heartbeat rounds a path holds.
    pub timer_budget: u32,
    /// Transitions on one path at most. A search that reaches it is
    /// reported incomplete: a state first met at the bound is not explored
    /// again when met sooner on another path.
    pub depth_max: u32,
    /// Distinct states at most; the search stops (incomplete) beyond it.
    pub states_max: u64,
    /// Start from a cluster that already elected node 1 (after a fixed
    /// schedule: node 1's election timer fires, then every write completes
    /// and every message is delivered in order until nothing is left in
    /// flight). The search then spends its budgets on what follows; later
    /// elections still happen when timers fire. When false the search
    /// starts from freshly booted nodes and also explores the first
    /// election, at the price of many more states.
    pub warm_start: bool,
    /// Disk writes complete in any order relative to everything else (each
    /// node's writes in order). When false a write completes right after
    /// the step that started it, as if the disk were instant: far fewer
    /// states, and a crash then only loses memory, never a record.
    pub async_writes: bool,
    /// Run a deliberately broken engine. Needs the `broken` feature.
    pub bug: Option<Bug>,
    /// Seeds the nodes' random election timeouts. The search fires timers
    /// past any deadline, so the seed changes no verdict; it is here so a
    /// search is a pure function of its configuration.
    pub seed: u64,
}

impl ExploreConfig {
    pub const NODES_MAX: usize = 5;
    pub const COMMANDS_MAX: usize = 16;

    /// The default search: three nodes, one command, one election, no
    /// faults. Small enough for a unit test.
    pub fn small() -> Self {
        ExploreConfig {
            nodes: 3,
            commands: 1,
            loss_budget: 0,
            crash_budget: 0,
            timer_budget: 1,
            warm_start: true,
            async_writes: true,
            depth_max: 200,
            states_max: 20_000_000,
            bug: None,
            seed: 1,
        }
    }

    /// Checks the knobs' ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes == 0 || self.nodes > Self::NODES_MAX {
            return Err(ConfigError::Nodes(self.nodes));
        }
        if self.commands > Self::COMMANDS_MAX {
            return Err(ConfigError::Commands(self.commands));
        }
        #[cfg(not(feature = "broken"))]
        if let Some(bug) = self.bug {
            return Err(ConfigError::BrokenFeatureOff(bug.name()));
        }
        Ok(())
    }

    /// The engine configuration every node runs: defaults, with events on
    /// (the checks use them) and the chosen bug, if any.
    pub fn engine(&self) -> EngineConfig {
        #[cfg(feature = "broken")]
        let bugs = self.bug.map(synod_paxos::Bugs::with).unwrap_or_default();
        #[cfg(not(feature = "broken"))]
        let bugs = synod_paxos::Bugs::default();
        EngineConfig {
            events: true,
            bugs,
            // Heartbeats only on ticks: a heartbeat on every commit would
            // multiply the orders to search (20M states cut the search for
            // the two-command loss-and-crash case, 151k without). They are
            // ordinary heartbeats, which the search covers with ticks; the
            // simulator runs with them on.
            tell_commit_at_once: false,
            ..EngineConfig::default()
        }
    }
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self::small()
    }
}

/// A configuration the search cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("a search needs 1 to {max} nodes, not {0}", max = ExploreConfig::NODES_MAX)]
    Nodes(usize),
    #[error("a search takes at most {max} commands, not {0}", max = ExploreConfig::COMMANDS_MAX)]
    Commands(usize),
    #[error("bug {0} needs an engine built with the `broken` feature; rebuild synod-explore with `--features broken`")]
    BrokenFeatureOff(&'static str),
}
