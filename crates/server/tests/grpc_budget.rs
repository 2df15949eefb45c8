//! The native API refuses a write too large for one log command before it
//! reaches the engine (issue 10, finding 2): InvalidArgument, naming both
//! sizes; the node goes on serving.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use synod_api::pb::{self, kv_client::KvClient};
use synod_server::{Member, ServerConfig};
use tokio::sync::oneshot;

/// The smallest budget a server accepts, so a put under the gRPC message
/// and value limits still exceeds it.
const COMMAND_BYTES_MAX: usize = 64 * 1024;

use common::free_addr;

fn one_node(dir: &std::path::Path) -> ServerConfig {
    let me = Member {
        peer: free_addr(),
        client: free_addr(),
    };
    let mut cfg = common::node_config(1, 5, dir, &BTreeMap::from([("1".to_string(), me)]));
    cfg.engine.command_bytes_max = COMMAND_BYTES_MAX;
    cfg
}

async fn put(
    kv: &mut KvClient<tonic::transport::Channel>,
    seq: u64,
    value: Vec<u8>,
) -> Result<pb::PutResponse, tonic::Status> {
    kv.put(pb::PutRequest {
        key: b"k".to_vec(),
        value,
        client_id: 7,
        seq,
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_larger_than_one_log_command_is_invalid_argument_and_the_node_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = one_node(dir.path());
    let endpoint = format!("http://{}", cfg.client_listen);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));
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

    // Refused before the engine: no leader is needed to say so.
    let err = put(&mut kv, 1, vec![1; COMMAND_BYTES_MAX])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let message = err.message();
    assert!(
        message.contains(&format!("{COMMAND_BYTES_MAX} bytes")),
        "{message}"
    );
    let encoded = message
        .split_whitespace()
        .find_map(|w| w.parse::<usize>().ok())
        .expect("the command's size is named");
    assert!(encoded > COMMAND_BYTES_MAX, "{message}");

    // A write within the budget applies, once the node leads.
    let mut applied = false;
    for _ in 0..100 {
        let reply = put(&mut kv, 1, vec![2; COMMAND_BYTES_MAX / 2])
            .await
            .unwrap();
        if matches!(reply.result, Some(pb::put_response::Result::Applied(_))) {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(applied, "the node went on serving");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
