//! Deliberately broken drive loops, so the coordination simulator can show
//! that each of its oracles catches a bad node. With the `broken` feature
//! a simulator turns one on (`ServiceNode::set_bugs`); without it the
//! hooks below are empty, `NodeBugs::has` is always false, and the
//! compiler removes every branch. The feature never builds in release
//! (see `lib.rs`), so no shipped node carries them.
//!
//! Each bug sits where the node hands something on: proposals on their
//! way from the front door to the engine, the cache gate in front of the
//! engine, the tree the front door answers reads from, the front door's
//! connections when a snapshot replaces the state, the lock door's
//! answers, and the coordination tree's apply (`StateHooks`, in
//! `ServiceState::apply`).

use synod_coord::{CoordOp, Tree};
use synod_paxos::{Command, Micros, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeBug {
    /// The leader's log-time ticks (`CoordOp::Tick`) are never proposed,
    /// so abandoned sessions never expire.
    DropTicks,
    /// From `LOG_TIME_JUMP_AFTER_US` after the node started, its ticks
    /// carry a clock `LOG_TIME_JUMP_MS` ahead: log time jumps, and
    /// sessions whose clients ping expire.
    LogTimeJumps,
    /// Reads are answered from a copy of the tree refreshed at most once
    /// per `STALE_REFRESH_US`, so a session may not read its own writes.
    StaleReads,
    /// The tree acknowledges a closeSession of a session with ephemerals
    /// without applying it: the session and its ephemerals live on.
    CloseKeepsEphemerals,
    /// Applying a keepalive (`Touch`) also deletes one ephemeral of a live
    /// session.
    DeleteLiveEphemeral,
    /// Node `DIVERGENT_NODE`'s tree stores one extra byte on every
    /// setData: its replica diverges.
    DivergentReplica,
    /// When a snapshot replaces the state, the ZooKeeper connections stay
    /// open (instead of `SNAPSHOT_CLOSE`): their watches silently miss the
    /// changes the snapshot skipped.
    KeepConnectionsOnSnapshot,
    /// The tree stores null data as empty (`CreateNull` and `SetNullData`
    /// applied as a create or setData of no bytes), as synod did before
    /// null data: getData answers an empty buffer where ZooKeeper answers
    /// null. Every replica does the same, so only a reader can tell.
    NullAsEmpty,
    /// The lock door answers an acquire that queued as if it were granted
    /// (a sequencer of the lock's current generation, exclusive): two
    /// clients believe they hold the lock.
    GrantQueued,
    /// The lock door answers CheckSequencer at once from `StaleReads`'
    /// copy of the tree, not through the linearizable read path: a check
    /// may miss a release that completed before it was asked.
    StaleChecks,
    /// The tree's apply takes every acquire with a lock-delay of 0: a
    /// lock whose holder's session expired is granted again at once.
    NoLockDelay,
    /// The leader's cache gate (`locks::cache`) admits every command at
    /// once: no write waits for caching sessions to flush what it changes,
    /// none is invalidated, and a new leader does not wait for them. Fills
    /// are still answered cacheable, so clients keep stale entries.
    NoCacheGate,
    /// A new leader does not wait for caching sessions to hear its term
    /// (or for a session timeout): it admits writes at once, while clients
    /// still read what the old leader let them cache.
    NoFailoverWait,
    /// The lock door drops every third event it queues for a session
    /// (`MasterFailover` and `EventsLost` aside), and says nothing: a live
    /// session silently misses changes it subscribed to.
    DropEvents,
    /// The lock door announces an immediate grant's `LockAcquired` when
    /// the `Acquire`'s reply reaches it, not from the tree's grant (as
    /// synod once did): an acquire retried and answered from the engine's
    /// client table announces its grant again, late and out of order.
    GrantEventsFromReplies,
}

/// When `LogTimeJumps` starts, in the node's local time since it started.
pub const LOG_TIME_JUMP_AFTER_US: Micros = 6_000_000;
/// How far ahead `LogTimeJumps` puts log time.
pub const LOG_TIME_JUMP_MS: i64 = 30_000;
/// How old `StaleReads`' copy of the tree may get.
pub const STALE_REFRESH_US: Micros = 1_000_000;
/// The node whose replica `DivergentReplica` breaks (the others stay
/// correct, so the replicas disagree).
pub const DIVERGENT_NODE: NodeId = 3;

impl NodeBug {
    pub const ALL: [NodeBug; 15] = [
        NodeBug::DropTicks,
        NodeBug::LogTimeJumps,
        NodeBug::StaleReads,
        NodeBug::CloseKeepsEphemerals,
        NodeBug::DeleteLiveEphemeral,
        NodeBug::DivergentReplica,
        NodeBug::KeepConnectionsOnSnapshot,
        NodeBug::NullAsEmpty,
        NodeBug::GrantQueued,
        NodeBug::StaleChecks,
        NodeBug::NoLockDelay,
        NodeBug::NoCacheGate,
        NodeBug::NoFailoverWait,
        NodeBug::DropEvents,
        NodeBug::GrantEventsFromReplies,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeBug::DropTicks => "drop-ticks",
            NodeBug::LogTimeJumps => "log-time-jumps",
            NodeBug::StaleReads => "stale-reads",
            NodeBug::CloseKeepsEphemerals => "close-keeps-ephemerals",
            NodeBug::DeleteLiveEphemeral => "delete-live-ephemeral",
            NodeBug::DivergentReplica => "divergent-replica",
            NodeBug::KeepConnectionsOnSnapshot => "keep-connections-on-snapshot",
            NodeBug::NullAsEmpty => "null-as-empty",
            NodeBug::GrantQueued => "grant-queued",
            NodeBug::StaleChecks => "stale-checks",
            NodeBug::NoLockDelay => "no-lock-delay",
            NodeBug::NoCacheGate => "no-cache-gate",
            NodeBug::NoFailoverWait => "no-failover-wait",
            NodeBug::DropEvents => "drop-events",
            NodeBug::GrantEventsFromReplies => "grant-events-from-replies",
        }
    }

    /// Whether the bug lives in the tree's apply (`StateHooks`).
    #[cfg(feature = "broken")]
    fn in_apply(self) -> bool {
        matches!(
            self,
            NodeBug::CloseKeepsEphemerals
                | NodeBug::DeleteLiveEphemeral
                | NodeBug::DivergentReplica
                | NodeBug::NullAsEmpty
                | NodeBug::NoLockDelay
        )
    }

    pub fn parse(name: &str) -> Option<NodeBug> {
        NodeBug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// The bugs a node has: none, without the `broken` feature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeBugs {
    #[cfg(feature = "broken")]
    enabled: std::collections::BTreeSet<NodeBug>,
}

impl NodeBugs {
    #[inline]
    pub fn has(&self, _bug: NodeBug) -> bool {
        #[cfg(feature = "broken")]
        {
            self.enabled.contains(&_bug)
        }
        #[cfg(not(feature = "broken"))]
        {
            false
        }
    }

    /// A node with `bug` in it.
    #[cfg(feature = "broken")]
    pub fn with(bug: NodeBug) -> Self {
        [bug].into_iter().collect()
    }
}

/// A node with every bug of the iterator in it.
#[cfg(feature = "broken")]
impl FromIterator<NodeBug> for NodeBugs {
    fn from_iter<I: IntoIterator<Item = NodeBug>>(bugs: I) -> Self {
        NodeBugs {
            enabled: bugs.into_iter().collect(),
        }
    }
}

/// The drive loop's hook points; empty without the `broken` feature.
pub(crate) struct Hooks {
    #[cfg(feature = "broken")]
    bugs: NodeBugs,
    #[cfg(feature = "broken")]
    started_us: Micros,
    /// `StaleReads`' copy of the tree, and when it was taken.
    #[cfg(feature = "broken")]
    stale: Option<(Tree, Micros)>,
}

impl Hooks {
    pub(crate) fn new(_now_us: Micros) -> Self {
        Hooks {
            #[cfg(feature = "broken")]
            bugs: NodeBugs::default(),
            #[cfg(feature = "broken")]
            started_us: _now_us,
            #[cfg(feature = "broken")]
            stale: None,
        }
    }

    /// Proposals on their way from the front door to the engine.
    #[inline]
    pub(crate) fn on_proposals(&mut self, _proposals: &mut Vec<Command>, _now_us: Micros) {
        #[cfg(feature = "broken")]
        self.break_proposals(_proposals, _now_us);
    }

    /// Whether the front door's connections are closed when a snapshot
    /// replaced the state (always, unless `KeepConnectionsOnSnapshot`).
    #[inline]
    pub(crate) fn closes_on_snapshot(&self) -> bool {
        #[cfg(feature = "broken")]
        if self.bugs.has(NodeBug::KeepConnectionsOnSnapshot) {
            return false;
        }
        true
    }

    /// Whether a command skips the cache gate (`NoCacheGate`): never
    /// without the bug.
    #[inline]
    pub(crate) fn skips_cache_gate(&self) -> bool {
        #[cfg(feature = "broken")]
        if self.bugs.has(NodeBug::NoCacheGate) {
            return true;
        }
        false
    }

    /// The tree the front door answers a request from.
    #[inline]
    pub(crate) fn read_tree<'a>(&'a mut self, live: &'a Tree, _now_us: Micros) -> &'a Tree {
        #[cfg(feature = "broken")]
        if self.bugs.has(NodeBug::StaleReads) {
            return self.stale_tree(live, _now_us);
        }
        live
    }

    /// `StaleChecks`' answer to a lock call: a CheckSequencer answered at
    /// once from the stale copy of the tree. `None` for every other call,
    /// and always without the bug.
    #[inline]
    pub(crate) fn stale_check(
        &mut self,
        _live: &Tree,
        _now_us: Micros,
        _request: &crate::locks::LockRequest,
    ) -> Option<crate::locks::LockAnswer> {
        #[cfg(feature = "broken")]
        if let crate::locks::LockRequest::Check(seq) = _request {
            if self.bugs.has(NodeBug::StaleChecks) {
                let tree = self.stale_tree(_live, _now_us);
                return Some(crate::locks::LockAnswer::Check(tree.check_sequencer(seq)));
            }
        }
        None
    }

    /// A copy of `live` refreshed at most once per `STALE_REFRESH_US`.
    #[cfg(feature = "broken")]
    fn stale_tree<'a>(&'a mut self, live: &Tree, now_us: Micros) -> &'a Tree {
        let fresh = |(_, at): &(Tree, Micros)| now_us.saturating_sub(*at) <= STALE_REFRESH_US;
        if !self.stale.as_ref().is_some_and(fresh) {
            self.stale = Some((live.clone(), now_us));
        }
        &self.stale.as_ref().expect("just set").0
    }
}

