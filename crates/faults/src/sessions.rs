//! The sessions workload: an ephemeral znode exists exactly while the
//! session that made it is alive.
//!
//! Owners open a session, create one ephemeral znode, prove the session
//! alive by writing to that znode (a write goes through the log, which
//! checks the session), and end it by closing it or by abandoning the
//! connection (the session must then expire). Observers read the znodes
//! with `sync` + `exists` on any node. The checker then holds every
//! observation against what the owners know:
//!
//! - absent while alive: an observation that began after the create
//!   returned and ended before a later proof of life began saw no znode;
//! - present after the end: an observation that began after the close (or
//!   the server's "session expired") returned saw the znode;
//! - back from the dead: an observation saw the znode after an earlier one
//!   (begun after the create returned) had seen it gone;
//! - outlived its session: at the end of the run, after every session has
//!   ended and the session timeout has passed twice, a znode is still
//!   there;
//! - vanished: a proof-of-life write answered "no node" on a live session.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synod_bench::zk::conn::ZkConn;
use synod_wal::SplitMix64;
use synod_zkproto as wire;

use crate::history::Ctx;

pub const ROOT: &str = "/sessions";
/// The session timeout owners ask for.
pub const SESSION_TIMEOUT_MS: i32 = 3000;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// How a session ended, as its owner knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// closeSession returned at this time.
    Closed(u64),
    /// A request was answered "session expired" at this time.
    Expired(u64),
    /// The owner dropped the connection at this time (deliberately, or
    /// after a request got no answer): the session must expire.
    Abandoned(u64),
    /// A proof-of-life write answered "no node" at this time.
    Vanished(u64),
}

/// One session's ephemeral znode and what its owner saw.
#[derive(Clone, Debug)]
pub struct Life {
    pub path: String,
    pub phase: usize,
    /// When the create returned; `None` if its outcome is unknown.
    pub created: Option<u64>,
    /// (call, return) of every successful proof-of-life write.
    pub proofs: Vec<(u64, u64)>,
    pub end: End,
}

/// One observer read.
#[derive(Clone, Debug)]
pub struct Observation {
    pub path: String,
    pub call: u64,
    pub ret: u64,
    pub present: bool,
}

/// Checks lives against observations and the final state (`remaining`:
/// the znodes still present at the end). Returns every anomaly found.
pub fn check(lives: &[Life], observations: &[Observation], remaining: &[String]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut by_path: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in observations {
        by_path.entry(&o.path).or_default().push(o);
    }
    for life in lives {
        if let End::Vanished(at) = life.end {
            anomalies.push(format!(
                "{}: a write on its live session answered \"no node\" at {}",
                life.path,
                ms(at)
            ));
        }
        let seen = by_path.get(life.path.as_str()).map_or(&[][..], |v| &v[..]);
        let last_proof = life.proofs.iter().map(|&(call, _)| call).max();
        let ended = match life.end {
            End::Closed(t) | End::Expired(t) => Some(t),
            _ => None,
        };
        for o in seen {
            if let (Some(created), Some(proof)) = (life.created, last_proof) {
                if !o.present && o.call > created && o.ret < proof {
                    anomalies.push(format!(
                        "{}: absent while its session was alive: read {}..{}, created by {}, alive again at {}",
                        life.path, ms(o.call), ms(o.ret), ms(created), ms(proof)
                    ));
                }
            }
            if let Some(end) = ended {
                if o.present && o.call > end {
                    anomalies.push(format!(
                        "{}: present after its session ended at {}: read {}..{}",
                        life.path,
                        ms(end),
                        ms(o.call),
                        ms(o.ret)
                    ));
                }
            }
        }
        if let Some(created) = life.created {
            let gone_at = seen
                .iter()
                .filter(|o| !o.present && o.call > created)
                .map(|o| o.ret)
                .min();
            if let Some(gone) = gone_at {
                if let Some(back) = seen.iter().find(|o| o.present && o.call > gone) {
                    anomalies.push(format!(
                        "{}: back after it was seen gone at {}: read {}..{}",
                        life.path,
                        ms(gone),
                        ms(back.call),
                        ms(back.ret)
                    ));
                }
            }
        }
        if remaining.contains(&life.path) {
            anomalies.push(format!(
                "{}: outlived its session ({:?}): still present at the end of the run",
                life.path, life.end
            ));
        }
    }
    anomalies
}

