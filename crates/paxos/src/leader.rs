//! The leader's rules: pre-vote and election (phase 1 once for all slots
//! from the first unchosen), pipelined proposals (phase 2 with a bounded
//! window, a batch of commands per slot), heartbeats and the lease,
//! stepping down, client commands, reads and membership changes.

use crate::action::{Action, Event, Outcome};
use crate::bugs::Bug;
use crate::durable::Record;
use crate::forward::Origin;
use crate::message::{Message, Reported};
use crate::node::{Deferred, Entry, Node, Role};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, ClientId, Command, Config, ConfigChange, Micros, NodeId, Slot, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Heartbeats remembered for measuring the lease.
const HEARTBEATS_REMEMBERED: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Proposal {
    pub value: Value,
    pub accepted: BTreeSet<NodeId>,
    pub sent_at: Micros,
}

/// Phase 1 in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Preparing {
    pub from_slot: Slot,
    pub promises: BTreeMap<NodeId, (Slot, Vec<Reported>)>,
    pub self_promised: bool,
    /// Someone compacted past `from_slot`: we fetch chosen values up to
    /// here, from that node, before we may propose.
    pub catchup_to: Option<(Slot, NodeId)>,
    /// Voters sent a `Prepare` in this phase 1: those of the latest
    /// configuration at first, then those of every configuration the
    /// promises reveal.
    pub asked: BTreeSet<NodeId>,
}

/// What phase 1 learned of one slot.
struct Merged {
    /// The highest ballot the value was reported accepted in.
    ballot: Ballot,
    value: Value,
    /// Some promise reported the value chosen.
    chosen: bool,
    /// The acceptors that reported accepting `value` in `ballot`.
    reported_by: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Leader {
    pub ballot: Ballot,
    pub started: Micros,
    pub preparing: Option<Preparing>,
    pub next_slot: Slot,
    pub proposals: BTreeMap<Slot, Proposal>,
    /// Slots proposed at once when phase 1 ended (re-proposed values, holes
    /// and the opening no-op): the window may be exceeded by that many.
    pub reproposed: u64,
    pub queue: VecDeque<Command>,
    /// Commands followers forwarded that are queued or proposed and not
    /// yet applied here: a retry of one is not proposed again. Nobody
    /// waits on them here; they leave this set when applied (or when the
    /// client table covers them), and with the leadership.
    pub relayed: BTreeSet<(ClientId, u64)>,
    pub reads: VecDeque<(ClientId, u64, Vec<u8>)>,
    /// The no-op that opens this leadership; reads wait until it applied.
    pub noop_slot: Slot,
    pub heartbeat_seq: u64,
    pub heartbeat_sent: VecDeque<(u64, Micros)>,
    pub last_heartbeat: Micros,
    /// The highest commit point an Accept or a heartbeat to every member
    /// carried. When a step leaves the commit point above it, the leader
    /// tells the followers at once (a heartbeat) instead of letting them
    /// wait for the next Accept or heartbeat: their watch events, reads and
    /// forwarded writes would lag up to a heartbeat interval otherwise.
    pub commit_told: Slot,
    pub acked_seq: BTreeMap<NodeId, u64>,
    pub heard_at: BTreeMap<NodeId, Micros>,
    pub lease_until: Micros,
    pub follower_commit: BTreeMap<NodeId, Slot>,
    /// A membership change asked for and not yet proposed.
    pub reconfig: Option<(u64, ConfigChange)>,
    /// The proposed change's request id and slot.
    pub reconfig_slot: Option<(u64, Slot)>,
}

impl<S: StateMachine> Node<S> {
    // ---- election ----

    pub(crate) fn start_pre_vote(&mut self) {
        self.reset_election_deadline();
        // We no longer hear the leader: stop sending clients to it.
        self.leader = None;
        let latest = self.latest_config();
        if !latest.voters.contains(&self.id) {
            return;
        }
        let round = self.max_round_seen.max(self.promised.round) + 1;
        let ballot = Ballot::new(round, self.id);
        self.event(Event::PreVoteStarted { ballot });
        self.role = Role::Candidate {
            ballot,
            granted: [self.id].into_iter().collect(),
        };
        let voters: Vec<NodeId> = latest.voters.iter().copied().collect();
        for v in voters {
            self.send(v, Message::PreVote { ballot });
        }
        self.check_pre_votes();
    }

