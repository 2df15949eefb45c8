//! One concrete cycle per cyclic component, of the weakest class the
//! component holds, found by breadth-first search so it is short.

use std::collections::VecDeque;

use super::anomaly::EdgeKind;
use super::graph::{Digraph, Edge};
use super::scc::cyclic_components;

/// At most this many anti-dependency edges are tried as the one rw edge of
/// a G-single cycle, each costing a search of the component. A component
/// with more may have its G-single cycle missed and a G2 cycle reported in
/// its place (still a true cycle, of a stronger class than needed).
const SINGLE_RW_TRIES_MAX: usize = 64;

/// A cycle: steps `(from, edge)`, each `edge.to` the next step's `from`.
pub(crate) type Path = Vec<(u32, Edge)>;

/// Finds cycles inside components of one graph, reusing one node map.
pub(crate) struct CycleFinder<'g> {
    graph: &'g Digraph,
    /// A node's index within the component being searched, or `u32::MAX`.
    local_of: Vec<u32>,
}

impl<'g> CycleFinder<'g> {
    pub(crate) fn new(graph: &'g Digraph) -> Self {
        CycleFinder {
            graph,
            local_of: vec![u32::MAX; graph.node_count()],
        }
    }

    /// A cycle through nodes of `component`, a cyclic strongly connected
    /// component of the whole graph, in the graph's node numbers.
    pub(crate) fn find(&mut self, component: &[u32]) -> Path {
        let local = self.component_graph(component);
        for &v in component {
            self.local_of[v as usize] = u32::MAX;
        }
        let global = |local: u32| component[local as usize];
        weakest_cycle(&local)
            .into_iter()
            .map(|(from, edge)| {
                (
                    global(from),
                    Edge {
                        to: global(edge.to),
                        ..edge
                    },
                )
            })
            .collect()
    }

    /// The subgraph induced by `component`, its nodes numbered in order.
    fn component_graph(&mut self, component: &[u32]) -> Digraph {
        for (local, &v) in component.iter().enumerate() {
            self.local_of[v as usize] = local as u32;
        }
        let mut edges = Vec::new();
        for (local, &v) in component.iter().enumerate() {
            for edge in self.graph.successors(v) {
                let to = self.local_of[edge.to as usize];
                if to != u32::MAX {
                    edges.push((local as u32, Edge { to, ..*edge }));
                }
            }
        }
        Digraph::new(component.len(), edges)
    }
}

/// The cycle of the weakest class in a strongly connected `graph`, as Elle
/// searches: ww alone (G0), then with wr (G1c), then with exactly one rw
/// (G-single), then with any rw (G2); all without rt edges first, and only
/// if there is no such cycle at all, the same again with rt edges.
fn weakest_cycle(graph: &Digraph) -> Path {
    for realtime in [false, true] {
        let rt = move |edge: &Edge| realtime && edge.kind == EdgeKind::Rt;
        let writes = |edge: &Edge| edge.kind == EdgeKind::Ww || rt(edge);
        let flows = |edge: &Edge| matches!(edge.kind, EdgeKind::Ww | EdgeKind::Wr) || rt(edge);
        let any = |edge: &Edge| flows(edge) || edge.kind == EdgeKind::Rw;
        let cycle = cycle_within(graph, writes)
            .or_else(|| cycle_within(graph, flows))
            .or_else(|| cycle_with_one_rw(graph, flows))
            .or_else(|| cycle_within(graph, any));
        if let Some(cycle) = cycle {
            return cycle;
        }
    }
    panic!("a strongly connected component of more than one node has a cycle");
}

/// The shortest cycle through the first node of the first cyclic
/// component over the `allowed` edges, if there is one.
fn cycle_within(graph: &Digraph, allowed: impl Fn(&Edge) -> bool) -> Option<Path> {
    let components = cyclic_components(graph, &allowed);
    let start = components.first()?[0];
    let cycle = shortest_path(graph, start, start, &allowed);
    Some(cycle.expect("a node of a cyclic component is on a cycle"))
}

/// A cycle of one rw edge closed by a path of `flows` edges back.
fn cycle_with_one_rw(graph: &Digraph, flows: impl Fn(&Edge) -> bool) -> Option<Path> {
    let rw_edges = (0..graph.node_count() as u32)
        .flat_map(|v| graph.edge_range(v).map(move |position| (v, position)))
        .filter(|&(_, position)| graph.edge(position).kind == EdgeKind::Rw)
        .take(SINGLE_RW_TRIES_MAX);
    for (from, position) in rw_edges {
        let rw = *graph.edge(position);
        if let Some(back) = shortest_path(graph, rw.to, from, &flows) {
            let mut cycle = vec![(from, rw)];
            cycle.extend(back);
            return Some(cycle);
        }
    }
    None
}

/// The shortest path of `allowed` edges from `from` to `to` (a cycle when
/// they are equal), by breadth-first search.
fn shortest_path(
    graph: &Digraph,
    from: u32,
    to: u32,
    allowed: impl Fn(&Edge) -> bool,
) -> Option<Path> {
    // The edge (by position) a node was first reached by.
    let mut reached_by = vec![u32::MAX; graph.node_count()];
    let mut parent = vec![u32::MAX; graph.node_count()];
    let mut queue = VecDeque::from([from]);
    while let Some(v) = queue.pop_front() {
        for position in graph.edge_range(v) {
            let edge = graph.edge(position);
            if !allowed(edge) {
                continue;
            }
            if edge.to == to {
                let mut path = trace_back(graph, &parent, &reached_by, from, v);
                path.push((v, *edge));
                return Some(path);
            }
            let w = edge.to as usize;
            if reached_by[w] == u32::MAX && edge.to != from {
                reached_by[w] = position as u32;
                parent[w] = v;
                queue.push_back(edge.to);
            }
        }
    }
    None
}

/// The path from `from` to `v` the search took.
fn trace_back(graph: &Digraph, parent: &[u32], reached_by: &[u32], from: u32, mut v: u32) -> Path {
    let mut path = Vec::new();
    while v != from {
        let edge = *graph.edge(reached_by[v as usize] as usize);
        path.push((parent[v as usize], edge));
        v = parent[v as usize];
    }
    path.reverse();
    path
}
