//! The drive loop: what one step does between the engine and the front
//! door, in order. The rules (see the crate's documentation) are the ones
//! the server runtime kept before this crate existed, and the output order
//! is the one it executed: the engine's outputs of the input and of every
//! proposal it led to, then the front door's frames.

use crate::io::NodeOutput;
use crate::locks::cache::{self, Admit, Held};
use crate::node::ServiceNode;
use synod_paxos::{Action, Command, Input, Message, NodeId, Outcome};
use tracing::warn;

/// Why a node closes its ZooKeeper connections when a snapshot replaced its
/// state: the changes the snapshot skipped fired no watch.
pub const SNAPSHOT_CLOSE: &str = "this server caught up from a snapshot";

impl ServiceNode {
    /// An engine input, then what the front door proposes, then its frames.
    pub(crate) fn step_input(&mut self, input: Input, out: &mut Vec<NodeOutput>) {
        self.step_engine(input, out);
        self.after_front(out);
    }

    /// After anything that may have made the front door or the lock door
    /// propose or emit.
    pub(crate) fn after_front(&mut self, out: &mut Vec<NodeOutput>) {
        self.step_proposals(out);
        self.flush_zk(out);
        self.flush_locks(out);
    }

    /// The front door's timer, after the engine's tick: keepalives, and on
    /// the leader log time, stamped with the leader's term.
    pub(crate) fn on_timer(&mut self, out: &mut Vec<NodeOutput>) {
        self.sync_cache(out);
        let engine = &self.engine;
        self.locks.cache.prune(|c, s| engine.in_flight(c, s));
        let term = self.engine.is_active_leader().then(|| {
            let b = self.engine.promised();
            (b.round << 16) | (b.node & 0xffff)
        });
        let has_leader = self.engine.leader().is_some();
        let tree = &self.engine.state_machine().tree;
        self.front.on_timer(tree, term, has_leader);
        let leading = self.engine.is_active_leader();
        self.locks.on_timer(tree, self.now_us, leading);
        self.after_front(out);
    }

    /// One engine step and its actions.
    fn step_engine(&mut self, input: Input, out: &mut Vec<NodeOutput>) {
        let actions = self.engine.step(self.now_us, input);
        // The membership the front door renders, and the slot a reconfig
        // step waits for, before any reply of this step reaches it.
        let applied = self.engine.applied();
        let (sm, config) = (self.engine.state_machine(), self.engine.config());
        self.front.set_engine_view(&sm.tree, applied, config);
        // What the apply tap saw, in apply order (nothing while it is off).
        let applied = self.engine.state_machine_mut().take_applied();
        out.extend(
            applied
                .into_iter()
                .map(|a| NodeOutput::Applied(Box::new(a))),
        );
        if self.engine.state_machine_mut().take_restored() && self.hooks.closes_on_snapshot() {
            warn!(
                node = self.engine.id(),
                "caught up from a snapshot; closing ZooKeeper connections so their watches re-sync"
            );
            self.front.close_all(SNAPSHOT_CLOSE);
        }
        // Watch events go out before the replies of this step, so a client
        // sees an event before it can read the change that fired it.
        let triggers = self.engine.state_machine_mut().tree.take_triggers();
        if !triggers.is_empty() {
            self.locks.on_triggers(&triggers);
            self.front.on_triggers(triggers);
        }
        // Grants to waiting lock acquirers wake their parked calls, after
        // the watch events and before this step's replies.
        let grants = self.engine.state_machine_mut().tree.take_lock_grants();
        if !grants.is_empty() {
            self.locks.on_grants(grants);
        }
        for action in actions {
            self.execute(action, out);
        }
    }

    /// Proposes what the front door queued, and steps the lock door's
    /// inputs (their replies may queue more).
    fn step_proposals(&mut self, out: &mut Vec<NodeOutput>) {
        loop {
            let mut proposals = self.front.take_proposals();
            let reconfigs = self.front.take_reconfigs();
            let locks = self.locks.take_inputs();
            if proposals.is_empty() && reconfigs.is_empty() && locks.is_empty() {
                return;
            }
            for input in locks {
                self.offer(input, out);
            }
            for (id, change) in reconfigs {
                self.step_engine(Input::SubmitReconfigure { id, change }, out);
            }
            self.hooks.on_proposals(&mut proposals, self.now_us);
            for command in proposals {
                self.offer(Input::Propose(command), out);
            }
        }
    }

    /// The term this node leads in (preparing or active), 0 if none: the
    /// term the client cache's answers carry.
    fn leading_term(&self) -> u64 {
        if !self.engine.is_leader() {
            return 0;
        }
        let b = self.engine.promised();
        (b.round << 16) | (b.node & 0xffff)
    }

    /// Tells the cache gate whether and how this node leads, answers what
    /// it held if that changed, and proposes what it no longer holds.
    pub(crate) fn sync_cache(&mut self, out: &mut Vec<NodeOutput>) {
        let term = self.leading_term();
        let active = self.engine.is_active_leader();
        let tree = &self.engine.state_machine().tree;
        let dropped = self.locks.cache.sync(term, active, self.now_us, tree);
        for held in dropped {
            self.refuse(held, Outcome::NotLeader { leader: None }, out);
        }
        for input in self.locks.cache.release(self.now_us) {
            self.step_engine(input, out);
        }
    }

