//! Lock contention with ZooKeeper's lock recipe: each contender creates an
//! ephemeral sequential node under /bench/lock, holds the lock when its
//! node is the lowest, and otherwise watches only its predecessor (no herd
//! effect). It releases by deleting its node at once. One op is one
//! acquisition; its latency runs from the create to holding the lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use synod_zkproto as wire;

use super::{check, conn::ZkConn, own_session, setup_parents, ROOT};
use crate::args::BenchArgs;
use crate::drive;
use crate::stats::Stats;

fn lock_dir() -> String {
    format!("{ROOT}/lock")
}

pub async fn run(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<usize> {
    let endpoints = args.endpoints();
    setup_parents(args).await?;
    let timeout = Duration::from_millis(args.request_timeout_ms);
    let contenders = args.connections;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..contenders {
        let (session, events) = own_session(&endpoints, c).await?;
        let stats = stats.clone();
        tasks.spawn(async move {
            let mut events = events;
            while !stats.stopping() {
                match acquire_and_release(&session, &mut events, timeout).await {
                    Ok(acquiring) => stats.on_success(acquiring),
                    Err(e) => {
                        stats.on_error(&e);
                        if session.is_broken() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            session.close(Duration::from_secs(1)).await;
        });
    }
    drive::run_phases(args, &stats).await;
    drive::finish(tasks, timeout).await;
    Ok(contenders)
}

/// One round of the recipe; returns how long acquiring took.
async fn acquire_and_release(
    session: &ZkConn,
    events: &mut tokio::sync::mpsc::Receiver<wire::WatcherEvent>,
    timeout: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let dir = lock_dir();
    let create = super::create(
        format!("{dir}/lock-"),
        Vec::new(),
        wire::create_mode::EPHEMERAL_SEQUENTIAL,
    );
    let reply = session.call(create).await?;
    check(&reply, "create(ephemeral sequential)")?;
    let mine = match reply.1 {
        wire::Response::Create { path } => path,
        other => return Err(format!("create replied {other:?}")),
    };
    let my_name = mine.rsplit('/').next().unwrap_or_default().to_string();
    loop {
        let reply = session
            .call(wire::Request::GetChildren {
                path: dir.clone(),
                watch: false,
            })
            .await?;
        check(&reply, "getChildren")?;
        let mut children = match reply.1 {
            wire::Response::GetChildren { children } => children,
            other => return Err(format!("getChildren replied {other:?}")),
        };
        // All names share the prefix, so the 10-digit suffixes sort as text.
        children.sort();
        let Some(position) = children.iter().position(|c| *c == my_name) else {
            return Err(format!("my lock node {mine} is not among the children"));
        };
        if position == 0 {
            break;
        }
        let predecessor = format!("{dir}/{}", children[position - 1]);
        let reply = session
            .call(wire::Request::Exists {
                path: predecessor.clone(),
                watch: true,
            })
            .await?;
        if reply.0.err == wire::err::NO_NODE {
            continue;
        }
        check(&reply, "exists(watch)")?;
        wait_for_deletion(events, &predecessor, timeout).await?;
    }
    let acquired = started.elapsed();
    let reply = session
        .call(wire::Request::Delete {
            path: mine,
            version: -1,
        })
        .await?;
    check(&reply, "delete (release)")?;
    Ok(acquired)
}

async fn wait_for_deletion(
    events: &mut tokio::sync::mpsc::Receiver<wire::WatcherEvent>,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            // Events for earlier predecessors may still be queued: skip them.
            Ok(Some(event)) if event.path == path => return Ok(()),
            Ok(Some(_)) => continue,
            Ok(None) => return Err("session closed while waiting for a watch".into()),
            Err(_) => {
                return Err(format!(
                    "no deletion event for {path} within {} ms",
                    timeout.as_millis()
                ))
            }
        }
    }
}