fn ms(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// What every owner and observer records.
#[derive(Default)]
pub struct Record {
    pub lives: Vec<Life>,
    pub observations: Vec<Observation>,
    /// Paths recently created, for the observers to read.
    pub recent: Vec<String>,
}

pub type Shared = Arc<Mutex<Record>>;

/// Keeps the observers on the newest lives.
const RECENT_MAX: usize = 24;

async fn call(conn: &ZkConn, request: wire::Request) -> Option<(i32, wire::Response)> {
    crate::zk::call_within(conn, request, crate::zk::lost).await
}

/// Runs one owner until the run stops: session after session, each with
/// one ephemeral znode.
pub async fn owner(id: u64, endpoints: Vec<String>, ctx: Ctx, record: Shared) {
    let mut rng = SplitMix64(id * 6_700_417 + 5);
    let mut life_no = 0u64;
    let mut next_endpoint = id as usize;
    while !ctx.stopped() {
        let endpoint = &endpoints[next_endpoint % endpoints.len()];
        next_endpoint += 1;
        let conn = match ZkConn::connect_with(endpoint, CONNECT_TIMEOUT, SESSION_TIMEOUT_MS).await {
            Ok((conn, _events)) => conn,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        life_no += 1;
        let phase = ctx.phase();
        let path = format!("{ROOT}/o{id}-{life_no}");
        let create =
            synod_bench::zk::create(path.clone(), Vec::new(), wire::create_mode::EPHEMERAL);
        let created = match call(&conn, create).await {
            Some((code, _)) if code == wire::err::OK => Some(ctx.now()),
            Some((code, _)) if code == wire::err::SESSION_EXPIRED => continue,
            _ => None,
        };
        {
            let mut r = record.lock().expect("record lock");
            r.recent.push(path.clone());
            if r.recent.len() > RECENT_MAX {
                r.recent.remove(0);
            }
        }
        let mut life = Life {
            path: path.clone(),
            phase,
            created,
            proofs: Vec::new(),
            end: End::Abandoned(ctx.now()),
        };
        if created.is_some() {
            life.end = live(&conn, &path, &ctx, &mut rng, &mut life.proofs).await;
        }
        if let End::Abandoned(_) = life.end {
            // Dropping the connection without closing: the session expires.
            drop(conn);
            life.end = End::Abandoned(ctx.now());
        }
        record.lock().expect("record lock").lives.push(life);
    }
}

/// Proves the session alive every 150 ms for one to four seconds, then
/// closes it or abandons it. Returns how it ended.
async fn live(
    conn: &ZkConn,
    path: &str,
    ctx: &Ctx,
    rng: &mut SplitMix64,
    proofs: &mut Vec<(u64, u64)>,
) -> End {
    let life_ms = 1000 + rng.below(3000);
    let started = ctx.now();
    while !ctx.stopped() && ctx.now() - started < life_ms * 1_000_000 {
        let begun = ctx.now();
        let write = wire::Request::SetData {
            path: path.to_string(),
            data: Some(begun.to_le_bytes().to_vec()),
            version: -1,
        };
        match call(conn, write).await {
            Some((code, _)) if code == wire::err::OK => proofs.push((begun, ctx.now())),
            Some((code, _)) if code == wire::err::SESSION_EXPIRED => {
                return End::Expired(ctx.now())
            }
            Some((code, _)) if code == wire::err::NO_NODE => return End::Vanished(ctx.now()),
            _ => return End::Abandoned(ctx.now()),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    if rng.below(3) == 0 {
        return End::Abandoned(ctx.now());
    }
    match call(conn, wire::Request::CloseSession).await {
        Some((code, _)) if code == wire::err::OK => End::Closed(ctx.now()),
        _ => End::Abandoned(ctx.now()),
    }
}

/// Does `path` exist, as of a `sync` on `conn`? `None`: no answer.
pub async fn exists(conn: &ZkConn, path: &str) -> Option<bool> {
    let (code, _) = call(
        conn,
        wire::Request::Sync {
            path: path.to_string(),
        },
    )
    .await?;
    if code != wire::err::OK {
        return None;
    }
    let (code, _) = call(
        conn,
        wire::Request::Exists {
            path: path.to_string(),
            watch: false,
        },
    )
    .await?;
    match code {
        wire::err::OK => Some(true),
        wire::err::NO_NODE => Some(false),
        _ => None,
    }
}

/// Runs one observer until the run stops: reads a recent znode on a node
/// chosen at random, over and over.
pub async fn observer(id: u64, endpoints: Vec<String>, ctx: Ctx, record: Shared) {
    let mut rng = SplitMix64(id * 15_485_863 + 7);
    let mut conns: Vec<Option<ZkConn>> = endpoints.iter().map(|_| None).collect();
    while !ctx.stopped() {
        let i = rng.below(endpoints.len() as u64) as usize;
        let path = {
            let r = record.lock().expect("record lock");
            if r.recent.is_empty() {
                None
            } else {
                Some(r.recent[rng.below(r.recent.len() as u64) as usize].clone())
            }
        };
        let Some(path) = path else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if conns[i].as_ref().is_none_or(|c| c.is_broken()) {
            conns[i] = ZkConn::connect_with(&endpoints[i], CONNECT_TIMEOUT, 10_000)
                .await
                .ok()
                .map(|(c, _)| c);
        }
        let Some(conn) = &conns[i] else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let call_at = ctx.now();
        match exists(conn, &path).await {
            Some(present) => {
                let ret = ctx.now();
                record
                    .lock()
                    .expect("record lock")
                    .observations
                    .push(Observation {
                        path,
                        call: call_at,
                        ret,
                        present,
                    });
            }
            None => conns[i] = None,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn life(end: End) -> Life {
        Life {
            path: "/s/a".into(),
            phase: 0,
            created: Some(S),
            proofs: vec![(2 * S, 2 * S + 10), (4 * S, 4 * S + 10)],
            end,
        }
    }

    fn seen(call: u64, ret: u64, present: bool) -> Observation {
        Observation {
            path: "/s/a".into(),
            call,
            ret,
            present,
        }
    }

    #[test]
    fn a_clean_life_passes() {
        let lives = [life(End::Closed(5 * S))];
        let obs = [
            seen(S + 1, S + 2, true),
            seen(3 * S, 3 * S + 5, true),
            seen(6 * S, 6 * S + 5, false),
        ];
        assert_eq!(check(&lives, &obs, &[]), Vec::<String>::new());
    }

    #[test]
    fn absent_while_the_session_was_alive_is_caught() {
        let lives = [life(End::Closed(5 * S))];
        let obs = [seen(3 * S, 3 * S + 5, false)];
        let found = check(&lives, &obs, &[]);
        assert!(
            found[0].contains("absent while its session was alive"),
            "{found:?}"
        );
    }

    #[test]
    fn present_after_the_close_returned_is_caught() {
        let lives = [life(End::Closed(5 * S))];
        let obs = [seen(6 * S, 6 * S + 5, true)];
        let found = check(&lives, &obs, &[]);
        assert!(
            found[0].contains("present after its session ended"),
            "{found:?}"
        );
    }

    #[test]
    fn back_after_gone_is_caught() {
        let lives = [life(End::Abandoned(5 * S))];
        let obs = [seen(6 * S, 6 * S + 5, false), seen(7 * S, 7 * S + 5, true)];
        let found = check(&lives, &obs, &[]);
        assert!(found.iter().any(|a| a.contains("back after")), "{found:?}");
    }

    #[test]
    fn an_ephemeral_that_outlives_its_session_is_caught() {
        let lives = [life(End::Abandoned(5 * S))];
        let found = check(&lives, &[], &["/s/a".to_string()]);
        assert!(found[0].contains("outlived its session"), "{found:?}");
    }

    #[test]
    fn a_write_that_finds_no_node_on_a_live_session_is_caught() {
        let lives = [life(End::Vanished(5 * S))];
        let found = check(&lives, &[], &[]);
        assert!(found[0].contains("no node"), "{found:?}");
    }

    #[test]
    fn overlapping_reads_are_not_blamed() {
        // A read that overlaps the close may see either.
        let lives = [life(End::Closed(5 * S))];
        let obs = [seen(5 * S - 10, 5 * S + 10, true)];
        assert_eq!(check(&lives, &obs, &[]), Vec::<String>::new());
    }
}