    pub(crate) fn on_pre_vote_reply(&mut self, from: NodeId, ballot: Ballot, granted: bool) {
        if let Role::Candidate {
            ballot: b,
            granted: g,
        } = &mut self.role
        {
            if *b == ballot && granted {
                g.insert(from);
            }
        }
        self.check_pre_votes();
    }

    fn check_pre_votes(&mut self) {
        let Role::Candidate { ballot, granted } = &self.role else {
            return;
        };
        if !self.is_quorum(&self.latest_config(), granted) {
            return;
        }
        let ballot = *ballot;
        if ballot <= self.promised {
            self.role = Role::Follower;
            return;
        }
        self.start_prepare(ballot);
    }

    fn start_prepare(&mut self, ballot: Ballot) {
        self.event(Event::ElectionStarted { ballot });
        self.promised = ballot;
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        self.persist(Record::Promise(ballot));
        self.defer(Deferred::SelfPromised(ballot));
        self.leader = None;
        let from_slot = self.commit + 1;
        self.role = Role::Leader(Box::new(Leader {
            ballot,
            started: self.now,
            preparing: Some(Preparing {
                from_slot,
                promises: BTreeMap::new(),
                self_promised: false,
                catchup_to: None,
                asked: BTreeSet::new(),
            }),
            next_slot: from_slot,
            proposals: BTreeMap::new(),
            reproposed: 0,
            queue: VecDeque::new(),
            relayed: BTreeSet::new(),
            reads: VecDeque::new(),
            noop_slot: Slot::MAX,
            heartbeat_seq: 0,
            heartbeat_sent: VecDeque::new(),
            last_heartbeat: self.now,
            commit_told: 0,
            acked_seq: BTreeMap::new(),
            heard_at: BTreeMap::new(),
            lease_until: 0,
            follower_commit: BTreeMap::new(),
            reconfig: None,
            reconfig_slot: None,
        }));
        self.ask_prepare(self.latest_config().voters, ballot, from_slot);
    }

    /// Sends `Prepare` to each of `voters` not yet asked in this phase 1.
    fn ask_prepare(&mut self, voters: BTreeSet<NodeId>, ballot: Ballot, from_slot: Slot) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some(p) = &mut l.preparing else {
            return;
        };
        let fresh: Vec<NodeId> = voters.into_iter().filter(|v| p.asked.insert(*v)).collect();
        for v in fresh {
            self.send(v, Message::Prepare { ballot, from_slot });
        }
    }

    /// Restarts phase 1 in the same ballot after catching up.
    fn restart_prepare(&mut self) {
        let from_slot = self.commit + 1;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let ballot = l.ballot;
        let self_promised = l.preparing.as_ref().is_some_and(|p| p.self_promised);
        l.preparing = Some(Preparing {
            from_slot,
            promises: BTreeMap::new(),
            self_promised,
            catchup_to: None,
            asked: BTreeSet::new(),
        });
        l.next_slot = from_slot;
        if self_promised {
            self.record_own_promise();
        }
        self.ask_prepare(self.latest_config().voters, ballot, from_slot);
    }