#[cfg(feature = "broken")]
impl Hooks {
    fn break_proposals(&mut self, proposals: &mut Vec<Command>, now_us: Micros) {
        use synod_coord::CoordOp;
        use synod_front::front::coord_command;
        let tick = |c: &Command| match c.op.split_first() {
            Some((&synod_front::front::COORD_TAG, rest)) => match CoordOp::decode(rest) {
                Ok(CoordOp::Tick { time_ms, term }) => Some((time_ms, term)),
                _ => None,
            },
            _ => None,
        };
        if self.bugs.has(NodeBug::DropTicks) {
            proposals.retain(|c| tick(c).is_none());
        }
        let jumped = now_us.saturating_sub(self.started_us) > LOG_TIME_JUMP_AFTER_US;
        if self.bugs.has(NodeBug::LogTimeJumps) && jumped {
            for c in proposals.iter_mut() {
                if let Some((time_ms, term)) = tick(c) {
                    c.op = coord_command(&CoordOp::Tick {
                        time_ms: time_ms + LOG_TIME_JUMP_MS,
                        term,
                    });
                }
            }
        }
    }
}

/// The tree's hook point in `ServiceState::apply`; empty without the
/// `broken` feature.
#[derive(Default)]
pub(crate) struct StateHooks {
    /// The apply bugs this replica has (`DivergentReplica` only on
    /// `DIVERGENT_NODE`).
    #[cfg(feature = "broken")]
    bugs: NodeBugs,
}

