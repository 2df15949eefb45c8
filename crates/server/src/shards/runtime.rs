//! The sharded tier's runtime: one task that owns every group replica this
//! server hosts (the shard controller as group 0, replica groups 1..=N),
//! steps them with the real clock, and executes what they ask for:
//!
//! - Paxos messages between replicas of one group go over the one peer
//!   transport, each tagged with its group (`Parcel::Paxos`);
//! - messages between groups' leaders (prepares, votes, decisions,
//!   hand-overs) go over it too (`Parcel::Group`): to the server this
//!   server's own replica of the target group names as leader, or, for a
//!   group not hosted here, to the server last seen sending for it (else
//!   its members in turn); a server that gets one for a leader elsewhere
//!   relays it there once;
//! - every group's writes go to one disk thread (`super::disk`);
//! - a group's question for configuration `n` is answered by a replica of
//!   the controller, this server's or (as a `Parcel::Group` to group 0) a
//!   member's: a numbered configuration never changes, so a replica that
//!   has it has the right one, and one that does not yet stays silent (the
//!   driver asks again).
//!
//! Clients reach a group's leader through `ShardHandle` (the gRPC service
//! in `super::service`); a replica that does not lead answers `NotLeader`
//! with the leader it knows.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use synod_net::{Parcel, PeerTransport};
use synod_paxos::{
    Action, ClientId, Command, Config as Members, DurableState, EngineConfig, Input, Node, NodeId,
    Outcome,
};
use synod_shard::{decode_reply, encode_op, GroupId, ShardController, ShardOp, ShardReply};
use synod_shardkv::{
    decode, encode, ClientReply, DriverConfig, GroupHost, GroupMsg, HostInput, HostOutput,
    ShardGroup, TxnId,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::disk::{DiskEvent, DiskRequest};

/// The controller's group id.
pub const CONTROLLER: GroupId = 0;

/// Client requests waiting for the task at most; callers wait when full.
pub const REQUEST_QUEUE_MAX: usize = 4096;

/// How often the task runs every replica's full invariant check (the
/// cheap one runs after every event), in microseconds.
pub const INVARIANTS_EVERY_US: u64 = 1_000_000;

/// Transactions whose clients wait for an answer at once, at most; one
/// more is answered `Busy` (the client asks again shortly).
pub const TXN_WAITERS_MAX: usize = 100_000;

/// What the gRPC service asks of the task.
pub enum ShardRequest {
    /// An operation for the controller (`Query` is read under the lease).
    Control {
        op: ShardOp,
        reply: oneshot::Sender<Answer<ShardReply>>,
    },
    /// A client's transaction (`GroupMsg::ClientTxn`) for group `group`.
    Txn {
        group: GroupId,
        id: TxnId,
        msg: GroupMsg,
        reply: oneshot::Sender<Answer<ClientReply>>,
    },
    /// Which groups this server hosts, and what each replica knows.
    Status {
        reply: oneshot::Sender<Vec<GroupStatus>>,
    },
}

/// The task's answer to a client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    Reply(T),
    /// This server's replica does not lead the group; `leader` is the one
    /// it knows of.
    NotLeader(Option<NodeId>),
    /// This server hosts no replica of the group.
    NoSuchGroup,
    /// Too much is waiting here (`TXN_WAITERS_MAX`) or the engine's queue
    /// is full: ask again shortly.
    Busy,
}

/// One hosted replica, for status pages and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub group: GroupId,
    pub leader: Option<NodeId>,
    pub leads: bool,
    /// The configuration the replica is at (for the controller: its newest).
    pub config: u64,
    pub applied: u64,
}

/// A handle to the running task.
#[derive(Clone)]
pub struct ShardHandle {
    pub(crate) requests: mpsc::Sender<ShardRequest>,
}

#[derive(Debug, thiserror::Error)]
#[error("the server is shutting down")]
pub struct Stopped;

