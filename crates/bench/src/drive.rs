//! The closed loop every key-value workload shares: `in_flight` workers,
//! each sending its next request when the last one is answered, through a
//! warm-up and a measured phase; plus the count-bound loop of `populate`.
//! Protocols plug in through [`Worker`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::{BenchArgs, Workload};
use crate::stats::Stats;
use synod_paxos::Rng;

/// Pause after a failed request before the worker's next one, so a down
/// cluster is retried steadily rather than in a busy loop.
const ERROR_PAUSE: Duration = Duration::from_millis(20);
/// Attempts per node in `populate` before giving up on the run.
const POPULATE_ATTEMPTS_MAX: u32 = 50;

/// One request of a key-value workload. Keys are indices; each protocol
/// maps them to its own paths (`/bench/k/7`, `bench/k/7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Write(u64),
    Read(u64),
    /// Creates the churn node `id` (unique per run and worker).
    Create(u64),
    Delete(u64),
    /// Creates populate node `i`; existing counts as success.
    Populate(u64),
    /// Reads keys `a` and `b` (distinct) and writes both, atomically.
    Txn(u64, u64),
}

/// Sends requests of one protocol over the connection(s) it owns.
pub trait Worker: Send + 'static {
    /// Performs `op`; `Err` describes a failure (it is counted, not fatal).
    fn execute(&mut self, op: Op) -> impl Future<Output = Result<(), String>> + Send;

    /// Called after a request passed its time limit: drop the connection
    /// it went on, since it may never answer.
    fn on_timeout(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A value of `bytes` printable bytes, different per seed.
pub fn value_of(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..bytes)
        .map(|_| b'a' + (rng.next_u64() % 26) as u8)
        .collect()
}

/// Which request a worker sends next.
struct OpSource {
    workload: Workload,
    read_ratio: f64,
    keys: u64,
    rng: Rng,
    /// Churn ids are `worker << 40 | n`, unique within a run.
    churn_base: u64,
    churn_next: u64,
    /// The churn node created last and not yet deleted.
    churn_pending: Option<u64>,
}

impl OpSource {
    fn next(&mut self) -> Op {
        let key = self.rng.next_u64() % self.keys;
        match self.workload {
            Workload::Read => Op::Read(key),
            Workload::Txn if self.keys > 1 => {
                let other = (key + 1 + self.rng.next_u64() % (self.keys - 1)) % self.keys;
                Op::Txn(key, other)
            }
            Workload::Mixed if self.rng.chance(self.read_ratio) => Op::Read(key),
            Workload::CreateDelete => match self.churn_pending.take() {
                Some(id) => Op::Delete(id),
                None => {
                    let id = self.churn_base | self.churn_next;
                    self.churn_next += 1;
                    Op::Create(id)
                }
            },
            _ => Op::Write(key),
        }
    }

    fn on_done(&mut self, op: Op, ok: bool) {
        if let (Op::Create(id), true) = (op, ok) {
            self.churn_pending = Some(id);
        }
    }
}

/// Runs `workers` through warm-up and the measured phase, then stops them.
pub async fn closed_loop<W: Worker>(workers: Vec<W>, args: &BenchArgs, stats: Arc<Stats>) {
    let timeout = Duration::from_millis(args.request_timeout_ms);
    let run_seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mut worker) in workers.into_iter().enumerate() {
        let stats = stats.clone();
        let mut source = OpSource {
            workload: args.workload,
            read_ratio: args.read_ratio,
            keys: args.keys,
            rng: Rng::new(run_seed.wrapping_add(index as u64 * 7919)),
            churn_base: ((run_seed & 0xff) << 56) | ((index as u64) << 40),
            churn_next: 0,
            churn_pending: None,
        };
        tasks.spawn(async move {
            while !stats.stopping() {
                let op = source.next();
                let started = Instant::now();
                match tokio::time::timeout(timeout, worker.execute(op)).await {
                    Ok(Ok(())) => {
                        stats.on_success(started.elapsed());
                        source.on_done(op, true);
                    }
                    Ok(Err(message)) => {
                        stats.on_error(&message);
                        source.on_done(op, false);
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                    Err(_) => {
                        stats.on_error(&format!(
                            "no reply within {} ms (--request-timeout-ms)",
                            timeout.as_millis()
                        ));
                        worker.on_timeout().await;
                        source.on_done(op, false);
                    }
                }
            }
        });
    }
    run_phases(args, &stats).await;
    finish(tasks, timeout).await;
}

