//! The `synod` command.

#[cfg(all(feature = "broken", not(debug_assertions)))]
compile_error!("the `broken` feature builds deliberately unsafe engines; never in release builds");

mod explore_cmd;
mod sim_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "synod",
    version,
    about = "A coordination service replicated with Multi-Paxos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the deterministic simulator over seeds and check every run.
    Sim(sim_cmd::SimArgs),
    /// Search every delivery order of a small cluster exhaustively.
    Explore(explore_cmd::ExploreArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim_cmd::quiet_broken_pipe(sim_cmd::run(args)),
        Command::Explore(args) => explore_cmd::run(args),
    }
}
