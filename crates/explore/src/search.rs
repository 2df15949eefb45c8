//! The search: where it starts, the visited set, the limits, and how a
//! violation becomes a trace a person can read. The two orders live in
//! `depth_first.rs` and `breadth_first.rs`.

use crate::checks::Failure;
use crate::config::{ConfigError, ExploreConfig, SearchOrder};
use crate::report::{ExploreReport, Limit, TraceStep, Violation};
use crate::setup::Setup;
use crate::transition::Transition;
use crate::world::{Effect, World};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;

/// The visited set's keys are already uniform 64-bit hashes: hashing them
/// again would only cost time.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type Visited = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// The visited set's memory: a table of `u64` keys with one control byte
/// each, kept at most 7/8 full.
pub(crate) fn visited_bytes(visited: &Visited) -> u64 {
    let buckets = (visited.capacity() as u64 * 8).div_ceil(7);
    buckets * (size_of::<u64>() as u64 + 1)
}

/// What one transition from an explored state came to.
pub(crate) enum Expanded {
    /// A check failed; the violation is in the report and the search stops.
    Failed,
    /// Nothing changed worth a state, or the state was seen already.
    Known,
    /// A state not seen before, now in `visited`.
    New,
}

/// Takes transition `t` on `world` (a copy of the state it leaves), the
/// step both orders share: counts it, reports a failed check with the path
/// that `path_to_t` builds (the steps from the initial world up to and
/// including `t`), skips a dominated step, and dedups against `visited`.
pub(crate) fn expand(
    setup: &Setup,
    report: &mut ExploreReport,
    visited: &mut Visited,
    world: &mut World,
    t: Transition,
    warm: usize,
    path_to_t: impl FnOnce() -> Vec<Transition>,
) -> Expanded {
    report.transitions += 1;
    match world.apply(setup, t, None) {
        Err(failure) => {
            report.fail(violation(setup, &path_to_t(), warm, failure));
            return Expanded::Failed;
        }
        Ok(Effect::Dominated) => return Expanded::Known,
        Ok(Effect::Changed) => {}
    }
    report.note_progress(world);
    if visited.insert(world.key()) {
        Expanded::New
    } else {
        Expanded::Known
    }
}

/// Where every search starts: the initial world (after the warm-up, if
/// configured) and the steps that led to it.
pub(crate) struct Start {
    pub world: World,
    pub prefix: Vec<Transition>,
}

/// Explores every state reachable within `cfg`'s budgets and checks each.
///
/// The search stops at the first violation, or when it runs out of states
/// (`complete`), or at a limit (`states_max`, `bytes_max`; `depth_max`
/// only stops a path), then reported incomplete with the limit named.
pub fn explore(cfg: &ExploreConfig) -> Result<ExploreReport, ConfigError> {
    cfg.validate()?;
    let setup = Setup::new(cfg);
    let mut world = World::new(&setup);
    let mut report = ExploreReport::new(cfg.order);
    let prefix = match world.warm_up_if(&setup) {
        Ok(prefix) => prefix,
        Err((steps, failure)) => {
            report.violation = Some(violation(&setup, &steps, steps.len(), failure));
            report.complete = false;
            return Ok(report);
        }
    };
    let start = Start { world, prefix };
    match cfg.order {
        SearchOrder::DepthFirst => crate::depth_first::search(&setup, start, &mut report),
        SearchOrder::BreadthFirst => crate::breadth_first::search(&setup, start, &mut report),
    }
    Ok(report)
}

impl World {
    fn warm_up_if(&mut self, setup: &Setup) -> Result<Vec<Transition>, (Vec<Transition>, Failure)> {
        if setup.explore.warm_start {
            self.warm_up(setup)
        } else {
            Ok(Vec::new())
        }
    }
}

impl ExploreReport {
    /// Notes a state the search keeps and checks the limits; false if one
    /// cut the search (then recorded in the report).
    pub(crate) fn count_state(&mut self, cfg: &ExploreConfig, depth: u32, bytes: u64) -> bool {
        self.states += 1;
        self.max_depth = self.max_depth.max(depth);
        self.bytes_peak = self.bytes_peak.max(bytes);
        if self.states >= cfg.states_max {
            self.cut(Limit::States);
            return false;
        }
        if bytes > cfg.bytes_max {
            self.cut(Limit::Bytes);
            return false;
        }
        true
    }

    /// What the checks saw chosen on the path to `world`.
    pub(crate) fn note_progress(&mut self, world: &World) {
        let h = &world.history;
        self.commands_chosen_max = self
            .commands_chosen_max
            .max(h.commands_chosen.count_ones() as usize);
        self.changes_chosen_max = self
            .changes_chosen_max
            .max(h.changes_chosen.count_ones() as usize);
    }

    pub(crate) fn cut(&mut self, limit: Limit) {
        self.complete = false;
        self.limit.get_or_insert(limit);
    }

    pub(crate) fn fail(&mut self, violation: Violation) {
        self.complete = false;
        self.violation = Some(violation);
    }
}

/// Replays `path` from the initial state, noting every effect, so a person
/// can follow how the violation came about. The first `warm` steps are the
/// fixed warm-up schedule, and say so.
pub(crate) fn violation(
    setup: &Setup,
    path: &[Transition],
    warm: usize,
    failure: Failure,
) -> Violation {
    let mut world = World::new(setup);
    let mut trace = Vec::with_capacity(path.len());
    for (i, &t) in path.iter().enumerate() {
        let mut action = world.describe(setup, t);
        if i < warm {
            action.insert_str(0, "(warm-up) ");
        }
        let mut effects = Vec::new();
        // The last step fails again; earlier ones passed during the search.
        let _ = world.apply(setup, t, Some(&mut effects));
        trace.push(TraceStep { action, effects });
    }
    Violation {
        kind: failure.kind,
        detail: failure.detail,
        trace,
    }
}
