//! What one search explores: cluster size and membership, client commands,
//! operator requests, fault budgets, the search order and the limits that
//! keep the search finite.

use synod_paxos::{Bug, ConfigChange, EngineConfig, NodeId};

/// The bounded configuration a search explores. Every budget bounds one
/// kind of nondeterministic step on any path from the initial state; the
/// search is exhaustive within them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExploreConfig {
    /// Voters in the cluster, with ids `1..=nodes`.
    pub nodes: usize,
    /// Learners, with ids after the voters': `nodes + 1..=nodes +
    /// learners`. Every node starts knowing the configuration (voters and
    /// learners), as a cluster bootstrapped with learners does; a learner
    /// receives the log and votes on nothing until a `Promote` is chosen.
    /// Voters and learners together are at most
    /// [`ExploreConfig::NODES_MAX`].
    pub learners: usize,
    /// Distinct client commands; each may be submitted once, to any node
    /// that leads at that moment. At most [`ExploreConfig::COMMANDS_MAX`].
    pub commands: usize,
    /// The operator's plan: membership changes to ask for, in this order
    /// (the engine takes one change at a time). Each request goes to any
    /// node that leads with phase 1 done at that moment, and asks for the
    /// next change of the plan or again for the last one asked (an
    /// operator retrying after the leader changed). The plan moves on
    /// only past a change a leader took in: a request the engine refuses
    /// at once (another change in progress, a change already made, a
    /// learner too far behind) changes no node, and is not explored. At
    /// most [`ExploreConfig::CHANGES_MAX`]; each names a node the search
    /// runs (`1..=nodes + learners`).
    pub changes: Vec<ConfigChange>,
    /// Operator requests (`Input::Reconfigure`) on any one path.
    pub reconfig_budget: u32,
    /// In-flight messages that may be dropped on any one path. Every check
    /// here is a safety check, and to those a lost message is one never
    /// delivered, which the search covers without a budget: losses add
    /// states (the message gone), not behaviours.
    pub loss_budget: u32,
    /// Crash-and-restarts on any one path. A crash loses the node's memory
    /// and every record whose write was not yet complete.
    pub crash_budget: u32,
    /// Timer firings on any one path, over all nodes. Elections and
    /// heartbeats happen only when a timer fires, so this bounds how many
    /// elections and heartbeat rounds a path holds.
    pub timer_budget: u32,
    /// The nodes whose timers may fire; empty means every node. Time moves
    /// only for them: another node never starts an election, never sees a
    /// leader's lease run out, and as a leader never steps down for
    /// silence nor resends. A narrower search, for reaching deep paths
    /// whose elections are known.
    pub timer_nodes: Vec<NodeId>,
    /// A leader's heartbeat timer may fire (heartbeats and resends of
    /// proposals not yet chosen). When false only election timers fire.
    pub heartbeat_timers: bool,
    /// Depth-first or breadth-first; see [`SearchOrder`].
    pub order: SearchOrder,
    /// Transitions on one path at most. States at the bound are checked
    /// but not expanded, and the search is then reported incomplete.
    /// Breadth-first, the bound is exact: every state within `depth_max`
    /// transitions of the start is explored. Depth-first it is not: a
    /// state first met at the bound is not explored again when met sooner
    /// on another path.
    pub depth_max: u32,
    /// Distinct states at most; the search stops (incomplete) beyond it.
    pub states_max: u64,
    /// The search's own memory at most, estimated (see
    /// `ExploreReport::bytes_peak`): the visited set (about 10 bytes a
    /// state), breadth-first the search tree (8 bytes a state), and the
    /// states on the current path (a few kilobytes each). The search stops
    /// (incomplete) at the first state that takes the estimate past it.
    /// The estimate counts what the tables hold, not the moment they grow,
    /// when the old and the new table both exist: the process's peak can
    /// be about a third above it (measured: 560 MB resident for an
    /// estimate of 416 MiB at 14.7M states).
    pub bytes_max: u64,
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

/// The order in which states are expanded. Both explore the same states
/// when the search completes; they differ in what they find first and in
/// what they keep in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchOrder {
    /// One path at a time, the rare steps (submissions, elections,
    /// crashes) first. Memory is the visited set plus one path, so it is
    /// the mode for a full search; but a violation that needs several rare
    /// steps in a row may sit behind millions of states that exhaust one
    /// early choice first.
    DepthFirst,
    /// Level by level: every state at distance `d` before any at `d + 1`.
    /// It finds a shortest path to any violation, whatever choices that
    /// path makes, but keeps a whole level of states in memory.
    BreadthFirst,
}

impl SearchOrder {
    pub const ALL: [SearchOrder; 2] = [SearchOrder::DepthFirst, SearchOrder::BreadthFirst];

