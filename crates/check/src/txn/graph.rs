//! The dependency graph: transactions as nodes, ww, wr and rw edges from
//! the resolved reads, rt edges from [`super::realtime`].

use std::ops::Range;

use super::anomaly::EdgeKind;
use super::resolve::{KeyId, Resolution};

/// The key of an edge that has none (rt).
pub(crate) const NO_KEY: KeyId = KeyId::MAX;

/// An edge to `to`. What `from_value` and `to_value` hold depends on the
/// kind: ww the two revs; wr the rev read, twice; rw the rev read and the
/// rev that overwrote it; rt the times the chain passes (see
/// [`super::realtime`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Edge {
    pub to: u32,
    pub kind: EdgeKind,
    pub key: KeyId,
    pub from_value: u64,
    pub to_value: u64,
}

/// A directed graph in compressed sparse row form: the edges out of node
/// `v` are `edges[offsets[v]..offsets[v + 1]]`, sorted, without
/// duplicates and without self-loops.
pub(crate) struct Digraph {
    offsets: Vec<u32>,
    edges: Vec<Edge>,
}

impl Digraph {
    /// The graph of `node_count` nodes with the edges `(from, edge)`.
    pub(crate) fn new(node_count: usize, mut edges: Vec<(u32, Edge)>) -> Self {
        edges.sort_unstable();
        edges.dedup();
        assert!(edges.len() < u32::MAX as usize, "fewer than 2^32 edges");
        let mut offsets = vec![0u32; node_count + 1];
        for &(from, edge) in &edges {
            assert_ne!(from, edge.to, "no self-loops");
            assert!(
                (edge.to as usize) < node_count,
                "edge to a node that exists"
            );
            offsets[from as usize + 1] += 1;
        }
        for v in 0..node_count {
            offsets[v + 1] += offsets[v];
        }
        let edges = edges.into_iter().map(|(_, edge)| edge).collect();
        Digraph { offsets, edges }
    }

    pub(crate) fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Where the edges out of `v` are, for [`Digraph::edge`].
    pub(crate) fn edge_range(&self, v: u32) -> Range<usize> {
        self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize
    }

    pub(crate) fn edge(&self, position: usize) -> &Edge {
        &self.edges[position]
    }

    pub(crate) fn successors(&self, v: u32) -> &[Edge] {
        &self.edges[self.edge_range(v)]
    }
}

/// The numbering of the graph's transactions: node `n` is history entry
/// `txns[n]`, in history order.
pub(crate) struct Nodes {
    pub txns: Vec<usize>,
    node_of: Vec<u32>,
}

impl Nodes {
    pub(crate) fn new(in_graph: &[bool]) -> Self {
        let txns: Vec<usize> = (0..in_graph.len()).filter(|&i| in_graph[i]).collect();
        assert!(txns.len() < u32::MAX as usize / 2, "fewer than 2^31 txns");
        let mut node_of = vec![u32::MAX; in_graph.len()];
        for (node, &txn) in txns.iter().enumerate() {
            node_of[txn] = node as u32;
        }
        Nodes { txns, node_of }
    }

    pub(crate) fn len(&self) -> usize {
        self.txns.len()
    }

    /// The node of history entry `txn`, which must be in the graph.
    pub(crate) fn node(&self, txn: usize) -> u32 {
        let node = self.node_of[txn];
        assert_ne!(node, u32::MAX, "txn {txn} is in the graph");
        node
    }
}

/// The ww, wr and rw edges of a resolved history.
pub(crate) fn dependency_edges(resolution: &Resolution, nodes: &Nodes) -> Vec<(u32, Edge)> {
    let mut edges = Vec::new();
    for (key, versions) in resolution.versions.iter().enumerate() {
        // ww: consecutive known writers of the key. A version whose writer
        // is unknown sits between two of them or is skipped; either way
        // the earlier writer precedes the later one.
        for pair in versions.windows(2) {
            let edge = Edge {
                to: nodes.node(pair[1].writer),
                kind: EdgeKind::Ww,
                key: key as KeyId,
                from_value: pair[0].rev,
                to_value: pair[1].rev,
            };
            edges.push((nodes.node(pair[0].writer), edge));
        }
    }
    for read in &resolution.reads {
        let reader = nodes.node(read.reader);
        if let Some(writer) = read.writer.filter(|&w| w != read.reader) {
            let edge = Edge {
                to: reader,
                kind: EdgeKind::Wr,
                key: read.key,
                from_value: read.rev,
                to_value: read.rev,
            };
            edges.push((nodes.node(writer), edge));
        }
        // rw: the reader precedes whoever wrote the next known version.
        let versions = &resolution.versions[read.key as usize];
        let next = versions.partition_point(|v| v.rev <= read.rev);
        if let Some(next) = versions.get(next).filter(|v| v.writer != read.reader) {
            let edge = Edge {
                to: nodes.node(next.writer),
                kind: EdgeKind::Rw,
                key: read.key,
                from_value: read.rev,
                to_value: next.rev,
            };
            edges.push((reader, edge));
        }
    }
    edges
}
