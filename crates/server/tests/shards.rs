//! The sharded tier on real servers: three in-process servers, each
//! hosting the shard controller and three replica groups over one peer
//! transport, one disk thread and one gRPC port. Bank clients transfer
//! money between accounts on different shards with transactions through
//! `ShardClient`, while the server leading a coordinator group is stopped
//! and started again, and while a shard moves. Checked: the total is
//! conserved in every audit and at the end, every transaction is decided,
//! and the whole history is strictly serializable (`check_txns`).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synod_check::{check_txns, TxnOutcome as Seen, TxnRead, TxnRecord, TxnWrite};
use synod_client::{ClientOptions, ShardClient};
use synod_server::shards::{self, ShardHandle, CONTROLLER};
use synod_server::{Member, ServerConfig};
use synod_shard::{shard_of, GroupId, ShardReply};
use synod_shardkv::{Cond, Txn, TxnOutcome, Write};
use tokio::sync::oneshot;

const GROUPS: u32 = 3;
const SHARDS: u32 = 8;
const ACCOUNTS: u64 = 6;
const START_BALANCE: i64 = 100;

struct Server {
    cfg: ServerConfig,
    handle: ShardHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(cfg: ServerConfig) -> Server {
    let (stop, stopped) = oneshot::channel();
    let running = shards::start(cfg.clone(), async move {
        let _ = stopped.await;
    })
    .await
    .expect("the server starts");
    // The gRPC front door, as `synod server` runs it.
    let handle = running.handle.clone();
    let clients: BTreeMap<_, _> = cfg
        .members()
        .unwrap()
        .into_iter()
        .map(|(id, m)| (id, m.client))
        .collect();
    let service = shards::service::ShardService::new(
        handle.clone(),
        synod_server::grpc::Redirects::new(clients, false),
    );
    let listener = tokio::net::TcpListener::bind(cfg.client_listen)
        .await
        .unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let grpc = tonic::transport::Server::builder()
        .add_service(synod_api::pb::shards_server::ShardsServer::new(service))
        .serve_with_incoming(incoming);
    let node = running.task;
    let task = tokio::spawn(async move {
        tokio::select! {
            result = node => result?,
            _ = grpc => Ok(()),
        }
    });
    Server {
        cfg,
        handle,
        stop,
        task,
    }
}

impl Server {
    async fn stop(self) -> ServerConfig {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.cfg
    }
}

fn configs(dir: &std::path::Path) -> Vec<ServerConfig> {
    let members: BTreeMap<String, Member> = (1..=3u64)
        .map(|id| {
            (
                id.to_string(),
                Member {
                    peer: common::free_addr().into(),
                    client: common::free_addr().into(),
                },
            )
        })
        .collect();
    (1..=3)
        .map(|id| {
            let mut cfg = common::node_config(id, 77, dir, &members);
            cfg.shards.groups = GROUPS;
            cfg.shards.shard_count = SHARDS;
            cfg
        })
        .collect()
}

fn account(i: u64) -> Vec<u8> {
    format!("acct-{i}").into_bytes()
}

/// A balance and the unique tag of the write that set it.
fn value(balance: i64, tag: u64) -> Vec<u8> {
    format!("{balance}:{tag}").into_bytes()
}

fn parse(value: Option<&[u8]>) -> (i64, Option<u64>) {
    let Some(value) = value else {
        return (0, None);
    };
    let text = std::str::from_utf8(value).unwrap();
    let (balance, tag) = text.split_once(':').unwrap();
    (balance.parse().unwrap(), Some(tag.parse().unwrap()))
}

/// Every transaction any client ran, for `check_txns`.
#[derive(Default)]
struct History {
    records: Vec<TxnRecord>,
    next_tag: u64,
    started: Option<Instant>,
}

impl History {
    fn now(&mut self) -> u64 {
        self.started
            .get_or_insert_with(Instant::now)
            .elapsed()
            .as_micros() as u64
    }
}

/// Runs `txn` and records it. Writes' values must come from `value` with a
/// tag taken from the history.
async fn run(
    client: &mut ShardClient,
    history: &Arc<Mutex<History>>,
    txn: Txn,
) -> Option<TxnOutcome> {
    let call = history.lock().unwrap().now();
    let outcome = client.txn(txn.clone()).await;
    let mut h = history.lock().unwrap();
    let ret = h.now();
    let writes_of = |revs: Option<&[synod_shardkv::WriteResult]>| -> Vec<TxnWrite> {
        txn.writes
            .iter()
            .map(|w| TxnWrite {
                key: w.key.clone(),
                rev: revs.map(|r| r.iter().find(|x| x.key == w.key).expect("every write").rev),
                tag: parse(w.value.as_deref()).1,
            })
            .collect()
    };
    let record = match &outcome {
        Ok(TxnOutcome::Committed { reads, writes }) => TxnRecord {
            id: h.records.len() as u64,
            call,
            ret: Some(ret),
            outcome: Seen::Committed,
            reads: reads
                .iter()
                .map(|r| TxnRead {
                    key: r.key.clone(),
                    rev: r.rev,
                    tag: parse(r.value.as_deref()).1,
                })
                .collect(),
            writes: writes_of(Some(writes)),
        },
        Ok(TxnOutcome::Aborted(_)) => TxnRecord {
            id: h.records.len() as u64,
            call,
            ret: Some(ret),
            outcome: Seen::Aborted,
            reads: Vec::new(),
            writes: writes_of(None),
        },
        Err(_) => TxnRecord {
            id: h.records.len() as u64,
            call,
            ret: None,
            outcome: Seen::Unknown,
            reads: Vec::new(),
            writes: writes_of(None),
        },
    };
    h.records.push(record);
    outcome.ok()
}

fn tag(history: &Arc<Mutex<History>>) -> u64 {
    let mut h = history.lock().unwrap();
    h.next_tag += 1;
    h.next_tag
}

fn read_all() -> Txn {
    Txn {
        reads: (0..ACCOUNTS).map(account).collect(),
        ..Txn::default()
    }
}

fn total(outcome: &TxnOutcome) -> i64 {
    match outcome {
        TxnOutcome::Committed { reads, .. } => {
            reads.iter().map(|r| parse(r.value.as_deref()).0).sum()
        }
        TxnOutcome::Aborted(why) => panic!("an audit aborted: {why}"),
    }
}

/// One bank client: reads two accounts, then moves money between them on
/// the condition that neither changed (their revisions), and audits now
/// and then.
async fn bank_client(
    endpoints: Vec<String>,
    history: Arc<Mutex<History>>,
    seed: u64,
    until: Instant,
) -> (u64, u64) {
    let mut client = ShardClient::connect(endpoints, options()).await.unwrap();
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut committed, mut audits) = (0, 0);
    while Instant::now() < until {
        if next().is_multiple_of(8) {
            if let Some(outcome) = run(&mut client, &history, read_all()).await {
                if matches!(outcome, TxnOutcome::Committed { .. }) {
                    assert_eq!(total(&outcome), START_BALANCE * ACCOUNTS as i64);
                    audits += 1;
                }
            }
            continue;
        }
        let from = next() % ACCOUNTS;
        let to = (from + 1 + next() % (ACCOUNTS - 1)) % ACCOUNTS;
        let read = Txn {
            reads: vec![account(from), account(to)],
            ..Txn::default()
        };
        let Some(TxnOutcome::Committed { reads, .. }) = run(&mut client, &history, read).await
        else {
            continue;
        };
        let (a, b) = (&reads[0], &reads[1]);
        let (ra, rb) = (parse(a.value.as_deref()).0, parse(b.value.as_deref()).0);
        let amount = (next() % 10) as i64;
        let txn = Txn {
            conds: vec![
                Cond::Revision {
                    key: a.key.clone(),
                    rev: a.rev,
                },
                Cond::Revision {
                    key: b.key.clone(),
                    rev: b.rev,
                },
            ],
            reads: Vec::new(),
            writes: vec![
                Write {
                    key: a.key.clone(),
                    value: Some(value(ra - amount, tag(&history))),
                },
                Write {
                    key: b.key.clone(),
                    value: Some(value(rb + amount, tag(&history))),
                },
            ],
        };
        if let Some(TxnOutcome::Committed { .. }) = run(&mut client, &history, txn).await {
            committed += 1;
        }
    }
    (committed, audits)
}

