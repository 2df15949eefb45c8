//! `synod-faults`: see the crate's documentation (src/lib.rs) and the
//! README's "Faults on a real network" section.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use synod_faults::chubby::holder;
use synod_faults::nemesis::{self, Fault};
use synod_faults::run::{print_report, run, RunOptions};

/// Runs synod under real-network faults and checks what its clients saw.
/// Needs root (network namespaces, tmpfs mounts) and Debian's faketime.
#[derive(Parser)]
#[command(name = "synod-faults")]
struct Args {
    /// The synod binary to run.
    #[arg(long, env = "SYNOD_BIN", default_value = "target/release/synod")]
    synod: PathBuf,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: u64,
    /// Faults to run, in order (comma-separated; default every one).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Times through the list of faults.
    #[arg(long, default_value_t = 1, env = "SYNOD_FAULTS_ROUNDS")]
    rounds: u32,
    /// Seconds each fault lasts.
    #[arg(long, default_value_t = 6.0, env = "SYNOD_FAULTS_SECS")]
    fault_secs: f64,
    /// Seconds of healed running after each fault.
    #[arg(long, default_value_t = 5.0)]
    heal_secs: f64,
    #[arg(long, default_value_t = 4)]
    kv_clients: u64,
    #[arg(long, default_value_t = 3)]
    zk_clients: u64,
    /// Session owners (each makes one ephemeral znode per session).
    #[arg(long, default_value_t = 3)]
    owners: u64,
    #[arg(long, default_value_t = 2)]
    observers: u64,
    /// Keep the run's directory (configs, certificates, node logs).
    #[arg(long)]
    keep: bool,
    /// A Python with kazoo for the fenced-lock workload (the venv of
    /// tests/compat/setup.sh has one); without it the workload is left out.
    #[arg(long, env = "SYNOD_FAULTS_PYTHON")]
    python: Option<PathBuf>,
    #[arg(long, default_value = "tests/faults/kazoo_lock.py")]
    lock_script: PathBuf,
    /// Workers contending for the fenced lock.
    #[arg(long, default_value_t = 4)]
    lock_workers: u64,
    /// Chubby lock holders (separate processes, spread over the nodes'
    /// namespaces); 0 leaves the Chubby workload out.
    #[arg(long, default_value_t = 5)]
    chubby_holders: u64,
}

fn main() {
    // A holder process of the Chubby workload: this binary run again.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(holder::HOLDER_ARG) {
        match holder::HolderArgs::parse(&argv[2..]) {
            Some(args) => holder::main(args),
            None => {
                eprintln!(
                    "usage: synod-faults {} <id> <fence addr> <endpoint>...",
                    holder::HOLDER_ARG
                );
                std::process::exit(2);
            }
        }
    }
    let args = Args::parse();
    let faults: Vec<Fault> = if args.faults.is_empty() {
        nemesis::ALL.to_vec()
    } else {
        let mut list = Vec::new();
        for name in &args.faults {
            match Fault::parse(name) {
                Some(f) => list.push(f),
                None => {
                    let known: Vec<&str> = nemesis::ALL.iter().map(|f| f.name()).collect();
                    eprintln!("unknown fault {name:?}; known: {}", known.join(", "));
                    std::process::exit(2);
                }
            }
        }
        list
    };
    if args.nodes < 3 || args.nodes > 9 {
        eprintln!("--nodes must be 3 to 9");
        std::process::exit(2);
    }
    let options = RunOptions {
        synod: args.synod,
        nodes: args.nodes,
        faults,
        rounds: args.rounds.max(1),
        fault_time: Duration::from_secs_f64(args.fault_secs),
        heal_time: Duration::from_secs_f64(args.heal_secs),
        kv_clients: args.kv_clients,
        zk_clients: args.zk_clients,
        owners: args.owners,
        observers: args.observers,
        keep: args.keep,
        python: args.python,
        lock_script: args.lock_script,
        lock_workers: args.lock_workers,
        chubby_holders: args.chubby_holders,
    };
    if options.python.is_none() {
        println!("synod-faults: no --python given: the kazoo fenced-lock workload is left out");
    }
    match run(&options) {
        Ok(reports) => {
            if print_report(&reports) > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("synod-faults: {e:#}");
            std::process::exit(1);
        }
    }
}
