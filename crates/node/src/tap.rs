//! The apply tap: what every apply of the coordination tree did, for a
//! simulator's oracles, which must see inside the node at a finer grain
//! than its outputs (one engine step may apply many log entries).
//!
//! Off by default, and then it costs one branch per apply and one per
//! engine step. Switched on (`ServiceNode::set_apply_tap(true)`), the
//! service state decodes each coordination entry itself (as `Tree::apply`
//! would), applies it, and records an [`Applied`]: the operation, the
//! zxid after it, its triggers (copied: the drive loop still takes them
//! for the front door, as before), the sessions it ended, and the tree's
//! session table after it. A snapshot that replaced the state is recorded
//! too (`op: None`), and so is the state when the tap is switched on, so
//! an observer always starts from what the tree holds. The drive loop
//! hands the records out after each engine step as `NodeOutput::Applied`,
//! in apply order and before that step's actions, like the triggers.
//!
//! Key-value applies are not recorded: nothing observes them this way.
//! Not a debugging switch of the `broken` feature: it changes no
//! behaviour, so it is in every build, release included.

use std::collections::BTreeMap;
use synod_coord::{CoordOp, Tree, Trigger};

/// One apply of the coordination tree, or a state that replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The log's operation; `None` when a snapshot replaced the state (or
    /// the tap was just switched on): the rest then describes that state.
    pub op: Option<CoordOp>,
    /// The tree's last zxid after the apply.
    pub zxid: i64,
    /// The triggers of this apply, in order.
    pub triggers: Vec<Trigger>,
    /// The sessions this apply ended.
    pub ends: Vec<SessionEnd>,
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

impl Applied {
    /// The record of `op` applied to `tree`, whose triggers from
    /// `triggers_before` on are this apply's.
    pub(crate) fn new(op: Option<CoordOp>, tree: &Tree, triggers_before: usize) -> Self {
        let triggers = tree.pending_triggers()[triggers_before..].to_vec();
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
            triggers,
            ends,
            sessions,
            ephemeral_count: tree.ephemeral_count(),
        }
    }
}
