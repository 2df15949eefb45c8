//! The apply tap: what every apply of the coordination tree did, for a
//! simulator's oracles, which must see inside the node at a finer grain
//! than its outputs (one engine step may apply many log entries).
//!
//! Off by default, and then it costs one branch per apply and one per
//! engine step. Switched on (`ServiceNode::set_apply_tap(true)`), the
//! service state decodes each coordination entry itself (as `Tree::apply`
//! would), applies it, and records an [`Applied`]: the operation, the
//! zxid after it and log time after it, its triggers (copied: the drive
//! loop still takes them for the front door, as before), the sessions it
//! ended, the locks it granted, and the tree's session table after it. A snapshot that replaced the state is recorded
//! too (`op: None`), and so is the state when the tap is switched on, so
//! an observer always starts from what the tree holds. The drive loop
//! hands the records out after each engine step as `NodeOutput::Applied`,
//! in apply order and before that step's actions, like the triggers.
//!
//! Key-value applies are not recorded: nothing observes them this way.
//! Not a debugging switch of the `broken` feature: it changes no
//! behaviour, so it is in every build, release included.

use std::collections::BTreeMap;
use synod_coord::{CoordOp, Sequencer, Tree, Trigger};

/// One apply of the coordination tree, or a state that replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The log's operation; `None` when a snapshot replaced the state (or
    /// the tap was just switched on): the rest then describes that state.
    pub op: Option<CoordOp>,
    /// The tree's last zxid after the apply.
    pub zxid: i64,
    /// Log time (`Tree::now_ms`) after the apply.
    pub now_ms: i64,
    /// The triggers of this apply, in order.
    pub triggers: Vec<Trigger>,
    /// The sessions this apply ended.
    pub ends: Vec<SessionEnd>,
    /// The lock holdings this apply made, in order: an `Acquire` granted
    /// at once, or waiters served (copied: the drive loop still takes
    /// them for the lock door).
    pub grants: Vec<Sequencer>,
    /// The session table after the apply: every live session, with its
    /// ephemeral paths (sorted).
    pub sessions: BTreeMap<i64, Vec<String>>,
    /// Ephemerals the tree's index holds in all, its own count: more than
    /// the sessions above list means ephemerals of sessions that are gone.
    pub ephemeral_count: usize,
}

/// A session that ended in an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub session: i64,
    pub zxid: i64,
    /// By expiry (a log-time `Tick`), not by a client's closeSession.
    pub expired: bool,
}

/// How many triggers and lock grants a tree held before an apply: the
/// ones after are the apply's.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mark {
    triggers: usize,
    grants: usize,
}

impl Mark {
    pub(crate) fn of(tree: &Tree) -> Self {
        Mark {
            triggers: tree.pending_triggers().len(),
            grants: tree.pending_lock_grants().len(),
        }
    }
}

impl Applied {
    /// The record of `op` applied to `tree` (`None` for a state that
    /// replaced the tree), of what came after `before`.
    pub(crate) fn new(op: Option<CoordOp>, tree: &Tree, before: Mark) -> Self {
        let triggers = tree.pending_triggers()[before.triggers..].to_vec();
        let grants = tree.pending_lock_grants()[before.grants..]
            .iter()
            .map(|g| g.sequencer.clone())
            .collect();
        let expired = matches!(op, Some(CoordOp::Tick { .. }));
        let ends = triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::SessionClosed { session, zxid } => Some(SessionEnd {
                    session: *session,
                    zxid: *zxid,
                    expired,
                }),
                Trigger::Node { .. } => None,
            })
            .collect();
        let sessions = tree
            .sessions()
            .map(|(id, _)| (id, tree.ephemerals(id, "/")))
            .collect();
        Applied {
            op,
            zxid: tree.last_zxid(),
            now_ms: tree.now_ms(),
            triggers,
            ends,
            grants,
            sessions,
            ephemeral_count: tree.ephemeral_count(),
        }
    }
}
