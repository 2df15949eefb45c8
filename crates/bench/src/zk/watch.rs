//! Watch fan-out: W sessions each keep a data watch on one node; one
//! writer changes the node once every watcher has re-armed, and each
//! event's latency runs from the setData's send to the event's arrival.
//! ZooKeeper sends one event per session and watched path, so every
//! watcher needs its own session.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synod_zkproto as wire;
use tokio::sync::Notify;

use super::{check, own_session, setup_parents, ROOT};
use crate::args::BenchArgs;
use crate::drive;
use crate::stats::Stats;

/// How long the writer waits for every watcher to re-arm before writing
/// anyway (and counting an error).
const REARM_WAIT: Duration = Duration::from_secs(5);

fn watched_path() -> String {
    format!("{ROOT}/watch/node")
}

struct Round {
    /// Watchers whose watch for the next write is set.
    armed: AtomicUsize,
    armed_changed: Notify,
    /// When the current round's setData was sent.
    sent_at: Mutex<Option<Instant>>,
}

pub struct WatchReport {
    pub watchers: usize,
    pub writes: u64,
}

pub async fn run(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<WatchReport> {
    let endpoints = args.endpoints();
    let watchers = args.watchers.unwrap_or(args.connections).max(1);
    setup_parents(args).await?;
    let (writer, _events) = own_session(&endpoints, 0).await?;
    let reply = writer
        .call(super::create(
            watched_path(),
            Vec::new(),
            wire::create_mode::PERSISTENT,
        ))
        .await
        .map_err(anyhow::Error::msg)?;
    if reply.0.err != wire::err::NODE_EXISTS {
        check(&reply, "create the watched node").map_err(anyhow::Error::msg)?;
    }
    let round = Arc::new(Round {
        armed: AtomicUsize::new(0),
        armed_changed: Notify::new(),
        sent_at: Mutex::new(None),
    });
    let timeout = Duration::from_millis(args.request_timeout_ms);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..watchers {
        let (session, events) = own_session(&endpoints, w + 1).await?;
        tasks.spawn(watcher(
            session,
            events,
            round.clone(),
            stats.clone(),
            timeout,
        ));
    }
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let write_loop = {
        let (round, stats, writes) = (round.clone(), stats.clone(), writes.clone());
        let value = drive::value_of(args.value_bytes, 1);
        async move {
            while !stats.stopping() {
                let all_armed = async {
                    while round.armed.load(Ordering::SeqCst) < watchers {
                        round.armed_changed.notified().await;
                    }
                };
                if tokio::time::timeout(REARM_WAIT, all_armed).await.is_err() {
                    stats.on_error("watchers did not re-arm within 5 s of the last event");
                }
                round.armed.store(0, Ordering::SeqCst);
                *round.sent_at.lock().expect("round lock") = Some(Instant::now());
                let request = wire::Request::SetData {
                    path: watched_path(),
                    data: Some(value.clone()),
                    version: -1,
                };
                match writer.call(request).await {
                    Ok(reply) => match check(&reply, "setData") {
                        Ok(()) => {
                            writes.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => stats.on_error(&e),
                    },
                    Err(e) => {
                        stats.on_error(&e);
                        return;
                    }
                }
            }
        }
    };
    let writer_task = tokio::spawn(write_loop);
    drive::run_phases(args, &stats).await;
    // Wake a writer waiting for watchers so it sees the stop. (`notify_one`
    // keeps a wake-up for a writer not yet waiting: it is the only waiter.)
    round.armed.store(watchers, Ordering::SeqCst);
    round.armed_changed.notify_one();
    let _ = tokio::time::timeout(timeout, writer_task).await;
    tasks.abort_all();
    Ok(WatchReport {
        watchers,
        writes: writes.load(Ordering::Relaxed),
    })
}

async fn watcher(
    session: super::conn::ZkConn,
    mut events: tokio::sync::mpsc::Receiver<wire::WatcherEvent>,
    round: Arc<Round>,
    stats: Arc<Stats>,
    timeout: Duration,
) {
    let path = watched_path();
    while !stats.stopping() {
        let arm = wire::Request::GetData {
            path: path.clone(),
            watch: true,
        };
        match session.call(arm).await {
            Ok(reply) if reply.0.err == wire::err::OK => {}
            Ok(reply) => {
                let _ = check(&reply, "getData(watch)").map_err(|e| stats.on_error(&e));
                return;
            }
            Err(e) => {
                stats.on_error(&e);
                return;
            }
        }
        round.armed.fetch_add(1, Ordering::SeqCst);
        round.armed_changed.notify_one();
        loop {
            match tokio::time::timeout(timeout, events.recv()).await {
                Ok(Some(event)) => {
                    if event.path != path || event.event_type != wire::event_type::NODE_DATA_CHANGED
                    {
                        continue;
                    }
                    let sent = *round.sent_at.lock().expect("round lock");
                    if let Some(sent) = sent {
                        stats.on_success(sent.elapsed());
                    }
                    break;
                }
                Ok(None) => return,
                Err(_) => {
                    if !stats.stopping() {
                        stats.on_error("no watch event within --request-timeout-ms");
                    }
                    break;
                }
            }
        }
    }
}
