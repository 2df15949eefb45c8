//! Runs one search from the command line, for tuning budgets:
//! `cargo run -p synod-explore --example explore -- nodes=3 commands=2 timers=2`
//! Keys: nodes, commands, losses, crashes, timers, depth, states, seed and
//! (with `--features broken`) bug=<name>.

use std::time::Instant;
use synod_explore::{explore, Bug, ExploreConfig};

fn main() {
    let mut cfg = ExploreConfig::small();
    for arg in std::env::args().skip(1) {
        let Some((key, value)) = arg.split_once('=') else {
            eprintln!("expected key=value, got {arg:?}");
            std::process::exit(2);
        };
        let number = || -> u64 {
            value.parse().unwrap_or_else(|_| {
                eprintln!("{key} needs a number, got {value:?}");
                std::process::exit(2)
            })
        };
        match key {
            "nodes" => cfg.nodes = number() as usize,
            "commands" => cfg.commands = number() as usize,
            "losses" => cfg.loss_budget = number() as u32,
            "crashes" => cfg.crash_budget = number() as u32,
            "timers" => cfg.timer_budget = number() as u32,
            "depth" => cfg.depth_max = number() as u32,
            "states" => cfg.states_max = number(),
            "seed" => cfg.seed = number(),
            "warm" => cfg.warm_start = number() != 0,
            "async" => cfg.async_writes = number() != 0,
            "bug" => {
                cfg.bug = Some(Bug::parse(value).unwrap_or_else(|| {
                    eprintln!("unknown bug {value:?}");
                    std::process::exit(2)
                }))
            }
            _ => {
                eprintln!("unknown key {key:?}");
                std::process::exit(2);
            }
        }
    }
    let started = Instant::now();
    match explore(&cfg) {
        Ok(report) => {
            println!("{cfg:?}");
            println!("{report}");
            println!("took {:.2?}", started.elapsed());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
