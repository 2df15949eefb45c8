//! synod's native API through `synod_client::Client`. The client carries
//! one request at a time (its exactly-once write numbering assumes it), so
//! each in-flight request has its own client and connection. Reads are
//! the default linearizable ones: the leader answers under its lease.

use std::sync::Arc;
use std::time::Duration;

use synod_client::{Client, ClientOptions};

use crate::args::BenchArgs;
use crate::drive::{self, Op, Worker};
use crate::stats::Stats;

/// Puts outstanding at once while creating the keys.
const SETUP_IN_FLIGHT: usize = 64;

fn key(k: u64) -> Vec<u8> {
    format!("bench/k/{k}").into_bytes()
}

fn churn_key(id: u64) -> Vec<u8> {
    format!("bench/cd/{id:x}").into_bytes()
}

fn pop_key(i: u64) -> Vec<u8> {
    format!("bench/pop/{i}").into_bytes()
}

fn urls(args: &BenchArgs) -> Vec<String> {
    args.endpoints()
        .into_iter()
        .map(|e| {
            if e.contains("://") {
                e
            } else {
                format!("http://{e}")
            }
        })
        .collect()
}

fn options(args: &BenchArgs) -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(args.request_timeout_ms.min(2_000)),
        deadline: Duration::from_millis(args.request_timeout_ms),
        ..ClientOptions::default()
    }
}

pub struct NativeWorker {
    client: Client,
    value: Vec<u8>,
}

impl Worker for NativeWorker {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        let result = match op {
            Op::Write(k) => self.client.put(&key(k), &self.value).await,
            Op::Read(k) => self.client.get(&key(k)).await.map(|_| ()),
            Op::Create(id) => self.client.put(&churn_key(id), &self.value).await,
            Op::Delete(id) => self.client.delete(&churn_key(id)).await,
            Op::Populate(i) => self.client.put(&pop_key(i), &self.value).await,
            Op::Txn(..) => {
                return Err("the txn workload needs --target synod-shards or etcd".into())
            }
        };
        result.map_err(|e| e.to_string())
    }
}

async fn workers(args: &BenchArgs, count: usize) -> anyhow::Result<Vec<NativeWorker>> {
    let mut workers = Vec::with_capacity(count);
    for i in 0..count {
        workers.push(NativeWorker {
            client: Client::connect(urls(args), options(args)).await?,
            value: drive::value_of(args.value_bytes, i as u64),
        });
    }
    Ok(workers)
}

async fn setup(args: &BenchArgs) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    let workers = workers(args, SETUP_IN_FLIGHT.min(args.keys as usize)).await?;
    // Populate's loop writes pop keys; setup wants the bench keys, so a
    // small adapter maps the index.
    let workers = workers.into_iter().map(KeysSetup).collect();
    drive::count_bound(workers, args.keys, stats).await
}

struct KeysSetup(NativeWorker);

impl Worker for KeysSetup {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Populate(i) => self.0.execute(Op::Write(i)).await,
            other => self.0.execute(other).await,
        }
    }
}

pub async fn run_kv(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    if !args.skip_setup {
        setup(args).await?;
    }
    let workers = workers(args, args.in_flight).await?;
    drive::closed_loop(workers, args, stats).await;
    Ok(())
}

pub async fn run_populate(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    let workers = workers(args, args.in_flight).await?;
    drive::count_bound(workers, args.keys, stats).await
}

