//! The depth-first search over every interleaving, with a visited set.

use crate::config::{ConfigError, ExploreConfig};
use crate::report::{ExploreReport, TraceStep, Violation};
use crate::world::{Failure, Setup, Transition, World};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The visited set's keys are already uniform 64-bit hashes: hashing them
/// again would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

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

type Visited = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// One state on the DFS stack with the transitions still to try from it.
struct Frame {
    world: World,
    todo: Vec<Transition>,
    next: usize,
}

/// Explores every state reachable within `cfg`'s budgets and checks each.
///
/// Depth-first, so memory is the visited set (about 16 bytes a state) plus
/// one path. The search stops at the first violation, or when it runs out
/// of states (`complete`) or hits `states_max` (incomplete).
pub fn explore(cfg: &ExploreConfig) -> Result<ExploreReport, ConfigError> {
    cfg.validate()?;
    let setup = Setup::new(cfg);
    let mut report = ExploreReport {
        states: 1,
        transitions: 0,
        max_depth: 0,
        terminal_states: 0,
        commands_chosen_max: 0,
        violation: None,
        complete: true,
    };
    let mut init = World::new(&setup);
    // `prefix` leads to `init`, `path[i]` from `stack[i]` to `stack[i + 1]`.
    let mut prefix = Vec::new();
    if cfg.warm_start {
        match init.warm_up(&setup) {
            Ok(steps) => prefix = steps,
            Err((steps, failure)) => {
                report.violation = Some(violation(&setup, &steps, 0, failure));
                report.complete = false;
                return Ok(report);
            }
        }
    }
    let mut visited = Visited::default();
    visited.insert(init.key());
    let todo = init.enabled(&setup);
    let mut stack = vec![Frame {
        world: init,
        todo,
        next: 0,
    }];
    let mut path: Vec<Transition> = prefix.clone();
    while let Some(frame) = stack.last_mut() {
        let Some(&t) = frame.todo.get(frame.next) else {
            stack.pop();
            path.pop();
            continue;
        };
        frame.next += 1;
        let mut world = frame.world.clone();
        report.transitions += 1;
        let depth = stack.len() as u32;
        if let Err(failure) = world.apply(&setup, t, None) {
            path.push(t);
            report.violation = Some(violation(&setup, &path, prefix.len(), failure));
            report.complete = false;
            break;
        }
        report.commands_chosen_max = report
            .commands_chosen_max
            .max(world.history.commands_chosen.count_ones() as usize);
        if !visited.insert(world.key()) {
            continue;
        }
        report.states += 1;
        report.max_depth = report.max_depth.max(depth);
        if report.states >= cfg.states_max {
            report.complete = false;
            break;
        }
        let todo = world.enabled(&setup);
        if todo.is_empty() {
            report.terminal_states += 1;
            continue;
        }
        if depth >= cfg.depth_max {
            report.complete = false;
            continue;
        }
        path.push(t);
        stack.push(Frame {
            world,
            todo,
            next: 0,
        });
    }
    Ok(report)
}

/// Replays `path` from the initial state, noting every effect, so a person
/// can follow how the violation came about. The first `warm` steps are the
/// fixed warm-up schedule, and say so.
fn violation(setup: &Setup, path: &[Transition], warm: usize, failure: Failure) -> Violation {
    let mut world = World::new(setup);
    let mut trace = Vec::with_capacity(path.len());
    for (i, &t) in path.iter().enumerate() {
        let mut action = world.describe(t);
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
