//! Submitting at any node: a follower takes in `Input::Propose`, forwards
//! the command to the leader in `Message::Forward`, retries until it has
//! applied the command itself, and only then answers (from its own state
//! machine, so the client reads its write wherever it asked).
//!
//! What a follower holds here is volatile: nothing of it is persisted, so
//! a crash loses it without an answer and the client submits again with
//! the same sequence number (exactly-once rests on the client table, not on
//! this map). Bounded by `EngineConfig::forwarded_max`; beyond it `Propose`
//! gets `Busy`.

use crate::action::Outcome;
use crate::message::Message;
use crate::node::Node;
use crate::state_machine::StateMachine;
use crate::types::{Command, Micros, NodeId};

/// A command held for `Input::Propose` until this node applies it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Forwarded {
    pub cmd: Command,
    /// The leader it was last sent to, and when; `None` while no leader
    /// has been known since it arrived.
    pub sent: Option<(NodeId, Micros)>,
}

/// Where a command the leader takes in comes from, which decides who
/// answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client of this node (`Command`, or `Propose` at the leader): this
    /// node answers it.
    Client,
    /// A follower's `Forward`: that follower answers when it applies it.
    Peer,
    /// Held here for `Propose` while following; this node now leads and
    /// answers it (it is already in `waiting`).
    Held,
}

impl<S: StateMachine> Node<S> {
    pub(crate) fn on_propose(&mut self, cmd: Command) {
        if self.is_leader() {
            self.on_command(cmd);
            return;
        }
        if let Some(outcome) = self.table_outcome(&cmd) {
            // Applied here already (or the client moved on): this node's
            // state machine holds the write, so answering now is safe.
            self.reply(cmd.client, cmd.seq, outcome);
            return;
        }
        let key = (cmd.client, cmd.seq);
        if self.forwarded.contains_key(&key) {
            // A client retry of a command already held: the retry timer
            // sends it again if needed.
            return;
        }
        if self.forwarded.len() >= self.cfg.forwarded_max
            || self.forwarded_bytes + cmd.encoded_bytes() > self.cfg.forwarded_bytes_max
        {
            self.reply(cmd.client, cmd.seq, Outcome::Busy);
            return;
        }
        self.waiting.insert(key);
        self.forwarded_bytes += cmd.encoded_bytes();
        self.forwarded.insert(key, Forwarded { cmd, sent: None });
    }

    /// A follower's commands reach us. Only the leader takes them; anyone
    /// else drops them and the follower sends them again later.
    pub(crate) fn on_forward(&mut self, commands: Vec<Command>) {
        if !self.is_leader() {
            return;
        }
        for cmd in commands {
            // A follower takes in nothing larger (`Node::admits`); a peer
            // that sends it anyway is not heard.
            if cmd.op.len() <= self.cfg.command_bytes_max {
                self.take_command(cmd, Origin::Peer);
            }
        }
    }

    /// The client table's answer to `cmd` if it covers it: the stored
    /// reply for the client's latest command, `Stale` for an older one.
    pub(crate) fn table_outcome(&self, cmd: &Command) -> Option<Outcome> {
        let rec = self.clients.get(&cmd.client)?;
        if cmd.seq == rec.seq {
            Some(Outcome::Ok(rec.reply.clone()))
        } else if cmd.seq < rec.seq {
            Some(Outcome::Stale)
        } else {
            None
        }
    }

    /// Run at the end of every step. A leader proposes what it held as a
    /// follower. A follower sends the leader it follows every held command
    /// not yet sent to that leader and, on a tick, those last sent more
    /// than `forward_retry_us` ago, in as few `Forward`s as the batch
    /// limits allow.
    pub(crate) fn flush_forwarded(&mut self, tick: bool) {
        if self.forwarded.is_empty() {
            return;
        }
        if self.is_active_leader() {
            let held = std::mem::take(&mut self.forwarded);
            self.forwarded_bytes = 0;
            for (key, f) in held {
                if self.cfg.return_held_on_takeover {
                    self.waiting.remove(&key);
                    let leader = Some(self.id);
                    self.reply(key.0, key.1, Outcome::NotLeader { leader });
                } else {
                    self.take_command(f.cmd, Origin::Held);
                }
            }
            return;
        }
        let Some((leader, _)) = self.leader else {
            return;
        };
        if leader == self.id {
            return;
        }
        let now = self.now;
        let retry_us = self.cfg.forward_retry_us;
        let mut due = Vec::new();
        for f in self.forwarded.values_mut() {
            let send = match f.sent {
                None => true,
                Some((to, at)) => to != leader || (tick && at + retry_us <= now),
            };
            if send {
                f.sent = Some((leader, now));
                due.push(f.cmd.clone());
            }
        }
        // The same limits as one slot's batch, so a `Forward` is never
        // larger than an `Accept` the leader would send anyway.
        let mut batch: Vec<Command> = Vec::new();
        let mut bytes = 0;
        for cmd in due {
            let cost = cmd.encoded_bytes();
            if !batch.is_empty()
                && (batch.len() >= self.cfg.batch_commands_max
                    || bytes + cost > self.cfg.batch_bytes_max)
            {
                let commands = std::mem::take(&mut batch);
                self.send(leader, Message::Forward { commands });
                bytes = 0;
            }
            bytes += cost;
            batch.push(cmd);
        }
        if !batch.is_empty() {
            self.send(leader, Message::Forward { commands: batch });
        }
    }
}