    pub fn name(self) -> &'static str {
        match self {
            SearchOrder::DepthFirst => "depth-first",
            SearchOrder::BreadthFirst => "breadth-first",
        }
    }

    pub fn parse(name: &str) -> Option<SearchOrder> {
        SearchOrder::ALL.into_iter().find(|o| o.name() == name)
    }
}

impl ExploreConfig {
    pub const NODES_MAX: usize = 5;
    pub const COMMANDS_MAX: usize = 16;
    pub const CHANGES_MAX: usize = 8;

    /// The default search: three nodes, one command, one election, no
    /// faults, no membership change. Small enough for a unit test.
    pub fn small() -> Self {
        ExploreConfig {
            nodes: 3,
            learners: 0,
            commands: 1,
            changes: Vec::new(),
            reconfig_budget: 0,
            loss_budget: 0,
            crash_budget: 0,
            timer_budget: 1,
            timer_nodes: Vec::new(),
            heartbeat_timers: true,
            order: SearchOrder::DepthFirst,
            warm_start: true,
            async_writes: true,
            depth_max: 200,
            states_max: 20_000_000,
            bytes_max: 4 << 30,
            bug: None,
            seed: 1,
        }
    }

    /// Every node the search runs, voters and learners.
    pub fn hosts(&self) -> usize {
        self.nodes + self.learners
    }

    /// Whether the timers of the node at host index `i` may fire.
    pub(crate) fn timer_fires_at(&self, i: usize) -> bool {
        self.timer_nodes.is_empty() || self.timer_nodes.contains(&(i as NodeId + 1))
    }

    /// Checks the knobs' ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes == 0 || self.hosts() > Self::NODES_MAX {
            return Err(ConfigError::Nodes {
                voters: self.nodes,
                learners: self.learners,
            });
        }
        if self.commands > Self::COMMANDS_MAX {
            return Err(ConfigError::Commands(self.commands));
        }
        if self.changes.len() > Self::CHANGES_MAX {
            return Err(ConfigError::Changes(self.changes.len()));
        }
        if let Some(&node) = self
            .timer_nodes
            .iter()
            .find(|n| !(1..=self.hosts() as NodeId).contains(n))
        {
            return Err(ConfigError::TimerStranger(node, self.hosts()));
        }
        if let Some(change) = self
            .changes
            .iter()
            .find(|c| !(1..=self.hosts() as NodeId).contains(&changed_node(**c)))
        {
            return Err(ConfigError::Stranger(*change, self.hosts()));
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

/// The node a membership change is about.
pub(crate) fn changed_node(change: ConfigChange) -> NodeId {
    match change {
        ConfigChange::AddLearner(n) | ConfigChange::Promote(n) | ConfigChange::Remove(n) => n,
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
    #[error(
        "a search needs 1 to {max} nodes in all, at least one of them a voter, \
         not {voters} voter(s) and {learners} learner(s)",
        max = ExploreConfig::NODES_MAX
    )]
    Nodes { voters: usize, learners: usize },
    #[error("a search takes at most {max} commands, not {0}", max = ExploreConfig::COMMANDS_MAX)]
    Commands(usize),
    #[error(
        "a search takes at most {max} membership changes, not {0}",
        max = ExploreConfig::CHANGES_MAX
    )]
    Changes(usize),
    #[error("membership change {0:?} names a node the search does not run (ids 1..={1})")]
    Stranger(ConfigChange, usize),
    #[error("timer node {0} is not a node the search runs (ids 1..={1})")]
    TimerStranger(NodeId, usize),
    #[error("bug {0} needs an engine built with the `broken` feature; rebuild synod-explore with `--features broken`")]
    BrokenFeatureOff(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_runs_only_the_nodes_it_names() {
        let cfg = ExploreConfig {
            learners: 1,
            changes: vec![ConfigChange::Promote(4)],
            timer_nodes: vec![2, 4],
            ..ExploreConfig::small()
        };
        assert_eq!(cfg.validate(), Ok(()));
        let stranger = ExploreConfig {
            changes: vec![ConfigChange::Promote(5)],
            ..cfg.clone()
        };
        assert_eq!(
            stranger.validate(),
            Err(ConfigError::Stranger(ConfigChange::Promote(5), 4))
        );
        let timer = ExploreConfig {
            timer_nodes: vec![0],
            ..cfg.clone()
        };
        assert_eq!(timer.validate(), Err(ConfigError::TimerStranger(0, 4)));
        let crowd = ExploreConfig {
            nodes: 4,
            learners: 2,
            ..cfg
        };
        assert_eq!(
            crowd.validate(),
            Err(ConfigError::Nodes {
                voters: 4,
                learners: 2
            })
        );
    }

    #[test]
    fn the_order_names_read_back() {
        for order in SearchOrder::ALL {
            assert_eq!(SearchOrder::parse(order.name()), Some(order));
        }
        assert_eq!(SearchOrder::parse("sideways"), None);
    }
}
