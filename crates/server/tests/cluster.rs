//! Three nodes in one process on loopback, with real disks (temporary
//! directories), real sockets and real clocks.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use synod_kv::{KvOp, KvReply};
use synod_paxos::{Command, Outcome};
use synod_server::{Member, NodeHandle, RunningNode, ServerConfig};
use tokio::sync::oneshot;

fn configs(dir: &std::path::Path, n: u64) -> Vec<ServerConfig> {
    let members: BTreeMap<String, Member> = (1..=n)
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
    (1..=n)
        .map(|id| common::node_config(id, 42, dir, &members))
        .collect()
}

struct TestNode {
    node: RunningNode,
    stop: Option<oneshot::Sender<()>>,
}

async fn start(cfg: ServerConfig) -> TestNode {
    let (stop, stopped) = oneshot::channel::<()>();
    let node = synod_server::start(cfg, async move {
        let _ = stopped.await;
    })
    .await
    .expect("node starts");
    TestNode {
        node,
        stop: Some(stop),
    }
}

async fn leader(nodes: &[&NodeHandle]) -> usize {
    loop {
        for (i, h) in nodes.iter().enumerate() {
            if let Ok(s) = h.status().await {
                if s.role == "leader" {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn put(h: &NodeHandle, client: u64, seq: u64, key: &str, value: &str) -> Outcome {
    let op = KvOp::Put {
        key: key.into(),
        value: value.into(),
    };
    h.write(Command {
        client,
        seq,
        op: op.encode(),
    })
    .await
    .unwrap()
}

async fn get(h: &NodeHandle, key: &str) -> Outcome {
    h.read(KvOp::Get { key: key.into() }.encode())
        .await
        .unwrap()
}

fn value(o: Outcome) -> Option<Vec<u8>> {
    match o {
        Outcome::Ok(bytes) => match KvReply::decode(&bytes).unwrap() {
            KvReply::Value(v) => v,
            other => panic!("not a value: {other:?}"),
        },
        other => panic!("not ok: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_leader_commit_writes_and_survive_losing_it() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let cfgs = configs(dir.path(), 3);
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        let mut nodes = Vec::new();
        for c in &cfgs {
            nodes.push(start(c.clone()).await);
        }
        let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.node.handle.clone()).collect();
        let refs: Vec<&NodeHandle> = handles.iter().collect();
        let l = leader(&refs).await;
        eprintln!("leader: node {}", l + 1);
        assert_eq!(
            put(&handles[l], 1, 1, "k", "v1").await,
            Outcome::Ok(KvReply::Ok.encode())
        );
        // A retry of the same command is answered from the table, not
        // applied again.
        assert_eq!(
            put(&handles[l], 1, 1, "k", "v1").await,
            Outcome::Ok(KvReply::Ok.encode())
        );
        eprintln!("put twice");
        assert_eq!(value(get(&handles[l], "k").await), Some(b"v1".to_vec()));
        eprintln!("got");
        // A follower points at the leader.
        let f = (l + 1) % 3;
        match put(&handles[f], 1, 2, "k", "x").await {
            Outcome::NotLeader { leader } => assert_eq!(leader, Some(l as u64 + 1)),
            other => panic!("follower answered {other:?}"),
        }

        // Stop the leader; the other two elect a new one and keep the data.
        let stop = nodes[l].stop.take().unwrap();
        stop.send(()).unwrap();
        let old = nodes.remove(l);
        old.node.task.await.unwrap().unwrap();
        let rest: Vec<NodeHandle> = nodes.iter().map(|n| n.node.handle.clone()).collect();
        let refs: Vec<&NodeHandle> = rest.iter().collect();
        eprintln!("stopped the leader");
        let l2 = leader(&refs).await;
        eprintln!("new leader elected");
        assert_eq!(value(get(&rest[l2], "k").await), Some(b"v1".to_vec()));
        assert_eq!(
            put(&rest[l2], 1, 2, "k", "v2").await,
            Outcome::Ok(KvReply::Ok.encode())
        );

        // The stopped node restarts from its data directory and catches up.
        let restarted = start(ServerConfig {
            init: false,
            ..cfgs[l].clone()
        })
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let s = restarted.node.handle.status().await.unwrap();
            let leader_status = rest[l2].status().await.unwrap();
            if s.applied == leader_status.commit && s.applied > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "restarted node never caught up: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for mut n in nodes.into_iter().chain([restarted]) {
            let _ = n.stop.take().unwrap().send(());
            n.node.task.await.unwrap().unwrap();
        }
    })
    .await;
    result.expect("the test finished in time");
}
