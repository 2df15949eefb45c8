//! `synod sim`: seeds in, one summary line out; a failing seed prints the
//! check that failed and the command that replays it.

use anyhow::{bail, Context};
use std::io::Write;
use std::time::Instant;
use synod_sim::{sweep, Profile, SimConfig, SweepOptions};

#[derive(clap::Args)]
pub struct SimArgs {
    /// Seeds to run, as `A..B` (both included) or one number.
    #[arg(long, default_value = "1..100")]
    seeds: String,
    /// One seed (same as --seeds N).
    #[arg(long)]
    seed: Option<u64>,
    /// Fault mix and load: calm, lossy, partitions, crashes, drift, churn,
    /// all, big (values up to the byte limits), adversarial.
    #[arg(long, default_value = "all")]
    profile: String,
    /// Print the story of the run (only with one seed).
    #[arg(long)]
    trace: bool,
    /// With --trace, also show heartbeats.
    #[arg(long)]
    trace_heartbeats: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Run a deliberately broken engine (needs the `broken` feature):
    /// accept-lower-ballot, forget-promise-on-restart, send-before-persist,
    /// minority-quorum, lease-without-drift-margin.
    #[arg(long)]
    bug: Option<String>,
}

pub fn parse_seeds(text: &str) -> anyhow::Result<std::ops::Range<u64>> {
    let num = |s: &str| -> anyhow::Result<u64> {
        s.trim()
            .parse()
            .with_context(|| format!("`{s}` is not a seed number"))
    };
    // Both ends count: `1..1000` is a thousand seeds.
    let bounds = text.split_once("..=").or_else(|| text.split_once(".."));
    if let Some((a, b)) = bounds {
        let r = num(a)?..num(b)? + 1;
        if r.is_empty() {
            bail!("seed range {text} is empty");
        }
        return Ok(r);
    }
    let n = num(text)?;
    Ok(n..n + 1)
}

static BUG: std::sync::OnceLock<Option<synod_paxos::Bug>> = std::sync::OnceLock::new();

fn tweak(cfg: &mut SimConfig) {
    #[cfg(feature = "broken")]
    if let Some(Some(bug)) = BUG.get() {
        cfg.engine.bugs = synod_paxos::Bugs::with(*bug);
    }
    let _ = cfg;
}

const TRACE_LEGEND: &str = "\
# How to read this: [simulated time] event. nX is node X, `client C` a client.
# A ballot R.N is round R of node N; higher ballots win. `pre-vote?` asks
# whether peers would help (no state changes); `prepare`/`promise` is phase 1
# for every slot from the first unchosen one; `accept`/`accepted` is phase 2
# for one slot (S=value); a value is chosen once a majority accepted it.
# Heartbeats carry the commit point and renew the lease (shown with
# --trace-heartbeats). FAULT lines are injected faults.";

/// `synod sim ... | head` closes the pipe early: that is not an error.
pub fn quiet_broken_pipe(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let seeds = match args.seed {
        Some(s) => s..s + 1,
        None => parse_seeds(&args.seeds)?,
    };
    let profile = Profile::named(&args.profile).with_context(|| {
        format!(
            "unknown profile `{}`; choose one of {}",
            args.profile,
            Profile::NAMES.join(", ")
        )
    })?;
    let bug = match &args.bug {
        None => None,
        Some(name) => {
            let bug = synod_paxos::Bug::parse(name).with_context(|| {
                let names: Vec<&str> = synod_paxos::Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug `{name}`; choose one of {}", names.join(", "))
            })?;
            if cfg!(not(feature = "broken")) {
                bail!("--bug needs a build with the `broken` feature: cargo run --features broken -- sim --bug {name} ...");
            }
            Some(bug)
        }
    };
    BUG.set(bug).expect("set once");
    let bug_flag = args
        .bug
        .as_ref()
        .map(|b| format!(" --bug {b}"))
        .unwrap_or_default();
    // Broken engines refuse release builds, so their replay is a debug run.
    let release = if args.bug.is_some() { "" } else { " --release" };
    let features = if args.bug.is_some() {
        " --features broken"
    } else {
        ""
    };

    if args.trace {
        if seeds.end - seeds.start != 1 {
            bail!("--trace needs exactly one seed (--seed N)");
        }
        let mut cfg = SimConfig::new(seeds.start, profile.clone());
        cfg.trace = true;
        cfg.trace_heartbeats = args.trace_heartbeats;
        tweak(&mut cfg);
        let report = synod_sim::run(cfg);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{TRACE_LEGEND}")?;
        for line in &report.trace {
            writeln!(out, "{line}")?;
        }
        for v in &report.violations {
            writeln!(out, "VIOLATION {v}")?;
        }
        writeln!(
            out,
            "sim: seeds=1 violations={} profile={} slots_chosen={} elections={}",
            report.violations.len(),
            profile.name,
            report.stats.cluster.max_commit,
            report.stats.cluster.elections
        )?;
        if !report.ok() {
            std::process::exit(1);
        }
        return Ok(());
    }

    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let total = seeds.end - seeds.start;
    let opts = SweepOptions {
        seeds,
        profile: profile.clone(),
        jobs,
        tweak,
        fail_fast: args.fail_fast,
    };
    let started = Instant::now();
    let done = std::sync::atomic::AtomicU64::new(0);
    let pname = profile.name;
    let on_done = |r: &synod_sim::RunReport| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !r.ok() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "seed {} (profile {pname}) FAILED:", r.seed);
            for v in &r.violations {
                let _ = writeln!(err, "  {v}");
            }
            let _ = writeln!(
                err,
                "  replay: cargo run{release}{features} -p synod -- sim --seed {} --profile {pname}{bug_flag} --trace",
                r.seed
            );
        }
        if n.is_multiple_of(100) && n < total {
            let _ = writeln!(std::io::stderr(), "sim: {n}/{total} seeds done");
        }
    };
    let summary = sweep(&opts, &on_done);
    println!("{}", summary.line(pname, started.elapsed().as_secs_f64()));
    if !summary.failed.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_seeds;

    #[test]
    fn seed_ranges_include_both_ends() {
        assert_eq!(parse_seeds("1..1000").unwrap(), 1..1001);
        assert_eq!(parse_seeds("5..=7").unwrap(), 5..8);
        assert_eq!(parse_seeds("42").unwrap(), 42..43);
        assert!(parse_seeds("9..3").is_err());
        assert!(parse_seeds("x..3").is_err());
    }
}
