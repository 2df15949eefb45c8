//! The `synod` command.

#[cfg(all(feature = "broken", not(debug_assertions)))]
compile_error!("the `broken` feature builds deliberately unsafe engines; never in release builds");

mod certs_cmd;
mod dev_cmd;
mod explore_cmd;
mod kv_cmd;
mod lock_cmd;
mod server_cmd;
mod shards_cmd;
mod sim_cmd;
mod snapshot_cmd;

use clap::{Parser, Subcommand};

// jemalloc instead of glibc's malloc: the request path makes many small,
// short-lived allocations across threads (a profile put malloc/free at ~8%
// of a write-heavy node), and the tree's millions of small nodes pay no
// per-allocation header.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Run one server node.
    Server(server_cmd::ServerArgs),
    /// Issue a cluster's TLS certificates: its CA, node and client
    /// certificates.
    Certs(certs_cmd::CertsArgs),
    /// Make a bearer token for `[access]`, or hash one.
    Token(certs_cmd::TokenArgs),
    /// Run a 3-node cluster on loopback in the foreground.
    Dev(dev_cmd::DevArgs),
    /// Read and write keys.
    Kv(kv_cmd::KvArgs),
    /// Show each node's role, ballot, commit point, applied slot and lag.
    Status(kv_cmd::StatusArgs),
    /// Change membership one node at a time.
    Reconfig(kv_cmd::ReconfigArgs),
    /// The sharded tier's configuration (shard -> group -> servers), and
    /// changing it: join, leave, move.
    Shards(shards_cmd::ShardsArgs),
    /// Chubby's locks: acquire (and hold), check a sequencer, status.
    Lock(lock_cmd::LockArgs),
    /// Load generator: ZooKeeper protocol, native API or etcd.
    Bench(synod_bench::BenchArgs),
    /// Back up a live cluster (save) and look into a backup (inspect).
    Snapshot(snapshot_cmd::SnapshotArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim_cmd::quiet_broken_pipe(sim_cmd::run(args)),
        Command::Explore(args) => explore_cmd::run(args),
        Command::Server(args) => server_cmd::run(args),
        Command::Dev(args) => dev_cmd::run(args),
        Command::Certs(args) => certs_cmd::run(args),
        Command::Token(args) => certs_cmd::token(args),
        Command::Kv(args) => kv_cmd::kv(args),
        Command::Status(args) => kv_cmd::status(args),
        Command::Reconfig(args) => kv_cmd::reconfig(args),
        Command::Lock(args) => lock_cmd::run(args),
        Command::Shards(args) => sim_cmd::quiet_broken_pipe(shards_cmd::shards(args)),
        Command::Bench(args) => synod_bench::run(args),
        Command::Snapshot(args) => snapshot_cmd::run(args),
    }
}
