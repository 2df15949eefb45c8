//! The sharded tier on one server (issue 13): with `[shards] groups = N`
//! the server hosts a replica of the shard controller (group 0) and of
//! replica groups 1..=N, each its own Paxos engine and log, over one peer
//! transport (every message tagged with its group), one disk thread and
//! one gRPC port (the `Shards` service). With `[shards] placement` it
//! hosts the groups that list it, and only those.
//!
//! # On disk
//!
//! The data directory is claimed as a plain server's is. The log and
//! snapshots of the lowest group this server hosts (the controller, when
//! it hosts it) are where a plain server keeps its own (`wal/`,
//! `snapshot/`); every other hosted group `g`'s are under `groups/<g>/`.
//! The placement is fixed at the first start (the `SHARDS` file), so the
//! mapping never changes.
//!
//! # Placement
//!
//! `groups = N` replicates the controller and every group on every member
//! (the dev cluster's shape). `placement` says which members replicate
//! which group; each group is its own Paxos group over those members. The
//! controller's configurations name each group's servers by their client
//! addresses, which is how clients find them. The peer transport connects
//! every pair of members, whatever they host.
//!
//! # What it does not serve
//!
//! The `Kv` and `Lock` services, the ZooKeeper ports, the admin listener
//! and backups belong to the plain cluster; a sharded server refuses a
//! configuration that asks for them, rather than silently ignoring it.

mod disk;
pub mod runtime;
pub mod service;

use std::collections::BTreeMap;
use std::sync::Arc;

use synod_net::{NetConfig, PeerTransport};
use synod_shard::{GroupId, Settings, ShardController};
use synod_storage::{NodeStorage, StorageOptions};
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::ServerConfig;
use crate::datadir::{self, StartIntent};
pub use runtime::{Answer, GroupStatus, ShardHandle, CONTROLLER};

/// Where group `gid`'s log lives under the data directory, on a server
/// whose lowest hosted group is `first`.
pub fn group_dir(data_dir: &std::path::Path, gid: GroupId, first: GroupId) -> std::path::PathBuf {
    if gid == first {
        data_dir.to_path_buf()
    } else {
        data_dir.join("groups").join(gid.to_string())
    }
}

/// A started sharded server: its handle and the task to await.
pub struct RunningShards {
    pub handle: ShardHandle,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub peer_addr: std::net::SocketAddr,
}

/// Why a configuration cannot run the sharded tier.
fn check_config(cfg: &ServerConfig) -> anyhow::Result<()> {
    let unsupported = [
        (cfg.zk_listen.is_some(), "zk_listen"),
        (cfg.secure_zk_listen.is_some(), "secure_zk_listen"),
        (cfg.admin_listen.is_some(), "admin_listen"),
        (cfg.restore.is_some(), "--restore"),
        (cfg.join, "join"),
        (cfg.access.is_some(), "[access]"),
    ];
    for (set, what) in unsupported {
        if set {
            anyhow::bail!(
                "{what} is not served by a sharded server ([shards] groups = {}) yet; \
                 remove it, or run the plain cluster",
                cfg.shards.groups
            );
        }
    }
    if cfg.shards.groups > synod_shard::SHARDS_MAX {
        anyhow::bail!(
            "[shards] groups = {} is more than the {} a server can host",
            cfg.shards.groups,
            synod_shard::SHARDS_MAX
        );
    }
    let placement = cfg.shards.resolve(&cfg.members()?)?;
    if !placement.values().any(|nodes| nodes.contains(&cfg.node_id)) {
        anyhow::bail!(
            "[shards] placement gives node {} no group to host",
            cfg.node_id
        );
    }
    Ok(())
}

/// The tier's shape is written at the first start and must match at every
/// later one: another group count or shard count would give the same logs
/// another meaning.
fn check_shape(dir: &std::path::Path, shape: &str, init: bool) -> anyhow::Result<()> {
    let path = dir.join(datadir::SHARDS_FILE);
    if init {
        std::fs::write(&path, shape)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        return Ok(());
    }
    match std::fs::read_to_string(&path) {
        Ok(found) if found == shape => Ok(()),
        Ok(found) => anyhow::bail!(
            "{} says this directory holds a sharded tier of {}, not of {}: \
             [shards] must stay as it was at the first start",
            path.display(),
            found.trim().replace('\n', ", "),
            shape.trim().replace('\n', ", ")
        ),
        Err(_) => anyhow::bail!(
            "{} holds a plain cluster's data (no {} file): a sharded server \
             ([shards] groups above 0) does not start on it",
            dir.display(),
            datadir::SHARDS_FILE
        ),
    }
}

