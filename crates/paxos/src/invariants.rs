//! The engine's invariants, stated as code: `Node::check_invariants` checks
//! them on the node's current state. The simulators call it after every
//! step of every node; the runtime calls the cheap half (`cheap_only`)
//! after every step in release builds too, so a state that breaks one is
//! stopped before it can send anything that depends on it.
//!
//! Each rule has a short name, used in violation reports and tests.

use crate::leader::Leader;
use crate::node::{Node, Role};
use crate::state_machine::StateMachine;
use std::fmt;

/// A broken engine invariant: which rule, and what was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvariantViolation {
    pub rule: &'static str,
    pub detail: String,
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} broken: {}", self.rule, self.detail)
    }
}

fn broken(rule: &'static str, detail: String) -> Result<(), InvariantViolation> {
    Err(InvariantViolation { rule, detail })
}

impl<S: StateMachine> Node<S> {
    /// Checks every invariant; `cheap_only` leaves out those that walk the
    /// log (for release builds, after every step).
    pub fn check_invariants(&self, cheap_only: bool) -> Result<(), InvariantViolation> {
        self.check_cheap()?;
        if !cheap_only {
            self.check_log()?;
        }
        Ok(())
    }

    /// O(1) or O(in flight) checks.
    fn check_cheap(&self) -> Result<(), InvariantViolation> {
        if self.applied > self.commit {
            return broken(
                "applied-le-commit",
                format!("applied {} > commit {}", self.applied, self.commit),
            );
        }
        if self.compacted > self.commit {
            return broken(
                "compacted-le-commit",
                format!("compacted {} > commit {}", self.compacted, self.commit),
            );
        }
        if self.snapshot_slot() > self.applied {
            return broken(
                "snapshot-le-applied",
                format!(
                    "snapshot at {} > applied {}",
                    self.snapshot_slot(),
                    self.applied
                ),
            );
        }
        if self.persisted_id >= self.next_persist_id {
            return broken(
                "persisted-before-asked",
                format!(
                    "persisted id {} but next id to ask is {}",
                    self.persisted_id, self.next_persist_id
                ),
            );
        }
        // Deferred work is released in the order it was persisted: its ids
        // never decrease, and none is due already.
        let mut last = 0;
        for (id, item) in &self.deferred {
            if *id < last {
                return broken(
                    "deferred-in-persist-order",
                    format!("deferred id {id} after {last}"),
                );
            }
            if *id <= self.persisted_id {
                return broken(
                    "deferred-released",
                    format!(
                        "{item:?} waits for write {id}, durable up to {}",
                        self.persisted_id
                    ),
                );
            }
            last = *id;
        }
        if let Role::Leader(l) = &self.role {
            self.check_leader(l)?;
        }
        if self.forwarded.len() > self.cfg.forwarded_max {
            return broken(
                "forwarded-bounded",
                format!(
                    "{} commands held, at most {}",
                    self.forwarded.len(),
                    self.cfg.forwarded_max
                ),
            );
        }
        Ok(())
    }

    fn check_leader(&self, l: &Leader) -> Result<(), InvariantViolation> {
        if l.ballot != self.promised {
            return broken(
                "leader-ballot-is-promised",
                format!("leads in {} but promised {}", l.ballot, self.promised),
            );
        }
        if l.ballot.node != self.id {
            return broken(
                "leader-own-ballot",
                format!("node {} leads in ballot {}", self.id, l.ballot),
            );
        }
        if l.preparing.is_none() {
            if l.proposals.len() as u64 > self.cfg.window_slots + l.reproposed {
                return broken(
                    "window-bounded",
                    format!(
                        "{} proposals in flight, window {} (+{} re-proposed)",
                        l.proposals.len(),
                        self.cfg.window_slots,
                        l.reproposed
                    ),
                );
            }
            if let Some((&first, _)) = l.proposals.first_key_value() {
                if first <= self.commit {
                    return broken(
                        "proposals-above-commit",
                        format!("slot {first} in flight, commit {}", self.commit),
                    );
                }
            }
            if let Some((&last, _)) = l.proposals.last_key_value() {
                if last >= l.next_slot {
                    return broken(
                        "proposals-below-next-slot",
                        format!("slot {last} in flight, next slot {}", l.next_slot),
                    );
                }
            }
        }
        if l.queue.len() > self.cfg.queue_commands_max {
            return broken(
                "queue-bounded",
                format!(
                    "{} commands queued, at most {}",
                    l.queue.len(),
                    self.cfg.queue_commands_max
                ),
            );
        }
        Ok(())
    }

    /// Checks that walk the log.
    fn check_log(&self) -> Result<(), InvariantViolation> {
        let mut expected = self.compacted + 1;
        for (slot, e) in &self.log {
            if *slot <= self.compacted {
                return broken(
                    "log-above-compacted",
                    format!("slot {slot} kept, compacted {}", self.compacted),
                );
            }
            if e.ballot > self.promised {
                return broken(
                    "accepted-le-promised",
                    format!(
                        "slot {slot} accepted in {} but promised only {}",
                        e.ballot, self.promised
                    ),
                );
            }
            if *slot <= self.commit {
                if *slot != expected {
                    return broken(
                        "committed-prefix-present",
                        format!("slot {expected} missing below commit {}", self.commit),
                    );
                }
                if !e.chosen {
                    return broken(
                        "committed-is-chosen",
                        format!("slot {slot} below commit {} not chosen", self.commit),
                    );
                }
                expected += 1;
            }
        }
        if expected <= self.commit {
            return broken(
                "committed-prefix-present",
                format!("slots {expected}..={} missing below commit", self.commit),
            );
        }
        if let Role::Leader(l) = &self.role {
            let bytes: usize = l.proposals.values().map(|p| p.value.encoded_bytes()).sum();
            if bytes != l.window_bytes {
                return broken(
                    "window-bytes-counted",
                    format!("{bytes} bytes in flight, counted {}", l.window_bytes),
                );
            }
            for slot in l.proposals.keys() {
                match self.log.get(slot) {
                    Some(e) if e.ballot == l.ballot => {}
                    other => {
                        return broken(
                            "proposal-in-own-log",
                            format!(
                                "slot {slot} proposed in {} but the log holds {:?}",
                                l.ballot,
                                other.map(|e| e.ballot)
                            ),
                        )
                    }
                }
            }
        }
        Ok(())
    }
}
