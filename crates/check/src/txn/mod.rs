//! Strict serializability of multi-key transaction histories, checked as
//! Elle does: build the dependency graph of the transactions and look for
//! cycles.
//!
//! # The model
//!
//! A key-value store where every committed write of a key gets a rev,
//! strictly increasing per key (0 is the never-written state). The version
//! order of each key is therefore known from the revs and needs no
//! inference; reads may skip revs (not every version is read). A put carries
//! a tag, unique per key across the history, that the client embedded in
//! the value, so a read names the write it saw twice over: by rev and by
//! tag. A transaction ([`TxnRecord`]) is committed (it took effect and its
//! client saw its reads and its writes' revs), aborted (it did not take
//! effect) or unknown (it may have; its client does not know). Within a
//! transaction, reads happen before its own writes.
//!
//! # What it checks
//!
//! First that the history could have been recorded at all
//! ([`MalformedTxnHistory`]: unique ids, unique revs and tags per key, and
//! so on). Then each read alone: which write it saw. A read of an aborted
//! transaction's tag is G1a; a read no write explains is a garbage read; a
//! read whose rev and tag disagree with what is known of that version is a
//! rev mismatch; two reads of a key in one transaction that disagree, or a
//! read not older than the transaction's own write, are internal anomalies.
//! A read that sees an unknown transaction's write proves it took effect:
//! that write gets the rev the read saw, and the transaction joins the
//! graph as if committed. Unknown transactions no read saw are left out.
//!
//! The graph's nodes are the committed transactions and the observed
//! unknown ones. Its edges say "must come before, in any serial order that
//! explains the reads and respects real time":
//!
//! | edge | from → to | when |
//! |------|-----------|------|
//! | ww | writer → writer | consecutive known versions of a key, by rev |
//! | wr | writer → reader | the reader saw the writer's version |
//! | rw | reader → writer | the writer wrote the next known version after the one read (an anti-dependency) |
//! | rt | a → b | `a` committed and returned before `b` was called |
//!
//! A cycle is a history no serial order explains. Each cyclic strongly
//! connected component (Tarjan's algorithm, iterative) is reported with one
//! short cycle found by breadth-first search inside it, of the weakest
//! class the component holds (as Elle classifies them): G0 (ww only), G1c
//! (ww and wr), G-single (exactly one rw: read skew, lost update), G2 (more
//! rw: write skew). Cycles without rt edges are looked for first; a cycle
//! that needs one is marked realtime: a serializable history that is not
//! strictly serializable.
//!
//! # Why the rt edges are few
//!
//! Real time relates up to n²/4 pairs. They are built instead through a
//! chain of barrier nodes, one per distinct return time, which keeps
//! reachability among transactions exactly as the n² edges would, with at
//! most 3n edges; see `realtime.rs` for the construction and the proof.
//!
//! # Soundness and its limits
//!
//! Every edge follows from the history if the store is strictly
//! serializable, so every reported anomaly is real (given a well-formed,
//! complete history: every transaction any client issued is in it). Some
//! anomalies can be missed:
//! - an unknown transaction's writes that no read saw have no rev, so they
//!   place nothing in the version order, even when another of its writes
//!   was seen;
//! - a delete is read without a tag, so a read of one is pinned on an
//!   unknown transaction only when that transaction is the key's only
//!   unknown deleter; otherwise the version counts as real (while no more
//!   such versions are read than the key has unknown deleters) but its
//!   writer stays unknown (no edges to or from it), and a read of an
//!   aborted delete is reported as a garbage read, not G1a;
//! - an unknown transaction's return time is ignored: it may have taken
//!   effect after its client gave up, so it has no outgoing rt edges;
//! - a G-single cycle may be reported as G2 in a component with very many
//!   rw edges (see `cycle.rs`); the cycle shown is still a true one.
//!
//! # Cost and limits
//!
//! O(n log n) in the number of reads, writes and transactions for the
//! graph, linear for the components, and at most 2 × (3 + 64) linear
//! searches of each cyclic component to pick its cycle. A correct history
//! of 100k transactions checks in about half a second in a test build, one
//! whose cycle runs through a component of 80k in about a second. At most
//! 2³¹ transactions and 2³² keys and edges. Pure: no I/O, no clock, no randomness, no `HashMap` order in the
//! output.

mod anomaly;
mod cycle;
mod display;
mod graph;
mod history;
mod realtime;
mod resolve;
mod scc;

pub use anomaly::{
    CycleClass, CycleStep, Dependency, EdgeKind, InternalViolation, RevConflict, TxnAnomaly,
    TxnCycle, TxnVerdict,
};
pub use history::{MalformedTxnHistory, TxnOutcome, TxnRead, TxnRecord, TxnWrite};

