//! The configurations the broken engines are caught in, shared with the
//! searches that require the real engine to pass the same ones.

#![allow(dead_code)]

use synod_explore::{ConfigChange, ExploreConfig, SearchOrder};

/// Three voters, one command, two election or heartbeat timers on any
/// node, disk writes instant: enough for two elections, which both the
/// minority-quorum and the accept-lower-ballot engines need.
pub fn two_elections() -> ExploreConfig {
    ExploreConfig {
        commands: 1,
        timer_budget: 2,
        async_writes: false,
        ..ExploreConfig::small()
    }
}

/// The violations of `two_elections` lie within this many transitions of
/// the warm start (minority quorum 7, accept-lower-ballot 11).
pub const TWO_ELECTIONS_DEPTH: u32 = 11;

/// Finding 1's shape, in the smallest cluster where the cover of a
/// configuration is less than its majority: voters {1, 2} (cover 1,
/// majority 2), learners 3 and 4. The operator promotes 3, then 4; two
/// election timers fire, on node 2 (which campaigns) and node 4 (whose
/// lease from the old leader must run out before it helps). Heartbeat
/// timers and the other nodes' timers are left out to keep the search
/// within a test's time; writes are instant.
pub fn two_promotions() -> ExploreConfig {
    ExploreConfig {
        nodes: 2,
        learners: 2,
        commands: 0,
        changes: vec![ConfigChange::Promote(3), ConfigChange::Promote(4)],
        reconfig_budget: 2,
        timer_budget: 2,
        timer_nodes: vec![2, 4],
        heartbeat_timers: false,
        async_writes: false,
        order: SearchOrder::BreadthFirst,
        ..ExploreConfig::small()
    }
}

/// The cover-rule violation of `two_promotions` lies this many
/// transitions after the warm start.
pub const TWO_PROMOTIONS_DEPTH: u32 = 13;
