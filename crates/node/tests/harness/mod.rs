//! A three-node cluster of `ServiceNode`s in memory, driven by hand: sends
//! are delivered in order (unless a node is cut off), persists complete at
//! once, ZooKeeper frames are recorded per connection. Every step is
//! followed by `check_invariants(false)`, so every test also checks that
//! the invariants hold along its run.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use synod_front::{ConnId, Outgoing, Pending, ZkLimits};
use synod_node::{Clock, NodeInput, NodeOptions, NodeOutput, ServiceNode};
use synod_paxos::{Config, DurableState, EngineConfig, Micros, NodeId};
use synod_zkproto as wire;

pub const TICK_US: Micros = 10_000;
const EPOCH_MS: i64 = 1_700_000_000_000;
/// Inputs delivered by one `run` at most: a run that does not settle is a
/// bug in the test or the node.
const RUN_INPUTS_MAX: usize = 100_000;

pub fn zk_limits() -> ZkLimits {
    ZkLimits {
        min_session_timeout_ms: 4_000,
        max_session_timeout_ms: 40_000,
        // `super:test`, as kazoo's harness configures ZooKeeper.
        super_digest: Some(synod_coord::digest_id("super:test")),
        x509_super_user: None,
        sasl_users: None,
        sasl_super_user: None,
        max_buffer_bytes: 1 << 20,
        connections_max: 100,
        // Set from the engine's by `ServiceNode::new`.
        command_bytes_max: 0,
        znodes_max: synod_front::ZkLimits::ZNODES_MAX_DEFAULT,
        data_bytes_max: synod_front::ZkLimits::DATA_BYTES_MAX_DEFAULT,
        read_only_mode: false,
    }
}

pub fn options(id: NodeId, engine: EngineConfig) -> NodeOptions {
    NodeOptions {
        id,
        engine,
        initial: Config::new([1, 2, 3]),
        zk: zk_limits(),
        seed: 7,
    }
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, ServiceNode>,
    pub now_us: Micros,
    /// Inputs on their way, in delivery order.
    queue: VecDeque<(NodeId, NodeInput)>,
    /// Nodes whose messages (both ways) are dropped.
    pub cut: BTreeSet<NodeId>,
    /// Everything each connection was sent, in order.
    pub frames: BTreeMap<(NodeId, ConnId), Vec<Outgoing>>,
    next_xid: i32,
}

impl Cluster {
    pub fn new(engine: EngineConfig) -> Self {
        let now_us = 1_000_000;
        let clock = clock_at(now_us);
        let nodes = (1..=3)
            .map(|id| {
                let opts = options(id, engine.clone());
                (id, ServiceNode::new(opts, DurableState::default(), clock))
            })
            .collect();
        Cluster {
            nodes,
            now_us,
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            frames: BTreeMap::new(),
            next_xid: 0,
        }
    }

    pub fn clock(&self) -> Clock {
        clock_at(self.now_us)
    }

    pub fn node(&self, id: NodeId) -> &ServiceNode {
        &self.nodes[&id]
    }

    /// Steps one node with one input, routes its outputs, and returns them.
    pub fn step(&mut self, id: NodeId, input: NodeInput) -> Vec<NodeOutput> {
        let clock = self.clock();
        let node = self.nodes.get_mut(&id).expect("node exists");
        let mut out = Vec::new();
        node.step(clock, input, &mut out);
        self.after(id, out)
    }

