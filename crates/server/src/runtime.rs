//! One node's runtime: the I/O around the pure `ServiceNode`. A single
//! tokio task owns the node and feeds it peer messages, ticks, disk
//! completions, client requests and ZooKeeper traffic, with the real clock;
//! it executes the node's outputs (disk writes on the disk thread, sends on
//! the peer transport, replies to waiting requests, frames to ZooKeeper
//! connections) in order. What a step does is the node's business
//! (crates/node); the task only moves bytes and keeps the waiting requests.
//!
//! After every step it checks the node's cheap invariants and stops the
//! node (an error, not a panic) if one is broken: a node in a state it
//! should never reach must not go on answering or voting.

use crate::config::ServerConfig;
use crate::datadir::{self, StartIntent};
use crate::disk::{self, DiskEvent};
use crate::metrics::Metrics;
use crate::observe::{AdminView, Observer};
use crate::zk::conn::ConnOut;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use synod_front::{ConnId, Outgoing, ZkLimits};
use synod_kv::QuotaExceeded;
use synod_net::{NetConfig, PeerTls, PeerTransport};
use synod_node::{
    Clock, LockAnswer, LockRequest, NodeInput, NodeInvariantViolation, NodeOptions, NodeOutput,
    ServiceNode,
};
use synod_paxos::{Command, ConfigChange, NodeId, Outcome};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Client requests waiting for the engine task at most; callers wait when
/// it is full.
pub const REQUEST_QUEUE_MAX: usize = 4096;

/// What a client layer (gRPC, ZooKeeper protocol) asks of the node.
pub enum Request {
    /// A native key-value write; refused before it is proposed if it
    /// would take the store past a `[kv]` cap.
    Write {
        command: Command,
        reply: oneshot::Sender<Result<Outcome, QuotaExceeded>>,
    },
    Read {
        op: Vec<u8>,
        reply: oneshot::Sender<Outcome>,
    },
    /// A serializable read from this replica's applied state (may be stale).
    ReadLocal {
        op: Vec<u8>,
        reply: oneshot::Sender<Outcome>,
    },
    Reconfigure {
        change: ConfigChange,
        reply: oneshot::Sender<Outcome>,
    },
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    /// Everything the admin listener shows, of one moment.
    Admin {
        reply: oneshot::Sender<Box<AdminView>>,
    },
    /// The applied state as a snapshot, for a backup: only from the leader,
    /// and only once it has applied `at_least` (see `NoBackup`).
    Backup {
        at_least: Option<u64>,
        reply: oneshot::Sender<Result<Box<synod_paxos::Snapshot>, NoBackup>>,
    },
    /// The ZooKeeper front door's traffic.
    Zk(ZkRequest),
    /// A native client's lock call (`synod_node::locks`).
    Lock {
        request: LockRequest,
        reply: oneshot::Sender<LockAnswer>,
    },
}

/// What a ZooKeeper connection task asks of the engine task.
pub enum ZkRequest {
    /// A client sent its ConnectRequest; the reply is the connection id or
    /// why it is refused.
    Open {
        connect: synod_zkproto::ConnectRequest,
        peer: std::net::SocketAddr,
        /// The subject of the client's verified certificate (TLS port).
        x509: Option<String>,
        out: ConnOut,
        reply: oneshot::Sender<Result<ConnId, String>>,
    },
    Packet {
        conn: ConnId,
        xid: i32,
        op: i32,
        request: synod_front::Pending,
    },
    Closed {
        conn: ConnId,
    },
    /// A four-letter word's answer text.
    FourLetter {
        word: synod_zkproto::FourLetterWord,
        reply: oneshot::Sender<String>,
    },
}

pub use synod_node::NodeStatus;

/// A handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) requests: mpsc::Sender<Request>,
}

#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

/// Why a native write has no outcome.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// Refused before it was proposed: it would take the key-value store
    /// past `[kv] keys_max` or `bytes_max`. Nothing changed.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

/// Why a node does not hand out a backup now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoBackup {
    /// Only the leader knows that its applied state holds every write
    /// acknowledged anywhere; this is the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// Its applied state trails its commit point; ask again with
    /// `at_least: commit`.
    Behind { commit: u64 },
}

