//! The replica's rules: learning what is chosen, applying it in slot order
//! with exactly-once semantics, snapshots, and catching up from peers.

use crate::action::{Event, Outcome};
use crate::config::ENTRY_OVERHEAD_BYTES;
use crate::durable::{ClientRecord, Record, Snapshot};
use crate::message::Message;
use crate::node::{Entry, Node, Role};
use crate::snapshot_data::{SnapshotData, SnapshotWriter};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, ClientId, NodeId, Slot, Value};
use std::collections::BTreeSet;

impl<S: StateMachine> Node<S> {
    /// The leader of `ballot` says everything up to `commit` is chosen.
    /// An entry we accepted in that same ballot is the leader's value, so
    /// it is the chosen one; anything else we must fetch.
    pub(crate) fn learn_commit(&mut self, _leader: NodeId, ballot: Ballot, commit: Slot) {
        self.known_commit = self.known_commit.max(commit);
        let mut slot = self.commit + 1;
        while slot <= commit {
            match self.log.get_mut(&slot) {
                Some(e) if e.chosen => {}
                Some(e) if e.ballot == ballot => e.chosen = true,
                _ => break,
            }
            slot += 1;
        }
        self.advance_commit();
        self.maybe_request_catchup();
    }

    /// Moves the commit point over contiguous chosen entries and applies.
    pub(crate) fn advance_commit(&mut self) {
        if self.config.voters.is_empty() {
            // A joining node applies nothing until a snapshot told it the
            // configuration; entries alone would replay from an empty one.
            return;
        }
        let before = self.commit;
        while let Some(e) = self.log.get(&(self.commit + 1)) {
            if !e.chosen {
                break;
            }
            self.commit += 1;
        }
        if self.commit > before {
            self.record_commit_later();
            self.known_commit = self.known_commit.max(self.commit);
        }
        self.apply_chosen();
        self.on_caught_up();
    }

    fn apply_chosen(&mut self) {
        while self.applied < self.commit {
            let slot = self.applied + 1;
            let value = self
                .log
                .get(&slot)
                .map(|e| e.value.clone())
                .expect("a committed slot is in the log");
            self.apply_value(slot, &value);
            self.applied = slot;
            if self.cfg.events {
                let state = self.sm.digest();
                self.event(Event::Applied {
                    slot,
                    value: value.digest(),
                    state,
                });
            }
            if let Value::Reconfig(_) = value {
                self.on_reconfig_applied(slot);
            }
        }
    }

    fn apply_value(&mut self, slot: Slot, value: &Value) {
        match value {
            Value::Noop => {}
            Value::Reconfig(change) => {
                if self.config.check(*change).is_ok() {
                    self.config = self.config.with(*change);
                    self.sm.on_membership_change(slot, *change);
                }
            }
            Value::Batch(cmds) => {
                for cmd in cmds {
                    if let Some(rec) = self.clients.get(&cmd.client) {
                        if cmd.seq <= rec.seq {
                            // A duplicate: applied before, never again. If a
                            // client waits on it here, answer from the table.
                            self.answer_covered(cmd.client);
                            continue;
                        }
                        let old = rec.slot;
                        self.clients_by_slot.remove(&(old, cmd.client));
                    }
                    let reply = self.sm.apply(&cmd.op);
                    if self.waiting.remove(&(cmd.client, cmd.seq)) {
                        self.reply(cmd.client, cmd.seq, Outcome::Ok(reply.clone()));
                    }
                    self.clients.insert(
                        cmd.client,
                        ClientRecord {
                            seq: cmd.seq,
                            reply,
                            slot,
                        },
                    );
                    self.clients_by_slot.insert((slot, cmd.client));
                    // Older commands of this client waiting here will never
                    // apply now; the applied one left `waiting` above but
                    // may still be held for forwarding or relayed.
                    self.answer_covered(cmd.client);
                    self.evict_clients();
                }
            }
        }
    }

