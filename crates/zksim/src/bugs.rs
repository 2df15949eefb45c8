//! Deliberate bugs, one per way a coordination service can go wrong, so
//! each oracle can be shown to catch a bad run. Tree bugs live in the
//! state-machine wrapper (`sm.rs`), front-door bugs in the world's handling
//! of what the front door emits and proposes (`world.rs`); neither touches
//! the crates under test.

use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// The tree acknowledges a closeSession without ending the session, so
    /// its ephemerals outlive the close.
    CloseKeepsEphemerals,
    /// The tree deletes a live session's ephemeral while applying a
    /// keepalive.
    DeleteLiveEphemeral,
    /// From six seconds on, the leader's ticks carry a clock thirty
    /// seconds ahead: log time jumps and pinging clients' sessions expire.
    LogTimeJumps,
    /// The leader never advances log time, so abandoned sessions never
    /// expire.
    DropTicks,
    /// Every fifth watch event frame is lost.
    DropEvent,
    /// Two consecutive watch events to one connection swap places.
    SwapEvents,
    /// A watch event is held back until after the next reply on its
    /// connection.
    EventAfterReply,
    /// Two consecutive replies to one connection swap places.
    SwapReplies,
    /// Reads are answered from a copy of the tree that lags by up to a
    /// second.
    StaleReads,
    /// Node 3's tree stores one extra byte on every setData.
    DivergentReplica,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bugs(BTreeSet<Bug>);

impl Bugs {
    pub fn none() -> Self {
        Bugs::default()
    }

    pub fn one(bug: Bug) -> Self {
        Bugs([bug].into_iter().collect())
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }
}
