//! Deliberately broken drive loops, so the coordination simulator can show
//! that each of its oracles catches a bad node. With the `broken` feature
//! a simulator turns one on (`ServiceNode::set_bugs`); without it the
//! hooks below are empty, `NodeBugs::has` is always false, and the
//! compiler removes every branch. The feature never builds in release
//! (see `lib.rs`), so no shipped node carries them.
//!
//! Each bug sits where the drive loop hands something on: proposals on
//! their way from the front door to the engine, and the tree the front
//! door answers reads from.

use synod_coord::Tree;
use synod_paxos::{Command, Micros};

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
}

/// When `LogTimeJumps` starts, in the node's local time since it started.
pub const LOG_TIME_JUMP_AFTER_US: Micros = 6_000_000;
/// How far ahead `LogTimeJumps` puts log time.
pub const LOG_TIME_JUMP_MS: i64 = 30_000;
/// How old `StaleReads`' copy of the tree may get.
pub const STALE_REFRESH_US: Micros = 1_000_000;

impl NodeBug {
    pub const ALL: [NodeBug; 3] = [
        NodeBug::DropTicks,
        NodeBug::LogTimeJumps,
        NodeBug::StaleReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeBug::DropTicks => "drop-ticks",
            NodeBug::LogTimeJumps => "log-time-jumps",
            NodeBug::StaleReads => "stale-reads",
        }
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
        NodeBugs {
            enabled: [bug].into_iter().collect(),
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

    /// The tree the front door answers a request from.
    #[inline]
    pub(crate) fn read_tree<'a>(&'a mut self, live: &'a Tree, _now_us: Micros) -> &'a Tree {
        #[cfg(feature = "broken")]
        if self.bugs.has(NodeBug::StaleReads) {
            let fresh = |(_, at): &(Tree, Micros)| _now_us.saturating_sub(*at) <= STALE_REFRESH_US;
            if !self.stale.as_ref().is_some_and(fresh) {
                self.stale = Some((live.clone(), _now_us));
            }
            return &self.stale.as_ref().expect("just set").0;
        }
        live
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

#[cfg(feature = "broken")]
impl crate::node::ServiceNode {
    /// Puts `bugs` into this node's drive loop (for simulators only).
    pub fn set_bugs(&mut self, bugs: NodeBugs) {
        self.hooks.bugs = bugs;
    }
}