pub async fn run_probe(args: &BenchArgs) -> anyhow::Result<Duration> {
    let limit = Duration::from_secs_f64(args.duration);
    let urls = urls(args);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(1_500),
        ..ClientOptions::default()
    };
    drive::until_ok(limit, |_| {
        let (urls, options) = (urls.clone(), options.clone());
        async move {
            let mut client = Client::connect(urls, options)
                .await
                .map_err(|e| e.to_string())?;
            client
                .get(&pop_key(0))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await
}

/// The lock the native lock workload contends for.
const CHUBBY_LOCK: &str = "/bench/chubby-lock";

/// Chubby's locks through `synod_client::LockSession`: `--connections`
/// contenders, each with its own session, acquire `CHUBBY_LOCK`
/// exclusively (waiting in its FIFO queue: one wake-up per release, no
/// herd) and release it at once. One op is one acquisition; its latency
/// runs from the acquire call to holding the lock, as in the ZooKeeper
/// recipe's workload (`zk::lock`).
pub async fn run_lock(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<usize> {
    use synod_client::lock::{LockOptions, LockSession, Mode};
    let contenders = args.connections;
    let lock_options = LockOptions {
        client: options(args),
        ..LockOptions::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..contenders {
        let session = LockSession::open(urls(args), lock_options.clone()).await?;
        let mut handle = session.open_lock(CHUBBY_LOCK).await?;
        let stats = stats.clone();
        tasks.spawn(async move {
            while !stats.stopping() {
                let started = std::time::Instant::now();
                let round = async {
                    handle.acquire(Mode::Exclusive, Duration::ZERO).await?;
                    let acquiring = started.elapsed();
                    handle.release().await?;
                    Ok::<_, synod_client::lock::LockError>(acquiring)
                };
                match round.await {
                    Ok(acquiring) => stats.on_success(acquiring),
                    Err(e) => {
                        stats.on_error(&e.to_string());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            let _ = session.close().await;
        });
    }
    drive::run_phases(args, &stats).await;
    drive::finish(tasks, Duration::from_millis(args.request_timeout_ms)).await;
    Ok(contenders)
}

/// Where the cached-read workload's znodes live.
const CACHE_PARENT: &str = "/bench/cache";

/// Chubby's consistent cache through `synod_client::LockSession`:
/// `--connections` caching sessions each read the `--keys` znodes under
/// `CACHE_PARENT` (created first, by the first session) in turn with
/// `LockSession::get_contents_and_stat`. One op is one read; after its
/// first read of a znode a session answers from its cache. Returns the
/// sessions' cache hits and misses, summed.
pub async fn run_cached_read(
    args: &BenchArgs,
    stats: Arc<Stats>,
) -> anyhow::Result<synod_client::lock::CacheStats> {
    use synod_client::lock::{CacheStats, LockOptions, LockSession};
    let lock_options = LockOptions {
        client: options(args),
        ..LockOptions::default()
    };
    let paths: Arc<Vec<String>> = Arc::new(
        (0..args.keys)
            .map(|k| format!("{CACHE_PARENT}/k{k}"))
            .collect(),
    );
    let mut sessions = Vec::new();
    for _ in 0..args.connections {
        sessions.push(LockSession::open(urls(args), lock_options.clone()).await?);
    }
    if !args.skip_setup {
        for path in paths.iter() {
            sessions[0].create_node(path).await?;
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for session in sessions {
        let (stats, paths) = (stats.clone(), paths.clone());
        tasks.spawn(async move {
            let mut next = 0;
            while !stats.stopping() {
                let started = std::time::Instant::now();
                let path = &paths[next % paths.len()];
                next += 1;
                match session.get_contents_and_stat(path).await {
                    Ok(_) => stats.on_success(started.elapsed()),
                    Err(e) => {
                        stats.on_error(&e.to_string());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                if next % 256 == 0 {
                    // A loop that never waits would starve the runtime's
                    // other tasks (the keepalives).
                    tokio::task::yield_now().await;
                }
            }
            let seen = session.cache_stats();
            let _ = session.close().await;
            seen
        });
    }
    drive::run_phases(args, &stats).await;
    let mut total = CacheStats::default();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(args.request_timeout_ms);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        if let Ok(s) = done {
            total.hits += s.hits;
            total.misses += s.misses;
        }
    }
    tasks.abort_all();
    Ok(total)
}
