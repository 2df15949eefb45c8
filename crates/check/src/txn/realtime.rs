//! Real-time edges in O(n log n) time and at most 3n edges.
//!
//! Strict serializability orders `a` before `b` whenever `a` returned
//! before `b` was called (`a.ret < b.call`). Added directly, that is up to
//! n²/4 edges: half the transactions all returning before the other half
//! all begin already makes a complete bipartite graph. Instead the edges
//! go through a chain of barrier nodes, one per distinct return time,
//! sorted by time:
//!
//! ```text
//!   a ──► B(a.ret)   B(r₁) ──► B(r₂) ──► … ──► B(r_k)   B(last r < b.call) ──► b
//! ```
//!
//! A transaction points at the barrier of its own return time; each
//! barrier at the next; the last barrier before a transaction's call points
//! at it. Then `a` reaches `b` through barriers exactly when
//! `a.ret ≤ r < b.call` for some return time `r`, which (taking `r =
//! a.ret`) is exactly `a.ret < b.call`. Barriers are entered only from
//! transactions and left only to transactions, so any path through them is
//! a chain of such hops, each standing for a real-time edge; and the
//! relation is transitive already (`a.ret < b.call ≤ b.ret < c.call`), so
//! reachability among transactions, and with it every cycle and every
//! strongly connected component's transactions, is the same as with the
//! n² edges. A cycle found through barriers is reported with each run of
//! barrier hops folded back into one rt edge.

use super::anomaly::EdgeKind;
use super::graph::{Edge, NO_KEY};

/// When a transaction ran, for real time. `ret` is `None` when no end is
/// known: it never returned, or its outcome is unknown (it may take effect
/// after its client gave up on it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interval {
    pub call: u64,
    pub ret: Option<u64>,
}

/// The rt edges among transactions `0..intervals.len()`, through barrier
/// nodes numbered from `intervals.len()` on. Returns the edges and the
/// number of barriers. An edge's values are the times it spans: a
/// transaction's return time, barriers' return times, a call time.
pub(crate) fn realtime_edges(intervals: &[Interval]) -> (Vec<(u32, Edge)>, usize) {
    let mut rets: Vec<u64> = intervals.iter().filter_map(|i| i.ret).collect();
    rets.sort_unstable();
    rets.dedup();
    let first_barrier = intervals.len();
    let barrier =
        |index: usize| u32::try_from(first_barrier + index).expect("fewer than 2^32 nodes");
    let rt = |to: u32, from_value: u64, to_value: u64| Edge {
        to,
        kind: EdgeKind::Rt,
        key: NO_KEY,
        from_value,
        to_value,
    };
    let mut edges = Vec::with_capacity(intervals.len() * 2 + rets.len());
    for (index, pair) in rets.windows(2).enumerate() {
        edges.push((barrier(index), rt(barrier(index + 1), pair[0], pair[1])));
    }
    for (node, interval) in intervals.iter().enumerate() {
        let node = node as u32;
        if let Some(ret) = interval.ret {
            let own = rets
                .binary_search(&ret)
                .expect("every return time has a barrier");
            edges.push((node, rt(barrier(own), ret, ret)));
        }
        let before_call = rets.partition_point(|&ret| ret < interval.call);
        if let Some(last) = before_call.checked_sub(1) {
            edges.push((barrier(last), rt(node, rets[last], interval.call)));
        }
    }
    (edges, rets.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;
    use crate::txn::graph::Digraph;

    fn random_intervals(seed: u64, count: usize) -> Vec<Interval> {
        let mut state = seed;
        let mut next = |below: u64| {
            state = state.wrapping_add(1);
            mix64(state) % below
        };
        (0..count)
            .map(|_| {
                let call = next(40);
                let ret = (next(5) != 0).then(|| call + next(10));
                Interval { call, ret }
            })
            .collect()
    }

    /// Every transaction reachable from `from` in `graph`.
    fn reachable(graph: &Digraph, from: u32) -> Vec<bool> {
        let mut seen = vec![false; graph.node_count()];
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            for edge in graph.successors(v) {
                if !std::mem::replace(&mut seen[edge.to as usize], true) {
                    stack.push(edge.to);
                }
            }
        }
        seen
    }

    #[test]
    fn barriers_preserve_exactly_the_realtime_order_of_the_naive_edges() {
        for seed in 0..300 {
            let intervals = random_intervals(seed * 1_000, 1 + (seed as usize % 40));
            let (edges, barriers) = realtime_edges(&intervals);
            assert!(
                edges.len() <= 3 * intervals.len(),
                "seed {seed}: {} edges",
                edges.len()
            );
            let graph = Digraph::new(intervals.len() + barriers, edges);
            for (a, from) in intervals.iter().enumerate() {
                let seen = reachable(&graph, a as u32);
                for (b, to) in intervals.iter().enumerate() {
                    let naive = from.ret.is_some_and(|ret| ret < to.call);
                    assert_eq!(seen[b], naive, "seed {seed}: {a} {from:?} -> {b} {to:?}");
                }
            }
        }
    }
}
