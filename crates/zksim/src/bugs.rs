//! Deliberate bugs, one per way a coordination service can go wrong, so
//! each oracle can be shown to catch a bad run.
//!
//! Bugs inside the node are the node's own (`synod_node::NodeBug`, with
//! the `broken` feature, debug builds only): log-time ticks dropped or
//! jumping, stale reads, connections kept open across a snapshot, and the
//! tree's apply keeping or losing ephemerals or diverging on one replica.
//! They reach the cluster's nodes through `NodeSpec::bugs`.
//!
//! The bugs of the way out ([`OutputBug`]: a watch event lost, two events
//! or two replies swapped, an event held back behind a reply) stay here:
//! they are applied to the node's `Zk` outputs on their way to the
//! connection, as a broken runtime would (its per-connection write queue).
//! The oracles judge what the client receives, so a reordering caught
//! there is caught wherever it happens; and the shipped node keeps only
//! the bugs that must live inside it to be reachable at all.

use std::collections::BTreeSet;
#[cfg(feature = "broken")]
use synod_node::NodeBug;
use synod_node::NodeBugs;

/// A bug of the simulated runtime, between the node and the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputBug {
    /// Every fifth watch event frame is lost.
    DropEvent,
    /// Two consecutive watch events to one connection swap places.
    SwapEvents,
    /// A watch event is held back until after the next reply on its
    /// connection.
    EventAfterReply,
    /// Two consecutive replies to one connection swap places.
    SwapReplies,
}

/// A bug of the world around the lock clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockBug {
    /// The resource the holders write to accepts every write, without
    /// its `Fence`.
    UnfencedResource,
    /// The lock clients keep no local lease: a holder believes it holds
    /// its lock until it hears otherwise, through a pause that outlived
    /// its session too.
    NoLease,
    /// The cache clients acknowledge invalidations without dropping what
    /// they invalidate: their caches keep entries the leader's gate
    /// believes gone.
    CacheIgnoresInvalidations,
    /// The cache clients keep a fill's answer even when an invalidation
    /// or a flush came between sending the fill and its answer (no
    /// `generation` check): an answer that crossed its invalidation on the
    /// way is kept.
    CacheKeepsRacedFills,
    /// The cache clients use and keep their entries whatever their local
    /// lease says: on resuming from a pause a client reads an entry the
    /// leader stopped waiting for when its lease there ran out.
    CacheWithoutLease,
}

/// The bugs of a run: the nodes', the runtime's and the lock world's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    #[cfg(feature = "broken")]
    node: BTreeSet<NodeBug>,
    output: BTreeSet<OutputBug>,
    lock: BTreeSet<LockBug>,
}

impl Bugs {
    pub fn none() -> Self {
        Bugs::default()
    }

    /// A runtime with `bug`.
    pub fn output(bug: OutputBug) -> Self {
        let mut bugs = Bugs::default();
        bugs.output.insert(bug);
        bugs
    }

    /// Nodes with `bug` (the `broken` feature only).
    #[cfg(feature = "broken")]
    pub fn node(bug: NodeBug) -> Self {
        let mut bugs = Bugs::default();
        bugs.node.insert(bug);
        bugs
    }

    /// A lock world with `bug`.
    pub fn lock(bug: LockBug) -> Self {
        let mut bugs = Bugs::default();
        bugs.lock.insert(bug);
        bugs
    }

    pub fn has_lock(&self, bug: LockBug) -> bool {
        self.lock.contains(&bug)
    }

    pub fn has(&self, bug: OutputBug) -> bool {
        self.output.contains(&bug)
    }

    /// What every node is built with (`NodeSpec::bugs`).
    pub fn node_bugs(&self) -> NodeBugs {
        #[cfg(feature = "broken")]
        {
            self.node.iter().copied().collect()
        }
        #[cfg(not(feature = "broken"))]
        {
            NodeBugs::default()
        }
    }
}
