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
        peer: free_addr().into(),
        client: free_addr().into(),
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

/// Many connections: the gRPC port holds at most `[grpc] connections_max`
/// sockets open; one beyond is closed at accept, before a byte is read, and
/// a place freed is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_sockets_beyond_connections_max_are_closed_at_accept() {
    use tokio::io::AsyncReadExt;
    const SOCKETS_MAX: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = one_node(dir.path());
    cfg.grpc.connections_max = SOCKETS_MAX;
    let addr = cfg.client_listen;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            held.push(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held.len(), 1, "the node never listened on {addr}");
    while held.len() < SOCKETS_MAX {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // The admitted ones are served (the server sends its HTTP/2 settings
    // and waits for the client's preface); the next is closed unread.
    let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), over.read(&mut byte))
        .await
        .expect("a socket over the cap was left open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let still_open =
        tokio::time::timeout(Duration::from_millis(200), held[0].read(&mut byte)).await;
    assert!(
        !matches!(still_open, Ok(Ok(0)) | Ok(Err(_))),
        "an admitted socket was closed: {still_open:?}"
    );

    // A place freed is taken again: a real client gets through.
    held.pop();
    let endpoint = format!("http://{addr}");
    let mut served = false;
    for _ in 0..100 {
        if let Ok(mut kv) = KvClient::connect(endpoint.clone()).await {
            if put(&mut kv, 1, vec![1; 10]).await.is_ok() {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "no gRPC call got through after a place was freed");
    drop(held);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
