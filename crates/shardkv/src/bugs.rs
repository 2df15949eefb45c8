//! Deliberately broken groups. With the `broken` feature a test turns on
//! one bug and requires the model's checks to catch it; without the
//! feature `ShardBugs::has` is always false and the branches compile away.

#[cfg(all(feature = "broken", not(debug_assertions)))]
compile_error!("the `broken` feature is for debug test builds only");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShardBug {
    /// A participant keeps its votes and locks only in memory: a restart
    /// (a new leader, a restore) forgets them.
    ForgetVotesOnRestart,
    /// The coordinator commits once the first participant votes yes.
    DecideBeforeAllVotes,
    /// A transaction the coordinator runs whole in its own group leaves
    /// no decision behind: a retry after its shards moved runs it again.
    ForgetOneGroupDecisions,
    /// A participant never asks the coordinator about a transaction it
    /// has held prepared for long (2PC's blocking).
    NeverResolve,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShardBugs {
    #[cfg(feature = "broken")]
    enabled: std::collections::BTreeSet<ShardBug>,
}

impl ShardBugs {
    #[inline]
    pub fn has(&self, _bug: ShardBug) -> bool {
        #[cfg(feature = "broken")]
        {
            self.enabled.contains(&_bug)
        }
        #[cfg(not(feature = "broken"))]
        {
            false
        }
    }

    /// A group with `bug` in it.
    #[cfg(feature = "broken")]
    pub fn with(bug: ShardBug) -> Self {
        ShardBugs {
            enabled: [bug].into_iter().collect(),
        }
    }
}
