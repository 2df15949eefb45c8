//! Fixtures shared by the engine's rule tests: a tiny append-only state
//! machine that shows every apply (so a second apply of one command is
//! visible), builders for nodes, messages and expected actions, and a
//! hand-driven cluster that delivers a `Send` to its target and completes a
//! `Persist` only when a test says so.
//!
//! `Action` does not implement `PartialEq`, so expected and actual actions
//! are compared through their `Debug` text. Every type inside an action
//! derives `Debug` and holds no float or hash map, so equal text means
//! equal actions.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use synod_paxos::{
    Action, Ballot, Command, Config, DurableState, EngineConfig, Input, Message, Micros, Node,
    NodeId, Outcome, Record, RestoreError, SnapshotData, SnapshotWriter, StateMachine,
};

/// A time past every fresh node's first election deadline (at most
/// `1.5 * election_timeout_us` after creation at time 0) and past the
/// restart lease every node starts with.
pub const T0: Micros = 1_000_000;

/// An append-only list of operations. `apply` appends and replies with the
/// new length, so a command applied twice shows up twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendLog {
    pub items: Vec<Vec<u8>>,
}

impl StateMachine for AppendLog {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        self.items.push(op.to_vec());
        self.items.len().to_string().into_bytes()
    }

    /// Every item so far, joined by commas.
    fn query(&self, _op: &[u8]) -> Vec<u8> {
        self.items.join(&b","[..])
    }

    fn snapshot(&self, out: &mut SnapshotWriter) {
        for item in &self.items {
            out.write_all(&(item.len() as u32).to_le_bytes())
                .and_then(|()| out.write_all(item))
                .expect("writing to memory");
        }
    }

    /// Read through the chunks, as a large state would be.
    fn restore(&mut self, snapshot: &SnapshotData) -> Result<(), RestoreError> {
        let mut items = Vec::new();
        let mut reader = snapshot.reader();
        while reader.remaining() > 0 {
            let mut len = [0u8; 4];
            reader
                .read_exact(&mut len)
                .map_err(|_| RestoreError("truncated length".into()))?;
            let mut item = vec![0; u32::from_le_bytes(len) as usize];
            reader
                .read_exact(&mut item)
                .map_err(|_| RestoreError("truncated item".into()))?;
            items.push(item);
        }
        self.items = items;
        Ok(())
    }

    fn digest(&self) -> u64 {
        synod_paxos::digest(&self.items)
    }
}

impl AppendLog {
    pub fn of(items: &[&str]) -> Self {
        AppendLog {
            items: items.iter().map(|s| s.as_bytes().to_vec()).collect(),
        }
    }
}

pub type TestNode = Node<AppendLog>;

// ---- builders ----

pub fn cfg() -> EngineConfig {
    EngineConfig::default()
}

pub fn voters(ids: &[NodeId]) -> Config {
    Config::new(ids.iter().copied())
}

pub fn ballot(round: u64, node: NodeId) -> Ballot {
    Ballot::new(round, node)
}

/// A brand-new node created at time 0.
pub fn new_node(id: NodeId, cfg: EngineConfig, config: Config) -> TestNode {
    Node::new(id, cfg, config, AppendLog::default(), 7, 0)
}

/// A node of the cluster {1, 2, 3} created at time 0 with default knobs.
pub fn node3(id: NodeId) -> TestNode {
    new_node(id, cfg(), voters(&[1, 2, 3]))
}

/// A node restarted at `now` from `durable`.
pub fn recover(
    id: NodeId,
    cfg: EngineConfig,
    config: Config,
    durable: DurableState,
    now: Micros,
) -> TestNode {
    Node::recover(id, cfg, config, durable, AppendLog::default(), 7, now)
}

pub fn command(client: u64, seq: u64, op: &str) -> Command {
    Command {
        client,
        seq,
        op: op.as_bytes().to_vec(),
    }
}

pub fn batch(cmds: &[Command]) -> synod_paxos::Value {
    synod_paxos::Value::Batch(cmds.to_vec())
}

pub fn from(from: NodeId, msg: Message) -> Input {
    Input::Message { from, msg }
}

pub fn send(to: NodeId, msg: Message) -> Action {
    Action::Send { to, msg }
}

pub fn persist(id: u64, records: Vec<Record>) -> Action {
    Action::Persist { id, records }
}

pub fn reply(client: u64, seq: u64, outcome: Outcome) -> Action {
    Action::Reply {
        client,
        seq,
        outcome,
    }
}

pub fn ok(text: &str) -> Outcome {
    Outcome::Ok(text.as_bytes().to_vec())
}

// ---- looking at actions ----

/// Asserts that `actual` is exactly `expected`, in order.
#[track_caller]
pub fn assert_actions(actual: &[Action], expected: &[Action]) {
    let actual: Vec<String> = actual.iter().map(|a| format!("{a:?}")).collect();
    let expected: Vec<String> = expected.iter().map(|a| format!("{a:?}")).collect();
    assert_eq!(actual, expected, "actions differ");
}

/// The messages among `actions`, with their targets.
pub fn sends(actions: &[Action]) -> Vec<(NodeId, Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// The id of the `Persist` among `actions`, if any.
pub fn persist_id(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Persist { id, .. } => Some(*id),
        _ => None,
    })
}

/// Steps `node` and completes the `Persist` it asked for, if any, returning
/// the actions of both steps.
pub fn step_durably(node: &mut TestNode, now: Micros, input: Input) -> Vec<Action> {
    let mut actions = node.step(now, input);
    if let Some(id) = persist_id(&actions) {
        actions.extend(node.step(now, Input::Persisted { id }));
    }
    actions
}

// ---- a hand-driven cluster ----