use anomaly::classify;
use cycle::{CycleFinder, Path};
use graph::{dependency_edges, Digraph, Edge, Nodes};
use realtime::{realtime_edges, Interval};
use resolve::{resolve, Resolution};
use scc::cyclic_components;

/// Checks that `history` is strictly serializable.
///
/// Returns an error only when the history is malformed (a recorder bug);
/// otherwise the verdict, with every anomaly found.
pub fn check_txns(history: &[TxnRecord]) -> Result<TxnVerdict, MalformedTxnHistory> {
    history::validate(history)?;
    let mut resolution = resolve(history);
    let nodes = Nodes::new(&resolution.in_graph);
    let mut edges = dependency_edges(&resolution, &nodes);
    let (rt_edges, barriers) = realtime_edges(&intervals(history, &nodes));
    edges.extend(rt_edges);
    let graph = Digraph::new(nodes.len() + barriers, edges);
    let mut anomalies = std::mem::take(&mut resolution.anomalies);
    let mut finder = CycleFinder::new(&graph);
    for component in cyclic_components(&graph, |_| true) {
        let path = finder.find(&component);
        let txns = component
            .iter()
            .filter(|&&v| (v as usize) < nodes.len())
            .count();
        let cycle = describe_cycle(&path, txns, history, &nodes, &resolution);
        anomalies.push(TxnAnomaly::Cycle(cycle));
    }
    Ok(match anomalies.is_empty() {
        true => TxnVerdict::StrictlySerializable {
            txns_checked: nodes.len(),
            edges: graph.edge_count(),
        },
        false => TxnVerdict::Anomalies(anomalies),
    })
}

/// The real-time interval of each node. Only a committed transaction's
/// return bounds when it took effect.
fn intervals(history: &[TxnRecord], nodes: &Nodes) -> Vec<Interval> {
    let interval = |txn: &TxnRecord| Interval {
        call: txn.call,
        ret: txn.ret.filter(|_| txn.outcome == TxnOutcome::Committed),
    };
    nodes
        .txns
        .iter()
        .map(|&index| interval(&history[index]))
        .collect()
}

/// The cycle in transaction ids.
fn describe_cycle(
    path: &Path,
    component_txns: usize,
    history: &[TxnRecord],
    nodes: &Nodes,
    resolution: &Resolution,
) -> TxnCycle {
    let id = |node: u32| history[nodes.txns[node as usize]].id;
    let steps: Vec<CycleStep> = fold_barrier_runs(path, nodes.len())
        .into_iter()
        .map(|(from, edge)| CycleStep {
            from: id(from),
            to: id(edge.to),
            dependency: dependency(&edge, &resolution.keys),
        })
        .collect();
    for (step, next) in steps.iter().zip(steps.iter().cycle().skip(1)) {
        assert_eq!(step.to, next.from, "a cycle's steps join up");
    }
    let (class, realtime) = classify(steps.iter().map(|step| step.dependency.kind()));
    TxnCycle {
        class,
        realtime,
        component_txns,
        steps,
    }
}

/// The path with each run of rt edges through barriers, transaction →
/// barrier → … → barrier → transaction, folded back into the one rt edge
/// it stands for: from the return time it left at to the call it reached.
fn fold_barrier_runs(path: &Path, txn_count: usize) -> Path {
    let is_txn = |node: u32| (node as usize) < txn_count;
    assert!(is_txn(path[0].0), "a cycle starts at a transaction");
    let mut folded = Vec::with_capacity(path.len());
    // The transaction and return time the current rt run left from.
    let mut run_start = None;
    for &(from, edge) in path {
        if !is_txn(edge.to) {
            run_start = run_start.or(Some((from, edge.from_value)));
        } else if is_txn(from) {
            folded.push((from, edge));
        } else {
            let (from, ret) = run_start.take().expect("a barrier run has a start");
            folded.push((
                from,
                Edge {
                    from_value: ret,
                    ..edge
                },
            ));
        }
    }
    folded
}

fn dependency(edge: &Edge, keys: &[&[u8]]) -> Dependency {
    let key = || keys[edge.key as usize].to_vec();
    let (from_value, to_value) = (edge.from_value, edge.to_value);
    match edge.kind {
        EdgeKind::Ww => Dependency::WriteWrite {
            key: key(),
            from_rev: from_value,
            to_rev: to_value,
        },
        EdgeKind::Wr => Dependency::WriteRead {
            key: key(),
            rev: from_value,
        },
        EdgeKind::Rw => Dependency::ReadWrite {
            key: key(),
            read_rev: from_value,
            overwrite_rev: to_value,
        },
        EdgeKind::Rt => Dependency::RealTime {
            ret: from_value,
            call: to_value,
        },
    }
}
