//! The native key-value store's caps (`[kv] keys_max`, `bytes_max`) on a
//! real node: a write that would grow the store past one is refused
//! RESOURCE_EXHAUSTED before it is proposed, naming the cap and its value,
//! and changes nothing; the node goes on serving reads, overwrites and
//! deletes, and a delete makes room again.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use synod_api::pb::{self, kv_client::KvClient};
use synod_server::{Member, ServerConfig};
use tokio::sync::oneshot;

use common::free_addr;

const KEYS_MAX: u64 = 2;
const BYTES_MAX: u64 = 20;
const CLIENT: u64 = 9;

type Kv = KvClient<tonic::transport::Channel>;

fn one_node(dir: &std::path::Path) -> ServerConfig {
    let me = Member {
        peer: free_addr().into(),
        client: free_addr().into(),
    };
    let mut cfg = common::node_config(1, 5, dir, &BTreeMap::from([("1".to_string(), me)]));
    cfg.kv.keys_max = KEYS_MAX;
    cfg.kv.bytes_max = BYTES_MAX;
    cfg
}

async fn put(kv: &mut Kv, seq: u64, key: &str, value: &str) -> Result<(), tonic::Status> {
    let reply = kv
        .put(pb::PutRequest {
            client_id: CLIENT,
            seq,
            key: key.into(),
            value: value.into(),
        })
        .await?
        .into_inner();
    match reply.result {
        Some(pb::put_response::Result::Applied(_)) => Ok(()),
        other => Err(tonic::Status::unavailable(format!(
            "not applied: {other:?}"
        ))),
    }
}

async fn delete(kv: &mut Kv, seq: u64, key: &str) {
    let reply = kv
        .delete(pb::DeleteRequest {
            client_id: CLIENT,
            seq,
            key: key.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(reply.result, Some(pb::delete_response::Result::Applied(_))),
        "{reply:?}"
    );
}

async fn get(kv: &mut Kv, key: &str) -> Option<Vec<u8>> {
    let reply = kv
        .get(pb::GetRequest {
            key: key.into(),
            serializable: false,
        })
        .await
        .unwrap()
        .into_inner();
    match reply.result {
        Some(pb::get_response::Result::Value(v)) => v.value,
        other => panic!("not a value: {other:?}"),
    }
}

fn assert_refused(result: Result<(), tonic::Status>, cap: &str) {
    let status = result.expect_err("a write past the cap was taken");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
    assert!(status.message().contains(cap), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_past_the_stores_caps_is_resource_exhausted_and_a_delete_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = one_node(dir.path());
    let endpoint = format!("http://{}", cfg.client_listen);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        let mut kv = None;
        for _ in 0..100 {
            match KvClient::connect(endpoint.clone()).await {
                Ok(client) => {
                    kv = Some(client);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let mut kv = kv.expect("the node serves gRPC");
        // The first write applies once the node leads.
        let mut applied = false;
        for _ in 0..100 {
            if put(&mut kv, 1, "a", "12345").await.is_ok() {
                applied = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(applied, "the node never took a write");
        put(&mut kv, 2, "b", "1234").await.unwrap();
        // 2 keys and 11 bytes: a third key is past keys_max.
        assert_refused(put(&mut kv, 3, "c", "1").await, "[kv] keys_max (2)");
        assert_eq!(
            get(&mut kv, "c").await,
            None,
            "the refused put changed nothing"
        );
        // Growing a value past 20 bytes is past bytes_max.
        assert_refused(
            put(&mut kv, 4, "a", "1234567890123456").await,
            "[kv] bytes_max (20)",
        );
        let cas = kv
            .cas(pb::CasRequest {
                client_id: CLIENT,
                seq: 5,
                key: "b".into(),
                expected: Some("1234".into()),
                new: "x".repeat(16).into(),
            })
            .await;
        assert_eq!(
            cas.expect_err("a growing cas was taken").code(),
            tonic::Code::ResourceExhausted
        );
        assert_eq!(get(&mut kv, "a").await, Some(b"12345".to_vec()));
        assert_eq!(get(&mut kv, "b").await, Some(b"1234".to_vec()));
        // At the cap, a write that does not grow is taken, and so is a
        // delete; then the refused put is taken.
        put(&mut kv, 6, "a", "54321").await.unwrap();
        delete(&mut kv, 7, "b").await;
        put(&mut kv, 8, "c", "1").await.unwrap();
        assert_eq!(get(&mut kv, "c").await, Some(b"1".to_vec()));
    })
    .await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    result.expect("the test finished in time");
}