    /// A command this node would propose goes through the cache gate
    /// (`locks::cache`) first; any other input goes to the engine.
    pub(crate) fn offer(&mut self, input: Input, out: &mut Vec<NodeOutput>) {
        self.sync_cache(out);
        if self.locks.cache.term() == 0 {
            // Not leading: nothing to gate (and nothing to decode).
            return self.step_engine(input, out);
        }
        let (client, seq, targets, bytes) = match &input {
            Input::Command(c) | Input::Propose(c) => {
                (c.client, c.seq, cache::targets(&c.op), c.encoded_bytes())
            }
            _ => return self.step_engine(input, out),
        };
        if self.hooks.skips_cache_gate() {
            return self.step_engine(input, out);
        }
        let now = self.now_us;
        match self
            .locks
            .cache
            .admit(input, client, seq, targets, bytes, now)
        {
            Admit::Go(input) => self.step_engine(input, out),
            Admit::Held => {}
            Admit::Full(input) => {
                let held = Held::new(input, client, seq);
                self.refuse(held, Outcome::Busy, out);
            }
        }
    }

    /// A follower's forwarded commands, each through the cache gate; those
    /// it holds (or cannot) are not taken now, and the follower sends them
    /// again until they are applied.
    pub(crate) fn offer_forward(
        &mut self,
        from: NodeId,
        commands: Vec<Command>,
        out: &mut Vec<NodeOutput>,
    ) {
        self.sync_cache(out);
        if self.hooks.skips_cache_gate() {
            let msg = Message::Forward { commands };
            return self.step_engine(Input::Message { from, msg }, out);
        }
        let now = self.now_us;
        let mut pass = Vec::new();
        for cmd in commands {
            let (client, seq) = (cmd.client, cmd.seq);
            let targets = cache::targets(&cmd.op);
            let bytes = cmd.encoded_bytes();
            let input = Input::Message {
                from,
                msg: Message::Forward {
                    commands: vec![cmd],
                },
            };
            let gate = &mut self.locks.cache;
            if let Admit::Go(Input::Message {
                msg: Message::Forward { mut commands },
                ..
            }) = gate.admit(input, client, seq, targets, bytes, now)
            {
                pass.append(&mut commands);
            }
        }
        if !pass.is_empty() {
            let msg = Message::Forward { commands: pass };
            self.step_engine(Input::Message { from, msg }, out);
        }
    }

    /// Answers a command the gate will not propose: its door hears
    /// `outcome` (the front door proposes it again after `NotLeader`); a
    /// follower's forward is dropped (the follower sends it again).
    fn refuse(&mut self, held: Held, outcome: Outcome, out: &mut Vec<NodeOutput>) {
        let (client, seq) = (held.client, held.seq);
        let tree = &self.engine.state_machine().tree;
        match held.input {
            Input::Command(_) if self.locks.owns(client, seq) => {
                self.locks.on_reply(tree, client, seq, &outcome);
            }
            // Neither door's: the runtime answers it.
            Input::Command(_) | Input::Propose(_)
                if !self.front.on_reply(tree, client, seq, &outcome) =>
            {
                out.push(NodeOutput::WriteReply {
                    client,
                    seq,
                    outcome,
                });
            }
            _ => {}
        }
    }

    /// Hands the lock door's answers to the runtime, in order.
    fn flush_locks(&mut self, out: &mut Vec<NodeOutput>) {
        for (id, answer) in self.locks.take_answers() {
            out.push(NodeOutput::LockReply { id, answer });
        }
    }

    /// Hands the front door's frames to the runtime, in order.
    fn flush_zk(&mut self, out: &mut Vec<NodeOutput>) {
        for (conn, item) in self.front.take_output() {
            if self.audit.on_zk_output(conn, &item) {
                out.push(NodeOutput::Zk { conn, item });
            }
        }
    }

    fn execute(&mut self, action: Action, out: &mut Vec<NodeOutput>) {
        let output = match action {
            Action::Persist { id, records } => {
                self.audit.on_persist(id);
                NodeOutput::Persist { id, records }
            }
            Action::Send { to, msg } => NodeOutput::Send { to, msg },
            Action::Reply {
                client,
                seq,
                outcome,
            } => {
                let tree = &self.engine.state_machine().tree;
                if self.locks.owns(client, seq) {
                    self.locks.on_reply(tree, client, seq, &outcome);
                    return;
                }
                if self.front.on_reply(tree, client, seq, &outcome) {
                    return;
                }
                NodeOutput::WriteReply {
                    client,
                    seq,
                    outcome,
                }
            }
            Action::ReadReply {
                client: crate::locks::READ_CLIENT,
                id,
                outcome,
            } => {
                let engine = &self.engine;
                let tree = &engine.state_machine().tree;
                let in_flight = |c, s| engine.in_flight(c, s);
                self.locks.on_read_reply(id, &outcome, tree, in_flight);
                return;
            }
            Action::ReadReply { id, outcome, .. } => NodeOutput::ReadReply { id, outcome },
            Action::ReconfigReply { id, outcome } => {
                let tree = &self.engine.state_machine().tree;
                if self.front.on_reconfig_reply(tree, id, &outcome) {
                    return;
                }
                NodeOutput::ReconfigReply { id, outcome }
            }
            Action::Event(event) => NodeOutput::Event(event),
        };
        out.push(output);
    }
}
