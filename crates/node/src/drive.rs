//! The drive loop: what one step does between the engine and the front
//! door, in order. The rules (see the crate's documentation) are the ones
//! the server runtime kept before this crate existed, and the output order
//! is the one it executed: the engine's outputs of the input and of every
//! proposal it led to, then the front door's frames.

use crate::io::NodeOutput;
use crate::node::ServiceNode;
use synod_paxos::{Action, Input};
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
                self.step_engine(input, out);
            }
            for (id, change) in reconfigs {
                self.step_engine(Input::SubmitReconfigure { id, change }, out);
            }
            self.hooks.on_proposals(&mut proposals, self.now_us);
            for command in proposals {
                self.step_engine(Input::Propose(command), out);
            }
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
                self.locks.on_read_reply(id, &outcome);
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
