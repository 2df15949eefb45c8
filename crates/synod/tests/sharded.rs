//! The sharded tier in real processes: three `synod server`s, each
//! hosting the shard controller and three replica groups over one peer
//! transport, one disk thread and one gRPC port. Bank clients transfer
//! money between accounts on different shards with transactions through
//! `ShardClient`, while the process leading a coordinator group is killed
//! (SIGKILL) mid-commit and started again from its disk, and while a shard
//! moves. Checked: the total is conserved in every audit and at the end,
//! every transaction is decided, and the whole history is strictly
//! serializable (`check_txns`). Then the commands a user types, against
//! `synod dev --groups 3`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cluster, Layout};
use synod_check::{check_txns, TxnOutcome as Seen, TxnRead, TxnRecord, TxnWrite};
use synod_client::{ClientOptions, ShardClient};
use synod_shard::{shard_of, GroupId, ShardReply};
use synod_shardkv::{Cond, Txn, TxnOutcome, Write};

const GROUPS: u32 = 3;
const SHARDS: u32 = 8;
const ACCOUNTS: u64 = 6;
const START_BALANCE: i64 = 100;

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

/// The first configuration with groups in it: the controller's leader
/// joins the configured groups by itself at the first start.
async fn joined(client: &mut ShardClient) -> synod_shard::Config {
    let deadline = common::Deadline::new("the groups joined", Duration::from_secs(30));
    loop {
        if let Ok(config) = client.config().await {
            if config.num >= 1 {
                return config;
            }
        }
        deadline.tick().await;
    }
}

/// The member whose replica of `group` leads, if one says so.
async fn leader_of(client: &ShardClient, cluster: &Cluster, group: GroupId) -> Option<u64> {
    for id in cluster.running() {
        let Ok(status) = client.status(&cluster.endpoint(id)).await else {
            continue;
        };
        if status.groups.iter().any(|g| g.group == group && g.leads) {
            return Some(id);
        }
    }
    None
}

#[test]
fn a_bank_over_three_groups_keeps_its_total_while_a_coordinator_leader_is_killed_and_a_shard_moves()
{
    common::run(async {
        let mut cluster = Cluster::start_all(Layout::sharded(GROUPS, SHARDS));
        bank_run(&mut cluster, GROUPS as usize).await;
    })
}

/// Five servers, each group on three of them: the controller and group 1
/// on 1-3, group 2 on 3-5, group 3 on 1, 4 and 5. Servers 4 and 5 host no
/// controller (they ask a member for configurations), and no server hosts
/// every group (messages for a group not hosted go to a member, which
/// relays them to the leader).
#[test]
fn a_bank_over_groups_placed_on_subsets_of_five_servers_keeps_its_total() {
    common::run(async {
        let layout = Layout {
            members: 5,
            initial_voters: None,
            shards: Some(format!(
                "shard_count = {SHARDS}\nplacement = {{ 0 = [1, 2, 3], 1 = [1, 2, 3], 2 = [3, 4, 5], 3 = [1, 4, 5] }}\n"
            )),
        };
        let mut cluster = Cluster::start_all(layout);
        bank_run(&mut cluster, 3).await;
    })
}

