//! The ZooKeeper-protocol target: pipelined sessions ([`conn`]) that
//! reopen on failure ([`Slot`]), the key-value workloads on znodes, and the
//! recipes ([`watch`], [`lock`]).

pub mod conn;
pub mod lock;
pub mod watch;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use synod_zkproto as wire;

use crate::args::BenchArgs;
use crate::drive::{self, Op, Worker};
use crate::stats::Stats;
use conn::{Reply, ZkConn};

/// Every node the bench makes lives under this.
pub const ROOT: &str = "/bench";
/// Parents created before any workload runs.
const PARENTS: [&str; 6] = [
    "/bench",
    "/bench/k",
    "/bench/cd",
    "/bench/watch",
    "/bench/lock",
    "/bench/pop",
];
/// Populate puts this many nodes under each parent, so no znode gets a
/// child list too long for one reply.
pub const POP_FANOUT: u64 = 1000;
/// Requests outstanding at once while creating the keys.
const SETUP_IN_FLIGHT: usize = 256;
/// Time to open a session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub fn key_path(key: u64) -> String {
    format!("{ROOT}/k/{key}")
}

fn churn_path(id: u64) -> String {
    format!("{ROOT}/cd/{id:x}")
}

fn pop_parent(i: u64) -> String {
    format!("{ROOT}/pop/{}", i / POP_FANOUT)
}

fn pop_path(i: u64) -> String {
    format!("{}/{}", pop_parent(i), i % POP_FANOUT)
}