    pub(crate) fn on_self_promised(&mut self, ballot: Ballot) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        if let Some(p) = &mut l.preparing {
            p.self_promised = true;
        }
        self.record_own_promise();
        self.check_promises();
    }

    fn record_own_promise(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        let Some(p) = &l.preparing else {
            return;
        };
        let accepted = self
            .log
            .range(p.from_slot..)
            .map(|(slot, e)| Reported {
                slot: *slot,
                ballot: e.ballot,
                value: e.value.clone(),
                chosen: e.chosen,
            })
            .collect();
        let me = self.id;
        let compacted = self.compacted;
        if let Role::Leader(l) = &mut self.role {
            if let Some(p) = &mut l.preparing {
                p.promises.insert(me, (compacted, accepted));
            }
        }
    }

    pub(crate) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        from_slot: Slot,
        compacted_upto: Slot,
        accepted: Vec<Reported>,
    ) {
        let now = self.now;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        l.heard_at.insert(from, now);
        let Some(p) = &mut l.preparing else {
            return;
        };
        if p.from_slot != from_slot {
            return;
        }
        p.promises.insert(from, (compacted_upto, accepted));
        self.check_promises();
    }

    /// For each slot from `from_slot` on, the value to re-propose: the one
    /// reported in the highest ballot (a value reported chosen wins
    /// outright), with who reported it in that ballot.
    fn merge_promises(&self, p: &Preparing) -> BTreeMap<Slot, Merged> {
        let mut best: BTreeMap<Slot, Merged> = BTreeMap::new();
        for (&node, (_, accepted)) in &p.promises {
            for r in accepted {
                if r.slot < p.from_slot {
                    continue;
                }
                match best.get_mut(&r.slot) {
                    Some(m) if m.chosen => {}
                    Some(m) if !r.chosen && r.ballot == m.ballot => {
                        m.reported_by.insert(node);
                    }
                    Some(m) if !r.chosen && r.ballot < m.ballot => {}
                    _ => {
                        best.insert(
                            r.slot,
                            Merged {
                                ballot: r.ballot,
                                value: r.value.clone(),
                                chosen: r.chosen,
                                reported_by: [node].into_iter().collect(),
                            },
                        );
                    }
                }
            }
        }
        best
    }

    /// The configurations phase 1 must hold a majority of, in slot order.
    ///
    /// The rule (docs/ARCHITECTURE.md, "The phase-1 rule"). Start from the
    /// configuration at the end of the known-chosen prefix: our commit
    /// point, extended over every following slot whose merged value is
    /// known chosen, either because a promise says so or because it is a
    /// membership change that a majority of the configuration it creates
    /// reported accepting in one ballot (a change governs its own slot, and
    /// every slot below a change was chosen when it was proposed, so that
    /// majority is exactly the quorum its ballot counted). After that
    /// prefix, every change among the merged values starts a new
    /// configuration. Phase 1 needs a majority of each, not only the
    /// Flexible-Paxos cover (`n - majority + 1`): the value of an open slot
    /// may be a change no promise reported, and since a change governs its
    /// own slot, it may have been chosen by a majority of the configuration
    /// before the slot changed by one node. A majority of a configuration
    /// meets every majority of each of its one-node neighbours; the cover
    /// does not (the agreement violation of issue 10: promises from {3, 4}
    /// cover {1, 2, 3, 4} but miss {1, 2, 5}, which chose `Promote(5)`).
    fn phase1_configs(&self, merged: &BTreeMap<Slot, Merged>) -> Vec<Config> {
        let mut config = self.config_at_commit();
        let mut slot = self.commit;
        while let Some(m) = merged.get(&(slot + 1)) {
            let next = match &m.value {
                Value::Reconfig(change) if config.check(*change).is_ok() => config.with(*change),
                _ => config.clone(),
            };
            let chosen = m.chosen
                || (matches!(m.value, Value::Reconfig(_))
                    && self.is_true_majority(&next, &m.reported_by));
            if !chosen {
                break;
            }
            config = next;
            slot += 1;
        }
        let mut chain = vec![config];
        for (_, m) in merged.range(slot + 1..) {
            if let Value::Reconfig(change) = &m.value {
                let last = chain.last().expect("chain is never empty");
                if last.check(*change).is_ok() {
                    let next = last.with(*change);
                    chain.push(next);
                }
            }
        }
        chain
    }

    fn check_promises(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        let Some(p) = &l.preparing else {
            return;
        };
        if !p.self_promised || p.catchup_to.is_some() {
            return;
        }
        let ballot = l.ballot;
        // Someone compacted slots we have not learned: fetch them first,
        // since their accepted values are no longer reported.
        if let Some((&node, &(compacted, _))) = p
            .promises
            .iter()
            .filter(|(_, (c, _))| *c >= p.from_slot)
            .max_by_key(|(_, (c, _))| *c)
        {
            if self.is_true_majority(&self.config_at_commit(), p.promises.keys()) {
                if let Role::Leader(l) = &mut self.role {
                    if let Some(p) = &mut l.preparing {
                        p.catchup_to = Some((compacted, node));
                    }
                }
                self.catchup_sent_at = Some(self.now);
                let from_slot = self.commit + 1;
                self.send(node, Message::CatchupRequest { from_slot });
            }
            return;
        }
        let merged = self.merge_promises(p);
        let mut missing = BTreeSet::new();
        let configs = self.phase1_configs(&merged);
        let last = configs.len() - 1;
        for (i, c) in configs.iter().enumerate() {
            let enough = if i < last && self.cfg.bugs.has(Bug::Phase1CoverOnly) {
                self.phase1_cover(c, p.promises.keys())
            } else {
                self.is_true_majority(c, p.promises.keys())
            };
            if !enough {
                missing.extend(c.voters.iter().filter(|v| !p.promises.contains_key(v)));
            }
        }
        if !missing.is_empty() {
            // A configuration we just learned of: ask its voters too.
            let from_slot = p.from_slot;
            self.ask_prepare(missing, ballot, from_slot);
            return;
        }
        let merged = merged.into_iter().map(|(s, m)| (s, m.value)).collect();
        self.become_leader(merged);
    }

    /// Phase 1 is done: re-propose every reported value in our ballot, fill
    /// holes with no-ops, then propose a no-op that opens our leadership.
    fn become_leader(&mut self, merged: BTreeMap<Slot, Value>) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let p = l.preparing.take().expect("preparing");
        let ballot = l.ballot;
        // A catch-up reply may have moved the commit point during phase 1:
        // what is chosen is never proposed again.
        let first = p.from_slot.max(self.commit + 1);
        let last = merged.keys().next_back().copied().unwrap_or(0);
        let end = last.max(first - 1);
        l.next_slot = first;
        l.started = self.now;
        self.leader = Some((self.id, ballot));
        self.event(Event::BecameLeader {
            ballot,
            from_slot: p.from_slot,
        });
        for slot in first..=end {
            let value = merged.get(&slot).cloned().unwrap_or(Value::Noop);
            self.propose(value);
        }
        let noop = self.propose(Value::Noop);
        if let Role::Leader(l) = &mut self.role {
            l.noop_slot = noop;
            l.reproposed = noop + 1 - first;
            let members: Vec<NodeId> = self.config.members().collect();
            for m in members {
                l.heard_at.insert(m, self.now);
            }
        }
        self.send_heartbeats();
    }

    // ---- phase 2 ----

    /// The configuration that governs `slot`: the applied one, changed by
    /// every change proposed up to and including `slot`. A change governs
    /// its own slot (as Raft uses a configuration from the moment it is in
    /// the log): a leader that lost the old majority can still get a
    /// change the old leader began chosen by the new one. Safe because
    /// changes move one node at a time, so old and new majorities meet,
    /// and phase 1 covers every configuration the promised logs imply.
    ///
    /// The leader's log above the applied slot holds exactly its own
    /// proposals and values already chosen, so a change chosen but not yet
    /// applied (an earlier slot still open) still counts.
    pub(crate) fn config_for(&self, slot: Slot) -> Config {
        let mut config = self.config.clone();
        if !self.is_leader() || slot <= self.applied {
            return config;
        }
        for (_, e) in self.log.range(self.applied + 1..=slot) {
            if let Value::Reconfig(change) = &e.value {
                if config.check(*change).is_ok() {
                    config = config.with(*change);
                }
            }
        }
        config
    }

    /// Proposes `value` in the next slot; returns the slot.
    fn propose(&mut self, value: Value) -> Slot {
        let now = self.now;
        let Role::Leader(l) = &mut self.role else {
            unreachable!("only a leader proposes");
        };
        let slot = l.next_slot;
        l.next_slot += 1;
        let ballot = l.ballot;
        l.proposals.insert(
            slot,
            Proposal {
                value: value.clone(),
                accepted: BTreeSet::new(),
                sent_at: now,
            },
        );
        self.persist(Record::Accept {
            slot,
            ballot,
            value: value.clone(),
        });
        self.log.insert(
            slot,
            Entry {
                ballot,
                value: value.clone(),
                chosen: false,
            },
        );
        self.defer(Deferred::SelfAccepted(ballot, slot));
        let peers: Vec<NodeId> = self.config_for(slot + 1).members().collect();
        let commit = self.commit;
        let msg = Message::Accept {
            ballot,
            entries: vec![(slot, value)],
            commit,
        };
        for to in peers {
            self.send(to, msg.clone());
        }
        if let Role::Leader(l) = &mut self.role {
            l.commit_told = l.commit_told.max(commit);
        }
        slot
    }

    /// Heartbeats now if this step moved the commit point past what the
    /// followers were told (see `Leader::commit_told`). Under load the next
    /// Accept carries it and this sends nothing.
    pub(crate) fn tell_commit(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        if self.cfg.tell_commit_at_once && l.preparing.is_none() && self.commit > l.commit_told {
            self.send_heartbeats();
        }
    }

    /// Moves queued commands and a pending membership change into slots,
    /// within the window.
    pub(crate) fn flush_proposals(&mut self) {
        loop {
            let Role::Leader(l) = &mut self.role else {
                return;
            };
            if l.preparing.is_some() {
                return;
            }
            if l.reconfig_slot.is_some_and(|(_, s)| s > self.commit) {
                // A change in flight: later slots wait until it is chosen,
                // so every slot's configuration is known when proposed.
                return;
            }
            if l.reconfig.is_some() {
                if !l.proposals.is_empty() {
                    return;
                }
                let (id, change) = l.reconfig.take().expect("checked");
                let slot = self.propose(Value::Reconfig(change));
                if let Role::Leader(l) = &mut self.role {
                    l.reconfig_slot = Some((id, slot));
                }
                return;
            }
            if l.queue.is_empty() || l.proposals.len() as u64 >= self.cfg.window_slots {
                return;
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(cmd) = l.queue.front() {
                if batch.len() >= self.cfg.batch_commands_max
                    || (!batch.is_empty() && bytes + cmd.op.len() > self.cfg.batch_bytes_max)
                {
                    break;
                }
                bytes += cmd.op.len();
                batch.push(l.queue.pop_front().expect("front exists"));
            }
            self.propose(Value::Batch(batch));
        }
    }

    pub(crate) fn on_self_accepted(&mut self, ballot: Ballot, slot: Slot) {
        let me = self.id;
        self.count_accept(me, ballot, slot);
    }

    pub(crate) fn on_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        slots: Vec<Slot>,
        commit: Slot,
    ) {
        if !self.heard_follower(from, ballot, commit) {
            return;
        }
        for slot in slots {
            self.count_accept(from, ballot, slot);
        }
    }

    fn count_accept(&mut self, from: NodeId, ballot: Ballot, slot: Slot) {
        let config = self.config_for(slot);
        let need = self.quorum_size(&config);
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        let Some(p) = l.proposals.get_mut(&slot) else {
            return;
        };
        p.accepted.insert(from);
        let votes = p
            .accepted
            .iter()
            .filter(|n| config.voters.contains(n))
            .count();
        if votes < need {
            return;
        }
        let p = l.proposals.remove(&slot).expect("present");
        let digest = if self.cfg.events { p.value.digest() } else { 0 };
        if let Some(e) = self.log.get_mut(&slot) {
            e.chosen = true;
        }
        self.event(Event::Chosen {
            slot,
            ballot,
            value: digest,
        });
        self.advance_commit();
    }

    pub(crate) fn on_nack(
        &mut self,
        _from: NodeId,
        ballot: Ballot,
        promised: Ballot,
        _alive: bool,
    ) {
        self.max_round_seen = self.max_round_seen.max(promised.round);
        match &self.role {
            Role::Leader(l) if l.ballot == ballot && promised > ballot => {
                self.step_down("preempted by a higher ballot");
            }
            _ => {}
        }
    }

    // ---- heartbeats, lease, stepping down ----

    pub(crate) fn leader_tick(&mut self) {
        let now = self.now;
        let timeout = self.cfg.election_timeout_us;
        let Role::Leader(l) = &self.role else {
            return;
        };
        if let Some(p) = &l.preparing {
            if now >= l.started + timeout {
                self.step_down("phase 1 timed out");
                self.reset_election_deadline();
                return;
            }
            // A lost catch-up reply must not stall phase 1 until timeout.
            let resend = self.cfg.resend_interval_us;
            // (Not while a snapshot transfer catches us up: it retries by
            // itself, and a new request would start it over.)
            if let Some((_, node)) = p.catchup_to.filter(|_| self.incoming.is_none()) {
                if self.catchup_sent_at.is_none_or(|t| t + resend <= now) {
                    self.catchup_sent_at = Some(now);
                    let from_slot = self.commit + 1;
                    self.send(node, Message::CatchupRequest { from_slot });
                }
            }
            return;
        }
        // A leader that hears no majority for an election timeout steps
        // down rather than keep clients waiting on a cluster it cannot
        // reach (and lets the connected part elect someone).
        let heard: Vec<NodeId> = l
            .heard_at
            .iter()
            .filter(|(_, t)| **t + timeout > now)
            .map(|(n, _)| *n)
            .chain([self.id])
            .collect();
        if now >= l.started + timeout && !self.is_quorum(&self.config, &heard) {
            self.step_down("lost contact with a majority");
            self.reset_election_deadline();
            return;
        }
        if now >= l.last_heartbeat + self.cfg.heartbeat_interval_us {
            self.send_heartbeats();
        }
        self.resend_proposals();
    }

    pub(crate) fn send_heartbeats(&mut self) {
        let now = self.now;
        let commit = self.commit;
        let members: Vec<NodeId> = {
            let Role::Leader(l) = &self.role else {
                return;
            };
            let mut m: BTreeSet<NodeId> = self.config.members().collect();
            m.extend(self.config_for(l.next_slot).members());
            m.into_iter().collect()
        };
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.heartbeat_seq += 1;
        let seq = l.heartbeat_seq;
        let ballot = l.ballot;
        l.last_heartbeat = now;
        l.commit_told = l.commit_told.max(commit);
        l.heartbeat_sent.push_back((seq, now));
        if l.heartbeat_sent.len() > HEARTBEATS_REMEMBERED {
            l.heartbeat_sent.pop_front();
        }
        for m in members {
            self.send(
                m,
                Message::Heartbeat {
                    ballot,
                    commit,
                    seq,
                },
            );
        }
        self.update_lease();
    }

    fn resend_proposals(&mut self) {
        let now = self.now;
        let interval = self.cfg.resend_interval_us;
        let commit = self.commit;
        let Role::Leader(l) = &self.role else {
            return;
        };
        let ballot = l.ballot;
        let mut per_peer: BTreeMap<NodeId, Vec<(Slot, Value)>> = BTreeMap::new();
        let stale: Vec<Slot> = l
            .proposals
            .iter()
            .filter(|(_, p)| p.sent_at + interval <= now)
            .map(|(s, _)| *s)
            .take(self.cfg.catchup_entries_max)
            .collect();
        for slot in &stale {
            let config = self.config_for(slot + 1);
            let Role::Leader(l) = &self.role else {
                return;
            };
            let p = &l.proposals[slot];
            for m in config.members() {
                if m != self.id && !p.accepted.contains(&m) {
                    per_peer
                        .entry(m)
                        .or_default()
                        .push((*slot, p.value.clone()));
                }
            }
        }
        if let Role::Leader(l) = &mut self.role {
            for slot in &stale {
                if let Some(p) = l.proposals.get_mut(slot) {
                    p.sent_at = now;
                }
            }
        }
        for (to, entries) in per_peer {
            self.send(
                to,
                Message::Accept {
                    ballot,
                    entries,
                    commit,
                },
            );
        }
    }

    pub(crate) fn on_heartbeat_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        seq: u64,
        commit: Slot,
    ) {
        if !self.heard_follower(from, ballot, commit) {
            return;
        }
        if let Role::Leader(l) = &mut self.role {
            let acked = l.acked_seq.entry(from).or_default();
            *acked = (*acked).max(seq);
        }
        self.update_lease();
    }

    /// A follower answered in our ballot: note when (for stepping down) and
    /// how far it has committed (for lag and promotion). False if we do not
    /// lead in `ballot`.
    fn heard_follower(&mut self, from: NodeId, ballot: Ballot, commit: Slot) -> bool {
        let now = self.now;
        let Role::Leader(l) = &mut self.role else {
            return false;
        };
        if l.ballot != ballot {
            return false;
        }
        l.heard_at.insert(from, now);
        let fc = l.follower_commit.entry(from).or_default();
        *fc = (*fc).max(commit);
        true
    }

    /// The lease runs from the send time of the newest heartbeat that a
    /// majority of every configuration in force has acknowledged.
    fn update_lease(&mut self) {
        let lease = self.cfg.leader_lease_us();
        let Role::Leader(l) = &self.role else {
            return;
        };
        let mut configs = vec![self.config.clone()];
        let next = self.config_for(l.next_slot);
        if next != self.config {
            configs.push(next);
        }
        let mut start: Option<u64> = None;
        for c in &configs {
            let mut seqs: Vec<u64> = c
                .voters
                .iter()
                .map(|v| {
                    if *v == self.id {
                        l.heartbeat_seq
                    } else {
                        l.acked_seq.get(v).copied().unwrap_or(0)
                    }
                })
                .collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            let seq = seqs.get(self.quorum_size(c) - 1).copied().unwrap_or(0);
            start = Some(start.map_or(seq, |s| s.min(seq)));
        }
        let Some(seq) = start else {
            return;
        };
        let sent = l
            .heartbeat_sent
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, t)| *t);
        if let (Some(t), Role::Leader(l)) = (sent, &mut self.role) {
            l.lease_until = l.lease_until.max(t + lease);
        }
    }

    fn lease_valid(&self) -> bool {
        match &self.role {
            Role::Leader(l) => {
                l.preparing.is_none() && self.now < l.lease_until && self.applied >= l.noop_slot
            }
            _ => false,
        }
    }

    pub(crate) fn step_down(&mut self, reason: &'static str) {
        let role = std::mem::replace(&mut self.role, Role::Follower);
        let Role::Leader(l) = role else {
            return;
        };
        self.leader = None;
        self.event(Event::SteppedDown {
            ballot: l.ballot,
            reason,
        });
        // Commands this leader took in are answered `NotLeader`; those
        // still held for `Propose` (it never finished phase 1) stay, to be
        // forwarded to whoever leads next.
        let waiting = std::mem::take(&mut self.waiting);
        for (client, seq) in waiting {
            if self.forwarded.contains_key(&(client, seq)) {
                self.waiting.insert((client, seq));
                continue;
            }
            self.reply(client, seq, Outcome::NotLeader { leader: None });
        }
        for (client, id, _) in l.reads {
            self.out.push(Action::ReadReply {
                client,
                id,
                outcome: Outcome::NotLeader { leader: None },
            });
        }
        let pending = l
            .reconfig
            .map(|(id, _)| id)
            .or(l.reconfig_slot.map(|(id, _)| id));
        if let Some(id) = pending {
            self.out.push(Action::ReconfigReply {
                id,
                outcome: Outcome::NotLeader { leader: None },
            });
        }
    }

    // ---- clients ----

    pub(crate) fn on_command(&mut self, cmd: Command) {
        if !self.is_leader() {
            let leader = self.leader_hint();
            self.reply(cmd.client, cmd.seq, Outcome::NotLeader { leader });
            return;
        }
        self.take_command(cmd, Origin::Client);
    }

    /// Queues `cmd` for a slot unless the client table already covers it
    /// or it is already on its way into the log. Commands from `origin`s
    /// this node answers are tracked in `waiting`, the others in
    /// `relayed`; only the former get an answer here.
    pub(crate) fn take_command(&mut self, cmd: Command, origin: Origin) {
        let key = (cmd.client, cmd.seq);
        let answers = origin != Origin::Peer;
        if let Some(outcome) = self.table_outcome(&cmd) {
            if answers {
                self.waiting.remove(&key);
                self.reply(cmd.client, cmd.seq, outcome);
            }
            return;
        }
        let max = self.cfg.queue_commands_max;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let in_log = match origin {
            // A retry of a command already on its way into the log; if a
            // follower sent it, answer it here too when it applies.
            Origin::Client => {
                let relayed = l.relayed.contains(&key);
                if relayed {
                    self.waiting.insert(key);
                }
                relayed || self.waiting.contains(&key)
            }
            Origin::Peer => l.relayed.contains(&key) || self.waiting.contains(&key),
            // In `waiting` since it was held; only `relayed` says whether
            // it is queued already.
            Origin::Held => l.relayed.contains(&key),
        };
        if in_log {
            return;
        }
        if l.queue.len() >= max {
            // A follower's forward is dropped silently: it sends again.
            if answers {
                self.waiting.remove(&key);
                self.reply(cmd.client, cmd.seq, Outcome::Busy);
            }
            return;
        }
        if answers {
            self.waiting.insert(key);
        } else {
            l.relayed.insert(key);
        }
        l.queue.push_back(cmd);
    }

    pub(crate) fn on_read(&mut self, client: ClientId, id: u64, op: Vec<u8>) {
        if !self.is_leader() {
            let leader = self.leader_hint();
            self.out.push(Action::ReadReply {
                client,
                id,
                outcome: Outcome::NotLeader { leader },
            });
            return;
        }
        let max = self.cfg.reads_waiting_max;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.reads.len() >= max {
            self.out.push(Action::ReadReply {
                client,
                id,
                outcome: Outcome::Busy,
            });
            return;
        }
        l.reads.push_back((client, id, op));
    }

    /// Answers waiting reads locally while the lease holds.
    pub(crate) fn serve_reads(&mut self) {
        if !self.lease_valid() {
            return;
        }
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let reads = std::mem::take(&mut l.reads);
        for (client, id, op) in reads {
            let reply = self.sm.query(&op);
            self.event(Event::LeaseRead { client, id });
            self.out.push(Action::ReadReply {
                client,
                id,
                outcome: Outcome::Ok(reply),
            });
        }
    }

    pub(crate) fn on_reconfigure(&mut self, id: u64, change: ConfigChange) {
        let outcome = self.check_reconfigure(change);
        if let Err(outcome) = outcome {
            self.out.push(Action::ReconfigReply { id, outcome });
            return;
        }
        if let Role::Leader(l) = &mut self.role {
            l.reconfig = Some((id, change));
        }
    }

    fn check_reconfigure(&self, change: ConfigChange) -> Result<(), Outcome> {
        let Role::Leader(l) = &self.role else {
            return Err(Outcome::NotLeader {
                leader: self.leader_hint(),
            });
        };
        if l.preparing.is_some() {
            return Err(Outcome::Busy);
        }
        if l.reconfig.is_some() || l.reconfig_slot.is_some_and(|(_, s)| s > self.applied) {
            return Err(Outcome::Rejected(
                "another membership change is in progress".into(),
            ));
        }
        let config = self.config_for(l.next_slot);
        config.check(change).map_err(Outcome::Rejected)?;
        if let ConfigChange::Promote(n) = change {
            let lag = self
                .commit
                .saturating_sub(l.follower_commit.get(&n).copied().unwrap_or(0));
            if lag > self.cfg.promote_lag_slots_max {
                return Err(Outcome::Rejected(format!(
                    "learner {n} lags {lag} slots behind; wait until it catches up"
                )));
            }
        }
        Ok(())
    }

    /// Called by the replica after applying a membership change that this
    /// leader proposed.
    pub(crate) fn on_reconfig_applied(&mut self, slot: Slot) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if let Some((id, s)) = l.reconfig_slot {
            if s == slot {
                l.reconfig_slot = None;
                self.out.push(Action::ReconfigReply {
                    id,
                    outcome: Outcome::Ok(Vec::new()),
                });
            }
        }
        if !self.config.voters.contains(&self.id) {
            self.step_down("removed from the configuration");
        }
    }

    /// Phase 1 was waiting for catch-up; see whether it can go on.
    pub(crate) fn on_caught_up(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        let Some(p) = &l.preparing else {
            return;
        };
        if let Some((to, _)) = p.catchup_to {
            if self.commit >= to {
                self.restart_prepare();
            }
        }
    }
}
