//! What the in-process server tests share: one place that builds a node's
//! `ServerConfig`, so a new config field is added here once.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use synod_server::{EngineKnobs, Member, ServerConfig};

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
        peer_listen: me.peer,
        client_listen: me.client,
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
        admin_listen: None,
        admin: Default::default(),
        grpc: Default::default(),
        peer_tls: None,
        insecure: false,
        access: None,
        worker_threads: 0,
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
