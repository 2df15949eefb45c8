//! The checks on every explored state, and what they remember of the path.
//!
//! They hold the history, not any node, to what was chosen and applied:
//! a node may forget what it chose or applied when it crashes, and the
//! violation may show only later, on another node.

use crate::setup::Setup;
use crate::world::World;
use std::collections::BTreeMap;
use synod_paxos::{NodeId, Slot, Value};

/// What a check found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two different values were chosen for one slot.
    Agreement,
    /// Two replicas that applied the same slots hold different states.
    Divergence,
    /// A command took effect twice.
    AppliedTwice,
    /// The engine panicked.
    Panic,
}

impl ViolationKind {
    pub fn name(&self) -> &'static str {
        match self {
            ViolationKind::Agreement => "two values chosen for one slot",
            ViolationKind::Divergence => "replicas diverged",
            ViolationKind::AppliedTwice => "a command applied twice",
            ViolationKind::Panic => "engine panicked",
        }
    }
}

/// A failed check, before the search attaches the trace.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: ViolationKind,
    pub detail: String,
}

/// Facts the checks keep along a path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct History {
    /// Slot -> digest of the value chosen there.
    pub chosen: BTreeMap<Slot, u64>,
    /// Slot -> state-machine digest right after applying it.
    pub applied: BTreeMap<Slot, u64>,
    /// Bit `i` set: command `i` was chosen in some slot.
    pub commands_chosen: u64,
    /// Bit `i` set: membership change `i` was chosen in some slot.
    pub changes_chosen: u64,
}

impl World {
    /// Remembers that `node` holds `value` chosen in `slot`; fails if the
    /// path already saw another value chosen there.
    pub(crate) fn note_chosen(
        &mut self,
        node: NodeId,
        slot: Slot,
        value: u64,
        how: &str,
    ) -> Result<(), Failure> {
        match self.history.chosen.insert(slot, value) {
            Some(before) if before != value => Err(Failure {
                kind: ViolationKind::Agreement,
                detail: format!(
                    "slot {slot}: node {node} {how} a value with digest {value:#018x}, \
                     but a value with digest {before:#018x} was chosen there earlier"
                ),
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn note_applied(
        &mut self,
        node: NodeId,
        slot: Slot,
        state: u64,
    ) -> Result<(), Failure> {
        match self.history.applied.insert(slot, state) {
            Some(before) if before != state => Err(Failure {
                kind: ViolationKind::Divergence,
                detail: format!(
                    "after applying slot {slot} node {node} has state {state:#018x}, \
                     another replica had {before:#018x}"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The checks on one node's state: its chosen values agree with every
    /// value chosen before on this path, its state agrees with every other
    /// replica's at the same slot, and no command took effect twice.
    pub(crate) fn check_host(&mut self, setup: &Setup, i: usize) -> Result<(), Failure> {
        let node = &self.hosts[i].node;
        let id = node.id();
        let mut found = Vec::new();
        let mut commands = 0u64;
        let mut changes = 0u64;
        for (slot, value) in node.chosen_values() {
            found.push((slot, value.digest(), value.describe()));
            match value {
                Value::Batch(cmds) => {
                    for c in cmds {
                        if let Some(index) = Setup::command_index(&c.op) {
                            commands |= 1 << index;
                        }
                    }
                }
                Value::Reconfig(change) => {
                    if let Some(index) = setup.change_index(*change) {
                        changes |= 1 << index;
                    }
                }
                Value::Noop => {}
            }
        }
        let applied = node.applied();
        let state = node.state_digest();
        let repeated = node.state_machine().repeated_op().map(<[u8]>::to_vec);
        self.history.commands_chosen |= commands;
        self.history.changes_chosen |= changes;
        for (slot, digest, text) in found {
            self.note_chosen(id, slot, digest, &format!("holds {text} as chosen and"))?;
        }
        if applied > 0 {
            self.note_applied(id, applied, state)?;
        }
        if let Some(op) = repeated {
            return Err(Failure {
                kind: ViolationKind::AppliedTwice,
                detail: format!("node {id} applied operation {op:?} twice"),
            });
        }
        Ok(())
    }
}

pub(crate) fn panic_failure(
    node: NodeId,
    doing: &str,
    payload: Box<dyn std::any::Any + Send>,
) -> Failure {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string());
    Failure {
        kind: ViolationKind::Panic,
        detail: format!("node {node} panicked while {doing}: {text}"),
    }
}