/// Opens every group's log, binds the peer port and starts the task.
pub async fn start(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RunningShards> {
    check_config(&cfg)?;
    let peer_tls = cfg.peer_tls_checked()?;
    let settings = Settings {
        shard_count: cfg.shards.shard_count,
        ..Settings::default()
    };
    let controller =
        ShardController::new(settings).map_err(|e| anyhow::anyhow!("[shards] shard_count: {e}"))?;
    let dir = cfg.data_dir.clone();
    let intent = StartIntent {
        init: cfg.init,
        join: false,
    };
    let members = cfg.members()?;
    let placement = cfg.shards.resolve(&members)?;
    let hosted: Vec<GroupId> = placement
        .iter()
        .filter(|(_, nodes)| nodes.contains(&cfg.node_id))
        .map(|(gid, _)| *gid)
        .collect();
    let first = hosted[0];
    let (cluster_id, node_id) = (cfg.cluster_id, cfg.node_id);
    let mut shape = format!("shard_count = {}\n", cfg.shards.shard_count);
    for (gid, nodes) in &placement {
        shape.push_str(&format!("group {gid} = {nodes:?}\n"));
    }
    let (claim, storages, durable) = tokio::task::spawn_blocking(move || {
        let mut claim = datadir::claim(&dir, cluster_id, node_id, intent)?;
        check_shape(&dir, &shape, intent.init)?;
        let mut storages = BTreeMap::new();
        let mut durable = BTreeMap::new();
        for gid in hosted {
            let (storage, state, report) =
                NodeStorage::open(group_dir(&dir, gid, first), StorageOptions::default())?;
            info!(node = node_id, group = gid, "recovered from disk: {report}");
            storages.insert(gid, storage);
            durable.insert(gid, state);
        }
        claim.commit()?;
        anyhow::Ok((claim, storages, durable))
    })
    .await?
    .map_err(|e| {
        anyhow::anyhow!(
            "node {} cannot start from {}: {e}",
            cfg.node_id,
            cfg.data_dir.display()
        )
    })?;

    let peers: BTreeMap<_, _> = members
        .iter()
        .filter(|(id, _)| **id != cfg.node_id)
        .map(|(id, m)| (*id, m.peer.clone()))
        .collect();
    let mut net = NetConfig::new(cfg.cluster_id, cfg.node_id, cfg.peer_listen, peers);
    net.tls = peer_tls;
    net.incarnation = claim.incarnation;
    net.peer_memory = Some(Arc::new(datadir::PeerLives::open(&cfg.data_dir)?));
    let (transport, inbound) = PeerTransport::start(net).await?;
    let peer_addr = transport.local_addr();

    let scheme = if cfg.client_tls.as_ref().is_some_and(|t| t.grpc) {
        "https"
    } else {
        "http"
    };
    let join = placement
        .iter()
        .filter(|(gid, _)| **gid != CONTROLLER)
        .map(|(gid, nodes)| {
            let servers = nodes
                .iter()
                .map(|n| format!("{scheme}://{}", members[n].client))
                .collect();
            (*gid, servers)
        })
        .collect();
    let (disk_events_tx, disk_events) = mpsc::channel(disk::DISK_QUEUE_MAX);
    let disk = disk::start(storages, claim, disk_events_tx);
    let tick = std::time::Duration::from_millis(cfg.engine.tick_ms);
    let task = runtime::ShardTask::new(runtime::Setup {
        me: cfg.node_id,
        engine: cfg.engine_config(),
        placement,
        durable,
        controller,
        shard_count: cfg.shards.shard_count,
        join,
        transport,
        disk: disk.requests,
    });
    let (requests, request_rx) = mpsc::channel(runtime::REQUEST_QUEUE_MAX);
    let disk_thread = disk.thread;
    let task = tokio::spawn(async move {
        let result = task
            .run(inbound, request_rx, disk_events, tick, shutdown)
            .await;
        // The task dropped its sender: the thread writes what is queued
        // and ends.
        let _ = tokio::task::spawn_blocking(move || disk_thread.join()).await;
        result
    });
    Ok(RunningShards {
        handle: ShardHandle { requests },
        task,
        peer_addr,
    })
}

/// Runs a sharded server until `shutdown` resolves.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut node_stop = stop_rx.clone();
    let sockets =
        crate::fds::raise_and_fit(0, cfg.grpc.connections_max).map_err(anyhow::Error::msg)?;
    let grpc_tls = match &cfg.client_tls {
        Some(files) if files.grpc => Some(crate::tls::ClientTls::load(files, &[b"h2"])?),
        _ => None,
    };
    let running = start(cfg.clone(), async move {
        let _ = node_stop.wait_for(|s| *s).await;
    })
    .await?;
    let clients: BTreeMap<_, _> = cfg
        .members()?
        .into_iter()
        .map(|(id, m)| (id, m.client))
        .collect();
    let service = service::ShardService::new(
        running.handle.clone(),
        crate::grpc::Redirects::new(clients, grpc_tls.is_some()),
        cfg.node_id,
    );
    let service = synod_api::pb::shards_server::ShardsServer::new(service)
        .max_decoding_message_size(crate::GRPC_MESSAGE_BYTES_MAX);
    let listener = tokio::net::TcpListener::bind(cfg.client_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for clients on {}: {e}", cfg.client_listen))?;
    info!(
        node = cfg.node_id,
        peers = %running.peer_addr,
        clients = %cfg.client_listen,
        groups = cfg.shards.groups,
        shards = cfg.shards.shard_count,
        "synod sharded server serving"
    );
    let gate = crate::grpc::gate(&cfg, sockets.grpc);
    let mut accept_stop = stop_rx.clone();
    let incoming = crate::grpc::incoming(listener, gate, grpc_tls, async move {
        let _ = accept_stop.wait_for(|s| *s).await;
    });
    let mut grpc_stop = stop_rx.clone();
    let grpc = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            }),
    );
    let mut node_task = running.task;
    tokio::select! {
        _ = shutdown => {
            info!(node = cfg.node_id, "shutting down");
            let _ = stop_tx.send(true);
            let result = (&mut node_task).await?;
            let _ = grpc.await;
            result
        }
        result = &mut node_task => {
            let _ = stop_tx.send(true);
            let _ = grpc.await;
            result?
        }
    }
}
