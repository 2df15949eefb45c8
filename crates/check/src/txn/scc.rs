//! Tarjan's strongly connected components, iterative: a history of 100k
//! transactions makes paths far deeper than a thread's stack.

use super::graph::{Digraph, Edge};

const UNVISITED: u32 = u32::MAX;

/// The components of more than one node (the graph has no self-loops, so
/// these are exactly the ones with a cycle) over the edges `allowed`
/// accepts. Each component is sorted, and the list by first node.
pub(crate) fn cyclic_components(graph: &Digraph, allowed: impl Fn(&Edge) -> bool) -> Vec<Vec<u32>> {
    let mut tarjan = Tarjan::new(graph.node_count());
    for root in 0..graph.node_count() as u32 {
        if tarjan.index[root as usize] == UNVISITED {
            tarjan.search_from(graph, root, &allowed);
        }
    }
    let mut components = tarjan.components;
    components.iter_mut().for_each(|c| c.sort_unstable());
    components.sort_unstable_by_key(|c| c[0]);
    components
}

struct Tarjan {
    index: Vec<u32>,
    lowlink: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    next_index: u32,
    components: Vec<Vec<u32>>,
}

impl Tarjan {
    fn new(node_count: usize) -> Self {
        Tarjan {
            index: vec![UNVISITED; node_count],
            lowlink: vec![0; node_count],
            on_stack: vec![false; node_count],
            stack: Vec::new(),
            next_index: 0,
            components: Vec::new(),
        }
    }

    fn open(&mut self, v: u32) {
        let v_usize = v as usize;
        self.index[v_usize] = self.next_index;
        self.lowlink[v_usize] = self.next_index;
        self.next_index += 1;
        self.stack.push(v);
        self.on_stack[v_usize] = true;
    }

    /// The depth-first search from `root`, with an explicit stack of
    /// (node, position of its next edge) in place of recursion.
    fn search_from(&mut self, graph: &Digraph, root: u32, allowed: &impl Fn(&Edge) -> bool) {
        self.open(root);
        let mut path = vec![(root, graph.edge_range(root).start)];
        while let Some(&mut (v, ref mut position)) = path.last_mut() {
            if *position < graph.edge_range(v).end {
                let edge = graph.edge(*position);
                *position += 1;
                let w = edge.to;
                if !allowed(edge) {
                    continue;
                }
                if self.index[w as usize] == UNVISITED {
                    self.open(w);
                    path.push((w, graph.edge_range(w).start));
                } else if self.on_stack[w as usize] {
                    let low = self.lowlink[v as usize].min(self.index[w as usize]);
                    self.lowlink[v as usize] = low;
                }
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                let low = self.lowlink[parent as usize].min(self.lowlink[v as usize]);
                self.lowlink[parent as usize] = low;
            }
            if self.lowlink[v as usize] == self.index[v as usize] {
                self.close_component(v);
            }
        }
    }

    /// `v` is the root of a component: it and everything above it on the
    /// stack.
    fn close_component(&mut self, v: u32) {
        let mut component = Vec::new();
        loop {
            let w = self.stack.pop().expect("v is on the stack");
            self.on_stack[w as usize] = false;
            component.push(w);
            if w == v {
                break;
            }
        }
        if component.len() > 1 {
            self.components.push(component);
        }
    }
}
