//! Peer TLS over real sockets on loopback: members of one CA talk; a
//! plaintext hello, a member claiming to be another, and a certificate of
//! another CA are refused before any of their messages is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use synod_net::certs::{ClusterCa, Issued};
use synod_net::codec::{encode_frame, Batch, Frame, Hello, PROTOCOL_VERSION};
use synod_net::tls::crypto_provider;
use synod_net::{node_name, InboundReceiver, NetConfig, Parcel, PeerTls, PeerTransport};
use synod_paxos::{Ballot, Message, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const CLUSTER: u64 = 7;
const INTRUDER: u64 = 666;

fn tls(ca: &ClusterCa, me: NodeId) -> PeerTls {
    let node = ca.issue_node(me, &[], 30).unwrap();
    PeerTls::from_pem(
        me,
        ca.cert_pem().as_bytes(),
        node.cert_pem.as_bytes(),
        node.key_pem.as_bytes(),
    )
    .unwrap()
}

fn config(me: NodeId, peers: &[(NodeId, SocketAddr)], tls: PeerTls) -> NetConfig {
    let mut config = NetConfig::new(
        CLUSTER,
        me,
        "127.0.0.1:0".parse().unwrap(),
        peers.iter().map(|&(id, a)| (id, a.into())).collect(),
    );
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(200);
    config.handshake_timeout = Duration::from_secs(2);
    config.tls = Some(tls);
    config
}

fn heartbeat(seq: u64) -> Parcel {
    Message::Heartbeat {
        ballot: Ballot::new(1, 1),
        commit: 0,
        seq,
    }
    .into()
}

async fn start(config: NetConfig) -> (PeerTransport, InboundReceiver) {
    PeerTransport::start(config).await.expect("starts")
}

/// Sends heartbeat `seq` until it arrives (the link may still be dialling).
async fn delivered(
    from: &PeerTransport,
    to_id: NodeId,
    to: &mut InboundReceiver,
    seq: u64,
) -> NodeId {
    loop {
        from.send(to_id, heartbeat(seq)).unwrap();
        if let Ok(Some((sender, message))) = timeout(Duration::from_millis(100), to.recv()).await {
            if message == heartbeat(seq) {
                return sender;
            }
        }
    }
}

fn frame(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out, 1 << 20).unwrap();
    out
}

/// A hello from `from` to node 2, then a batch with the intruder's
/// heartbeat.
fn forged(from: NodeId) -> Vec<u8> {
    let mut bytes = frame(&Frame::Hello(Hello {
        cluster_id: CLUSTER,
        from,
        to: 2,
        protocol_version: PROTOCOL_VERSION,
        incarnation: 1,
    }));
    bytes.extend(frame(&Frame::Messages(Batch(vec![heartbeat(INTRUDER)]))));
    bytes
}