impl ShardHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ShardRequest,
    ) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn control(&self, op: ShardOp) -> Result<Answer<ShardReply>, Stopped> {
        self.ask(|reply| ShardRequest::Control { op, reply }).await
    }

    /// Hands a client's transaction to the group's leader here. The answer
    /// comes when the transaction is decided; callers bound the wait (the
    /// client sends again, under the same id, which is safe).
    pub async fn txn(
        &self,
        group: GroupId,
        id: TxnId,
        msg: GroupMsg,
    ) -> Result<Answer<ClientReply>, Stopped> {
        self.ask(|reply| ShardRequest::Txn {
            group,
            id,
            msg,
            reply,
        })
        .await
    }

    pub async fn status(&self) -> Result<Vec<GroupStatus>, Stopped> {
        self.ask(|reply| ShardRequest::Status { reply }).await
    }
}

/// What the task starts from.
pub(crate) struct Setup {
    pub me: NodeId,
    pub engine: EngineConfig,
    /// Every group (the controller, 0, too) and the members replicating it.
    pub placement: BTreeMap<GroupId, Vec<NodeId>>,
    /// The durable state of each group this server hosts.
    pub durable: BTreeMap<GroupId, DurableState>,
    pub controller: ShardController,
    pub shard_count: u32,
    /// Groups to join at the first configuration, with their servers'
    /// client addresses.
    pub join: BTreeMap<GroupId, Vec<String>>,
    pub transport: PeerTransport,
    pub disk: mpsc::Sender<DiskRequest>,
}

/// A request to the controller waiting for its answer.
enum ControlWaiter {
    Write(oneshot::Sender<Answer<ShardReply>>),
    Read(oneshot::Sender<Answer<ShardReply>>),
}

pub(crate) struct ShardTask {
    me: NodeId,
    started: Instant,
    /// This server's replica of the controller, if it hosts one.
    controller: Option<Node<ShardController>>,
    hosts: BTreeMap<GroupId, GroupHost>,
    placement: BTreeMap<GroupId, Vec<NodeId>>,
    /// For groups not hosted here: the server last seen sending for the
    /// group's leader.
    leader_hints: BTreeMap<GroupId, NodeId>,
    /// Turns through a group's members when no leader is known.
    rotation: u64,
    transport: PeerTransport,
    disk: mpsc::Sender<DiskRequest>,
    /// This server's client id at the controller (random per start, so the
    /// engine's exactly-once table never confuses two lives).
    control_client: ClientId,
    control_seq: u64,
    control_waiters: HashMap<u64, ControlWaiter>,
    txn_waiters: HashMap<TxnId, Vec<oneshot::Sender<Answer<ClientReply>>>>,
    join: BTreeMap<GroupId, Vec<String>>,
    join_sent_us: Option<u64>,
    /// Inputs for replicas on this server, from other replicas on it.
    local: VecDeque<(GroupId, HostInput)>,
    ticks: u64,
    /// When the full invariants were last checked.
    checked_us: u64,
    /// The replicas stepped since the last check (`CONTROLLER` for the
    /// controller), each once: only their state can have changed.
    stepped: Vec<GroupId>,
}

