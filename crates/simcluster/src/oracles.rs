//! The oracles every simulated cluster keeps, whatever runs on it:
//!
//! - agreement: at most one value chosen per slot, across all nodes and
//!   all time (from `Chosen` and `Applied` events);
//! - replica-state: replicas that applied the same slot hold the same
//!   state digest;
//! - durability: a promise or an acknowledgement leaves a node only once
//!   its disk holds what it promises (checked at every send);
//! - lease: a new leader finishes phase 1 only once every other leader's
//!   lease ran out, on that leader's own clock;
//! - recovery: what the real storage reads back after a crash holds
//!   everything the engine was told is durable, and the restarted node
//!   promises at least that;
//! - invariant: the engine's own invariants hold after every step;
//! - frame-limit: no message needs a frame over the transport's limit
//!   (checked by the network).

use crate::cluster::Cluster;
use std::collections::BTreeMap;
use synod_paxos::{Ballot, DurableState, Message, NodeId, Slot};

/// What the oracles remember across a run: per slot, the first value
/// digest and state digest seen and who reported it.
#[derive(Debug, Default)]
pub(crate) struct Oracles {
    chosen: BTreeMap<Slot, (u64, NodeId)>,
    states: BTreeMap<Slot, (u64, NodeId)>,
}

impl<W> Cluster<W> {
    /// At most one value per slot, across every node and all time.
    pub(crate) fn check_chosen(&mut self, id: NodeId, slot: Slot, value: u64) {
        match self.oracles.chosen.get(&slot) {
            Some((v, other)) if *v != value => {
                let detail = format!(
                    "slot {slot}: node {id} has value {value:#x} chosen but node {other} had {v:#x}"
                );
                self.violation("agreement", detail);
            }
            Some(_) => {}
            None => {
                self.oracles.chosen.insert(slot, (value, id));
            }
        }
    }

    /// Replicas that applied `slot` hold the same state.
    pub(crate) fn check_applied(&mut self, id: NodeId, slot: Slot, state: u64) {
        match self.oracles.states.get(&slot) {
            Some((s, other)) if *s != state => {
                let detail = format!(
                    "after slot {slot} node {id} has state {state:#x} but node {other} had {s:#x}"
                );
                self.violation("replica-state", detail);
            }
            Some(_) => {}
            None => {
                self.oracles.states.insert(slot, (state, id));
            }
        }
    }

    /// The persistence oracle: a promise or an accept may leave a node
    /// only when its disk already holds it.
    pub(crate) fn check_durable_before_send(&mut self, id: NodeId, msg: &Message) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let durable = m.disk.acked();
        let problem = match msg {
            Message::Promise { ballot, .. } if durable.promised < *ballot => Some(format!(
                "node {id} sent a promise of ballot {ballot} while its disk holds promise {}",
                durable.promised
            )),
            Message::Accepted { ballot, slots, .. } => {
                let Some(running) = m.node.as_ref() else {
                    return;
                };
                let engine = running.node.engine();
                slots
                    .iter()
                    .find(|s| {
                        let on_disk = durable
                            .log
                            .get(s)
                            // A higher ballot on disk for the slot was
                            // written after this accept (records are
                            // written in order), so this one reached the
                            // disk before it.
                            .is_some_and(|e| e.ballot >= *ballot || e.chosen);
                        // Acknowledging a slot already known chosen is
                        // safe: a majority holds it on disk already.
                        let chosen = **s <= engine.commit()
                            || engine.log_entry(**s).is_some_and(|(_, _, c)| c);
                        !on_disk && **s > durable.snapshot_slot() && !chosen
                    })
                    .map(|s| {
                        format!("node {id} acknowledged slot {s} in ballot {ballot} before it was on disk")
                    })
            }
            _ => None,
        };
        if let Some(p) = problem {
            self.violation("durability", p);
        }
    }

    /// Lease safety: a new leader may finish phase 1 only once every
    /// other leader's lease has run out, in real time. (A broken lease
    /// shows up here even when no client happened to read stale data.)
    pub(crate) fn check_no_other_lease(&mut self, id: NodeId, ballot: Ballot) {
        let now = self.sched.now();
        let mut problems = Vec::new();
        for (other, m) in &self.members {
            if *other == id {
                continue;
            }
            let Some(running) = &m.node else {
                continue;
            };
            if let Some((theirs, until)) = running.node.engine().lease_until() {
                // A leader in a lower ballot loses its lease to us; one in
                // a higher ballot (elected since) will preempt us.
                let local = m.clock.local_us(now);
                if theirs < ballot && until > local {
                    problems.push(format!(
                        "n{id} became leader in ballot {ballot} while n{other} still holds its lease of ballot {theirs} for {}us of its clock",
                        until - local
                    ));
                }
            }
        }
        for p in problems {
            self.violation("lease", p);
        }
    }

    /// Recovery, on the real storage: what a restarted node read back
    /// from its disk holds everything that was acknowledged as durable
    /// before the crash (its promise, every accepted value at a ballot at
    /// least as high, everything learned, its commit point), and the
    /// engine it started promises at least that much.
    pub(crate) fn check_recovery(&mut self, id: NodeId, recovered: &DurableState) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let Some(running) = &m.node else {
            return;
        };
        let mut problems = Vec::new();
        let acked = m.disk.acked();
        if recovered.promised < acked.promised {
            problems.push(format!(
                "n{id} recovered a promise of {} from its disk, but {} was acknowledged",
                recovered.promised, acked.promised
            ));
        }
        let promised = running.node.engine().promised();
        if promised < acked.promised {
            problems.push(format!(
                "n{id} restarted promising {promised} although its disk acknowledged {}",
                acked.promised
            ));
        }
        if recovered.commit < acked.commit {
            problems.push(format!(
                "n{id} recovered commit {} from its disk, but {} was acknowledged",
                recovered.commit, acked.commit
            ));
        }
        let covered = recovered.snapshot_slot();
        if covered < acked.snapshot_slot() {
            problems.push(format!(
                "n{id} recovered a snapshot of slot {covered}, but one of slot {} was acknowledged",
                acked.snapshot_slot()
            ));
        }
        for (slot, entry) in acked.log.range(covered + 1..) {
            let kept = recovered.log.get(slot);
            let lost = match kept {
                None => true,
                Some(k) => k.ballot < entry.ballot || (entry.chosen && !k.chosen),
            };
            if lost {
                problems.push(format!(
                    "n{id} lost slot {slot} (ballot {}, chosen {}) in recovery: its disk gave back {kept:?}",
                    entry.ballot, entry.chosen
                ));
                break;
            }
        }
        for p in problems {
            self.violation("recovery", p);
        }
    }
}