fn options() -> ClientOptions {
    ClientOptions {
        deadline: Duration::from_secs(20),
        request_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

async fn leader_of(servers: &[Server], group: GroupId) -> Option<usize> {
    for (i, s) in servers.iter().enumerate() {
        let status = s.handle.status().await.ok()?;
        if status.iter().any(|g| g.group == group && g.leads) {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bank_over_three_groups_keeps_its_total_while_a_coordinator_leader_dies_and_a_shard_moves(
) {
    let dir = tempfile::tempdir().unwrap();
    let cfgs = configs(dir.path());
    let endpoints: Vec<String> = cfgs
        .iter()
        .map(|c| format!("http://{}", c.client_listen))
        .collect();
    let mut servers = Vec::new();
    for cfg in cfgs {
        servers.push(start(cfg).await);
    }
    let history = Arc::new(Mutex::new(History::default()));
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut admin = ShardClient::connect(endpoints.clone(), options())
            .await
            .unwrap();
        // The controller's leader joins the configured groups by itself.
        let config = loop {
            let config = admin.config().await.unwrap();
            if config.num >= 1 {
                break config;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let groups: std::collections::BTreeSet<_> =
            (0..SHARDS).filter_map(|s| config.group_of(s)).collect();
        assert_eq!(groups.len(), GROUPS as usize, "{config:?}");
        // Accounts on several shards of several groups.
        let owners: std::collections::BTreeSet<_> = (0..ACCOUNTS)
            .filter_map(|i| config.group_of(shard_of(&account(i), SHARDS)))
            .collect();
        assert!(owners.len() >= 2, "the accounts span groups: {owners:?}");
        let setup = Txn {
            writes: (0..ACCOUNTS)
                .map(|i| Write {
                    key: account(i),
                    value: Some(value(START_BALANCE, tag(&history))),
                })
                .collect(),
            ..Txn::default()
        };
        let outcome = run(&mut admin, &history, setup).await;
        assert!(
            matches!(outcome, Some(TxnOutcome::Committed { .. })),
            "{outcome:?}"
        );

        let until = Instant::now() + Duration::from_secs(8);
        let clients: Vec<_> = (0..3)
            .map(|i| {
                tokio::spawn(bank_client(
                    endpoints.clone(),
                    history.clone(),
                    0x9e37_79b9 + i,
                    until,
                ))
            })
            .collect();

        // Mid-run: the server leading the coordinator of account 0's
        // transactions stops, and starts again from its disk.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let coordinator = config
            .group_of(shard_of(&account(0), SHARDS))
            .expect("assigned");
        let victim = loop {
            if let Some(i) = leader_of(&servers, coordinator).await {
                break i;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let cfg = servers.remove(victim).stop().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        servers.push(start(ServerConfig { init: false, ..cfg }).await);

        // And a shard moves to another group while transfers run.
        let shard = shard_of(&account(1), SHARDS);
        let owner = config.group_of(shard).expect("assigned");
        let target = (1..=GROUPS as u64).find(|g| *g != owner).unwrap();
        let moved = admin.move_shard(shard, target).await.unwrap();
        assert!(
            matches!(moved, ShardReply::Reconfigured { .. }),
            "{moved:?}"
        );

        let mut committed = 0;
        for client in clients {
            let (c, _audits) = client.await.unwrap();
            committed += c;
        }
        assert!(committed > 0, "no transfer committed");

        // Every account's final balance adds up, read in one transaction.
        let outcome = run(&mut admin, &history, read_all())
            .await
            .expect("the final audit is decided");
        assert_eq!(total(&outcome), START_BALANCE * ACCOUNTS as i64);
        let status = servers[0].handle.status().await.unwrap();
        let newest = status
            .iter()
            .find(|g| g.group == CONTROLLER)
            .unwrap()
            .config;
        assert!(newest >= 2, "the move made a configuration: {status:?}");
    })
    .await
    .expect("the bank run finishes in time");

    let history = std::mem::take(&mut *history.lock().unwrap());
    let unknown = history
        .records
        .iter()
        .filter(|r| r.outcome == Seen::Unknown)
        .count();
    let verdict = check_txns(&history.records).expect("a well-formed history");
    let committed = history
        .records
        .iter()
        .filter(|r| r.outcome == Seen::Committed)
        .count();
    eprintln!(
        "{} transactions: {committed} committed, {unknown} unknown; {verdict:?}",
        history.records.len()
    );
    assert!(
        verdict.is_strictly_serializable(),
        "not strictly serializable: {verdict:?} ({} transactions, {unknown} unknown)",
        history.records.len()
    );
    for server in servers {
        server.stop().await;
    }
}
