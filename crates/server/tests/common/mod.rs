//! What the in-process server tests share: one place that builds a node's
//! `ServerConfig`, so a new config field is added here once.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use synod_net::certs::{ClusterCa, Issued};
use synod_server::{EngineKnobs, Member, ServerConfig};
use tokio::net::TcpStream;

/// Node `id` of `members` in cluster `cluster_id`, data under `dir`, with the
/// fast engine timings every test uses, for its first start (`init`); no ZooKeeper or admin listener
/// (set `zk_listen`, `admin_listen`, ... with struct update syntax).
pub fn node_config(
    id: u64,
    cluster_id: u64,
    dir: &Path,
    members: &BTreeMap<String, Member>,
) -> ServerConfig {
    let me = &members[&id.to_string()];
    ServerConfig {
        node_id: id,
        cluster_id,
        data_dir: dir.join(format!("n{id}")),
        peer_listen: me
            .peer
            .socket_addr()
            .expect("test members are IP addresses"),
        client_listen: me
            .client
            .socket_addr()
            .expect("test members are IP addresses"),
        members: members.clone(),
        join: false,
        // Every test cluster starts new; a restart clears it (a start with
        // it on an initialized directory is refused).
        init: true,
        initial_voters: None,
        engine: EngineKnobs {
            election_timeout_ms: 300,
            lease_ms: 250,
            heartbeat_interval_ms: 50,
            ..EngineKnobs::default()
        },
        zk_listen: None,
        secure_zk_listen: None,
        client_tls: None,
        zk: Default::default(),
        kv: Default::default(),
        admin_listen: None,
        admin: Default::default(),
        grpc: Default::default(),
        peer_tls: None,
        insecure: false,
        restore: None,
        access: None,
        worker_threads: 0,
        shards: Default::default(),
    }
}

/// Ports handed out in this test process, never handed out twice.
static PORTS_GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback address chosen by the OS. The tests of one binary run
/// in parallel, and the OS may offer a port again once its probe listener
/// is closed, before the server that got it binds: so a port is never
/// handed out twice in one process.
pub fn free_addr() -> SocketAddr {
    let mut given = PORTS_GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        if given.insert(addr.port()) {
            return addr;
        }
    }
}

/// Writes `text` to `dir/name`; the path.
pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A TLS connection to `addr` trusting `ca`, with `cert` as the client
/// certificate if given.
pub async fn tls_client(
    addr: SocketAddr,
    ca: &ClusterCa,
    cert: Option<&Issued>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(synod_net::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(cert) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}