impl ShardTask {
    pub(crate) fn new(setup: Setup) -> ShardTask {
        let started = Instant::now();
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the operating system's randomness");
        let seed = u64::from_le_bytes(seed);
        let mut durable = setup.durable;
        let members_of = |gid: GroupId| Members::new(setup.placement[&gid].iter().copied());
        let controller = durable.remove(&CONTROLLER).map(|state| {
            Node::recover(
                setup.me,
                setup.engine.clone(),
                members_of(CONTROLLER),
                state,
                setup.controller,
                seed,
                0,
            )
        });
        let hosts = durable
            .into_iter()
            .map(|(gid, state)| {
                let host = GroupHost::recover(
                    setup.me,
                    setup.engine.clone(),
                    members_of(gid),
                    state,
                    ShardGroup::new(gid, setup.shard_count, Default::default()),
                    DriverConfig::default(),
                    seed ^ gid,
                    0,
                );
                (gid, host)
            })
            .collect();
        ShardTask {
            me: setup.me,
            started,
            controller,
            hosts,
            placement: setup.placement,
            leader_hints: BTreeMap::new(),
            rotation: 0,
            transport: setup.transport,
            disk: setup.disk,
            control_client: (seed >> 1) | 1,
            control_seq: 0,
            control_waiters: HashMap::new(),
            txn_waiters: HashMap::new(),
            join: setup.join,
            join_sent_us: None,
            local: VecDeque::new(),
            ticks: 0,
            checked_us: 0,
            stepped: Vec::new(),
        }
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub(crate) async fn run(
        mut self,
        mut inbound: synod_net::InboundReceiver,
        mut requests: mpsc::Receiver<ShardRequest>,
        mut disk_events: mpsc::Receiver<DiskEvent>,
        tick: Duration,
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
                    Some(DiskEvent::Persisted(done)) => {
                        for (gid, id) in done {
                            self.on_persisted(gid, id).await;
                        }
                        Ok(())
                    }
                    Some(DiskEvent::Failed(e)) => {
                        error!("disk write failed, stopping this server: {e}");
                        break Err(anyhow::anyhow!("disk write failed: {e}"));
                    }
                    None => break Err(anyhow::anyhow!("the disk thread stopped")),
                },
                Some((from, parcel)) = inbound.recv() => self.on_parcel(from, parcel).await,
                Some(request) = requests.recv() => self.on_request(request).await,
                _ = ticker.tick() => self.on_tick().await,
            };
            if let Err(broken) = stepped {
                error!("stopping this server: {broken}");
                break Err(anyhow::anyhow!("server {} stopped: {broken}", self.me));
            }
        };
        requests.close();
        self.transport.shutdown().await;
        info!(node = self.me, "sharded tier stopped");
        result
    }

    async fn on_persisted(&mut self, gid: GroupId, id: u64) {
        if gid == CONTROLLER {
            self.step_controller(Input::Persisted { id }).await;
        } else {
            self.step_host(gid, HostInput::Persisted { id }).await;
        }
    }

    async fn on_parcel(&mut self, from: NodeId, parcel: Parcel) -> Result<(), String> {
        match parcel {
            Parcel::Paxos {
                group: CONTROLLER,
                msg,
            } => self.step_controller(Input::Message { from, msg }).await,
            Parcel::Paxos { group, msg } => {
                self.step_host(group, HostInput::Peer { from, msg }).await
            }
            Parcel::Group {
                from: group,
                to: CONTROLLER,
                bytes,
                ..
            } => self.on_config_query(from, group, &bytes),
            Parcel::Group {
                from: CONTROLLER,
                to,
                bytes,
                ..
            } => match decode::<synod_shard::Config>(&bytes) {
                Ok(config) => self.step_host(to, HostInput::Config(config)).await,
                Err(e) => warn!(from, "dropped a configuration: {e}"),
            },
            Parcel::Group {
                from: group,
                to,
                bytes,
                relayed,
            } => {
                if !relayed && !self.hosts.contains_key(&group) {
                    // Only a group's leader sends for it.
                    self.leader_hints.insert(group, from);
                }
                self.on_group_message(group, to, bytes, relayed).await;
            }
        }
        self.check()
    }

    /// A message for the leader of group `to`: stepped here if this
    /// server's replica leads, else relayed once to the leader this server
    /// knows of.
    async fn on_group_message(
        &mut self,
        from: GroupId,
        to: GroupId,
        bytes: Vec<u8>,
        relayed: bool,
    ) {
        let leader = match self.hosts.get(&to) {
            Some(host) if host.leads() => {
                match decode::<GroupMsg>(&bytes) {
                    Ok(msg) => self.step_host(to, HostInput::Group { from, msg }).await,
                    Err(e) => warn!(from, to, "dropped a message between groups: {e}"),
                }
                return;
            }
            Some(host) => host.node().leader().filter(|l| *l != self.me),
            None => self.member_for(to),
        };
        match leader {
            Some(leader) if !relayed => self.send(
                leader,
                Parcel::Group {
                    from,
                    to,
                    bytes,
                    relayed: true,
                },
            ),
            _ => debug!(from, to, "dropped: the group's leader is not here"),
        }
    }

    /// A group's leader on another server asks for configuration `num`:
    /// answered if this server's controller replica has it.
    fn on_config_query(&mut self, from: NodeId, group: GroupId, bytes: &[u8]) {
        let Ok(num) = decode::<u64>(bytes) else {
            warn!(from, "dropped an undecodable configuration query");
            return;
        };
        let Some(config) = self
            .controller
            .as_ref()
            .and_then(|c| c.state_machine().config(num))
        else {
            return;
        };
        let bytes = encode(config);
        self.send(
            from,
            Parcel::Group {
                from: CONTROLLER,
                to: group,
                bytes,
                relayed: false,
            },
        );
    }

    /// A server to send group `gid`'s leader messages to, when this server
    /// hosts no replica of it: the one last seen sending for it, else its
    /// members in turn.
    fn member_for(&mut self, gid: GroupId) -> Option<NodeId> {
        if let Some(hint) = self.leader_hints.get(&gid) {
            return Some(*hint);
        }
        let members = self.placement.get(&gid)?;
        self.rotation += 1;
        members
            .iter()
            .copied()
            .filter(|m| *m != self.me)
            .nth((self.rotation % members.len() as u64) as usize)
            .or_else(|| members.iter().copied().find(|m| *m != self.me))
    }

    async fn on_tick(&mut self) -> Result<(), String> {
        self.ticks += 1;
        if self.ticks.is_multiple_of(500) {
            // A hint goes stale when leadership moves; the next message
            // from the group's new leader sets it again.
            self.leader_hints.clear();
        }
        self.step_controller(Input::Tick).await;
        let groups: Vec<GroupId> = self.hosts.keys().copied().collect();
        for gid in groups {
            self.step_host(gid, HostInput::Tick).await;
        }
        self.join_groups().await;
        if self.ticks.is_multiple_of(100) {
            // Clients that stopped waiting (their call timed out).
            self.txn_waiters.retain(|_, waiters| {
                waiters.retain(|w| !w.is_closed());
                !waiters.is_empty()
            });
            self.control_waiters.retain(|_, waiter| match waiter {
                ControlWaiter::Write(w) | ControlWaiter::Read(w) => !w.is_closed(),
            });
        }
        self.check()
    }

    /// At the first configuration the controller's leader joins the
    /// configured groups once (again a second later if that was lost). An
    /// operator's later `leave` is never undone: only configuration 0 is
    /// filled this way.
    async fn join_groups(&mut self) {
        let Some(controller) = &self.controller else {
            return;
        };
        if self.join.is_empty()
            || !controller.is_active_leader()
            || controller.state_machine().newest().num != 0
        {
            return;
        }
        let now = self.now_us();
        if self.join_sent_us.is_some_and(|sent| now < sent + 1_000_000) {
            return;
        }
        self.join_sent_us = Some(now);
        let op = ShardOp::Join {
            groups: self.join.clone(),
        };
        info!(node = self.me, groups = ?self.join.keys().collect::<Vec<_>>(), "joining the configured groups");
        self.control_seq += 1;
        let command = Command {
            client: self.control_client,
            seq: self.control_seq,
            op: encode_op(&op),
        };
        self.step_controller(Input::Command(command)).await;
    }

    async fn on_request(&mut self, request: ShardRequest) -> Result<(), String> {
        match request {
            ShardRequest::Control { op, reply } => {
                if self.controller.is_none() {
                    // Not a controller member: the client tries another.
                    let _ = reply.send(Answer::NotLeader(None));
                    return Ok(());
                }
                self.control_seq += 1;
                let seq = self.control_seq;
                if op.is_read() {
                    self.control_waiters.insert(seq, ControlWaiter::Read(reply));
                    self.step_controller(Input::Read {
                        client: self.control_client,
                        id: seq,
                        op: encode_op(&op),
                    })
                    .await;
                } else {
                    self.control_waiters
                        .insert(seq, ControlWaiter::Write(reply));
                    self.step_controller(Input::Command(Command {
                        client: self.control_client,
                        seq,
                        op: encode_op(&op),
                    }))
                    .await;
                }
            }
            ShardRequest::Txn {
                group,
                id,
                msg,
                reply,
            } => {
                let Some(host) = self.hosts.get(&group) else {
                    let _ = reply.send(Answer::NoSuchGroup);
                    return Ok(());
                };
                if !host.leads() {
                    let _ = reply.send(Answer::NotLeader(host.node().leader()));
                    return Ok(());
                }
                if self.txn_waiters.len() >= TXN_WAITERS_MAX && !self.txn_waiters.contains_key(&id)
                {
                    let _ = reply.send(Answer::Busy);
                    return Ok(());
                }
                self.txn_waiters.entry(id).or_default().push(reply);
                self.step_host(group, HostInput::Group { from: 0, msg })
                    .await;
            }
            ShardRequest::Status { reply } => {
                let mut all: Vec<GroupStatus> = self
                    .controller
                    .iter()
                    .map(|c| GroupStatus {
                        group: CONTROLLER,
                        leader: c.leader(),
                        leads: c.is_active_leader(),
                        config: c.state_machine().newest().num,
                        applied: c.applied(),
                    })
                    .collect();
                all.extend(self.hosts.iter().map(|(gid, host)| GroupStatus {
                    group: *gid,
                    leader: host.node().leader(),
                    leads: host.leads(),
                    config: host.state().config().num,
                    applied: host.node().applied(),
                }));
                let _ = reply.send(all);
            }
        }
        self.check()
    }

    /// Every replica's invariants: a replica in a state it should never
    /// reach must not go on answering or voting. After every event, the
    /// cheap ones of each replica stepped since the last check (linear in
    /// shards and groups). Once per `INVARIANTS_EVERY_US`, the full ones
    /// of every replica, which walk the controller's history, every
    /// client table and every prepared key: after every step that walk
    /// took most of the task's time (threefold to thirtyfold less
    /// throughput), so a table broken in a way only the walk sees stops
    /// the server within a second.
    fn check(&mut self) -> Result<(), String> {
        let now = self.now_us();
        if now >= self.checked_us + INVARIANTS_EVERY_US {
            self.stepped.clear();
            self.checked_us = now;
            if let Some(controller) = &self.controller {
                controller
                    .state_machine()
                    .check_invariants()
                    .map_err(|e| format!("controller: {e}"))?;
            }
            for (gid, host) in &self.hosts {
                host.state()
                    .check_invariants()
                    .map_err(|e| format!("group {gid}: {e}"))?;
            }
            return Ok(());
        }
        for &gid in &self.stepped {
            if gid == CONTROLLER {
                if let Some(controller) = &self.controller {
                    controller
                        .state_machine()
                        .check_cheap_invariants()
                        .map_err(|e| format!("controller: {e}"))?;
                }
            } else if let Some(host) = self.hosts.get(&gid) {
                host.state()
                    .check_cheap_invariants()
                    .map_err(|e| format!("group {gid}: {e}"))?;
            }
        }
        self.stepped.clear();
        Ok(())
    }

    fn mark_stepped(&mut self, gid: GroupId) {
        if !self.stepped.contains(&gid) {
            self.stepped.push(gid);
        }
    }

    async fn step_controller(&mut self, input: Input) {
        let now = self.now_us();
        let Some(controller) = &mut self.controller else {
            return;
        };
        let actions = controller.step(now, input);
        self.mark_stepped(CONTROLLER);
        for action in actions {
            match action {
                Action::Persist { id, records } => self.persist(CONTROLLER, id, records).await,
                Action::Send { to, msg } => self.send(
                    to,
                    Parcel::Paxos {
                        group: CONTROLLER,
                        msg,
                    },
                ),
                Action::Reply {
                    client,
                    seq,
                    outcome,
                } if client == self.control_client => self.answer_control(seq, outcome, false),
                Action::ReadReply {
                    client,
                    id,
                    outcome,
                    ..
                } if client == self.control_client => self.answer_control(id, outcome, true),
                _ => {}
            }
        }
        self.drain_local().await;
    }

    fn answer_control(&mut self, seq: u64, outcome: Outcome, read: bool) {
        let waiter = match self.control_waiters.remove(&seq) {
            Some(ControlWaiter::Read(w)) if read => w,
            Some(ControlWaiter::Write(w)) if !read => w,
            Some(other) => {
                self.control_waiters.insert(seq, other);
                return;
            }
            None => return,
        };
        let answer = match outcome {
            Outcome::Ok(bytes) => match decode_reply(&bytes) {
                Ok(reply) => Answer::Reply(reply),
                Err(e) => {
                    error!("the controller's reply does not decode: {e}");
                    Answer::Busy
                }
            },
            Outcome::NotLeader { leader } => Answer::NotLeader(leader),
            Outcome::Busy | Outcome::Stale | Outcome::Rejected(_) => Answer::Busy,
        };
        let _ = waiter.send(answer);
    }

    async fn step_host(&mut self, gid: GroupId, input: HostInput) {
        self.local.push_back((gid, input));
        self.drain_local().await;
    }

    /// Steps replicas with what is queued for them on this server, until
    /// nothing is.
    async fn drain_local(&mut self) {
        while let Some((gid, input)) = self.local.pop_front() {
            let now = self.now_us();
            let Some(host) = self.hosts.get_mut(&gid) else {
                debug!(
                    group = gid,
                    "dropped: this server hosts no replica of the group"
                );
                continue;
            };
            let outputs = host.step(now, input);
            self.mark_stepped(gid);
            for output in outputs {
                self.execute(gid, output).await;
            }
        }
    }

    async fn execute(&mut self, gid: GroupId, output: HostOutput) {
        match output {
            HostOutput::Persist { id, records } => self.persist(gid, id, records).await,
            HostOutput::Peer { to, msg } => self.send(to, Parcel::Paxos { group: gid, msg }),
            HostOutput::Group { to, msg } => self.route_to_group(gid, to, msg),
            HostOutput::Reply { id, reply } => {
                for waiter in self.txn_waiters.remove(&id).unwrap_or_default() {
                    let _ = waiter.send(Answer::Reply(reply.clone()));
                }
            }
            HostOutput::QueryConfig { num } => match &self.controller {
                Some(controller) => {
                    if let Some(config) = controller.state_machine().config(num) {
                        self.local
                            .push_back((gid, HostInput::Config(config.clone())));
                    }
                }
                None => {
                    if let Some(member) = self.member_for(CONTROLLER) {
                        let bytes = encode(&num);
                        self.send(
                            member,
                            Parcel::Group {
                                from: gid,
                                to: CONTROLLER,
                                bytes,
                                relayed: false,
                            },
                        );
                    }
                }
            },
        }
    }

    /// A message for the leader of group `to`: to the server this server's
    /// replica of `to` names as leader (here, if it leads here). Without a
    /// known leader it is dropped; the sender's driver sends again.
    fn route_to_group(&mut self, from: GroupId, to: GroupId, msg: GroupMsg) {
        let leader = match self.hosts.get(&to) {
            Some(host) => host.node().leader(),
            None => self.member_for(to),
        };
        match leader {
            Some(leader) if leader == self.me => {
                self.local.push_back((to, HostInput::Group { from, msg }));
            }
            Some(leader) => self.send(
                leader,
                Parcel::Group {
                    from,
                    to,
                    bytes: encode(&msg),
                    relayed: false,
                },
            ),
            None => debug!(from, to, "dropped: the group's leader is not known here"),
        }
    }

    fn send(&self, to: NodeId, parcel: Parcel) {
        if let Err(e) = self.transport.send(to, parcel) {
            debug!(to, "not sent: {e}");
        }
    }

    async fn persist(&mut self, gid: GroupId, id: u64, records: Vec<synod_paxos::Record>) {
        if self.disk.send((gid, id, records)).await.is_err() {
            warn!("the disk thread is gone; dropping a write");
        }
    }
}
