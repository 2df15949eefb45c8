//! One replica of a group, as a server hosts it: the Paxos engine over the
//! group's state machine, and, while this replica leads, the driver. Pure:
//! inputs in, outputs out, like the engine; the runtime (or the model
//! world) executes the outputs and feeds back their completions.
//!
//! The driver's proposals go through the engine as commands of a client id
//! of the leader's own term, so their replies come back to it alone and a
//! new leader's driver, with a new id, never mistakes an old reply for its
//! own. A replica that stops leading drops its driver; one that starts
//! leading makes a fresh one, which reads the state machine to pick up
//! what the last one left.

use std::collections::BTreeMap;

use synod_paxos::{
    Action, ClientId, Command, Config as Members, DurableState, EngineConfig, Input, Message, Node,
    NodeId, Outcome, Record,
};
use synod_shard::{Config, GroupId};

use crate::driver::{Driver, DriverConfig, Out};
use crate::group::ShardGroup;
use crate::op::{decode, encode, ClientReply, GroupMsg, GroupOp, GroupReply};
use crate::txn::TxnId;
use crate::ShardBugs;

/// What a hosted replica is told.
#[derive(Clone, Debug)]
pub enum HostInput {
    /// Time passed.
    Tick,
    /// A message from another replica of the same group.
    Peer { from: NodeId, msg: Message },
    /// Every persist up to `id` is durable.
    Persisted { id: u64 },
    /// A message from another group's leader or a client (`from` 0).
    Group { from: GroupId, msg: GroupMsg },
    /// The controller's answer to `QueryConfig`.
    Config(Config),
}

/// What a hosted replica asks of its runtime.
#[derive(Clone, Debug)]
pub enum HostOutput {
    /// Append these records durably, then feed `Persisted { id }`.
    Persist { id: u64, records: Vec<Record> },
    /// To another replica of the same group.
    Peer { to: NodeId, msg: Message },
    /// To the leader of another group.
    Group { to: GroupId, msg: GroupMsg },
    /// To the client of transaction `id`.
    Reply { id: TxnId, reply: ClientReply },
    /// Ask the controller for configuration `num`.
    QueryConfig { num: u64 },
}

/// The driver of this replica's leadership term.
struct Leading {
    driver: Driver,
    client: ClientId,
    next_seq: u64,
    proposed: BTreeMap<u64, GroupOp>,
}

pub struct GroupHost {
    gid: GroupId,
    node: Node<ShardGroup>,
    leading: Option<Leading>,
    driver_config: DriverConfig,
    bugs: ShardBugs,
}

impl GroupHost {
    /// A replica restarting from `durable` (empty for a new one). `state`
    /// is the group's empty state machine (its id, shard count, limits).
    #[allow(clippy::too_many_arguments)]
    pub fn recover(
        id: NodeId,
        engine: EngineConfig,
        members: Members,
        durable: DurableState,
        state: ShardGroup,
        driver_config: DriverConfig,
        seed: u64,
        now_us: u64,
    ) -> GroupHost {
        let gid = state.gid();
        let node = Node::recover(id, engine, members, durable, state, seed, now_us);
        GroupHost {
            gid,
            node,
            leading: None,
            driver_config,
            bugs: ShardBugs::default(),
        }
    }

    /// Deliberate bugs for the driver (the `broken` feature).
    pub fn set_bugs(&mut self, bugs: ShardBugs) {
        self.bugs = bugs;
    }

    pub fn node(&self) -> &Node<ShardGroup> {
        &self.node
    }

    pub fn state(&self) -> &ShardGroup {
        self.node.state_machine()
    }

    /// True while this replica leads with a driver.
    pub fn leads(&self) -> bool {
        self.leading.is_some()
    }

