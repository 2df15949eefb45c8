//! `synod bench`: a load generator for coordination services.
//!
//! It speaks three protocols ([`args::Target`]): ZooKeeper's client
//! protocol ([`zk`], through our codec `synod-zkproto`, pipelined per
//! connection), synod's native gRPC API ([`native`], through
//! `synod_client::Client`) and etcd's v3 gRPC KV API ([`etcd`]). The same
//! workloads ([`args::Workload`]) run on each where the protocol has them;
//! the closed loop ([`drive`]) and the figures ([`stats`]) are shared.
//!
//! It owns measurement only: it never starts or stops servers (the
//! comparison script does) and asserts nothing about the figures.

pub mod args;
pub mod drive;
pub mod etcd;
pub mod native;
pub mod report;
pub mod shards;
pub mod stats;
pub mod zk;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
pub use args::{BenchArgs, Target, Workload};
use stats::Stats;

/// Runs `synod bench` to completion: prints the figures, writes the JSON.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    args.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(run_async(&args))?;
    // Connections left to the servers are closed when the runtime drops;
    // do not wait for tasks stuck on a hung server.
    runtime.shutdown_timeout(Duration::from_millis(500));
    report::print(&args, &report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&args, &report))?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.summary.as_ref().is_some_and(|s| s.ops == 0) {
        anyhow::bail!(
            "no request succeeded during the measured phase; errors seen: {:?}",
            report.summary.as_ref().map(|s| &s.error_samples)
        );
    }
    Ok(())
}

async fn run_async(args: &BenchArgs) -> anyhow::Result<report::Report> {
    let stats = Arc::new(Stats::default());
    let label = format!("{} {}", args.target.name(), args.workload.name());
    let progress = (!args.quiet).then(|| tokio::spawn(progress(label, stats.clone(), args.warmup)));
    let started = Instant::now();
    let mut extra = serde_json::Map::new();
    let outcome = match (args.workload, args.target) {
        (Workload::Probe, target) => {
            let ready = match target {
                Target::Zk => zk::run_probe(args).await,
                Target::SynodNative => native::run_probe(args).await,
                Target::Etcd => etcd::run_probe(args).await,
                Target::SynodShards => Err(anyhow::anyhow!(
                    "--target synod-shards runs write, read, mixed and txn"
                )),
            };
            ready.map(|ready| {
                extra.insert("ready_ms".into(), (ready.as_secs_f64() * 1e3).into());
            })
        }
        (Workload::Populate, Target::Zk) => zk::run_populate(args, stats.clone()).await,
        (Workload::Populate, Target::SynodNative) => {
            native::run_populate(args, stats.clone()).await
        }
        (Workload::Populate, Target::Etcd) => etcd::run_populate(args, stats.clone()).await,
        (Workload::Watch, _) => zk::watch::run(args, stats.clone()).await.map(|r| {
            extra.insert("watchers".into(), r.watchers.into());
            extra.insert("writes".into(), r.writes.into());
        }),
        (Workload::Lock, Target::SynodNative) => {
            native::run_lock(args, stats.clone()).await.map(|n| {
                extra.insert("contenders".into(), n.into());
            })
        }
        (Workload::CachedRead, _) => native::run_cached_read(args, stats.clone()).await.map(|c| {
            extra.insert("cache_hits".into(), c.hits.into());
            extra.insert("cache_misses".into(), c.misses.into());
        }),
        (Workload::Lock, _) => zk::lock::run(args, stats.clone()).await.map(|n| {
            extra.insert("contenders".into(), n.into());
        }),
        (_, Target::Zk) => zk::run_kv(args, stats.clone()).await,
        (_, Target::SynodNative) => native::run_kv(args, stats.clone()).await,
        (_, Target::Etcd) => etcd::run_kv(args, stats.clone()).await,
        (_, Target::SynodShards) => shards::run_kv(args, stats.clone()).await,
    };
    stats.stop();
    if let Some(p) = progress {
        p.abort();
    }
    outcome?;
    let summary = (args.workload != Workload::Probe).then(|| stats.summary());
    Ok(report::Report {
        summary,
        extra,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// One line a second on stderr while the run lasts.
async fn progress(label: String, stats: Arc<Stats>, warmup_s: f64) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let i = stats.take_interval();
        let t = started.elapsed().as_secs_f64();
        let phase = if t < warmup_s { " (warm-up)" } else { "" };
        eprintln!(
            "[{label}] {t:5.0}s {:>8} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}{phase}",
            i.ops,
            i.p50_us as f64 / 1e3,
            i.p99_us as f64 / 1e3,
            i.errors
        );
    }
}