    /// Opens a ZooKeeper connection with a new session on `id`; returns it
    /// and the outputs of the opening call.
    pub fn zk_open(&mut self, id: NodeId) -> (ConnId, Vec<NodeOutput>) {
        let clock = self.clock();
        let connect = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: None,
        };
        let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 40_000));
        let node = self.nodes.get_mut(&id).expect("node exists");
        let mut out = Vec::new();
        let conn = node
            .zk_open(clock, connect, peer, vec![id as u8; 16], None, &mut out)
            .expect("the connection is accepted");
        (conn, self.after(id, out))
    }

    /// Opens a connection and waits for its session.
    pub fn zk_session(&mut self, id: NodeId) -> ConnId {
        let (conn, _) = self.zk_open(id);
        self.run();
        assert_eq!(
            self.frames[&(id, conn)].len(),
            1,
            "the connect response came"
        );
        conn
    }

    /// Sends a request the front door already decoded (`Pending`), such as
    /// a reconfig; returns its xid and the step's outputs.
    pub fn zk_pending(&mut self, id: NodeId, conn: ConnId, op: i32, request: Pending) -> i32 {
        self.next_xid += 1;
        let xid = self.next_xid;
        let input = NodeInput::ZkPacket {
            conn,
            xid,
            op,
            request,
        };
        self.step(id, input);
        xid
    }

    /// Sends a ZooKeeper request; returns its xid and the step's outputs.
    pub fn zk_request(
        &mut self,
        id: NodeId,
        conn: ConnId,
        op: i32,
        request: wire::Request,
    ) -> (i32, Vec<NodeOutput>) {
        self.next_xid += 1;
        let xid = self.next_xid;
        let input = NodeInput::ZkPacket {
            conn,
            xid,
            op,
            request: Pending::Request(request),
        };
        (xid, self.step(id, input))
    }

    fn after(&mut self, id: NodeId, out: Vec<NodeOutput>) -> Vec<NodeOutput> {
        if let Err(broken) = self.nodes[&id].check_invariants(false) {
            panic!("n{id}: {broken}");
        }
        for o in &out {
            match o {
                NodeOutput::Persist { id: pid, .. } => {
                    self.queue
                        .push_back((id, NodeInput::Persisted { id: *pid }));
                }
                NodeOutput::Send { to, msg }
                    if !self.cut.contains(&id) && !self.cut.contains(to) =>
                {
                    let input = NodeInput::Peer {
                        from: id,
                        msg: msg.clone(),
                    };
                    self.queue.push_back((*to, input));
                }
                NodeOutput::Zk { conn, item } => {
                    self.frames
                        .entry((id, *conn))
                        .or_default()
                        .push(item.clone());
                }
                _ => {}
            }
        }
        out
    }

    /// Delivers everything on its way until nothing is; returns every
    /// output of every node in that time, in order.
    pub fn run(&mut self) -> Vec<(NodeId, NodeOutput)> {
        let mut all = Vec::new();
        for _ in 0..RUN_INPUTS_MAX {
            let Some((id, input)) = self.queue.pop_front() else {
                return all;
            };
            let out = self.step(id, input);
            all.extend(out.into_iter().map(|o| (id, o)));
        }
        panic!("the cluster did not settle within {RUN_INPUTS_MAX} inputs");
    }

    /// Advances time by one tick and ticks every node.
    pub fn tick(&mut self) -> Vec<(NodeId, NodeOutput)> {
        self.now_us += TICK_US;
        let mut all = Vec::new();
        for id in 1..=3 {
            let out = self.step(id, NodeInput::Tick);
            all.extend(out.into_iter().map(|o| (id, o)));
            all.extend(self.run());
        }
        all
    }

    /// Ticks until a leader holds its lease and every node knows it;
    /// returns the leader.
    pub fn elect(&mut self) -> NodeId {
        for _ in 0..1_000 {
            self.tick();
            let leader = (1..=3).find(|id| self.nodes[id].engine().is_active_leader());
            if let Some(l) = leader {
                if (1..=3).all(|id| self.nodes[&id].engine().leader() == Some(l)) {
                    return l;
                }
            }
        }
        panic!("no leader after 1,000 ticks");
    }
}

pub fn clock_at(now_us: Micros) -> Clock {
    Clock {
        now_us,
        wall_ms: EPOCH_MS + (now_us / 1000) as i64,
    }
}

/// The xid of a reply or event frame (events have xid -1).
pub fn xid(frame: &[u8]) -> i32 {
    i32::from_be_bytes(frame[4..8].try_into().expect("a frame has a header"))
}

pub fn open_acl() -> Vec<wire::Acl> {
    vec![wire::Acl {
        perms: wire::perms::ALL,
        id: wire::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub fn create(path: &str) -> wire::Request {
    wire::Request::Create {
        kind: wire::CreateKind::Create,
        path: path.into(),
        data: Some(Vec::new()),
        acl: open_acl(),
        flags: 0,
    }
}

pub fn set_data(path: &str, data: &[u8]) -> wire::Request {
    wire::Request::SetData {
        path: path.into(),
        data: Some(data.to_vec()),
        version: -1,
    }
}

pub fn get_data(path: &str, watch: bool) -> wire::Request {
    wire::Request::GetData {
        path: path.into(),
        watch,
    }
}

/// Steps a lock call on `id`, runs the cluster, and returns the answers
/// of `id`'s lock door in order.
pub fn lock_call(
    c: &mut Cluster,
    id: NodeId,
    call_id: u64,
    request: synod_node::LockRequest,
) -> Vec<(u64, synod_node::LockAnswer)> {
    let mut outputs: Vec<NodeOutput> = c.step(
        id,
        NodeInput::Lock {
            id: call_id,
            request,
        },
    );
    outputs.extend(
        c.run()
            .into_iter()
            .filter(|(n, _)| *n == id)
            .map(|(_, o)| o),
    );
    lock_answers(outputs)
}

/// The lock door's answers among `outputs`, in order.
pub fn lock_answers(
    outputs: impl IntoIterator<Item = NodeOutput>,
) -> Vec<(u64, synod_node::LockAnswer)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            NodeOutput::LockReply { id, answer } => Some((id, answer)),
            _ => None,
        })
        .collect()
}

/// The ZooKeeper items of `outputs` for one node's connection, in order.
pub fn zk_items(outputs: &[NodeOutput], conn: ConnId) -> Vec<&Outgoing> {
    outputs
        .iter()
        .filter_map(|o| match o {
            NodeOutput::Zk { conn: c, item } if *c == conn => Some(item),
            _ => None,
        })
        .collect()
}
