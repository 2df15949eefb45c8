//! Deliberately broken engines. With the `broken` feature a test can turn
//! on one bug and require the simulator to find a violation; without the
//! feature `Bugs::has` is always false and the compiler removes the
//! branches.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// The acceptor accepts values in ballots below its promise.
    AcceptLowerBallot,
    /// On restart the acceptor forgets what it promised.
    ForgetPromiseOnRestart,
    /// Promises and accepts are sent before they are on disk.
    SendBeforePersist,
    /// One vote short of a majority counts as chosen.
    MinorityQuorum,
    /// The leader's lease ignores clock drift.
    LeaseWithoutDriftMargin,
    /// Phase 1 ends once the promises merely meet every majority of each
    /// configuration before the last (Flexible Paxos' `n - majority + 1`)
    /// instead of holding a majority of each: the rule that let an unseen
    /// membership change be overwritten (issue 10, finding 1).
    Phase1CoverOnly,
}

impl Bug {
    pub const ALL: [Bug; 6] = [
        Bug::AcceptLowerBallot,
        Bug::ForgetPromiseOnRestart,
        Bug::SendBeforePersist,
        Bug::MinorityQuorum,
        Bug::LeaseWithoutDriftMargin,
        Bug::Phase1CoverOnly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::AcceptLowerBallot => "accept-lower-ballot",
            Bug::ForgetPromiseOnRestart => "forget-promise-on-restart",
            Bug::SendBeforePersist => "send-before-persist",
            Bug::MinorityQuorum => "minority-quorum",
            Bug::LeaseWithoutDriftMargin => "lease-without-drift-margin",
            Bug::Phase1CoverOnly => "phase1-cover-only",
        }
    }

    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    #[cfg(feature = "broken")]
    enabled: std::collections::BTreeSet<Bug>,
}

impl Bugs {
    #[inline]
    pub fn has(&self, _bug: Bug) -> bool {
        #[cfg(feature = "broken")]
        {
            self.enabled.contains(&_bug)
        }
        #[cfg(not(feature = "broken"))]
        {
            false
        }
    }

    /// An engine with `bug` in it.
    #[cfg(feature = "broken")]
    pub fn with(bug: Bug) -> Self {
        Bugs {
            enabled: [bug].into_iter().collect(),
        }
    }
}
