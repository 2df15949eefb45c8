//! The leader's rules once phase 1 is done (`election.rs` has how it gets
//! there): pipelined proposals (phase 2 with a bounded window, a batch of
//! commands per slot), heartbeats and the lease, stepping down, client
//! commands, reads and membership changes.

use crate::action::{Action, Event, Outcome};
use crate::config::ENTRY_OVERHEAD_BYTES;
use crate::durable::Record;
use crate::forward::Origin;
use crate::message::Message;
use crate::node::{Deferred, Entry, Node, Role};
use crate::reconfig::Asker;
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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Leader {
    pub ballot: Ballot,
    pub started: Micros,
    pub preparing: Option<crate::election::Preparing>,
    pub next_slot: Slot,
    pub proposals: BTreeMap<Slot, Proposal>,
    /// Encoded bytes of the values in `proposals`.
    pub window_bytes: usize,
    /// Slots proposed at once when phase 1 ended (re-proposed values, holes
    /// and the opening no-op): the window may be exceeded by that many.
    pub reproposed: u64,
    pub queue: VecDeque<Command>,
    /// Encoded bytes of `queue` (`Command::encoded_bytes`).
    pub queue_bytes: usize,
    /// Commands followers forwarded that are queued or proposed and not
    /// yet applied here: a retry of one is not proposed again. Nobody
    /// waits on them here; they leave this set when applied (or when the
    /// client table covers them), and with the leadership.
    pub relayed: BTreeSet<(ClientId, u64)>,
    pub reads: VecDeque<(ClientId, u64, Vec<u8>)>,
    /// Bytes of the ops in `reads`.
    pub reads_bytes: usize,
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
    pub reconfig: Option<(Asker, ConfigChange)>,
    /// The proposed change's asker and slot.
    pub reconfig_slot: Option<(Asker, Slot)>,
}

impl<S: StateMachine> Node<S> {
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
        if !self.is_leader() || slot <= self.applied {
            return self.config.clone();
        }
        let proposed = self
            .log
            .range(self.applied + 1..=slot)
            .map(|(_, e)| &e.value);
        self.config.clone().changed_by(proposed)
    }

    /// Proposes `value` in the next slot; returns the slot.
    pub(crate) fn propose(&mut self, value: Value) -> Slot {
        let now = self.now;
        let Role::Leader(l) = &mut self.role else {
            unreachable!("only a leader proposes");
        };
        let slot = l.next_slot;
        l.next_slot += 1;
        let ballot = l.ballot;
        l.window_bytes += value.encoded_bytes();
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
                let (asker, change) = l.reconfig.take().expect("checked");
                let slot = self.propose(Value::Reconfig(change));
                if let Role::Leader(l) = &mut self.role {
                    l.reconfig_slot = Some((asker, slot));
                }
                return;
            }
            if l.queue.is_empty() || l.proposals.len() as u64 >= self.cfg.window_slots {
                return;
            }
            // The window in bytes too: what is in flight waits in peers'
            // queues and sockets ahead of every heartbeat, so it bounds how
            // late a heartbeat can be. A value larger than the window still
            // goes, alone.
            let next = l.queue.front().map_or(0, |c| c.encoded_bytes());
            if !l.proposals.is_empty() && l.window_bytes + next > self.cfg.window_bytes_max {
                return;
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(cmd) = l.queue.front() {
                let cost = cmd.encoded_bytes();
                if batch.len() >= self.cfg.batch_commands_max
                    || (!batch.is_empty() && bytes + cost > self.cfg.batch_bytes_max)
                {
                    break;
                }
                bytes += cost;
                l.queue_bytes -= cost;
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
        l.window_bytes -= p.value.encoded_bytes();
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
            self.prepare_tick();
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

    /// Sends again what was not chosen within a resend interval, to those
    /// that have not accepted it: one `Accept` per peer per round, within
    /// `message_bytes_max`. Slots are taken longest unsent first; the first
    /// one that does not fit some peer's message, and every later one,
    /// wait for the next round, so one round sends each peer at most one
    /// message.
    fn resend_proposals(&mut self) {
        let now = self.now;
        let interval = self.cfg.resend_interval_us;
        let budget = self.cfg.message_bytes_max;
        let commit = self.commit;
        let Role::Leader(l) = &self.role else {
            return;
        };
        let ballot = l.ballot;
        let mut per_peer: BTreeMap<NodeId, (usize, Vec<(Slot, Value)>)> = BTreeMap::new();
        // Longest unsent first, so what did not fit one round goes first
        // the next.
        let mut stale: Vec<(Micros, Slot)> = l
            .proposals
            .iter()
            .filter(|(_, p)| p.sent_at + interval <= now)
            .map(|(s, p)| (p.sent_at, *s))
            .collect();
        stale.sort_unstable();
        let stale = stale
            .into_iter()
            .map(|(_, s)| s)
            .take(self.cfg.catchup_entries_max);
        let mut sent = Vec::new();
        'slots: for slot in stale {
            let config = self.config_for(slot + 1);
            let Role::Leader(l) = &self.role else {
                return;
            };
            let p = &l.proposals[&slot];
            let cost = p.value.encoded_bytes() + ENTRY_OVERHEAD_BYTES;
            let lacking: Vec<NodeId> = config
                .members()
                .filter(|m| *m != self.id && !p.accepted.contains(m))
                .collect();
            for m in &lacking {
                let (bytes, entries) = per_peer.get(m).map_or((0, 0), |(b, e)| (*b, e.len()));
                if entries > 0 && bytes + cost > budget {
                    break 'slots;
                }
            }
            for m in lacking {
                let (bytes, entries) = per_peer.entry(m).or_default();
                *bytes += cost;
                entries.push((slot, p.value.clone()));
            }
            sent.push(slot);
        }
        if let Role::Leader(l) = &mut self.role {
            for slot in &sent {
                if let Some(p) = l.proposals.get_mut(slot) {
                    p.sent_at = now;
                }
            }
        }
        for (to, (_, entries)) in per_peer {
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
            .map(|(asker, _)| asker)
            .or(l.reconfig_slot.map(|(asker, _)| asker));
        if let Some(asker) = pending {
            self.answer_reconfig(asker, Outcome::NotLeader { leader: None });
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
        if l.queue.len() >= max || l.queue_bytes + cmd.encoded_bytes() > self.cfg.queue_bytes_max {
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
        l.queue_bytes += cmd.encoded_bytes();
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
        if l.reads.len() >= max || l.reads_bytes + op.len() > self.cfg.reads_waiting_bytes_max {
            self.out.push(Action::ReadReply {
                client,
                id,
                outcome: Outcome::Busy,
            });
            return;
        }
        l.reads_bytes += op.len();
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
        l.reads_bytes = 0;
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

    pub(crate) fn on_reconfigure(&mut self, asker: Asker, change: ConfigChange) {
        let outcome = self.check_reconfigure(change);
        if let Err(outcome) = outcome {
            self.answer_reconfig(asker, outcome);
            return;
        }
        if let Role::Leader(l) = &mut self.role {
            l.reconfig = Some((asker, change));
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
        if let Some((asker, s)) = l.reconfig_slot {
            if s == slot {
                l.reconfig_slot = None;
                // The slot is the change's place in the log: the asker
                // knows the change is in its own state once it has applied
                // that far.
                self.answer_reconfig(asker, Outcome::Ok(slot.to_be_bytes().to_vec()));
            }
        }
        if !self.config.voters.contains(&self.id) {
            self.step_down("removed from the configuration");
        }
    }
}