impl NodeHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn write(&self, command: Command) -> Result<Outcome, WriteError> {
        Ok(self
            .ask(|reply| Request::Write { command, reply })
            .await??)
    }

    pub async fn read(&self, op: Vec<u8>) -> Result<Outcome, Stopped> {
        self.ask(|reply| Request::Read { op, reply }).await
    }

    pub async fn read_local(&self, op: Vec<u8>) -> Result<Outcome, Stopped> {
        self.ask(|reply| Request::ReadLocal { op, reply }).await
    }

    pub async fn reconfigure(&self, change: ConfigChange) -> Result<Outcome, Stopped> {
        self.ask(|reply| Request::Reconfigure { change, reply })
            .await
    }

    pub async fn status(&self) -> Result<NodeStatus, Stopped> {
        self.ask(|reply| Request::Status { reply }).await
    }

    pub async fn admin_view(&self) -> Result<Box<AdminView>, Stopped> {
        self.ask(|reply| Request::Admin { reply }).await
    }

    pub async fn backup(
        &self,
        at_least: Option<u64>,
    ) -> Result<Result<Box<synod_paxos::Snapshot>, NoBackup>, Stopped> {
        self.ask(|reply| Request::Backup { at_least, reply }).await
    }

    pub async fn lock(&self, request: LockRequest) -> Result<LockAnswer, Stopped> {
        self.ask(|reply| Request::Lock { request, reply }).await
    }

    /// Sends a ZooKeeper front-door request without waiting for an answer.
    pub async fn zk(&self, request: ZkRequest) -> Result<(), Stopped> {
        self.requests
            .send(Request::Zk(request))
            .await
            .map_err(|_| Stopped)
    }
}

/// A started node: its handle, and the task to await for its exit.
pub struct RunningNode {
    pub handle: NodeHandle,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub peer_addr: std::net::SocketAddr,
    /// The node's metrics, for the admin listener and the ZooKeeper
    /// connection tasks.
    pub metrics: Arc<Metrics>,
    /// The peer TLS identity the transport uses (a shared handle: reloading
    /// it changes the transport's next handshakes).
    pub peer_tls: Option<PeerTls>,
}

