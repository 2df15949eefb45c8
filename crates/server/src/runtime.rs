//! One node's runtime: a single tokio task owns the engine and feeds it
//! peer messages, ticks, disk completions and client requests; it executes
//! the engine's actions (disk writes on the disk thread, sends on the peer
//! transport, replies to waiting requests).

use crate::config::ServerConfig;
use crate::disk::{self, DiskEvent};
use crate::state::ServiceState;
use crate::zk::conn::ConnOut;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use synod_front::{ConnId, Outgoing, ZkFront, ZkLimits};
use synod_net::{NetConfig, PeerTransport};
use synod_paxos::{
    Action, Ballot, Command, Config, ConfigChange, Input, Node, NodeId, Outcome, Slot,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Client requests waiting for the engine task at most; callers wait when
/// it is full.
pub const REQUEST_QUEUE_MAX: usize = 4096;

/// What a client layer (gRPC, ZooKeeper protocol) asks of the node.
pub enum Request {
    Write {
        command: Command,
        reply: oneshot::Sender<Outcome>,
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
    /// The ZooKeeper front door's traffic.
    Zk(ZkRequest),
}

/// What a ZooKeeper connection task asks of the engine task.
pub enum ZkRequest {
    /// A client sent its ConnectRequest; the reply is the connection id or
    /// why it is refused.
    Open {
        connect: synod_zkproto::ConnectRequest,
        peer: std::net::SocketAddr,
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

/// A node's view of itself, for `synod status`.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: &'static str,
    pub promised: Ballot,
    pub leader: Option<NodeId>,
    pub commit: Slot,
    pub applied: Slot,
    pub snapshot_slot: Slot,
    pub config: Config,
    /// The leader's view of each peer's commit point.
    pub peer_commits: Vec<(NodeId, Slot)>,
}

/// A handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    requests: mpsc::Sender<Request>,
}

#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

impl NodeHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn write(&self, command: Command) -> Result<Outcome, Stopped> {
        self.ask(|reply| Request::Write { command, reply }).await
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
}

/// Opens the data directory, recovers, binds the peer port and starts the
/// engine task. `shutdown` resolving stops the node after the disk has
/// written everything the engine asked for.
pub async fn start(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RunningNode> {
    let dir = cfg.data_dir.clone();
    let (storage, durable, report) = tokio::task::spawn_blocking(move || disk::open(&dir))
        .await?
        .map_err(|e| {
            anyhow::anyhow!(
                "node {} cannot start from {}: {e}",
                cfg.node_id,
                cfg.data_dir.display()
            )
        })?;
    info!(node = cfg.node_id, "recovered from disk: {report}");

    let members = cfg.members()?;
    let peers: BTreeMap<NodeId, std::net::SocketAddr> = members
        .iter()
        .filter(|(id, _)| **id != cfg.node_id)
        .map(|(id, m)| (*id, m.peer))
        .collect();
    let (transport, inbound) = PeerTransport::start(NetConfig::new(
        cfg.cluster_id,
        cfg.node_id,
        cfg.peer_listen,
        peers,
    ))
    .await?;
    let peer_addr = transport.local_addr();

    let clock = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let node = Node::recover(
        cfg.node_id,
        cfg.engine_config(),
        cfg.initial_config()?,
        durable,
        ServiceState::new(),
        seed,
        0,
    );
    let (disk_events_tx, disk_events) = mpsc::channel(disk::DISK_QUEUE_MAX);
    let disk = disk::start(storage, disk_events_tx);
    let (requests, request_rx) = mpsc::channel(REQUEST_QUEUE_MAX);
    let driver = Driver {
        node,
        clock,
        transport,
        disk_requests: disk.requests,
        writes: HashMap::new(),
        reads: HashMap::new(),
        reconfigs: HashMap::new(),
        next_id: 0,
        persisted: 0,
        requested: 0,
        zk: ZkFront::new(
            ZkLimits {
                min_session_timeout_ms: cfg.zk.min_session_timeout_ms(),
                max_session_timeout_ms: cfg.zk.max_session_timeout_ms(),
                super_digest: cfg.zk.super_digest.clone(),
                max_buffer_bytes: cfg.zk.max_buffer_bytes,
                connections_max: cfg.zk.connections_max,
                command_bytes_max: cfg.engine.command_bytes_max,
            },
            seed.rotate_left(32),
        ),
        zk_conns: HashMap::new(),
        zk_knobs: cfg.zk.clone(),
        cluster: cfg.members()?,
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
    })
}

struct Driver {
    node: Node<ServiceState>,
    clock: Instant,
    transport: PeerTransport,
    disk_requests: mpsc::Sender<(u64, Vec<synod_paxos::Record>)>,
    writes: HashMap<(u64, u64), Vec<oneshot::Sender<Outcome>>>,
    reads: HashMap<u64, oneshot::Sender<Outcome>>,
    reconfigs: HashMap<u64, oneshot::Sender<Outcome>>,
    next_id: u64,
    /// Highest persist id the disk confirmed, and the highest asked for.
    persisted: u64,
    requested: u64,
    zk: ZkFront,
    /// Where each ZooKeeper connection's frames go.
    zk_conns: HashMap<ConnId, ConnOut>,
    zk_knobs: crate::config::ZkKnobs,
    cluster: BTreeMap<NodeId, crate::config::Member>,
}

impl Driver {
    fn now_us(&self) -> u64 {
        self.clock.elapsed().as_micros() as u64
    }

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
            tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                event = disk_events.recv() => match event {
                    Some(DiskEvent::Persisted(id)) => {
                        self.persisted = id;
                        self.step(Input::Persisted { id }).await;
                    }
                    Some(DiskEvent::Failed(e)) => {
                        error!("disk write failed, stopping this node: {e}");
                        break Err(anyhow::anyhow!("disk write failed: {e}"));
                    }
                    None => break Err(anyhow::anyhow!("the disk thread stopped")),
                },
                Some((from, msg)) = inbound.recv() => {
                    tracing::trace!(from, %msg, "received");
                    self.step(Input::Message { from, msg }).await;
                }
                Some(request) = requests.recv() => self.on_request(request).await,
                _ = ticker.tick() => {
                    tracing::trace!(node = self.node.id(), now = self.now_us(), role = self.node.role_name(), "tick");
                    self.step(Input::Tick).await;
                    let term = self.node.is_active_leader().then(|| {
                        let b = self.node.promised();
                        (b.round << 16) | (b.node & 0xffff)
                    });
                    self.set_zk_clock();
                    let has_leader = self.node.leader().is_some();
                    self.zk.on_timer(term, has_leader);
                    self.step_proposals().await;
                    self.flush_zk();
                }
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
        info!(node = self.node.id(), "stopped");
        result
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Write { command, reply } => {
                self.writes
                    .entry((command.client, command.seq))
                    .or_default()
                    .push(reply);
                self.step(Input::Command(command)).await;
            }
            Request::Read { op, reply } => {
                self.next_id += 1;
                let id = self.next_id;
                self.reads.insert(id, reply);
                self.step(Input::Read { client: 0, id, op }).await;
            }
            Request::ReadLocal { op, reply } => {
                use synod_paxos::StateMachine;
                let _ = reply.send(Outcome::Ok(self.node.state_machine().query(&op)));
            }
            Request::Reconfigure { change, reply } => {
                self.next_id += 1;
                let id = self.next_id;
                self.reconfigs.insert(id, reply);
                self.step(Input::Reconfigure { id, change }).await;
            }
            Request::Zk(zk) => self.on_zk(zk).await,
            Request::Status { reply } => {
                let n = &self.node;
                let _ = reply.send(NodeStatus {
                    id: n.id(),
                    role: n.role_name(),
                    promised: n.promised(),
                    leader: n.leader(),
                    commit: n.commit(),
                    applied: n.applied(),
                    snapshot_slot: n.snapshot_slot(),
                    config: n.config().clone(),
                    peer_commits: n.peer_commits(),
                });
            }
        }
    }

    fn set_zk_clock(&mut self) {
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.zk.set_clock(self.now_us() / 1000, wall_ms);
    }

    /// Hands the front door's frames to their connections, in order.
    fn flush_zk(&mut self) {
        loop {
            let output = self.zk.take_output();
            if output.is_empty() {
                return;
            }
            for (conn, item) in output {
                let closing = matches!(item, Outgoing::Close(_));
                let Some(out) = self.zk_conns.get(&conn) else {
                    continue;
                };
                if !out.send(item) {
                    let _ = out.tx.send(Outgoing::Close(
                        "the client does not read what it is sent".into(),
                    ));
                    self.zk_conns.remove(&conn);
                    self.zk.on_closed(conn);
                } else if closing {
                    self.zk_conns.remove(&conn);
                }
            }
        }
    }

    async fn on_zk(&mut self, request: ZkRequest) {
        self.set_zk_clock();
        match request {
            ZkRequest::Open {
                connect,
                peer,
                out,
                reply,
            } => {
                let tree = &self.node.state_machine().tree;
                let mut passwd = vec![0u8; 16];
                getrandom::fill(&mut passwd).expect("the OS random source works");
                let opened = self.zk.open(tree, connect, peer, passwd);
                if let Ok(conn) = opened {
                    self.zk_conns.insert(conn, out);
                }
                let _ = reply.send(opened);
            }
            ZkRequest::Packet {
                conn,
                xid,
                op,
                request,
            } => {
                let tree = &self.node.state_machine().tree;
                self.zk.on_packet(tree, conn, xid, op, request);
            }
            ZkRequest::Closed { conn } => {
                self.zk_conns.remove(&conn);
                self.zk.on_closed(conn);
            }
            ZkRequest::FourLetter { word, reply } => {
                let text = crate::zk::words::answer(
                    word,
                    &self.node,
                    &self.zk,
                    &self.zk_knobs,
                    &self.cluster,
                );
                let _ = reply.send(text);
            }
        }
        self.step_proposals().await;
        self.flush_zk();
    }

    /// Proposes what the front door queued (its replies may queue more).
    async fn step_proposals(&mut self) {
        loop {
            let proposals = self.zk.take_proposals();
            if proposals.is_empty() {
                return;
            }
            for command in proposals {
                self.step_once(Input::Propose(command)).await;
            }
        }
    }

    async fn step(&mut self, input: Input) {
        self.set_zk_clock();
        self.step_once(input).await;
        self.step_proposals().await;
        self.flush_zk();
    }

    async fn step_once(&mut self, input: Input) {
        let now = self.now_us();
        let actions = self.node.step(now, input);
        if self.node.state_machine_mut().take_restored() {
            warn!(
                node = self.node.id(),
                "caught up from a snapshot; closing ZooKeeper connections so their watches re-sync"
            );
            self.zk.close_all("this server caught up from a snapshot");
        }
        // Watch events go out before the replies of this step, so a client
        // sees an event before it can read the change that fired it.
        let triggers = self.node.state_machine_mut().tree.take_triggers();
        if !triggers.is_empty() {
            self.zk.on_triggers(triggers);
        }
        for action in actions {
            self.execute(action).await;
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Persist { id, records } => {
                self.requested = id;
                if self.disk_requests.send((id, records)).await.is_err() {
                    warn!("the disk thread is gone; dropping a write");
                }
            }
            Action::Send { to, msg } => {
                tracing::trace!(to, %msg, "send");
                if let Err(e) = self.transport.send(to, msg) {
                    debug!(to, "not sent: {e}");
                }
            }
            Action::Reply {
                client,
                seq,
                outcome,
            } => {
                let tree = &self.node.state_machine().tree;
                if self.zk.on_reply(tree, client, seq, &outcome) {
                    return;
                }
                if let Some(waiters) = self.writes.remove(&(client, seq)) {
                    for w in waiters {
                        let _ = w.send(outcome.clone());
                    }
                }
            }
            Action::ReadReply { id, outcome, .. } => {
                if let Some(w) = self.reads.remove(&id) {
                    let _ = w.send(outcome);
                }
            }
            Action::ReconfigReply { id, outcome } => {
                if let Some(w) = self.reconfigs.remove(&id) {
                    let _ = w.send(outcome);
                }
            }
            Action::Event(event) => debug!(node = self.node.id(), ?event, "engine event"),
        }
    }
}
