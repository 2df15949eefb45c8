//! `synod explore`: the bounded exhaustive search of a small cluster over
//! every delivery order, with the agreement check on every state.

use anyhow::{bail, Context};
use std::time::Instant;
use synod_explore::{explore, ConfigChange, ExploreConfig, Limit, SearchOrder};
use synod_paxos::NodeId;

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// Voters (ids 1..=N).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Learners (ids after the voters'), in the configuration from the
    /// start.
    #[arg(long, default_value_t = 0)]
    learners: usize,
    /// Distinct client commands submitted once each.
    #[arg(long, default_value_t = 2)]
    commands: usize,
    /// The operator's plan of membership changes, in order, as
    /// `promote:N`, `remove:N` or `add-learner:N`, comma-separated.
    /// Default: promote every learner, in id order.
    #[arg(long, value_delimiter = ',', value_parser = parse_change)]
    changes: Option<Vec<ConfigChange>>,
    /// Operator requests (membership changes asked of a leader) on one
    /// path. Default: one per change of the plan.
    #[arg(long)]
    reconfigs: Option<u32>,
    /// Messages that may be dropped on one path.
    #[arg(long, default_value_t = 2)]
    losses: u32,
    /// Crash-and-restarts on one path.
    #[arg(long, default_value_t = 1)]
    crashes: u32,
    /// Timer firings (elections, heartbeats) on one path.
    #[arg(long, default_value_t = 0)]
    timers: u32,
    /// Only these nodes' timers fire (comma-separated ids). Default: all.
    #[arg(long, value_delimiter = ',')]
    timer_nodes: Vec<NodeId>,
    /// Only election timers fire: no leader heartbeats or resends.
    #[arg(long)]
    no_heartbeats: bool,
    /// Disk writes complete right after the step that starts them (fewer
    /// orders; a crash then loses no record).
    #[arg(long)]
    instant_writes: bool,
    /// `depth-first` (least memory, for full searches) or `breadth-first`
    /// (shortest path to a violation; reaches deep ones first).
    #[arg(long, default_value = "depth-first", value_parser = parse_order)]
    order: SearchOrder,
    /// Transitions on one path at most.
    #[arg(long, default_value_t = 200)]
    depth_max: u32,
    /// Distinct states at most before the search gives up (then it reports
    /// itself incomplete).
    #[arg(long, default_value_t = 3_000_000)]
    states_max: u64,
    /// The search's own memory at most, estimated, in MiB (then it reports
    /// itself incomplete).
    #[arg(long, default_value_t = 4096)]
    memory_mib_max: u64,
    /// Run a deliberately broken engine (needs the `broken` feature).
    #[arg(long)]
    bug: Option<String>,
}

fn parse_change(text: &str) -> Result<ConfigChange, String> {
    let (kind, node) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: expected KIND:NODE, e.g. promote:4"))?;
    let node: NodeId = node
        .parse()
        .map_err(|_| format!("`{text}`: `{node}` is not a node id"))?;
    match kind {
        "promote" => Ok(ConfigChange::Promote(node)),
        "remove" => Ok(ConfigChange::Remove(node)),
        "add-learner" => Ok(ConfigChange::AddLearner(node)),
        _ => Err(format!(
            "`{text}`: the change is promote, remove or add-learner, not `{kind}`"
        )),
    }
}

fn parse_order(text: &str) -> Result<SearchOrder, String> {
    SearchOrder::parse(text)
        .ok_or_else(|| format!("`{text}`: the order is depth-first or breadth-first"))
}

pub fn run(args: ExploreArgs) -> anyhow::Result<()> {
    let changes = args.changes.unwrap_or_else(|| {
        (args.nodes + 1..=args.nodes + args.learners)
            .map(|n| ConfigChange::Promote(n as NodeId))
            .collect()
    });
    let mut cfg = ExploreConfig {
        nodes: args.nodes,
        learners: args.learners,
        commands: args.commands,
        reconfig_budget: args.reconfigs.unwrap_or(changes.len() as u32),
        changes,
        loss_budget: args.losses,
        crash_budget: args.crashes,
        timer_budget: args.timers,
        timer_nodes: args.timer_nodes,
        heartbeat_timers: !args.no_heartbeats,
        async_writes: !args.instant_writes,
        order: args.order,
        depth_max: args.depth_max,
        states_max: args.states_max,
        bytes_max: args.memory_mib_max.saturating_mul(1 << 20),
        ..ExploreConfig::small()
    };
    if let Some(name) = &args.bug {
        cfg.bug =
            Some(synod_paxos::Bug::parse(name).with_context(|| format!("unknown bug `{name}`"))?);
    }
    let started = Instant::now();
    let report = explore(&cfg)?;
    println!("{report}");
    println!(
        "explore: states={} transitions={} complete={} violation={} wall={:.1}s",
        report.states,
        report.transitions,
        report.complete,
        report.violation.is_some(),
        started.elapsed().as_secs_f64()
    );
    if report.violation.is_some() {
        std::process::exit(1);
    }
    match report.limit {
        None => Ok(()),
        // Breadth-first, the depth bound is exact: every state within it
        // was explored.
        Some(Limit::Depth) if cfg.order == SearchOrder::BreadthFirst => {
            println!(
                "explore: every state within {} transitions of the start explored",
                cfg.depth_max
            );
            Ok(())
        }
        Some(limit) => bail!(
            "{}: the search did not cover every state; raise the limit or shrink the budgets",
            limit.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_of_changes_reads_kind_and_node() {
        assert_eq!(parse_change("promote:4"), Ok(ConfigChange::Promote(4)));
        assert_eq!(parse_change("remove:2"), Ok(ConfigChange::Remove(2)));
        assert_eq!(
            parse_change("add-learner:5"),
            Ok(ConfigChange::AddLearner(5))
        );
        assert!(parse_change("promote").unwrap_err().contains("KIND:NODE"));
        assert!(parse_change("promote:x")
            .unwrap_err()
            .contains("not a node id"));
        assert!(parse_change("demote:1")
            .unwrap_err()
            .contains("not `demote`"));
    }

    #[test]
    fn the_order_is_named_in_full() {
        assert_eq!(parse_order("breadth-first"), Ok(SearchOrder::BreadthFirst));
        assert_eq!(parse_order("depth-first"), Ok(SearchOrder::DepthFirst));
        assert!(parse_order("bfs").is_err());
    }
}
