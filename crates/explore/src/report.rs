//! What a search reports, printable for a person.

use crate::world::ViolationKind;
use std::fmt;

/// The outcome of one search.
#[derive(Clone, Debug)]
pub struct ExploreReport {
    /// Distinct states visited (the initial one included).
    pub states: u64,
    /// Transitions taken, including those that led to known states.
    pub transitions: u64,
    /// The longest path explored, in transitions.
    pub max_depth: u32,
    /// States with no enabled transition: every budget spent or useless,
    /// nothing in flight, no write in progress.
    pub terminal_states: u64,
    /// The most client commands chosen on any one path. A search that
    /// never chose a command checked little; tests require this to reach
    /// the configured number.
    pub commands_chosen_max: usize,
    /// The first violation found; the search stops there.
    pub violation: Option<Violation>,
    /// True if every state within the budgets and the depth bound was
    /// explored and none violated a check.
    pub complete: bool,
}

/// A check that failed, with the path that led to it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: ViolationKind,
    /// What exactly was wrong, in a sentence.
    pub detail: String,
    /// Every transition from the initial state, the failing one last.
    pub trace: Vec<TraceStep>,
}

/// One transition of a trace and what the nodes did in response.
#[derive(Clone, Debug)]
pub struct TraceStep {
    pub action: String,
    pub effects: Vec<String>,
}

impl fmt::Display for ExploreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} states, {} transitions, depth up to {}, {} terminal states, \
             up to {} command(s) chosen on a path: ",
            self.states,
            self.transitions,
            self.max_depth,
            self.terminal_states,
            self.commands_chosen_max
        )?;
        match (&self.violation, self.complete) {
            (Some(v), _) => write!(f, "VIOLATION\n{v}"),
            (None, true) => write!(f, "complete, no violation"),
            (None, false) => write!(
                f,
                "incomplete (a state or depth limit cut the search), no violation so far"
            ),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.kind.name(), self.detail)?;
        writeln!(f, "trace ({} steps):", self.trace.len())?;
        for (i, step) in self.trace.iter().enumerate() {
            writeln!(f, "{:4}. {}", i + 1, step.action)?;
            for e in &step.effects {
                writeln!(f, "        {e}")?;
            }
        }
        Ok(())
    }
}