pub fn open_acl() -> Vec<wire::Acl> {
    vec![wire::Acl {
        perms: wire::perms::ALL,
        id: wire::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub fn create(path: String, data: Vec<u8>, mode: i32) -> wire::Request {
    wire::Request::Create {
        kind: wire::CreateKind::Create,
        path,
        data: Some(data),
        acl: open_acl(),
        flags: mode,
    }
}

/// The reply's error, if any, as `op: NAME (code)`.
pub fn check(reply: &Reply, what: &str) -> Result<(), String> {
    let code = reply.0.err;
    if code == wire::err::OK {
        Ok(())
    } else {
        Err(format!("{what}: {} ({code})", wire::err::name(code)))
    }
}

/// One connection's worth of sessions: the current one, reopened on the
/// next endpoint when it breaks. Workers sharing a slot pipeline on it.
pub struct Slot {
    endpoints: Vec<String>,
    next_endpoint: AtomicUsize,
    current: tokio::sync::Mutex<Option<Arc<ZkConn>>>,
}

impl Slot {
    pub fn new(endpoints: Vec<String>, first: usize) -> Slot {
        Slot {
            endpoints,
            next_endpoint: AtomicUsize::new(first),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The live session, opened if there is none (one opener at a time;
    /// the others wait for it).
    pub async fn session(&self) -> Result<Arc<ZkConn>, String> {
        let mut current = self.current.lock().await;
        if let Some(conn) = current.as_ref().filter(|c| !c.is_broken()) {
            return Ok(conn.clone());
        }
        *current = None;
        let i = self.next_endpoint.fetch_add(1, Ordering::Relaxed);
        let endpoint = &self.endpoints[i % self.endpoints.len()];
        // Watch events are not used on key-value slots: drop the receiver.
        let (conn, _events) = ZkConn::connect(endpoint, CONNECT_TIMEOUT).await?;
        let conn = Arc::new(conn);
        *current = Some(conn.clone());
        Ok(conn)
    }

    pub async fn call(&self, request: wire::Request) -> Result<Reply, String> {
        self.session().await?.call(request).await
    }

    /// Drops the current session (its unanswered requests fail).
    pub async fn reset(&self) {
        *self.current.lock().await = None;
    }

    pub async fn close(&self) {
        if let Some(conn) = self.current.lock().await.take() {
            conn.close(Duration::from_secs(1)).await;
        }
    }
}

/// A worker of the key-value workloads on znodes.
pub struct ZkWorker {
    slot: Arc<Slot>,
    value: Vec<u8>,
}

impl Worker for ZkWorker {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        let value = || self.value.clone();
        let (request, what) = match op {
            Op::Write(k) => (
                wire::Request::SetData {
                    path: key_path(k),
                    data: Some(value()),
                    version: -1,
                },
                "setData",
            ),
            Op::Read(k) => (
                wire::Request::GetData {
                    path: key_path(k),
                    watch: false,
                },
                "getData",
            ),
            Op::Create(id) => (
                create(churn_path(id), value(), wire::create_mode::PERSISTENT),
                "create",
            ),
            Op::Delete(id) => (
                wire::Request::Delete {
                    path: churn_path(id),
                    version: -1,
                },
                "delete",
            ),
            Op::Populate(i) => (
                create(pop_path(i), value(), wire::create_mode::PERSISTENT),
                "create",
            ),
            Op::Txn(..) => {
                return Err("the txn workload needs --target synod-shards or etcd".into())
            }
        };
        let reply = self.slot.call(request).await?;
        if matches!(op, Op::Populate(_)) && reply.0.err == wire::err::NODE_EXISTS {
            return Ok(());
        }
        check(&reply, what)
    }

    async fn on_timeout(&mut self) {
        self.slot.reset().await;
    }
}

/// `connections` slots over the endpoints round-robin, and `in_flight`
/// workers over the slots round-robin.
fn workers(args: &BenchArgs, endpoints: &[String]) -> (Vec<Arc<Slot>>, Vec<ZkWorker>) {
    let slots: Vec<Arc<Slot>> = (0..args.connections)
        .map(|i| Arc::new(Slot::new(endpoints.to_vec(), i)))
        .collect();
    let workers = (0..args.in_flight)
        .map(|i| ZkWorker {
            slot: slots[i % slots.len()].clone(),
            value: drive::value_of(args.value_bytes, i as u64),
        })
        .collect();
    (slots, workers)
}

/// Creates the parents and the keys, pipelined on one session.
async fn setup(args: &BenchArgs, endpoints: &[String], with_keys: bool) -> anyhow::Result<()> {
    let slot = Arc::new(Slot::new(endpoints.to_vec(), 0));
    for parent in PARENTS {
        let reply = slot
            .call(create(
                parent.into(),
                Vec::new(),
                wire::create_mode::PERSISTENT,
            ))
            .await
            .map_err(|e| anyhow::anyhow!("setup: creating {parent}: {e}"))?;
        if reply.0.err != wire::err::NODE_EXISTS {
            check(&reply, &format!("setup: create {parent}")).map_err(anyhow::Error::msg)?;
        }
    }
    if with_keys {
        let value = drive::value_of(args.value_bytes, 0);
        let paths = (0..args.keys).map(key_path);
        create_all(&slot, paths, value).await?;
    }
    slot.close().await;
    Ok(())
}

/// Creates every path (existing ones are fine), `SETUP_IN_FLIGHT` at once.
async fn create_all(
    slot: &Arc<Slot>,
    paths: impl Iterator<Item = String>,
    value: Vec<u8>,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for path in paths {
        if tasks.len() >= SETUP_IN_FLIGHT {
            tasks.join_next().await.expect("non-empty")??;
        }
        let (slot, value) = (slot.clone(), value.clone());
        tasks.spawn(async move {
            let reply = slot
                .call(create(path.clone(), value, wire::create_mode::PERSISTENT))
                .await
                .map_err(|e| anyhow::anyhow!("setup: creating {path}: {e}"))?;
            if reply.0.err != wire::err::NODE_EXISTS {
                check(&reply, &format!("setup: create {path}")).map_err(anyhow::Error::msg)?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// write, read, mixed, create-delete.
pub async fn run_kv(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    let endpoints = args.endpoints();
    if !args.skip_setup {
        setup(args, &endpoints, true).await?;
    }
    let (slots, workers) = workers(args, &endpoints);
    drive::closed_loop(workers, args, stats).await;
    for slot in slots {
        slot.close().await;
    }
    Ok(())
}

/// Creates `--keys` nodes under /bench/pop.
pub async fn run_populate(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    let endpoints = args.endpoints();
    setup(args, &endpoints, false).await?;
    let parents = (0..args.keys.div_ceil(POP_FANOUT)).map(|p| pop_parent(p * POP_FANOUT));
    let slot = Arc::new(Slot::new(endpoints.clone(), 0));
    create_all(&slot, parents, Vec::new()).await?;
    slot.close().await;
    let (slots, workers) = workers(args, &endpoints);
    let result = drive::count_bound(workers, args.keys, stats).await;
    for slot in slots {
        slot.close().await;
    }
    result
}

/// Reads /bench/pop/0/0 from each endpoint in turn until one answers
/// (NoNode counts: the server is serving).
pub async fn run_probe(args: &BenchArgs) -> anyhow::Result<Duration> {
    let endpoints = args.endpoints();
    let limit = Duration::from_secs_f64(args.duration);
    drive::until_ok(limit, |attempt| {
        let endpoint = endpoints[attempt as usize % endpoints.len()].clone();
        async move {
            let (conn, _events) = ZkConn::connect(&endpoint, CONNECT_TIMEOUT).await?;
            let reply = conn
                .call(wire::Request::GetData {
                    path: pop_path(0),
                    watch: false,
                })
                .await?;
            if reply.0.err != wire::err::NO_NODE {
                check(&reply, "getData")?;
            }
            conn.close(Duration::from_millis(200)).await;
            Ok(())
        }
    })
    .await
}

/// Opens a session of its own (for recipes that need one per participant),
/// retrying over the endpoints for up to `CONNECT_TIMEOUT` each.
pub async fn own_session(
    endpoints: &[String],
    first: usize,
) -> anyhow::Result<(ZkConn, tokio::sync::mpsc::Receiver<wire::WatcherEvent>)> {
    let mut last = String::new();
    for attempt in 0..endpoints.len() * 3 {
        let endpoint = &endpoints[(first + attempt) % endpoints.len()];
        match ZkConn::connect(endpoint, CONNECT_TIMEOUT).await {
            Ok(session) => return Ok(session),
            Err(e) => last = e,
        }
    }
    anyhow::bail!("cannot open a ZooKeeper session: {last}")
}

/// Creates the parents the recipes use.
pub async fn setup_parents(args: &BenchArgs) -> anyhow::Result<()> {
    setup(args, &args.endpoints(), false).await
}
