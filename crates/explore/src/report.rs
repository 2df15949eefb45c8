//! What a search reports, printable for a person.

use crate::checks::ViolationKind;
use crate::config::SearchOrder;
use std::fmt;

/// The outcome of one search.
#[derive(Clone, Debug)]
pub struct ExploreReport {
    /// The order the search went in.
    pub order: SearchOrder,
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
    /// The most configured membership changes chosen on any one path.
    pub changes_chosen_max: usize,
    /// The largest estimate of the search's own memory, in bytes: the
    /// visited set, the trace links (breadth-first) and the states waiting
    /// to be expanded. The limit is `ExploreConfig::bytes_max`.
    pub bytes_peak: u64,
    /// The first violation found; the search stops there.
    pub violation: Option<Violation>,
    /// True if every state within the budgets was explored and none
    /// violated a check.
    pub complete: bool,
    /// The first limit that cut the search, if one did.
    pub limit: Option<Limit>,
}

/// A limit that keeps a search finite, and cut it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `ExploreConfig::states_max`: the search stopped.
    States,
    /// `ExploreConfig::bytes_max`: the search stopped.
    Bytes,
    /// `ExploreConfig::depth_max`: states at the bound were not expanded;
    /// the search went on with the others.
    Depth,
}

impl Limit {
    pub fn describe(self) -> &'static str {
        match self {
            Limit::States => "the state limit (states_max) stopped the search",
            Limit::Bytes => "the memory limit (bytes_max) stopped the search",
            Limit::Depth => "the depth bound (depth_max) cut some paths",
        }
    }
}

impl ExploreReport {
    /// The report of a search that has seen only its initial state.
    pub(crate) fn new(order: SearchOrder) -> Self {
        ExploreReport {
            order,
            states: 1,
            transitions: 0,
            max_depth: 0,
            terminal_states: 0,
            commands_chosen_max: 0,
            changes_chosen_max: 0,
            bytes_peak: 0,
            violation: None,
            complete: true,
            limit: None,
        }
    }
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
            "{}: {} states, {} transitions, depth up to {}, {} terminal states, \
             up to {} command(s) and {} membership change(s) chosen on a path, \
             memory estimate up to {:.1} MiB: ",
            self.order.name(),
            self.states,
            self.transitions,
            self.max_depth,
            self.terminal_states,
            self.commands_chosen_max,
            self.changes_chosen_max,
            self.bytes_peak as f64 / f64::from(1 << 20)
        )?;
        match (&self.violation, self.complete, self.limit) {
            (Some(v), _, _) => write!(f, "VIOLATION\n{v}"),
            (None, true, _) => write!(f, "complete, no violation"),
            (None, false, limit) => write!(
                f,
                "incomplete ({}), no violation so far",
                limit.map_or("cut", Limit::describe)
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