/// Bank clients for 10 s over `cluster` (a sharded tier with `groups`
/// replica groups); 2 s in, the process leading the coordinator of
/// account 0's transactions is killed and started again; then a shard
/// moves. Checks the totals, that everything is decided, and the history.
async fn bank_run(cluster: &mut Cluster, groups: usize) {
    let endpoints = cluster.endpoints(&cluster.ids());
    let history = Arc::new(Mutex::new(History::default()));
    let mut admin = ShardClient::connect(endpoints.clone(), options())
        .await
        .unwrap();
    let config = joined(&mut admin).await;
    let placed: std::collections::BTreeSet<_> =
        (0..SHARDS).filter_map(|s| config.group_of(s)).collect();
    assert_eq!(placed.len(), groups, "{config:?}");
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

    let until = Instant::now() + Duration::from_secs(10);
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

    // Mid-run: the process leading the coordinator of account 0's
    // transactions is killed, and starts again from its disk.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let coordinator = config
        .group_of(shard_of(&account(0), SHARDS))
        .expect("assigned");
    let deadline = common::Deadline::new("a leader of the coordinator", Duration::from_secs(10));
    let victim = loop {
        if let Some(id) = leader_of(&admin, cluster, coordinator).await {
            break id;
        }
        deadline.tick().await;
    };
    cluster.kill9(victim);
    println!("killed node {victim}, leader of group {coordinator}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start(victim);

    // And a shard moves to another group while transfers run.
    let shard = shard_of(&account(1), SHARDS);
    let owner = config.group_of(shard).expect("assigned");
    let target = (1..=groups as u64).find(|g| *g != owner).unwrap();
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
    assert!(
        admin.config().await.unwrap().num >= 2,
        "the move made a configuration"
    );

    let history = std::mem::take(&mut *history.lock().unwrap());
    let count = |seen: Seen| history.records.iter().filter(|r| r.outcome == seen).count();
    let verdict = check_txns(&history.records).expect("a well-formed history");
    println!(
        "{} transactions: {} committed ({committed} transfers), {} aborted, {} unknown; {verdict:?}",
        history.records.len(),
        count(Seen::Committed),
        count(Seen::Aborted),
        count(Seen::Unknown),
    );
    assert!(verdict.is_strictly_serializable(), "{verdict:?}");
    assert_eq!(count(Seen::Unknown), 0, "every transaction is decided");
}

/// `count` consecutive loopback ports that are free now, from `from` up.
fn consecutive_free_ports(count: u16, from: u16) -> u16 {
    (from..u16::MAX - count)
        .step_by(usize::from(count))
        .find(|base| {
            (*base..base + count)
                .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        })
        .expect("free ports")
}

/// The commands the issue names, as a user types them, against
/// `synod dev --groups 3`.
#[test]
fn the_commands_work_against_synod_dev_with_three_groups() {
    common::run(async {
        let dir = tempfile::tempdir().unwrap();
        let peer = consecutive_free_ports(3, 23_000);
        let client = consecutive_free_ports(3, peer + 3);
        let mut dev = tokio::process::Command::new(common::synod_exe())
            .args(["dev", "--groups", "3", "--dir"])
            .arg(dir.path().join("dev"))
            .args(["--peer-port", &peer.to_string()])
            .args(["--client-port", &client.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("synod dev starts");
        let endpoints = format!(
            "127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
            client,
            client + 1,
            client + 2
        );
        let limit = Duration::from_secs(30);
        let synod = |args: &[&str]| {
            let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            all.extend(["--endpoints".to_string(), endpoints.clone()]);
            async move {
                let args: Vec<&str> = all.iter().map(String::as_str).collect();
                common::cli(&args, limit).await
            }
        };

        let deadline = common::Deadline::new("synod dev's groups to join", limit);
        loop {
            let shards = synod(&["shards"]).await;
            if shards.success && !shards.stdout.starts_with("configuration 0") {
                assert!(shards.stdout.contains("(16 shards)"), "{}", shards.stdout);
                break;
            }
            deadline.tick().await;
        }
        let out = synod(&["kv", "put", "greeting", "hello"]).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "OK\n"),
            "{out:?}"
        );
        let out = synod(&["kv", "get", "greeting"]).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "hello\n"),
            "{out:?}"
        );

        let out = synod(&[
            "kv", "txn", "--put", "a=1", "--put", "b=2", "--get", "greeting",
        ])
        .await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "committed\ngreeting=hello\n"),
            "{out:?}"
        );
        // Reads see the state the conditions were judged on.
        let out = synod(&[
            "kv", "txn", "--if", "a=1", "--put", "a=2", "--del", "b", "--get", "a", "--get", "b",
        ])
        .await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "committed\na=1\nb=2\n"),
            "{out:?}"
        );
        let out = synod(&["kv", "txn", "--if", "a=1", "--put", "a=3"]).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(3), "aborted: condition on a failed\n"),
            "{out:?}"
        );
        let out = synod(&[
            "kv",
            "txn",
            "--if-absent",
            "b",
            "--put",
            "b=5",
            "--get",
            "b",
        ])
        .await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "committed\nb (absent)\n"),
            "{out:?}"
        );

        // Shards move, and the data with them.
        let a_shard = shard_of(b"a", 16).to_string();
        let owner_of_a = |table: &str| -> String {
            let row = table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(a_shard.as_str()))
                .expect("a row per shard");
            row.split_whitespace().nth(1).unwrap().to_string()
        };
        let before = owner_of_a(&synod(&["shards"]).await.stdout);
        let target = if before == "1" { "2" } else { "1" };
        let out = synod(&["shards", "move", &a_shard, target]).await;
        assert!(
            out.success && out.stdout.starts_with("configuration"),
            "{out:?}"
        );
        assert_eq!(owner_of_a(&synod(&["shards"]).await.stdout), target);
        let out = synod(&["shards", "leave", target]).await;
        assert!(out.success, "{out:?}");
        let out = synod(&["kv", "cas", "a", "--expected", "2", "7"]).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "OK\n"),
            "{out:?}"
        );
        let out = synod(&["kv", "cas", "a", "--expected", "2", "8"]).await;
        assert_eq!(out.code, Some(1), "{out:?}");
        let out = synod(&["kv", "txn", "--get", "a", "--get", "b", "--get", "greeting"]).await;
        assert_eq!(
            out.stdout, "committed\na=7\nb=5\ngreeting=hello\n",
            "{out:?}"
        );
        let out = synod(&["kv", "del", "greeting"]).await;
        assert!(out.success, "{out:?}");
        let out = synod(&["kv", "get", "greeting"]).await;
        assert_eq!(out.code, Some(1), "{out:?}");

        // Ctrl-C stops the three processes cleanly.
        let pid = dev.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(limit, dev.wait())
            .await
            .expect("synod dev stops")
            .unwrap();
        assert!(status.success(), "{status:?}");
    })
}