    pub fn step(&mut self, now_us: u64, input: HostInput) -> Vec<HostOutput> {
        let mut out = Vec::new();
        match input {
            HostInput::Tick => {
                let actions = self.node.step(now_us, Input::Tick);
                self.execute(now_us, actions, &mut out);
                self.follow_leadership();
                let driven = self.drive(|driver, state| driver.on_tick(now_us, state));
                self.act(now_us, driven, &mut out);
            }
            HostInput::Peer { from, msg } => {
                let actions = self.node.step(now_us, Input::Message { from, msg });
                self.execute(now_us, actions, &mut out);
            }
            HostInput::Persisted { id } => {
                let actions = self.node.step(now_us, Input::Persisted { id });
                self.execute(now_us, actions, &mut out);
            }
            HostInput::Group { from, msg } => {
                let driven =
                    self.drive(|driver, state| driver.on_message(now_us, state, from, msg));
                self.act(now_us, driven, &mut out);
            }
            HostInput::Config(config) => {
                let driven = self.drive(|driver, state| driver.on_config(state, config));
                self.act(now_us, driven, &mut out);
            }
        }
        self.follow_leadership();
        out
    }

    /// Starts a driver when this replica became the active leader, drops
    /// it when it stopped.
    fn follow_leadership(&mut self) {
        let leads = self.node.is_active_leader();
        let term = self.node.promised();
        let client = synod_paxos::digest(&(self.gid, self.node.id(), term.round)) | 1 << 63;
        match &self.leading {
            Some(leading) if leads && leading.client == client => {}
            _ if leads => {
                self.leading = Some(Leading {
                    driver: Driver::with_bugs(
                        self.gid,
                        self.driver_config.clone(),
                        self.bugs.clone(),
                    ),
                    client,
                    next_seq: 0,
                    proposed: BTreeMap::new(),
                });
            }
            _ => self.leading = None,
        }
    }

    fn drive(&mut self, f: impl FnOnce(&mut Driver, &ShardGroup) -> Vec<Out>) -> Vec<Out> {
        match &mut self.leading {
            Some(leading) => f(&mut leading.driver, self.node.state_machine()),
            None => Vec::new(), // not leading: lost, as at a crashed leader
        }
    }

    fn act(&mut self, now_us: u64, driven: Vec<Out>, out: &mut Vec<HostOutput>) {
        for o in driven {
            match o {
                Out::Propose(op) => self.propose(now_us, op, out),
                Out::Send { to, msg } => out.push(HostOutput::Group { to, msg }),
                Out::Reply { id, reply } => out.push(HostOutput::Reply { id, reply }),
                Out::QueryConfig { num } => out.push(HostOutput::QueryConfig { num }),
            }
        }
    }

    fn propose(&mut self, now_us: u64, op: GroupOp, out: &mut Vec<HostOutput>) {
        let Some(leading) = &mut self.leading else {
            return;
        };
        leading.next_seq += 1;
        let command = Command {
            client: leading.client,
            seq: leading.next_seq,
            op: encode(&op),
        };
        leading.proposed.insert(leading.next_seq, op);
        let actions = self.node.step(now_us, Input::Command(command));
        self.execute(now_us, actions, out);
    }

    fn execute(&mut self, now_us: u64, actions: Vec<Action>, out: &mut Vec<HostOutput>) {
        for action in actions {
            match action {
                Action::Persist { id, records } => out.push(HostOutput::Persist { id, records }),
                Action::Send { to, msg } => out.push(HostOutput::Peer { to, msg }),
                Action::Reply {
                    client,
                    seq,
                    outcome,
                } => self.on_reply(now_us, client, seq, outcome, out),
                Action::ReadReply { .. } | Action::ReconfigReply { .. } | Action::Event(_) => {}
            }
        }
    }

    /// An answer to one of this term's proposals: the driver acts on it.
    fn on_reply(
        &mut self,
        now_us: u64,
        client: ClientId,
        seq: u64,
        outcome: Outcome,
        out: &mut Vec<HostOutput>,
    ) {
        let Some(leading) = self.leading.as_mut().filter(|l| l.client == client) else {
            return;
        };
        let Some(op) = leading.proposed.remove(&seq) else {
            return;
        };
        let Outcome::Ok(bytes) = outcome else {
            return; // not leading any more, or busy: the proposal is lost
        };
        let reply: GroupReply = decode(&bytes).expect("the group's own reply decodes");
        let driven = leading
            .driver
            .on_applied(now_us, self.node.state_machine(), &op, &reply);
        self.act(now_us, driven, out);
    }
}
