//! A whole server: the node, its peer transport, its gRPC front door, and
//! its ZooKeeper and admin listeners when configured, stopped together.

use crate::config::ServerConfig;
use crate::grpc::KvService;
use crate::tls::{ClientTls, PeerTlsReload, TlsSet};
use std::collections::BTreeMap;
use synod_api::pb::kv_server::KvServer;
use tokio::sync::watch;
use tracing::info;

/// gRPC messages larger than this are refused by the server (the client
/// gets `OutOfRange`; the connection and the server go on).
pub const GRPC_MESSAGE_BYTES_MAX: usize = 2 * 1024 * 1024;

/// Runs until `shutdown` resolves, then stops accepting clients, lets the
/// node finish its disk writes, and returns.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if cfg.shards.is_sharded() {
        return crate::shards::serve(cfg, shutdown).await;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut node_stop = stop_rx.clone();
    // Before anything opens a file: how many ZooKeeper sockets fit.
    let sockets = crate::fds::raise_and_fit(cfg.zk.connections_max, cfg.grpc.connections_max)
        .map_err(anyhow::Error::msg)?;
    // Bad TLS files fail the start before the data directory is opened.
    let zk_tls = match (cfg.secure_zk_listen, &cfg.client_tls) {
        (Some(_), Some(files)) => Some(ClientTls::load(files, &[])?),
        _ => None,
    };
    let grpc_tls = match &cfg.client_tls {
        Some(files) if files.grpc => Some(ClientTls::load(files, &[b"h2"])?),
        _ => None,
    };
    let admin_tls = match &cfg.client_tls {
        Some(files) if cfg.admin.tls => {
            // Never required on the admin port: probes carry none.
            let files = crate::config::ClientTlsFiles {
                client_auth: crate::config::ClientAuth::Want,
                ..files.clone()
            };
            Some(ClientTls::load(&files, &[b"http/1.1"])?)
        }
        _ => None,
    };
    let access =
        crate::access::Access::from_config(cfg.access.as_ref()).map_err(anyhow::Error::msg)?;
    let running = crate::runtime::start(cfg.clone(), async move {
        let _ = node_stop.wait_for(|s| *s).await;
    })
    .await?;
    // Every TLS identity of the node, read again on SIGHUP or when a file
    // changes (a rotated certificate, a new revocation list).
    let tls_set = TlsSet {
        peer: match (&running.peer_tls, &cfg.peer_tls) {
            (Some(tls), Some(files)) => Some(PeerTlsReload {
                tls: tls.clone(),
                me: cfg.node_id,
                files: files.clone(),
            }),
            _ => None,
        },
        client: [
            ("ZooKeeper TLS", &zk_tls),
            ("gRPC", &grpc_tls),
            ("admin", &admin_tls),
        ]
        .into_iter()
        .filter_map(|(port, tls)| Some((port, tls.clone()?)))
        .collect(),
    };
    let mut reload_stop = stop_rx.clone();
    tokio::spawn(tls_set.watch(async move {
        let _ = reload_stop.wait_for(|s| *s).await;
    }));
    let clients: BTreeMap<_, _> = cfg
        .members()?
        .into_iter()
        .map(|(id, m)| (id, m.client))
        .collect();
    let locks = crate::locks::LockService::new(
        running.handle.clone(),
        access.clone(),
        crate::grpc::Redirects::new(clients.clone(), grpc_tls.is_some()),
    );
    let locks = synod_api::pb::lock_server::LockServer::new(locks)
        .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX);
    let kv = KvService::new(
        running.handle.clone(),
        clients,
        cfg.engine.command_bytes_max,
        access.clone(),
        grpc_tls.is_some(),
    );
    let service = KvServer::new(kv).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX);
    let mut grpc_stop = stop_rx.clone();
    let listener = tokio::net::TcpListener::bind(cfg.client_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for clients on {}: {e}", cfg.client_listen))?;
    info!(
        node = cfg.node_id,
        peers = %running.peer_addr,
        clients = %cfg.client_listen,
        "synod node serving"
    );
    let gate = crate::grpc::gate(&cfg, sockets.grpc);
    let mut accept_stop = stop_rx.clone();
    let incoming = crate::grpc::incoming(listener, gate, grpc_tls, async move {
        let _ = accept_stop.wait_for(|s| *s).await;
    });
    let grpc = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .add_service(locks)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            }),
    );
    let zk_plain = match cfg.zk_listen {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen for ZooKeeper clients on {addr}: {e}")
            })?;
            info!(node = cfg.node_id, zookeeper = %addr, "serving the ZooKeeper protocol");
            Some(listener)
        }
    };
    let zk_secure = match (cfg.secure_zk_listen, zk_tls) {
        (Some(addr), Some(acceptor)) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen for ZooKeeper TLS clients on {addr}: {e}")
            })?;
            info!(node = cfg.node_id, zookeeper_tls = %addr, "serving the ZooKeeper protocol over TLS");
            Some((listener, acceptor))
        }
        _ => None,
    };
    let zk = if zk_plain.is_none() && zk_secure.is_none() {
        None
    } else {
        let mut zk_stop = stop_rx.clone();
        Some(tokio::spawn(crate::zk::conn::accept_loop(
            crate::zk::conn::ZkListeners {
                plain: zk_plain,
                secure: zk_secure,
            },
            running.handle.clone(),
            crate::zk::conn::AcceptLimits {
                sockets_max: sockets.zk,
                per_ip_max: cfg.zk.max_client_cnxns,
                max_buffer: cfg.zk.max_buffer_bytes,
                four_letter_words: cfg.zk.four_letter_words_allowed()?.into(),
            },
            running.metrics.clone(),
            async move {
                let _ = zk_stop.wait_for(|s| *s).await;
            },
        )))
    };
    let admin = match cfg.admin_listen {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for admin requests on {addr}: {e}"))?;
            info!(node = cfg.node_id, admin = %addr, "serving /metrics, /health, /livez, /readyz and the status page");
            let mut admin_stop = stop_rx.clone();
            let setup = crate::admin::AdminSetup {
                node: running.handle.clone(),
                metrics: running.metrics.clone(),
                members: cfg.members()?,
                knobs: cfg.admin.clone(),
                zk_served: cfg.zk_listen.is_some() || cfg.secure_zk_listen.is_some(),
                tls: admin_tls,
                access,
                cluster_id: cfg.cluster_id,
                node_id: cfg.node_id,
            };
            Some(tokio::spawn(crate::admin::serve(
                listener,
                setup,
                async move {
                    let _ = admin_stop.wait_for(|s| *s).await;
                },
            )))
        }
    };
    let mut node_task = running.task;
    tokio::select! {
        _ = shutdown => {
            info!(node = cfg.node_id, "shutting down");
            let _ = stop_tx.send(true);
            let node_result = (&mut node_task).await?;
            let _ = grpc.await;
            if let Some(zk) = zk {
                let _ = zk.await;
            }
            if let Some(admin) = admin {
                let _ = admin.await;
            }
            node_result
        }
        result = &mut node_task => {
            // The node stopped by itself (a disk failure): stop serving.
            let _ = stop_tx.send(true);
            let _ = grpc.await;
            result?
        }
    }
}
