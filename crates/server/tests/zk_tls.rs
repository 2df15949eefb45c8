//! The ZooKeeper protocol over TLS (`secure_zk_listen`, ZooKeeper's
//! `secureClientPort`) on a one-node server: a client with a certificate of
//! the CA gets a session; a plaintext client on the TLS port, and a TLS
//! client without a certificate when `client_auth = "need"`, get nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;
use synod_net::certs::ClusterCa;
use synod_server::{ClientAuth, ClientTlsFiles, Member, ServerConfig};
use synod_zkproto as wire;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use common::{free_addr, tls_client, write};

/// `[client_tls]` of a node with certificate `node` under `ca` (client
/// certificates needed), files written into `dir` (node.crt, node.key,
/// ca.crt and, given `crl`, ca.crl).
fn client_tls(
    dir: &std::path::Path,
    ca: &ClusterCa,
    node: &synod_net::certs::Issued,
    crl: Option<&str>,
) -> ClientTlsFiles {
    ClientTlsFiles {
        cert: write(dir, "node.crt", &node.cert_pem),
        key: write(dir, "node.key", &node.key_pem),
        ca: Some(write(dir, "ca.crt", ca.cert_pem())),
        client_auth: ClientAuth::Need,
        grpc: false,
        crl: crl.map(|text| write(dir, "ca.crl", text)),
    }
}

fn connect_request() -> Vec<u8> {
    wire::encode_connect_request(&wire::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    })
}

/// Sends a ConnectRequest; the session id of the answer, or `None` if the
/// server closed the connection without one.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Option<i64> {
    stream.write_all(&connect_request()).await.ok()?;
    stream.flush().await.ok()?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 20 {
        return None;
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(wire::decode_connect_response(&body).ok()?.session_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_port_serves_certified_clients_and_refuses_plaintext_and_anonymous_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate("test", 30).unwrap();
    let node = ca.issue_node(1, &["127.0.0.1".into()], 30).unwrap();
    let alice = ca.issue_client("alice", 30).unwrap();
    let member = Member {
        peer: free_addr().into(),
        client: free_addr().into(),
    };
    let members: BTreeMap<String, Member> = [("1".to_string(), member)].into_iter().collect();
    let (plain, secure) = (free_addr(), free_addr());
    let cfg = ServerConfig {
        zk_listen: Some(plain),
        secure_zk_listen: Some(secure),
        client_tls: Some(client_tls(dir.path(), &ca, &node, None)),
        ..common::node_config(1, 9, dir.path(), &members)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));

    tokio::time::timeout(Duration::from_secs(30), async {
        // A certified client gets a session once the node leads.
        loop {
            if let Ok(mut tls) = tls_client(secure, &ca, Some(&alice)).await {
                if let Some(id) = session(&mut tls).await {
                    assert_ne!(id, 0);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The plaintext port still serves.
        let mut tcp = TcpStream::connect(plain).await.unwrap();
        assert!(session(&mut tcp).await.is_some());
        // Plaintext on the TLS port: no session.
        let mut tcp = TcpStream::connect(secure).await.unwrap();
        assert_eq!(session(&mut tcp).await, None);
        // TLS without a client certificate: no session.
        if let Ok(mut anonymous) = tls_client(secure, &ca, None).await {
            assert_eq!(session(&mut anonymous).await, None);
        }
        // A certificate of another CA: no session.
        let other = ClusterCa::generate("other", 30).unwrap();
        let mallory = other.issue_client("mallory", 30).unwrap();
        if let Ok(mut stranger) = tls_client(secure, &ca, Some(&mallory)).await {
            assert_eq!(session(&mut stranger).await, None);
        }
    })
    .await
    .expect("test did not finish in time");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The certificate the server presented on `stream`, PEM-free (DER).
fn server_cert(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_and_a_new_revocation_list_apply_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate("test", 30).unwrap();
    let old = ca.issue_node(1, &["127.0.0.1".into()], 30).unwrap();
    let new = ca.issue_node(1, &["127.0.0.1".into()], 30).unwrap();
    let (alice, bob) = (
        ca.issue_client("alice", 30).unwrap(),
        ca.issue_client("bob", 30).unwrap(),
    );
    let member = Member {
        peer: free_addr().into(),
        client: free_addr().into(),
    };
    let members: BTreeMap<String, Member> = [("1".to_string(), member)].into_iter().collect();
    let secure = free_addr();
    let cfg = ServerConfig {
        secure_zk_listen: Some(secure),
        client_tls: Some(client_tls(dir.path(), &ca, &old, Some(""))),
        ..common::node_config(1, 9, dir.path(), &members)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));

    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(mut tls) = tls_client(secure, &ca, Some(&alice)).await {
                if session(&mut tls).await.is_some() {
                    assert_eq!(server_cert(&tls), der(&old.cert_pem));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Rotate: a new certificate and key (a new file renamed over the
        // old, as a Secret volume or `mv` does), and alice revoked.
        let crl = ca
            .revocation_list(std::slice::from_ref(&alice.cert_pem), 30)
            .unwrap();
        for (name, text) in [
            ("node.crt", &new.cert_pem),
            ("node.key", &new.key_pem),
            ("ca.crl", &crl),
        ] {
            let tmp = write(dir.path(), &format!("{name}.tmp"), text);
            std::fs::rename(tmp, dir.path().join(name)).unwrap();
        }
        // Within the reload check interval, with no signal and no restart.
        loop {
            let rotated = match tls_client(secure, &ca, Some(&bob)).await {
                Ok(mut tls) => {
                    server_cert(&tls) == der(&new.cert_pem) && session(&mut tls).await.is_some()
                }
                Err(_) => false,
            };
            let alice_refused = match tls_client(secure, &ca, Some(&alice)).await {
                Ok(mut tls) => session(&mut tls).await.is_none(),
                Err(_) => true,
            };
            if rotated && alice_refused {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the rotation did not apply in time");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
