//! The acceptor's rules: pre-votes, promises, accepts and heartbeats.
//!
//! Safety rests here: never accept below a promise, never let a promise or
//! an accept leave before it is durable. Liveness rests here too: while an
//! acceptor hears a live leader it helps no challenger, which both keeps a
//! stable leader stable and backs the leader's lease.

use crate::bugs::Bug;
use crate::config::ENTRY_OVERHEAD_BYTES;
use crate::durable::Record;
use crate::message::{Message, Reported};
use crate::node::{Deferred, Entry, Node, Role};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, NodeId, Slot, Value};

impl<S: StateMachine> Node<S> {
    /// True if this node must not help `candidate` become leader now:
    /// it leads itself, or it heard another live leader within the lease.
    pub(crate) fn refuses_candidate(&self, candidate: NodeId) -> bool {
        if candidate == self.id {
            return false;
        }
        if self.is_leader() {
            return true;
        }
        if self.now < self.contact_until {
            // After a restart we do not know whom we promised a lease to,
            // so we refuse everyone until it runs out.
            return self.leader.is_none_or(|(l, _)| l != candidate);
        }
        false
    }

    /// Candidates outside the configuration (removed nodes, strangers) get
    /// no help. A node that knows no configuration yet does not judge.
    fn knows_not_voter(&self, candidate: NodeId) -> bool {
        let latest = self.latest_config();
        !latest.voters.is_empty() && !latest.voters.contains(&candidate)
    }

    pub(crate) fn on_pre_vote(&mut self, from: NodeId, ballot: Ballot) {
        let alive = self.refuses_candidate(from);
        if ballot > self.promised && !alive && !self.knows_not_voter(from) {
            self.send(
                from,
                Message::PreVoteReply {
                    ballot,
                    granted: true,
                },
            );
        } else {
            self.send(
                from,
                Message::Nack {
                    ballot,
                    promised: self.promised,
                    leader_alive: alive,
                },
            );
        }
    }

    pub(crate) fn on_prepare(&mut self, from: NodeId, ballot: Ballot, from_slot: Slot) {
        let repeat = ballot == self.promised && ballot.node == from;
        let alive = self.refuses_candidate(from);
        if ballot.node != from
            || (ballot <= self.promised && !repeat)
            || alive
            || self.knows_not_voter(from)
        {
            self.send(
                from,
                Message::Nack {
                    ballot,
                    promised: self.promised,
                    leader_alive: alive,
                },
            );
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.persist(Record::Promise(ballot));
            if !matches!(self.role, Role::Follower) {
                self.step_down("promised a higher ballot");
            }
            self.leader = None;
            self.reset_election_deadline();
        }
        let (accepted, more) = self.promise_page(from_slot);
        let msg = Message::Promise {
            ballot,
            from_slot,
            compacted_upto: self.compacted,
            commit: self.commit,
            accepted,
            more,
        };
        self.defer(Deferred::Send { to: from, msg });
    }

    /// This acceptor's entries from `from_slot` on, as many as fit one
    /// message (at least one), and the first slot left out.
    fn promise_page(&self, from_slot: Slot) -> (Vec<Reported>, Option<Slot>) {
        let budget = self.cfg.message_bytes_max;
        let mut bytes = 0;
        let mut accepted = Vec::new();
        for (slot, e) in self.log.range(from_slot.max(1)..) {
            let cost = e.value.encoded_bytes() + ENTRY_OVERHEAD_BYTES;
            if !accepted.is_empty() && bytes + cost > budget {
                return (accepted, Some(*slot));
            }
            bytes += cost;
            accepted.push(Reported {
                slot: *slot,
                ballot: e.ballot,
                value: e.value.clone(),
                chosen: e.chosen,
            });
        }
        (accepted, None)
    }

    /// A message from the leader of `ballot` that this acceptor accepts as
    /// current: it follows that leader and renews its side of the lease.
    fn heard_leader(&mut self, from: NodeId, ballot: Ballot) {
        match &self.role {
            Role::Leader(l) if l.ballot == ballot => return,
            Role::Follower => {}
            _ => self.step_down("heard a leader with a higher ballot"),
        }
        self.leader = Some((from, ballot));
        self.contact_until = self.now + self.cfg.lease_us;
        self.reset_election_deadline();
    }

    fn rejects(&self, ballot: Ballot) -> bool {
        ballot < self.promised && !self.cfg.bugs.has(Bug::AcceptLowerBallot)
    }

    pub(crate) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        entries: Vec<(Slot, Value)>,
        commit: Slot,
    ) {
        if ballot.node != from {
            return;
        }
        if self.rejects(ballot) {
            let msg = Message::Nack {
                ballot,
                promised: self.promised,
                leader_alive: false,
            };
            self.send(from, msg);
            return;
        }
        self.heard_leader(from, ballot);
        if ballot > self.promised {
            // Accept records imply the promise, but entries already chosen
            // here are skipped below, so the promise gets its own record.
            self.promised = ballot;
            self.persist(Record::Promise(ballot));
        }
        let mut slots = Vec::with_capacity(entries.len());
        for (slot, value) in entries {
            slots.push(slot);
            if slot <= self.compacted || self.log.get(&slot).is_some_and(|e| e.chosen) {
                // Already chosen here; the leader can only be proposing the
                // same value, so acknowledging is safe and lets it finish.
                continue;
            }
            self.persist(Record::Accept {
                slot,
                ballot,
                value: value.clone(),
            });
            self.log.insert(
                slot,
                Entry {
                    ballot,
                    value,
                    chosen: false,
                },
            );
        }
        let msg = Message::Accepted {
            ballot,
            slots,
            commit: self.commit,
        };
        self.defer(Deferred::Send { to: from, msg });
        self.learn_commit(from, ballot, commit);
    }

    pub(crate) fn on_heartbeat(&mut self, from: NodeId, ballot: Ballot, commit: Slot, seq: u64) {
        if ballot.node != from {
            return;
        }
        if ballot < self.promised {
            let msg = Message::Nack {
                ballot,
                promised: self.promised,
                leader_alive: false,
            };
            self.send(from, msg);
            return;
        }
        self.heard_leader(from, ballot);
        self.learn_commit(from, ballot, commit);
        let msg = Message::HeartbeatAck {
            ballot,
            seq,
            commit: self.commit,
        };
        self.send(from, msg);
    }
}
