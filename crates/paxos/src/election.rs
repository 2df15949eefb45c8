//! Becoming leader: pre-vote, then phase 1 (prepare and promise) once for
//! every slot from the first one this node does not know chosen, then the
//! re-proposal of what the promises reported.
//!
//! # The phase-1 rule
//!
//! A membership change governs its own slot, so the configuration that
//! chose a value in slot `s` may be the one before `s` changed by a change
//! *in* `s` that no promise reported. Phase 1 therefore ends only when the
//! promises hold a majority (not merely the Flexible-Paxos cover,
//! `n - majority + 1`) of every configuration that may govern an open slot
//! (`Node::phase1_configs`): a majority of a configuration meets every
//! majority of each of its one-node neighbours, whatever the unseen change
//! was. Then the highest-ballot value reported for every slot is
//! re-proposed verbatim, membership changes included; holes get no-ops.
//! The full argument is in docs/ARCHITECTURE.md ("The phase-1 rule").
//!
//! # Promises in pages
//!
//! An acceptor reports its accepted values in as many `Promise` messages
//! as `EngineConfig::message_bytes_max` needs; the leader asks for each
//! next page with a `Prepare` from the first slot left out (a repeat
//! `Prepare` of the ballot it promised only reports, it changes nothing),
//! resends what goes unanswered every `resend_interval_us`, and counts a
//! promise only once its last page is in. A candidate far behind a
//! promise's commit point catches up first (bounded catch-up replies) and
//! starts phase 1 over from its new commit point, so promises carry the
//! uncommitted tail of the log, not every chosen value it lacks.

use crate::action::Event;
use crate::bugs::Bug;
use crate::durable::Record;
use crate::leader::Leader;
use crate::message::{Message, Reported};
use crate::node::{Deferred, Node, Role};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, Config, Micros, NodeId, Slot, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Phase 1 in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Preparing {
    pub from_slot: Slot,
    /// Promises received, whole or still arriving in pages.
    pub promises: BTreeMap<NodeId, Promised>,
    pub self_promised: bool,
    /// We fetch chosen values up to here, from that node, before phase 1
    /// may end: someone compacted past `from_slot` (its values there are
    /// no longer reported), or is far ahead of our commit point.
    pub catchup_to: Option<(Slot, NodeId)>,
    /// Voters sent a `Prepare` in this phase 1, and when last: those of
    /// the latest configuration at first, then those of every
    /// configuration the promises reveal. Unanswered ones are asked again.
    pub asked: BTreeMap<NodeId, Micros>,
}

/// One acceptor's promise as far as it arrived.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Promised {
    pub compacted_upto: Slot,
    pub commit: Slot,
    /// Its entries from `from_slot` on, in slot order, as far as received.
    pub accepted: Vec<Reported>,
    /// The first slot of the page still to come; `None` once complete.
    pub more: Option<Slot>,
}

impl Preparing {
    fn new(from_slot: Slot, self_promised: bool) -> Self {
        Preparing {
            from_slot,
            promises: BTreeMap::new(),
            self_promised,
            catchup_to: None,
            asked: BTreeMap::new(),
        }
    }

    /// The acceptors whose promise is complete.
    fn complete(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.promises
            .iter()
            .filter(|(_, p)| p.more.is_none())
            .map(|(n, _)| n)
    }
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

impl<S: StateMachine> Node<S> {
    // ---- pre-vote ----

    pub(crate) fn start_pre_vote(&mut self) {
        self.reset_election_deadline();
        // We no longer hear the leader: stop sending clients to it.
        self.leader = None;
        let latest = self.latest_config();
        if !latest.voters.contains(&self.id) {
            return;
        }
        // Peers' rounds are at most ROUND_MAX (`Node::on_message`), so
        // this never overflows.
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

    // ---- phase 1 ----

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
            preparing: Some(Preparing::new(from_slot, false)),
            next_slot: from_slot,
            proposals: BTreeMap::new(),
            window_bytes: 0,
            reproposed: 0,
            queue: VecDeque::new(),
            queue_bytes: 0,
            relayed: BTreeSet::new(),
            reads: VecDeque::new(),
            reads_bytes: 0,
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
        self.ask_prepare(self.latest_config().voters);
    }