    /// Answers, from the client table, every command of `client` that
    /// waits here and that the table covers (its latest applied command,
    /// or an older one that will never apply), and forgets them as held
    /// for forwarding or relayed for a follower.
    pub(crate) fn answer_covered(&mut self, client: ClientId) {
        let Some(rec) = self.clients.get(&client) else {
            return;
        };
        let last = rec.seq;
        let covered = (client, 0)..=(client, last);
        let waiting: Vec<u64> = self.waiting.range(covered.clone()).map(|k| k.1).collect();
        let held: Vec<u64> = self
            .forwarded
            .range(covered.clone())
            .map(|(k, _)| k.1)
            .collect();
        if let Role::Leader(l) = &mut self.role {
            let relayed: Vec<(ClientId, u64)> = l.relayed.range(covered).copied().collect();
            for key in relayed {
                l.relayed.remove(&key);
            }
        }
        for seq in held {
            if let Some(f) = self.forwarded.remove(&(client, seq)) {
                self.forwarded_bytes -= f.cmd.encoded_bytes();
            }
        }
        if waiting.is_empty() {
            return;
        }
        let reply = rec.reply.clone();
        for seq in waiting {
            self.waiting.remove(&(client, seq));
            let outcome = if seq == last {
                Outcome::Ok(reply.clone())
            } else {
                Outcome::Stale
            };
            self.reply(client, seq, outcome);
        }
    }

    /// After a snapshot replaced the client table: commands waiting here
    /// that it covers were applied in slots this replica skipped, and no
    /// apply will answer them any more.
    fn answer_covered_all(&mut self) {
        let mut clients: BTreeSet<ClientId> = self.waiting.iter().map(|k| k.0).collect();
        clients.extend(self.forwarded.keys().map(|k| k.0));
        if let Role::Leader(l) = &self.role {
            clients.extend(l.relayed.iter().map(|k| k.0));
        }
        for client in clients {
            self.answer_covered(client);
        }
    }

    fn evict_clients(&mut self) {
        while self.clients.len() > self.cfg.clients_max {
            let Some((_, client)) = self.clients_by_slot.pop_first() else {
                return;
            };
            self.clients.remove(&client);
        }
    }

    // ---- snapshots ----

    pub(crate) fn maybe_snapshot(&mut self) {
        let last = self.snapshot_slot();
        if self.applied < last + self.cfg.snapshot_interval_slots {
            return;
        }
        let snap = self.applied_snapshot();
        self.persist(Record::Snapshot(Box::new(snap.clone())));
        self.snapshot = Some(snap);
        self.event(Event::SnapshotTaken { slot: self.applied });
        // Keep a tail of the log so that slightly lagging peers catch up
        // from entries instead of a whole snapshot.
        let keep_from = self.applied.saturating_sub(self.cfg.log_retain_slots) + 1;
        self.compact_below(keep_from);
    }

    /// The applied state as the snapshot `maybe_snapshot` would save now,
    /// without saving it or changing anything (a backup's contents).
    pub fn applied_snapshot(&self) -> Snapshot {
        Snapshot {
            last_slot: self.applied,
            config: self.config.clone(),
            clients: self.clients.clone(),
            state: self.state_snapshot(),
        }
    }

    /// The state machine's state, in chunks of `snapshot_chunk_bytes`.
    pub(crate) fn state_snapshot(&self) -> SnapshotData {
        let mut out = SnapshotWriter::new(self.cfg.snapshot_chunk_bytes);
        self.sm.snapshot(&mut out);
        out.finish()
    }

    /// Drops log entries below `slot` (all chosen and in the snapshot).
    fn compact_below(&mut self, slot: Slot) {
        if slot <= self.compacted + 1 {
            return;
        }
        self.log = self.log.split_off(&slot);
        self.compacted = slot - 1;
    }

    /// Adopts a snapshot's replica state (the state machine itself is
    /// restored by the caller).
    pub(crate) fn install_snapshot_state(&mut self, snap: Snapshot) {
        self.config = snap.config.clone();
        self.clients = snap.clients.clone();
        self.clients_by_slot = self.clients.iter().map(|(c, r)| (r.slot, *c)).collect();
        self.applied = snap.last_slot;
        self.commit = self.commit.max(snap.last_slot);
        self.known_commit = self.known_commit.max(snap.last_slot);
        self.log = self.log.split_off(&(snap.last_slot + 1));
        self.compacted = self.compacted.max(snap.last_slot);
        self.snapshot = Some(snap);
    }