/// Nodes plus a FIFO network and per-node disks, all moved by hand.
pub struct Cluster {
    pub nodes: BTreeMap<NodeId, TestNode>,
    pub now: Micros,
    /// Messages sent and not yet delivered: (from, to, message).
    pub net: VecDeque<(NodeId, NodeId, Message)>,
    /// Writes asked for and not yet completed, per node.
    pub pending: BTreeMap<NodeId, Vec<(u64, Vec<Record>)>>,
    /// Records known durable, per node, in write order.
    pub durable: BTreeMap<NodeId, Vec<Record>>,
    /// Replies to clients and operators, per node, in order.
    pub replies: Vec<(NodeId, Action)>,
}

impl Cluster {
    /// Voters `ids`, created at time 0; the clock starts at `T0`.
    pub fn new(ids: &[NodeId], cfg: EngineConfig) -> Self {
        let nodes = ids
            .iter()
            .map(|id| (*id, new_node(*id, cfg.clone(), voters(ids))))
            .collect();
        Cluster {
            nodes,
            now: T0,
            net: VecDeque::new(),
            pending: BTreeMap::new(),
            durable: BTreeMap::new(),
            replies: Vec::new(),
        }
    }

    pub fn node(&self, id: NodeId) -> &TestNode {
        &self.nodes[&id]
    }

    /// Adds a node (a joining learner) with an empty disk and config.
    pub fn add_node(&mut self, id: NodeId, cfg: EngineConfig) {
        self.nodes.insert(id, new_node(id, cfg, Config::default()));
    }

    /// Steps node `id` now, routes its sends into the network and its
    /// writes onto its disk queue, and returns the actions for asserting.
    pub fn step(&mut self, id: NodeId, input: Input) -> Vec<Action> {
        let now = self.now;
        let actions = self
            .nodes
            .get_mut(&id)
            .expect("node exists")
            .step(now, input);
        for a in &actions {
            match a {
                Action::Send { to, msg } => self.net.push_back((id, *to, msg.clone())),
                Action::Persist { id: pid, records } => self
                    .pending
                    .entry(id)
                    .or_default()
                    .push((*pid, records.clone())),
                Action::Reply { .. } | Action::ReadReply { .. } | Action::ReconfigReply { .. } => {
                    self.replies.push((id, a.clone()))
                }
                Action::Event(_) => {}
            }
        }
        actions
    }

    pub fn tick(&mut self, id: NodeId) -> Vec<Action> {
        self.step(id, Input::Tick)
    }

    /// Completes every write node `id` asked for; returns the actions of
    /// the `Persisted` step (empty if nothing was pending).
    pub fn complete_writes(&mut self, id: NodeId) -> Vec<Action> {
        let writes = self.pending.remove(&id).unwrap_or_default();
        let Some(last) = writes.last().map(|(pid, _)| *pid) else {
            return Vec::new();
        };
        let disk = self.durable.entry(id).or_default();
        for (_, records) in writes {
            disk.extend(records);
        }
        self.step(id, Input::Persisted { id: last })
    }

    /// Delivers the oldest message in flight; drops it when its target is
    /// not in the cluster. Returns (from, to, actions of the receiver).
    pub fn deliver_next(&mut self) -> Option<(NodeId, NodeId, Vec<Action>)> {
        let (src, dst, msg) = self.net.pop_front()?;
        if !self.nodes.contains_key(&dst) {
            return Some((src, dst, Vec::new()));
        }
        let actions = self.step(dst, from(src, msg));
        Some((src, dst, actions))
    }

    /// Delivers the oldest message in flight from `src` to `dst`.
    pub fn deliver(&mut self, src: NodeId, dst: NodeId) -> Vec<Action> {
        let pos = self
            .net
            .iter()
            .position(|(s, d, _)| *s == src && *d == dst)
            .unwrap_or_else(|| panic!("no message in flight from {src} to {dst}"));
        let (_, _, msg) = self.net.remove(pos).expect("position is valid");
        self.step(dst, from(src, msg))
    }

    /// Drops every message in flight.
    pub fn drop_messages(&mut self) {
        self.net.clear();
    }

    /// Completes every write and delivers every message until nothing is
    /// left to do. Time does not move.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let ids: Vec<NodeId> = self.pending.keys().copied().collect();
            for id in &ids {
                self.complete_writes(*id);
            }
            let in_flight = self.net.len();
            for _ in 0..in_flight {
                self.deliver_next();
            }
            if self.net.is_empty() && self.pending.values().all(|w| w.is_empty()) {
                return;
            }
        }
        panic!("the cluster did not settle");
    }

    /// Elects `id` by ticking it past its election deadline and settling:
    /// afterwards it leads with its opening no-op chosen and applied.
    pub fn elect(&mut self, id: NodeId) {
        self.tick(id);
        self.settle();
        assert!(self.node(id).is_active_leader(), "node {id} failed to lead");
        assert_eq!(self.node(id).applied(), self.node(id).commit());
    }

    /// The durable state node `id` would recover from.
    pub fn durable_state(&self, id: NodeId) -> DurableState {
        DurableState::replay(self.durable.get(&id).into_iter().flatten())
    }
}

/// The records of every `Persist` among `actions`, in order.
pub fn records_of(actions: &[Action]) -> Vec<Record> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Persist { records, .. } => Some(records.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The leader's heartbeat in ballot `b`.
pub fn heartbeat(b: Ballot, commit: u64, seq: u64) -> Message {
    Message::Heartbeat {
        ballot: b,
        commit,
        seq,
    }
}

/// A batch of one command.
pub fn one(cmd: &Command) -> synod_paxos::Value {
    synod_paxos::Value::Batch(vec![cmd.clone()])
}