    /// Sends `Prepare` to each of `voters` not yet asked in this phase 1.
    fn ask_prepare(&mut self, voters: BTreeSet<NodeId>) {
        let now = self.now;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let ballot = l.ballot;
        let Some(p) = &mut l.preparing else {
            return;
        };
        let from_slot = p.from_slot;
        let fresh: Vec<NodeId> = voters
            .into_iter()
            .filter(|v| *v != self.id && p.asked.insert(*v, now).is_none())
            .collect();
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
        let self_promised = l.preparing.as_ref().is_some_and(|p| p.self_promised);
        l.preparing = Some(Preparing::new(from_slot, self_promised));
        l.next_slot = from_slot;
        // Catching up was progress: phase 1 gets a whole timeout again.
        l.started = self.now;
        if self_promised {
            self.record_own_promise();
        }
        self.ask_prepare(self.latest_config().voters);
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

    /// Our own promise: our log, whole (it is local, no page limit).
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
        let promised = Promised {
            compacted_upto: self.compacted,
            commit: self.commit,
            accepted,
            more: None,
        };
        let me = self.id;
        if let Role::Leader(l) = &mut self.role {
            if let Some(p) = &mut l.preparing {
                p.promises.insert(me, promised);
            }
        }
    }

    /// One page of `from`'s promise, starting at `from_slot`: the first
    /// (`from_slot` is phase 1's), or the one we asked for next. Anything
    /// else is a duplicate or stale.
    pub(crate) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        from_slot: Slot,
        page: Promised,
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
        if page.accepted.iter().any(|r| r.slot < from_slot)
            || page.more.is_some_and(|m| m <= from_slot)
        {
            // Not a page of this acceptor's log from `from_slot` on.
            return;
        }
        match p.promises.get_mut(&from) {
            Some(got) if got.more == Some(from_slot) => {
                got.compacted_upto = got.compacted_upto.max(page.compacted_upto);
                got.commit = got.commit.max(page.commit);
                got.accepted.extend(page.accepted);
                got.more = page.more;
            }
            _ if from_slot == p.from_slot => {
                p.promises.insert(from, page);
            }
            _ => return,
        }
        if let Some(next) = p.promises[&from].more {
            p.asked.insert(from, now);
            self.send(
                from,
                Message::Prepare {
                    ballot,
                    from_slot: next,
                },
            );
        }
        self.check_promises();
    }

    /// Asks again, every resend interval, for what phase 1 still waits
    /// on: a promise's next page, or a promise from a voter asked that
    /// never answered (its `Prepare` or the `Promise` may be lost).
    pub(crate) fn prepare_tick(&mut self) {
        let now = self.now;
        let resend = self.cfg.resend_interval_us;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let ballot = l.ballot;
        let Some(p) = &mut l.preparing else {
            return;
        };
        if p.catchup_to.is_some() {
            return;
        }
        let mut due = Vec::new();
        for (node, at) in p.asked.iter_mut() {
            if *at + resend > now {
                continue;
            }
            let from_slot = match p.promises.get(node) {
                None => p.from_slot,
                Some(got) => match got.more {
                    Some(more) => more,
                    None => continue,
                },
            };
            *at = now;
            due.push((*node, from_slot));
        }
        for (to, from_slot) in due {
            self.send(to, Message::Prepare { ballot, from_slot });
        }
    }