    /// Installs a snapshot received from a peer (whole or in chunks) if it
    /// is ahead of our commit point and restores: persists it, restores the
    /// state machine from it and adopts its replica state.
    pub(crate) fn install_snapshot(&mut self, snap: Snapshot) {
        if snap.last_slot <= self.commit {
            return;
        }
        if self.sm.restore(&snap.state).is_err() {
            return;
        }
        self.persist(Record::Snapshot(Box::new(snap.clone())));
        let slot = snap.last_slot;
        self.install_snapshot_state(snap);
        self.event(Event::SnapshotInstalled { slot });
        self.answer_covered_all();
        if self.incoming.as_ref().is_some_and(|t| t.last_slot <= slot) {
            // A transfer of an older snapshot is moot now.
            self.incoming = None;
        }
    }

    // ---- catch-up ----

    /// Asks the leader for chosen values we lack, at most once per resend
    /// interval.
    pub(crate) fn maybe_request_catchup(&mut self) {
        if self.known_commit <= self.commit {
            return;
        }
        if self.incoming.is_some() {
            // A snapshot transfer is catching us up; a new request would
            // only make the sender start it over. It retries by itself.
            return;
        }
        let Some(leader) = self.leader_hint() else {
            return;
        };
        if leader == self.id {
            return;
        }
        if self
            .catchup_sent_at
            .is_some_and(|t| t + self.cfg.resend_interval_us > self.now)
        {
            return;
        }
        self.catchup_sent_at = Some(self.now);
        let from_slot = self.commit + 1;
        self.send(leader, Message::CatchupRequest { from_slot });
    }

    pub(crate) fn on_catchup_request(&mut self, from: NodeId, from_slot: Slot) {
        let mut snapshot = None;
        let mut start = from_slot.max(1);
        // A node that knows nothing (a new member) starts from a snapshot:
        // the log alone does not hold the configuration the cluster was
        // bootstrapped with.
        if start <= self.compacted || (start == 1 && self.applied > 0) {
            let Some(snap) = self.snapshot_to_send() else {
                return;
            };
            if crate::transfer::snapshot_encoded_bytes(&snap) > self.cfg.snapshot_chunk_bytes as u64
            {
                // Too large for one message: in chunks (see `transfer`).
                // The entries after it follow once it is installed.
                self.start_snapshot_transfer(from, snap);
                return;
            }
            start = snap.last_slot + 1;
            snapshot = Some(Box::new(snap));
        }
        if snapshot.is_none() && start > self.commit {
            return;
        }
        // As many chosen entries as fit one message (at least one); the
        // replica asks for the rest when this reply is in.
        let budget = self.cfg.message_bytes_max;
        let mut bytes = snapshot
            .as_ref()
            .map_or(0, |s| crate::transfer::snapshot_encoded_bytes(s) as usize);
        let mut entries: Vec<(Slot, Value)> = Vec::new();
        for (s, e) in self
            .log
            .range(start..self.commit + 1)
            .take(self.cfg.catchup_entries_max)
        {
            let cost = e.value.encoded_bytes() + ENTRY_OVERHEAD_BYTES;
            if (snapshot.is_some() || !entries.is_empty()) && bytes + cost > budget {
                break;
            }
            bytes += cost;
            entries.push((*s, e.value.clone()));
        }
        if snapshot.is_none() && entries.is_empty() {
            return;
        }
        let msg = Message::CatchupReply {
            snapshot,
            entries,
            commit: self.commit,
        };
        self.send(from, msg);
    }

    pub(crate) fn on_catchup_reply(
        &mut self,
        _from: NodeId,
        snapshot: Option<Box<Snapshot>>,
        entries: Vec<(Slot, Value)>,
        commit: Slot,
    ) {
        if self.is_active_leader() {
            // A reply to a request from before we led, late. A leader's
            // commit point moves only by what its own ballot gets chosen:
            // the phase-1 rule rests on a leader proposing a membership
            // change only when every slot below it was chosen in its own
            // ballot or known before its phase 1 ended.
            return;
        }
        self.catchup_sent_at = None;
        self.known_commit = self.known_commit.max(commit);
        if let Some(snap) = snapshot {
            self.install_snapshot(*snap);
        }
        for (slot, value) in entries {
            if slot <= self.commit || self.log.get(&slot).is_some_and(|e| e.chosen) {
                continue;
            }
            self.persist(Record::Learned {
                slot,
                value: value.clone(),
            });
            let ballot = self.log.get(&slot).map(|e| e.ballot).unwrap_or_default();
            self.log.insert(
                slot,
                Entry {
                    ballot,
                    value,
                    chosen: true,
                },
            );
        }
        self.advance_commit();
        self.maybe_request_catchup();
        self.continue_prepare_catchup();
    }
}
