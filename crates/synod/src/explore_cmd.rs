//! `synod explore`: the bounded exhaustive search of a small cluster over
//! every delivery order, with the agreement check on every state.

use anyhow::{bail, Context};
use std::time::Instant;
use synod_explore::{explore, ExploreConfig};

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// Voters (ids 1..=N).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Distinct client commands submitted once each.
    #[arg(long, default_value_t = 2)]
    commands: usize,
    /// Messages that may be dropped on one path.
    #[arg(long, default_value_t = 2)]
    losses: u32,
    /// Crash-and-restarts on one path.
    #[arg(long, default_value_t = 1)]
    crashes: u32,
    /// Timer firings (elections, heartbeats) on one path.
    #[arg(long, default_value_t = 0)]
    timers: u32,
    /// Distinct states at most before the search gives up (then it reports
    /// itself incomplete).
    #[arg(long, default_value_t = 3_000_000)]
    states_max: u64,
    /// Run a deliberately broken engine (needs the `broken` feature).
    #[arg(long)]
    bug: Option<String>,
}

pub fn run(args: ExploreArgs) -> anyhow::Result<()> {
    let mut cfg = ExploreConfig {
        nodes: args.nodes,
        commands: args.commands,
        loss_budget: args.losses,
        crash_budget: args.crashes,
        timer_budget: args.timers,
        states_max: args.states_max,
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
    if !report.complete {
        bail!("the search stopped at --states-max before covering every state; raise it or shrink the budgets");
    }
    Ok(())
}