/// Opens the data directory, recovers, binds the peer port and starts the
/// engine task. `shutdown` resolving stops the node after the disk has
/// written everything the engine asked for.
pub async fn start(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RunningNode> {
    // Refused before the data directory is touched.
    let peer_tls = cfg.peer_tls_checked()?;
    let dir = cfg.data_dir.clone();
    let intent = StartIntent {
        init: cfg.init || cfg.restore.is_some(),
        join: cfg.join,
    };
    let (cluster_id, node_id) = (cfg.cluster_id, cfg.node_id);
    let restore = cfg.restore.clone();
    let initial = cfg.initial_config()?;
    let (claim, storage, durable, report, lives) = tokio::task::spawn_blocking(move || {
        // A backup that does not read, check and decode fails the start
        // before the directory is touched.
        let restored = match &restore {
            None => None,
            Some(file) => {
                let opened = std::fs::File::open(file).map_err(|e| {
                    anyhow::anyhow!("cannot read the backup {}: {e}", file.display())
                })?;
                let mut input = std::io::BufReader::with_capacity(1 << 20, opened);
                let restored = crate::backup::restored(&mut input, initial)
                    .map_err(|e| anyhow::anyhow!("backup {}: {e}", file.display()))?;
                Some((file.clone(), restored))
            }
        };
        let mut claim = datadir::claim(&dir, cluster_id, node_id, intent)?;
        if dir.join(datadir::SHARDS_FILE).exists() {
            anyhow::bail!(
                "{} holds a sharded tier's data (it has a {} file): start it with its \
                 [shards] section",
                dir.display(),
                datadir::SHARDS_FILE
            );
        }
        let (mut storage, mut durable, report) = disk::open(&dir)?;
        if let Some((file, restored)) = restored {
            let slot = restored.snapshot.last_slot;
            storage.persist(&[&[
                synod_paxos::Record::Snapshot(Box::new(restored.snapshot)),
                synod_paxos::Record::Commit(slot),
            ]])?;
            durable = storage.state().clone();
            info!(
                node = node_id,
                "restored from {} (cluster {} at slot {}, taken by node {}; {} ZooKeeper sessions closed)",
                file.display(),
                restored.header.cluster_id,
                slot,
                restored.header.node_id,
                restored.sessions_closed
            );
        }
        claim.commit()?;
        let lives = datadir::PeerLives::open(&dir)?;
        anyhow::Ok((claim, storage, durable, report, lives))
    })
    .await?
    .map_err(|e| {
        anyhow::anyhow!(
            "node {} cannot start from {}: {e}",
            cfg.node_id,
            cfg.data_dir.display()
        )
    })?;
    info!(
        node = cfg.node_id,
        "data directory holds {}; recovered from disk: {report}", claim.found
    );

    let members = cfg.members()?;
    let peers: BTreeMap<NodeId, synod_net::HostPort> = members
        .iter()
        .filter(|(id, _)| **id != cfg.node_id)
        .map(|(id, m)| (*id, m.peer.clone()))
        .collect();
    let mut net = NetConfig::new(cfg.cluster_id, cfg.node_id, cfg.peer_listen, peers);
    net.tls = peer_tls.clone();
    net.incarnation = claim.incarnation;
    net.peer_memory = Some(std::sync::Arc::new(lives));
    let (transport, inbound) = PeerTransport::start(net).await?;
    let peer_addr = transport.local_addr();

    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let opts = NodeOptions {
        id: cfg.node_id,
        engine: cfg.engine_config(),
        initial: cfg.initial_config()?,
        zk: ZkLimits {
            min_session_timeout_ms: cfg.zk.min_session_timeout_ms(),
            max_session_timeout_ms: cfg.zk.max_session_timeout_ms(),
            super_digest: cfg.zk.super_digest.clone(),
            x509_super_user: cfg.zk.x509_super_user.clone(),
            sasl_users: (!cfg.zk.sasl_users.is_empty()).then(|| {
                let mut nonce_key = [0u8; 16];
                getrandom::fill(&mut nonce_key).expect("the operating system's randomness");
                Arc::new(synod_front::sasl::SaslUsers {
                    nonce_key,
                    passwords: cfg
                        .zk
                        .sasl_users
                        .iter()
                        .map(|(user, password)| (user.clone(), password.0.clone()))
                        .collect(),
                })
            }),
            sasl_super_user: cfg.zk.sasl_super_user.clone(),
            max_buffer_bytes: cfg.zk.max_buffer_bytes,
            connections_max: cfg.zk.connections_max,
            command_bytes_max: cfg.engine.command_bytes_max,
            znodes_max: cfg.zk.znodes_max,
            data_bytes_max: cfg.zk.data_bytes_max,
            read_only_mode: cfg.zk.read_only_mode,
        },
        seed,
    };
    let mut node = ServiceNode::new(opts, durable, read_clock(started));
    node.set_zk_reconfig(synod_front::ReconfigSettings {
        enabled: cfg.zk.reconfig_enabled,
        // ZooKeeper's `host:quorumPort:electionPort`: the peer address and
        // the gRPC port, as the compat shim maps a zoo.cfg's lines.
        static_servers: members
            .iter()
            .map(|(id, m)| (*id, format!("{}:{}", m.peer, m.client.port())))
            .collect(),
    });
    let metrics = Arc::new(Metrics::new());
    metrics.add_peers(members.keys().copied().filter(|id| *id != cfg.node_id));
    let observer = Observer::new(metrics.clone(), &node);
    let (disk_events_tx, disk_events) = mpsc::channel(disk::DISK_QUEUE_MAX);
    let disk = disk::start(storage, claim, disk_events_tx, metrics.clone());
    let (requests, request_rx) = mpsc::channel(REQUEST_QUEUE_MAX);
    let driver = Driver {
        node,
        out: Vec::new(),
        started,
        transport,
        disk_requests: disk.requests,
        writes: HashMap::new(),
        reads: HashMap::new(),
        reconfigs: HashMap::new(),
        locks: HashMap::new(),
        next_id: 0,
        persisted: 0,
        requested: 0,
        zk_conns: HashMap::new(),
        unread: Vec::new(),
        zk_knobs: cfg.zk.clone(),
        kv_limits: cfg.kv.limits(),
        cluster: cfg.members()?,
        observer,
    };
    let tick = Duration::from_millis(cfg.engine.tick_ms);
    let task = tokio::spawn(driver.run(
        inbound,
        request_rx,
        disk_events,
        tick,
        disk.thread,
        shutdown,
    ));
    Ok(RunningNode {
        handle: NodeHandle { requests },
        task,
        peer_addr,
        metrics,
        peer_tls,
    })
}

/// The real clocks, as the node reads them: monotonic time since the node
/// started, and wall time.
fn read_clock(started: Instant) -> Clock {
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Clock {
        now_us: started.elapsed().as_micros() as u64,
        wall_ms,
    }
}

/// Where a native write's outcome goes, or its refusal by a `[kv]` cap.
type WriteWaiter = oneshot::Sender<Result<Outcome, QuotaExceeded>>;

/// The engine task's state: the pure node, and the I/O around it.
struct Driver {
    node: ServiceNode,
    /// The node's outputs, one buffer reused by every step. It keeps the
    /// capacity of the largest step; the outputs' contents are moved out
    /// as they run, so only the slots stay.
    out: Vec<NodeOutput>,
    /// When the node started: its local clock counts from here.
    started: Instant,
    transport: PeerTransport,
    disk_requests: mpsc::Sender<(u64, Vec<synod_paxos::Record>)>,
    writes: HashMap<(u64, u64), Vec<WriteWaiter>>,
    reads: HashMap<u64, oneshot::Sender<Outcome>>,
    reconfigs: HashMap<u64, oneshot::Sender<Outcome>>,
    /// Lock calls waiting for the node's answer (a parked acquire waits
    /// here until the session holds the lock).
    locks: HashMap<u64, oneshot::Sender<LockAnswer>>,
    next_id: u64,
    /// Highest persist id the disk confirmed, and the highest asked for.
    persisted: u64,
    requested: u64,
    /// Where each ZooKeeper connection's frames go.
    zk_conns: HashMap<ConnId, ConnOut>,
    /// Connections given up on while executing outputs (their client does
    /// not read): the node hears of them once the outputs are executed.
    unread: Vec<ConnId>,
    zk_knobs: crate::config::ZkKnobs,
    /// `[kv] keys_max` and `bytes_max`, judged before each native write.
    kv_limits: synod_kv::KvLimits,
    cluster: BTreeMap<NodeId, crate::config::Member>,
    /// Monitoring: counters derived from the node, heartbeat timings,
    /// leader changes.
    observer: Observer,
}

impl Driver {
    async fn run(
        mut self,
        mut inbound: synod_net::InboundReceiver,
        mut requests: mpsc::Receiver<Request>,
        mut disk_events: mpsc::Receiver<DiskEvent>,
        tick: Duration,
        disk_thread: std::thread::JoinHandle<()>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let result = loop {
            let stepped = tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                event = disk_events.recv() => match event {
                    Some(DiskEvent::Persisted(id)) => {
                        self.persisted = id;
                        self.step(NodeInput::Persisted { id }).await
                    }
                    Some(DiskEvent::Failed(e)) => {
                        error!("disk write failed, stopping this node: {e}");
                        break Err(anyhow::anyhow!("disk write failed: {e}"));
                    }
                    None => break Err(anyhow::anyhow!("the disk thread stopped")),
                },
                Some((from, parcel)) = inbound.recv() => match parcel {
                    // This server runs one group, group 0.
                    synod_net::Parcel::Paxos { group: 0, msg } => {
                        tracing::trace!(from, %msg, "received");
                        self.step(NodeInput::Peer { from, msg }).await
                    }
                    other => {
                        debug!(from, parcel = %other, "dropped: for a group this server does not run");
                        Ok(())
                    }
                },
                Some(request) = requests.recv() => self.on_request(request).await,
                _ = ticker.tick() => {
                    let engine = self.node.engine();
                    tracing::trace!(node = engine.id(), now = self.started.elapsed().as_micros() as u64, role = engine.role_name(), "tick");
                    self.step(NodeInput::Tick).await
                }
            };
            if let Err(broken) = stepped {
                error!("stopping this node: {broken}");
                break Err(anyhow::anyhow!(
                    "node {} stopped: {broken}",
                    self.node.engine().id()
                ));
            }
        };
        // Graceful stop: let the disk finish what the engine asked for, so
        // nothing acknowledged to a peer is left unwritten.
        requests.close();
        while self.persisted < self.requested {
            match disk_events.recv().await {
                Some(DiskEvent::Persisted(id)) => self.persisted = id,
                _ => break,
            }
        }
        drop(self.disk_requests);
        let _ = tokio::task::spawn_blocking(move || disk_thread.join()).await;
        self.transport.shutdown().await;
        info!(node = self.node.engine().id(), "stopped");
        result
    }

    async fn on_request(&mut self, request: Request) -> Result<(), NodeInvariantViolation> {
        match request {
            Request::Write { command, reply } => {
                // Judged here, against what this node has applied, so a
                // refused write never reaches the log (`synod_kv::quota`).
                if let Err(refused) = self.node.admit_kv_write(&command.op, self.kv_limits) {
                    let _ = reply.send(Err(refused));
                    return Ok(());
                }
                self.writes
                    .entry((command.client, command.seq))
                    .or_default()
                    .push(reply);
                self.step(NodeInput::Write(command)).await
            }
            Request::Read { op, reply } => {
                self.next_id += 1;
                let id = self.next_id;
                self.reads.insert(id, reply);
                self.step(NodeInput::Read { id, op }).await
            }
            Request::ReadLocal { op, reply } => {
                let _ = reply.send(Outcome::Ok(self.node.read_local(&op)));
                Ok(())
            }
            Request::Reconfigure { change, reply } => {
                self.next_id += 1;
                let id = self.next_id;
                self.reconfigs.insert(id, reply);
                self.step(NodeInput::Reconfigure { id, change }).await
            }
            Request::Zk(zk) => self.on_zk(zk).await,
            Request::Lock { request, reply } => {
                self.next_id += 1;
                let id = self.next_id;
                self.locks.insert(id, reply);
                self.step(NodeInput::Lock { id, request }).await
            }
            Request::Status { reply } => {
                let _ = reply.send(self.node.status());
                Ok(())
            }
            Request::Backup { at_least, reply } => {
                let engine = self.node.engine();
                let answer = if !engine.is_leader() {
                    Err(NoBackup::NotLeader(engine.leader()))
                } else if engine.applied() < at_least.unwrap_or(engine.commit()) {
                    // Everything acknowledged anywhere is at or below the
                    // leader's commit point: wait until it is applied.
                    Err(NoBackup::Behind {
                        commit: engine.commit(),
                    })
                } else {
                    Ok(Box::new(engine.applied_snapshot()))
                };
                let _ = reply.send(answer);
                Ok(())
            }
            Request::Admin { reply } => {
                let view = self.observer.view(
                    &self.node,
                    self.transport.peer_bytes(),
                    self.zk_knobs.connections_max,
                );
                let _ = reply.send(Box::new(view));
                Ok(())
            }
        }
    }

    async fn on_zk(&mut self, request: ZkRequest) -> Result<(), NodeInvariantViolation> {
        match request {
            ZkRequest::Open {
                connect,
                peer,
                x509,
                out: conn_out,
                reply,
            } => {
                let mut passwd = vec![0u8; 16];
                getrandom::fill(&mut passwd).expect("the OS random source works");
                let mut out = std::mem::take(&mut self.out);
                let clock = read_clock(self.started);
                let opened = self
                    .node
                    .zk_open(clock, connect, peer, passwd, x509, &mut out);
                // Registered before the outputs run: they may hold the
                // connection's first frames.
                if let Ok(conn) = opened {
                    self.zk_conns.insert(conn, conn_out);
                }
                let _ = reply.send(opened.map_err(|refused| refused.reason));
                self.execute_all(&mut out).await;
                self.out = out;
                self.node.check_invariants(true)
            }
            ZkRequest::Packet {
                conn,
                xid,
                op,
                request,
            } => {
                self.step(NodeInput::ZkPacket {
                    conn,
                    xid,
                    op,
                    request,
                })
                .await
            }
            ZkRequest::Closed { conn } => {
                self.zk_conns.remove(&conn);
                self.step(NodeInput::ZkClosed { conn }).await
            }
            ZkRequest::FourLetter { word, reply } => {
                let text =
                    crate::zk::words::answer(word, &self.node, &self.zk_knobs, &self.cluster);
                let _ = reply.send(text);
                Ok(())
            }
        }
    }

    /// Steps the node and executes what it asks for; a broken invariant
    /// stops the node before anything else happens.
    async fn step(&mut self, input: NodeInput) -> Result<(), NodeInvariantViolation> {
        if let NodeInput::Peer { from, msg } = &input {
            self.observer.on_receive(*from, msg);
        }
        let mut out = std::mem::take(&mut self.out);
        self.node.step(read_clock(self.started), input, &mut out);
        self.execute_all(&mut out).await;
        self.out = out;
        self.observer.after_step(&self.node);
        self.node.check_invariants(true)
    }

    /// Executes `out` in order, leaving it empty; then tells the node of
    /// the connections given up on meanwhile.
    async fn execute_all(&mut self, out: &mut Vec<NodeOutput>) {
        loop {
            for output in out.drain(..) {
                self.execute(output).await;
            }
            let Some(conn) = self.unread.pop() else {
                return;
            };
            let clock = read_clock(self.started);
            self.node.step(clock, NodeInput::ZkClosed { conn }, out);
        }
    }

    async fn execute(&mut self, output: NodeOutput) {
        match output {
            NodeOutput::Persist { id, records } => {
                self.requested = id;
                if self.disk_requests.send((id, records)).await.is_err() {
                    warn!("the disk thread is gone; dropping a write");
                }
            }
            NodeOutput::Send { to, msg } => {
                tracing::trace!(to, %msg, "send");
                self.observer.on_send(to, &msg);
                if let Err(e) = self.transport.send(to, msg) {
                    debug!(to, "not sent: {e}");
                }
            }
            NodeOutput::WriteReply {
                client,
                seq,
                outcome,
            } => {
                if let Some(waiters) = self.writes.remove(&(client, seq)) {
                    for w in waiters {
                        let _ = w.send(Ok(outcome.clone()));
                    }
                }
            }
            NodeOutput::ReadReply { id, outcome } => {
                if let Some(w) = self.reads.remove(&id) {
                    let _ = w.send(outcome);
                }
            }
            NodeOutput::ReconfigReply { id, outcome } => {
                if let Some(w) = self.reconfigs.remove(&id) {
                    let _ = w.send(outcome);
                }
            }
            NodeOutput::LockReply { id, answer } => {
                if let Some(w) = self.locks.remove(&id) {
                    let _ = w.send(answer);
                }
            }
            NodeOutput::Zk { conn, item } => self.send_to_connection(conn, item),
            NodeOutput::Event(event) => {
                debug!(node = self.node.engine().id(), ?event, "engine event")
            }
            // The apply tap is for simulators; the server never switches it on.
            NodeOutput::Applied(_) => {}
        }
    }

    /// Hands a frame (or the close) to its connection's task.
    fn send_to_connection(&mut self, conn: ConnId, item: Outgoing) {
        let closing = matches!(item, Outgoing::Close(_));
        let Some(out) = self.zk_conns.get(&conn) else {
            return;
        };
        if !out.send(item) {
            let _ = out.tx.send(Outgoing::Close(
                "the client does not read what it is sent".into(),
            ));
            self.zk_conns.remove(&conn);
            self.unread.push(conn);
        } else if closing {
            self.zk_conns.remove(&conn);
        }
    }
}