/// A sharded tier with TLS on its gRPC port serves a `ShardClient` made
/// with TLS options (a transaction across both groups commits) and the CLI
/// given `--ca --cert --key` (its probe for a sharded cluster speaks TLS
/// too); a client without TLS gets no answer.
#[test]
fn a_sharded_tier_on_tls_serves_the_tls_client_and_the_commands() {
    common::run(async {
        let cluster = Cluster::new_with_client_tls(Layout::sharded(2, 4));
        let mut cluster = cluster;
        for id in cluster.ids() {
            cluster.start(id);
        }
        let endpoints = cluster.endpoints(&cluster.ids());
        let mut client = ShardClient::connect(endpoints, cluster.options(Duration::from_secs(20)))
            .await
            .unwrap();
        let config = joined(&mut client).await;
        let key_of = |group: GroupId| {
            (0..64)
                .map(|i| format!("k{i}"))
                .find(|k| config.group_of(shard_of(k.as_bytes(), 4)) == Some(group))
                .expect("a key of each group")
        };
        let (a, b) = (key_of(1), key_of(2));
        let txn = Txn {
            writes: vec![
                Write {
                    key: a.clone().into_bytes(),
                    value: Some(b"1".to_vec()),
                },
                Write {
                    key: b.clone().into_bytes(),
                    value: Some(b"2".to_vec()),
                },
            ],
            ..Txn::default()
        };
        let outcome = client.txn(txn).await.expect("the transaction is decided");
        assert!(
            matches!(outcome, TxnOutcome::Committed { .. }),
            "{outcome:?}"
        );

        let mut tls_args = cluster.tls_args("harness");
        tls_args.extend([
            "--endpoints".to_string(),
            cluster.endpoints_arg(&cluster.ids()),
        ]);
        let synod = |args: &[&str]| {
            let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            all.extend(tls_args.iter().cloned());
            async move {
                let args: Vec<&str> = all.iter().map(String::as_str).collect();
                common::cli(&args, Duration::from_secs(30)).await
            }
        };
        let out = synod(&["kv", "get", &a]).await;
        assert_eq!((out.code, out.stdout.as_str()), (Some(0), "1\n"), "{out:?}");
        let out = synod(&["kv", "put", &a, "3"]).await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "OK\n"),
            "{out:?}"
        );
        let out = synod(&["kv", "txn", "--if", &format!("{a}=3"), "--get", &b]).await;
        assert_eq!(
            (out.code, out.stdout.clone()),
            (Some(0), format!("committed\n{b}=2\n")),
            "{out:?}"
        );
        let out = synod(&["shards"]).await;
        assert!(out.success && out.stdout.contains("(4 shards)"), "{out:?}");

        let plain = ClientOptions {
            deadline: Duration::from_secs(2),
            request_timeout: Duration::from_millis(500),
            ..ClientOptions::default()
        };
        let addrs: Vec<String> = cluster
            .ids()
            .iter()
            .map(|id| cluster.node(*id).client.to_string())
            .collect();
        let mut plain = ShardClient::connect(addrs, plain).await.unwrap();
        assert!(
            plain.config().await.is_err(),
            "a plaintext client is answered"
        );
    })
}