impl StateHooks {
    /// Whether any bug may change an apply (the entry must be decoded).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        #[cfg(feature = "broken")]
        {
            !self.bugs.enabled.is_empty()
        }
        #[cfg(not(feature = "broken"))]
        {
            false
        }
    }

    /// Before `op` is applied to `tree`: may change the op, or apply
    /// something of its own; returns the reply when `op` is not to be
    /// applied at all.
    #[inline]
    pub(crate) fn on_apply(&mut self, _tree: &mut Tree, _op: &mut CoordOp) -> Option<Vec<u8>> {
        #[cfg(feature = "broken")]
        {
            self.break_apply(_tree, _op)
        }
        #[cfg(not(feature = "broken"))]
        {
            None
        }
    }
}

#[cfg(feature = "broken")]
impl StateHooks {
    fn break_apply(&mut self, tree: &mut Tree, op: &mut CoordOp) -> Option<Vec<u8>> {
        use synod_coord::{CoordReply, Id, Write};
        match op {
            CoordOp::CloseSession { session }
                if self.bugs.has(NodeBug::CloseKeepsEphemerals)
                    && !tree.ephemerals(*session, "/").is_empty() =>
            {
                let zxid = tree.last_zxid();
                return Some(CoordReply::Closed { zxid }.encode());
            }
            CoordOp::Touch { .. } if self.bugs.has(NodeBug::DeleteLiveEphemeral) => {
                let victim = tree.sessions().find_map(|(owner, _)| {
                    let path = tree.ephemerals(owner, "/").into_iter().next()?;
                    Some((owner, path))
                });
                if let Some((owner, path)) = victim {
                    let delete = CoordOp::Batch {
                        session: owner,
                        auth: vec![Id {
                            scheme: "super".into(),
                            id: String::new(),
                        }],
                        time_ms: tree.now_ms(),
                        writes: vec![Write::Delete { path, version: -1 }],
                    };
                    tree.apply_op(&delete);
                }
            }
            op if op.batch_writes().is_some() && self.bugs.has(NodeBug::DivergentReplica) => {
                for w in op.batch_writes_mut().expect("a batch").iter_mut() {
                    if let Write::SetData { data, .. } = w {
                        data.push(0xff);
                    }
                }
            }
            op if op.batch_writes().is_some() && self.bugs.has(NodeBug::NullAsEmpty) => {
                null_as_empty(op.batch_writes_mut().expect("a batch"));
            }
            CoordOp::Acquire { lock_delay_ms, .. } if self.bugs.has(NodeBug::NoLockDelay) => {
                *lock_delay_ms = 0;
            }
            _ => {}
        }
        None
    }
}