/// Reads until the acceptor closes (EOF or an error, TLS alerts included).
async fn closed_by_server<S: AsyncReadExt + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 64];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// A TLS client with `cert` under `ca_pem`, dialling `addr` as node 2.
async fn dial(
    addr: SocketAddr,
    ca_pem: &str,
    cert: &Issued,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from(node_name(2)).unwrap(), tcp)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_talk_over_tls_and_impostors_are_refused_before_their_messages() {
    timeout(Duration::from_secs(30), async {
        let ca = ClusterCa::generate("test", 30).unwrap();
        let (a, mut a_in) = start(config(1, &[], tls(&ca, 1))).await;
        let (b, mut b_in) = start(config(2, &[(1, a.local_addr())], tls(&ca, 2))).await;
        a.set_peers([(2, b.local_addr().into())].into_iter().collect())
            .unwrap();
        assert_eq!(delivered(&a, 2, &mut b_in, 1).await, 1);
        assert_eq!(delivered(&b, 1, &mut a_in, 2).await, 2);
        let refused_before = b.stats().handshakes_refused;

        // 1. A plaintext hello naming a member, with the right cluster id:
        //    the TLS handshake fails on it.
        let mut plain = TcpStream::connect(b.local_addr()).await.unwrap();
        plain.write_all(&forged(1)).await.unwrap();
        closed_by_server(&mut plain).await;

        // 2. Node 3 is a member with a good certificate, but says it is node 1.
        let three = ca.issue_node(3, &[], 30).unwrap();
        b.set_peers(
            [
                (1, a.local_addr().into()),
                (3, "127.0.0.1:9".parse().unwrap()),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let mut impostor = dial(b.local_addr(), ca.cert_pem(), &three).await.unwrap();
        impostor.write_all(&forged(1)).await.unwrap();
        impostor.flush().await.unwrap();
        closed_by_server(&mut impostor).await;

        // 3. Node 1's name, from another CA.
        let other = ClusterCa::generate("other", 30).unwrap();
        let foreign = other.issue_node(1, &[], 30).unwrap();
        if let Ok(mut foreign) = dial(b.local_addr(), ca.cert_pem(), &foreign).await {
            // TLS 1.3: the client may finish before the server rejects its
            // certificate; the server then closes without reading on.
            let _ = foreign.write_all(&forged(1)).await;
            closed_by_server(&mut foreign).await;
        }

        while b.stats().handshakes_refused < refused_before + 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The member still gets through, and nothing of the intruders did.
        assert_eq!(delivered(&a, 2, &mut b_in, 3).await, 1);
        while let Ok((_, message)) = b_in.try_recv() {
            assert_ne!(
                message,
                heartbeat(INTRUDER),
                "an impostor's message got through"
            );
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test did not finish in time");
}

#[test]
fn a_node_refuses_to_start_with_another_nodes_certificate_or_another_ca() {
    let ca = ClusterCa::generate("test", 30).unwrap();
    let two = ca.issue_node(2, &[], 30).unwrap();
    let err = PeerTls::from_pem(
        1,
        ca.cert_pem().as_bytes(),
        two.cert_pem.as_bytes(),
        two.key_pem.as_bytes(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("node 1"), "{err}");
    let other = ClusterCa::generate("other", 30).unwrap();
    let one = other.issue_node(1, &[], 30).unwrap();
    let err = PeerTls::from_pem(
        1,
        ca.cert_pem().as_bytes(),
        one.cert_pem.as_bytes(),
        one.key_pem.as_bytes(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("own certificate"), "{err}");
    // A key that is not the certificate's.
    let mine = ca.issue_node(1, &[], 30).unwrap();
    assert!(PeerTls::from_pem(
        1,
        ca.cert_pem().as_bytes(),
        mine.cert_pem.as_bytes(),
        two.key_pem.as_bytes()
    )
    .is_err());
    PeerTls::from_pem(
        1,
        ca.cert_pem().as_bytes(),
        mine.cert_pem.as_bytes(),
        mine.key_pem.as_bytes(),
    )
    .unwrap();
}

#[test]
fn a_loaded_ca_issues_certificates_its_nodes_accept() {
    let ca = ClusterCa::generate("test", 30).unwrap();
    let loaded = ClusterCa::load(ca.cert_pem(), &ca.key_pem()).unwrap();
    let one = loaded
        .issue_node(1, &["localhost".into(), "10.0.0.1".into()], 30)
        .unwrap();
    PeerTls::from_pem(
        1,
        ca.cert_pem().as_bytes(),
        one.cert_pem.as_bytes(),
        one.key_pem.as_bytes(),
    )
    .unwrap();
}

/// Node 2's acceptor, given hellos from `from` over `cert`: whether the
/// intruder's heartbeat arrives.
async fn delivers_over(
    addr: SocketAddr,
    ca: &ClusterCa,
    cert: &Issued,
    from: NodeId,
    inbound: &mut InboundReceiver,
) -> bool {
    let Ok(mut stream) = dial(addr, ca.cert_pem(), cert).await else {
        return false;
    };
    if stream.write_all(&forged(from)).await.is_err() || stream.flush().await.is_err() {
        return false;
    }
    matches!(
        timeout(Duration::from_millis(500), inbound.recv()).await,
        Ok(Some((sender, message))) if sender == from && message == heartbeat(INTRUDER)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_is_refused_once_a_reload_brings_the_revocation_list() {
    timeout(Duration::from_secs(30), async {
        let ca = ClusterCa::generate("test", 30).unwrap();
        let (one, two, three) = (
            ca.issue_node(1, &[], 30).unwrap(),
            ca.issue_node(2, &[], 30).unwrap(),
            ca.issue_node(3, &[], 30).unwrap(),
        );
        let load = |crl: &str| {
            PeerTls::from_pem_with_crls(
                2,
                ca.cert_pem().as_bytes(),
                two.cert_pem.as_bytes(),
                two.key_pem.as_bytes(),
                crl.as_bytes(),
            )
            .unwrap()
        };
        let b_tls = load("");
        let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (b, mut inbound) = start(config(2, &[(1, nowhere), (3, nowhere)], b_tls.clone())).await;
        assert!(delivers_over(b.local_addr(), &ca, &one, 1, &mut inbound).await);

        // The transport holds a clone; reloading this one changes it too.
        let crl = ca
            .revocation_list(std::slice::from_ref(&one.cert_pem), 30)
            .unwrap();
        assert!(crl.contains("BEGIN X509 CRL"), "{crl}");
        b_tls.reload(&load(&crl)).unwrap();
        assert!(!delivers_over(b.local_addr(), &ca, &one, 1, &mut inbound).await);
        assert!(delivers_over(b.local_addr(), &ca, &three, 3, &mut inbound).await);

        // Another node's files are not a reload of this node's.
        assert!(b_tls.reload(&tls(&ca, 5)).is_err());
        // A malformed list fails the load.
        assert!(PeerTls::from_pem_with_crls(
            2,
            ca.cert_pem().as_bytes(),
            two.cert_pem.as_bytes(),
            two.key_pem.as_bytes(),
            b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n",
        )
        .is_err());
    })
    .await
    .expect("test did not finish in time");
}
