//! Breadth-first search: every state at distance `d` from the start
//! before any at `d + 1`.
//!
//! It reaches a violation by a shortest path, whichever rare steps that
//! path takes: depth-first order exhausts everything behind its first
//! choices before trying others, which put the minority-quorum engine's
//! violation (two elections, seven steps after the warm start) beyond 20M
//! states; breadth-first finds it after about ten thousand.
//!
//! A breadth-first search usually keeps a whole level of states in memory,
//! and a state here is a few kilobytes (each node's engine, disk and
//! clock; a successor shares what its transition did not touch, but a
//! level of a million states is still gigabytes). This one keeps only the
//! tree: for every state, its parent and the transition from it (eight
//! bytes), plus the visited set. A level is expanded by walking the tree
//! in order with the path from the start as a stack of states: moving to
//! the next state of the level pops to the common ancestor and replays
//! the transitions below it. Siblings are adjacent, so the replays cost
//! about one transition per state of the tree, on top of the transitions
//! the search takes anyway; the search is deterministic, so a replayed
//! state is the state found before.
//!
//! Memory is then about 18 bytes a state plus one path of states; the
//! search stops, reported incomplete, past `ExploreConfig::bytes_max`.
//! At most `u32::MAX` states.

use crate::checks::Failure;
use crate::report::{ExploreReport, Limit};
use crate::search::{expand, violation, visited_bytes, Expanded, Start, Visited};
use crate::setup::Setup;
use crate::transition::Transition;
use crate::world::World;
use std::mem::size_of;

/// `links[id - 1]`: the parent of state `id` and the transition from it.
/// The start is state 0; ids are given in breadth-first order, so the
/// states of one level have consecutive ids and siblings are adjacent.
type Links = Vec<(u32, Transition)>;

pub(crate) fn search(setup: &Setup, start: Start, report: &mut ExploreReport) {
    let cfg = &setup.explore;
    let Start {
        world: init,
        prefix,
    } = start;
    let mut visited = Visited::default();
    visited.insert(init.key());
    let mut links: Links = Vec::new();
    let mut walk = Walk {
        stack: vec![(0, init)],
    };
    let mut level = 0..1u32;
    let mut depth = 0u32;
    while !level.is_empty() {
        depth += 1;
        let next_first = links.len() as u32 + 1;
        for id in level {
            // A copy shares every host and message with the walk's.
            let world = match walk.rebuild(setup, &links, id) {
                Ok(world) => world.clone(),
                Err((path, failure)) => {
                    let path = [&prefix[..], &path].concat();
                    report.fail(violation(setup, &path, prefix.len(), failure));
                    return;
                }
            };
            let walk_bytes = walk.bytes();
            let todo = world.enabled(setup);
            if todo.is_empty() {
                report.terminal_states += 1;
                continue;
            }
            if depth > cfg.depth_max {
                report.cut(Limit::Depth);
                continue;
            }
            for t in todo {
                let mut child = world.clone();
                let path_to_t = || {
                    let mut path = prefix.clone();
                    path.extend(path_to(&links, id));
                    path.push(t);
                    path
                };
                match expand(
                    setup,
                    report,
                    &mut visited,
                    &mut child,
                    t,
                    prefix.len(),
                    path_to_t,
                ) {
                    Expanded::Failed => return,
                    Expanded::Known => continue,
                    Expanded::New => {}
                }
                if links.len() >= u32::MAX as usize - 1 {
                    report.cut(Limit::States);
                    return;
                }
                links.push((id, t));
                let bytes = visited_bytes(&visited)
                    + (links.capacity() * size_of::<(u32, Transition)>()) as u64
                    + walk_bytes;
                if !report.count_state(cfg, depth, bytes) {
                    return;
                }
            }
        }
        level = next_first..links.len() as u32 + 1;
    }
}

/// The path from the start to the state last rebuilt: `stack[d]` is its
/// ancestor at depth `d`, with its id.
struct Walk {
    stack: Vec<(u32, World)>,
}

impl Walk {
    /// State `id`, rebuilt from the deepest ancestor it shares with the
    /// state rebuilt before. A replayed transition passed every check
    /// when the state was found; should it fail now (the search would not
    /// be deterministic), the failure is reported with its path.
    fn rebuild(
        &mut self,
        setup: &Setup,
        links: &Links,
        id: u32,
    ) -> Result<&World, (Vec<Transition>, Failure)> {
        let mut chain = vec![id];
        while let Some(&last) = chain.last().filter(|&&i| i != 0) {
            chain.push(links[last as usize - 1].0);
        }
        chain.reverse();
        let shared = chain
            .iter()
            .zip(&self.stack)
            .take_while(|(a, (b, _))| *a == b)
            .count();
        self.stack.truncate(shared);
        for &next in &chain[shared..] {
            let t = links[next as usize - 1].1;
            let (_, parent) = self.stack.last().expect("the start is never popped");
            let mut world = parent.clone();
            if let Err(failure) = world.apply(setup, t, None) {
                return Err((path_to(links, next), failure));
            }
            self.stack.push((next, world));
        }
        Ok(&self.stack.last().expect("just rebuilt").1)
    }

    fn bytes(&self) -> u64 {
        self.stack.iter().map(|(_, w)| w.bytes_estimate()).sum()
    }
}

/// The transitions from the start to state `id`.
fn path_to(links: &Links, mut id: u32) -> Vec<Transition> {
    let mut path = Vec::new();
    while id != 0 {
        let (parent, t) = links[id as usize - 1];
        path.push(t);
        id = parent;
    }
    path.reverse();
    path
}