/// Warm-up, measuring, stop.
pub async fn run_phases(args: &BenchArgs, stats: &Stats) {
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    stats.start_measuring();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stats.stop();
}

/// Waits for workers to finish their last request, but not past its time
/// limit; any still stuck are abandoned.
pub async fn finish(mut tasks: tokio::task::JoinSet<()>, timeout: Duration) {
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(timeout + Duration::from_secs(1), drained)
        .await
        .is_err()
    {
        eprintln!("synod bench: some requests never finished; abandoning them");
        tasks.abort_all();
    }
}

/// Creates nodes 0..total with `workers` in parallel, each retried on
/// failure. Measures from the first request to the last reply.
pub async fn count_bound<W: Worker>(
    workers: Vec<W>,
    total: u64,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    stats.start_measuring();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for mut worker in workers {
        let (stats, next) = (stats.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(());
                }
                let mut attempts = 0;
                loop {
                    let started = Instant::now();
                    match worker.execute(Op::Populate(i)).await {
                        Ok(()) => {
                            stats.on_success(started.elapsed());
                            break;
                        }
                        Err(message) => {
                            stats.on_error(&message);
                            attempts += 1;
                            if attempts >= POPULATE_ATTEMPTS_MAX {
                                anyhow::bail!("node {i}: {message} ({attempts} attempts)");
                            }
                            tokio::time::sleep(ERROR_PAUSE * attempts).await;
                        }
                    }
                }
            }
        });
    }
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Err(e)) = joined {
            result = Err(e);
            tasks.abort_all();
        }
    }
    stats.stop();
    result
}

/// Tries `probe` until it succeeds or `limit` passes; the time to success.
pub async fn until_ok<F, Fut>(limit: Duration, mut probe: F) -> anyhow::Result<Duration>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut attempt = 0u32;
    let mut last = String::from("no attempt");
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_secs(2), probe(attempt)).await {
            Ok(Ok(())) => return Ok(started.elapsed()),
            Ok(Err(e)) => last = e,
            Err(_) => last = "no answer within 2 s".into(),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!(
        "no successful read within {} s; last error: {last}",
        limit.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_alternates_create_and_delete_of_the_same_node() {
        let mut source = OpSource {
            workload: Workload::CreateDelete,
            read_ratio: 0.0,
            keys: 10,
            rng: Rng::new(1),
            churn_base: 3 << 40,
            churn_next: 0,
            churn_pending: None,
        };
        let create = source.next();
        assert_eq!(create, Op::Create(3 << 40));
        source.on_done(create, true);
        let delete = source.next();
        assert_eq!(delete, Op::Delete(3 << 40));
        source.on_done(delete, true);
        let failed = source.next();
        assert_eq!(failed, Op::Create((3 << 40) | 1));
        source.on_done(failed, false);
        assert_eq!(source.next(), Op::Create((3 << 40) | 2));
    }

    #[test]
    fn mixed_reads_about_the_ratio() {
        let mut source = OpSource {
            workload: Workload::Mixed,
            read_ratio: 0.75,
            keys: 1000,
            rng: Rng::new(9),
            churn_base: 0,
            churn_next: 0,
            churn_pending: None,
        };
        let reads = (0..10_000)
            .filter(|_| matches!(source.next(), Op::Read(k) if k < 1000))
            .count();
        assert!((7_000..8_000).contains(&reads), "{reads}");
    }
}
