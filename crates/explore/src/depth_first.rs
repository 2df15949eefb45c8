//! Depth-first search with a visited set: one path at a time.
//!
//! Memory is the visited set (about 10 bytes a state) plus the path, so a
//! full search of millions of states fits anywhere. A state met again is
//! not explored again, even when met at a smaller depth: with `depth_max`
//! cutting paths, a state first met near the bound may hide states a
//! shorter path would have reached (the report then says the search was
//! cut by the depth bound).

use crate::report::{ExploreReport, Limit};
use crate::search::{expand, visited_bytes, Expanded, Start, Visited};
use crate::setup::Setup;
use crate::transition::Transition;
use crate::world::World;
use std::mem::size_of;

/// One state on the stack with the transitions still to try from it.
struct Frame {
    world: World,
    todo: Vec<Transition>,
    next: usize,
    /// `world.bytes_estimate()` plus the transitions' list.
    bytes: u64,
}

impl Frame {
    fn new(world: World, todo: Vec<Transition>) -> Self {
        let bytes = world.bytes_estimate() + (todo.capacity() * size_of::<Transition>()) as u64;
        Frame {
            world,
            todo,
            next: 0,
            bytes,
        }
    }
}

pub(crate) fn search(setup: &Setup, start: Start, report: &mut ExploreReport) {
    let cfg = &setup.explore;
    let Start {
        world: init,
        prefix,
    } = start;
    let mut visited = Visited::default();
    visited.insert(init.key());
    let todo = init.enabled(setup);
    if todo.is_empty() {
        report.terminal_states += 1;
    }
    let first = Frame::new(init, todo);
    let mut stack_bytes = first.bytes;
    let mut stack = vec![first];
    // `prefix` leads to the first frame, `path[prefix.len() + i]` from
    // `stack[i]` to `stack[i + 1]`.
    let mut path: Vec<Transition> = prefix.clone();
    while let Some(frame) = stack.last_mut() {
        let Some(&t) = frame.todo.get(frame.next) else {
            stack_bytes -= frame.bytes;
            stack.pop();
            path.pop();
            continue;
        };
        frame.next += 1;
        let mut world = frame.world.clone();
        let depth = stack.len() as u32;
        let path_to_t = || [&path[..], &[t]].concat();
        match expand(
            setup,
            report,
            &mut visited,
            &mut world,
            t,
            prefix.len(),
            path_to_t,
        ) {
            Expanded::Failed => return,
            Expanded::Known => continue,
            Expanded::New => {}
        }
        let todo = world.enabled(setup);
        let next = Frame::new(world, todo);
        let bytes = visited_bytes(&visited) + stack_bytes + next.bytes;
        if !report.count_state(cfg, depth, bytes) {
            return;
        }
        if next.todo.is_empty() {
            report.terminal_states += 1;
            continue;
        }
        if depth >= cfg.depth_max {
            report.cut(Limit::Depth);
            continue;
        }
        path.push(t);
        stack_bytes += next.bytes;
        stack.push(next);
    }
}