    /// For each slot from `from_slot` on, the value to re-propose: the one
    /// reported in the highest ballot (a value reported chosen wins
    /// outright), with who reported it in that ballot. Complete promises
    /// only.
    fn merge_promises(&self, p: &Preparing) -> BTreeMap<Slot, Merged> {
        let mut best: BTreeMap<Slot, Merged> = BTreeMap::new();
        for (&node, got) in p.promises.iter().filter(|(_, g)| g.more.is_none()) {
            for r in &got.accepted {
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
    /// Start from the configuration at the end of the known-chosen prefix:
    /// our commit point, extended over every following slot whose merged
    /// value is known chosen, either because a promise says so or because
    /// it is a membership change that a majority of the configuration it
    /// creates reported accepting in one ballot (a change governs its own
    /// slot, and every slot below a change was chosen when it was proposed,
    /// so that majority is exactly the quorum its ballot counted). After
    /// that prefix, every change among the merged values starts a new
    /// configuration. Phase 1 needs a majority of each, not only the
    /// Flexible-Paxos cover (`n - majority + 1`): the value of an open slot
    /// may be a change no promise reported, and since a change governs its
    /// own slot, it may have been chosen by a majority of the configuration
    /// before the slot changed by one node. A majority of a configuration
    /// meets every majority of each of its one-node neighbours; the cover
    /// does not (issue 10's agreement violation: promises from {3, 4}
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

    /// A node whose chosen values we must fetch before phase 1 can end:
    /// one that compacted past `from_slot` (it cannot report the values of
    /// the slots it dropped, which are chosen), or one whose commit point
    /// is more than `prepare_catchup_slots` ahead of ours. Asked once a
    /// majority of the configuration at our commit point answered, so one
    /// far-off report does not stall us, and always before phase 1 ends
    /// (`phase1_done`): phase 1 may hold the majorities of the
    /// configurations it learned without a majority of that one, and it
    /// must never end below a promise's compaction point (issue 10,
    /// `synod sim --seed 117446 --profile all`: node 1 filled a slot that
    /// node 5 had compacted, chosen, with a no-op).
    fn catchup_target(&self, p: &Preparing, phase1_done: bool) -> Option<(Slot, NodeId)> {
        let ahead = self.commit.saturating_add(self.cfg.prepare_catchup_slots);
        let target = p
            .promises
            .iter()
            .filter(|(_, g)| g.compacted_upto >= p.from_slot || g.commit > ahead)
            .map(|(n, g)| (g.compacted_upto.max(g.commit), *n))
            .max()?;
        (phase1_done || self.is_true_majority(&self.config_at_commit(), p.promises.keys()))
            .then_some(target)
    }

    pub(crate) fn check_promises(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        let Some(p) = &l.preparing else {
            return;
        };
        if !p.self_promised || p.catchup_to.is_some() {
            return;
        }
        let merged = self.merge_promises(p);
        let mut missing = BTreeSet::new();
        let mut enough = true;
        let configs = self.phase1_configs(&merged);
        let last = configs.len() - 1;
        for (i, c) in configs.iter().enumerate() {
            let ok = if i < last && self.cfg.bugs.has(Bug::Phase1CoverOnly) {
                self.phase1_cover(c, p.complete())
            } else {
                self.is_true_majority(c, p.complete())
            };
            if !ok {
                enough = false;
                missing.extend(c.voters.iter().filter(|v| !p.promises.contains_key(v)));
            }
        }
        if let Some((to, node)) = self.catchup_target(p, enough) {
            if let Role::Leader(l) = &mut self.role {
                if let Some(p) = &mut l.preparing {
                    p.catchup_to = Some((to, node));
                }
            }
            self.catchup_sent_at = Some(self.now);
            let from_slot = self.commit + 1;
            self.send(node, Message::CatchupRequest { from_slot });
            return;
        }
        // Voters of a configuration we just learned of are asked too; those
        // asked already are waited for (and asked again on the tick).
        self.ask_prepare(missing);
        if !enough {
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

    /// A catch-up reply came while phase 1 waits for one: ask for the next
    /// stretch at once (replies are bounded), unless a snapshot transfer
    /// is catching us up (it asks by itself).
    pub(crate) fn continue_prepare_catchup(&mut self) {
        let Role::Leader(l) = &self.role else {
            return;
        };
        let Some((to, node)) = l.preparing.as_ref().and_then(|p| p.catchup_to) else {
            return;
        };
        if self.commit < to && self.incoming.is_none() {
            self.catchup_sent_at = Some(self.now);
            let from_slot = self.commit + 1;
            self.send(node, Message::CatchupRequest { from_slot });
        }
    }
}