/// `NodeBug::NullAsEmpty`: every null write, in multis too, made a write
/// of no bytes.
#[cfg(feature = "broken")]
fn null_as_empty(writes: &mut [synod_coord::Write]) {
    use synod_coord::Write;
    for w in writes {
        let empty = match w {
            Write::CreateNull {
                path,
                acl,
                mode,
                ttl_ms,
            } => Write::create(path.clone(), Some(Vec::new()), acl.clone(), *mode, *ttl_ms),
            Write::SetNullData { path, version } => {
                Write::set_data(path.clone(), Some(Vec::new()), *version)
            }
            Write::Multi(inner) => {
                null_as_empty(inner);
                continue;
            }
            _ => continue,
        };
        *w = empty;
    }
}

#[cfg(feature = "broken")]
impl crate::node::ServiceNode {
    /// Puts `bugs` into this node (for simulators only).
    pub fn set_bugs(&mut self, bugs: NodeBugs) {
        let node = self.engine.id();
        let in_apply = bugs
            .enabled
            .iter()
            .copied()
            .filter(|b| b.in_apply())
            .filter(|b| *b != NodeBug::DivergentReplica || node == DIVERGENT_NODE)
            .collect();
        self.engine.state_machine_mut().hooks = StateHooks { bugs: in_apply };
        self.locks.grant_queued = bugs.has(NodeBug::GrantQueued);
        self.locks.cache.no_failover_wait = bugs.has(NodeBug::NoFailoverWait);
        self.locks.set_drop_events(bugs.has(NodeBug::DropEvents));
        self.locks.grant_events_from_replies = bugs.has(NodeBug::GrantEventsFromReplies);
        self.hooks.bugs = bugs;
    }
}
