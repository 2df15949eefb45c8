//! The controller's replicated state: the kept history of configurations,
//! and what each operation does to it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hasher as _;

use bincode::Options as _;
use synod_paxos::Fnv64;

use crate::config::{Config, GroupId, ShardId, UNASSIGNED};
use crate::op::{ShardError, ShardOp, ShardReply};
use crate::rebalance::{check_assigned, rebalance, TransitionError};
use crate::settings::{Settings, SettingsError};

/// The shard controller's state machine.
///
/// It keeps the newest configurations, consecutively numbered, within
/// `Settings::history_configs_max` and `history_bytes_max`; the newest is
/// always kept. Every operation is a pure function of this state, so every
/// replica that applies the same operations holds the same history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardController {
    pub(crate) settings: Settings,
    /// Oldest first, newest last; never empty; numbers consecutive.
    history: VecDeque<Kept>,
    /// The sum of the kept configurations' encoded bytes.
    history_bytes: u64,
    /// The wrapping sum of the kept configurations' hashes, kept by every
    /// push and drop so the digest is O(1).
    history_hash_sum: u64,
}

/// One kept configuration with its encoded size and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Kept {
    config: Config,
    bytes: u64,
    hash: u64,
}

impl Kept {
    fn new(config: Config) -> Kept {
        let encoded = bincode::DefaultOptions::new()
            .serialize(&config)
            .expect("serializing into memory cannot fail");
        Kept {
            bytes: encoded.len() as u64,
            hash: fnv(&encoded),
            config,
        }
    }
}

/// The 64-bit FNV-1a hash of `bytes`.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut hasher = Fnv64::default();
    hasher.write(bytes);
    hasher.finish()
}

/// A state that breaks the controller's invariants: a bug, or a corrupt
/// snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantError {
    #[error("settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("the history is empty")]
    EmptyHistory,
    #[error("configuration {found} follows {prev}")]
    NotConsecutive { prev: u64, found: u64 },
    #[error("configuration {num} has {found} shards, not {expected}")]
    ShardCount {
        num: u64,
        found: usize,
        expected: u32,
    },
    #[error("configuration {num}: {error}")]
    Assignment { num: u64, error: TransitionError },
    #[error("configuration {num}: {error}")]
    Group { num: u64, error: ShardError },
    #[error("the history holds {configs} configurations of {bytes} bytes, over its limits")]
    HistoryOverLimit { configs: usize, bytes: u64 },
    #[error("the cached history sums disagree with the history")]
    CachedSums,
}

impl ShardController {
    /// A controller holding config 0 alone.
    pub fn new(settings: Settings) -> Result<ShardController, SettingsError> {
        settings.validate()?;
        let mut controller = ShardController {
            settings,
            history: VecDeque::new(),
            history_bytes: 0,
            history_hash_sum: 0,
        };
        controller.push(Config::initial(settings.shard_count));
        Ok(controller)
    }

    /// A controller restored from configurations, oldest first, after
    /// checking every invariant (for restoring a snapshot).
    pub(crate) fn from_history(
        settings: Settings,
        configs: Vec<Config>,
    ) -> Result<ShardController, InvariantError> {
        settings.validate()?;
        let mut controller = ShardController {
            settings,
            history: VecDeque::with_capacity(configs.len()),
            history_bytes: 0,
            history_hash_sum: 0,
        };
        for config in configs {
            let kept = Kept::new(config);
            controller.history_bytes += kept.bytes;
            controller.history_hash_sum = controller.history_hash_sum.wrapping_add(kept.hash);
            controller.history.push_back(kept);
        }
        controller.check_invariants()?;
        Ok(controller)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The newest configuration.
    pub fn newest(&self) -> &Config {
        &self
            .history
            .back()
            .expect("the history is never empty")
            .config
    }

    /// The number of the oldest configuration kept.
    pub fn oldest_num(&self) -> u64 {
        self.history
            .front()
            .expect("the history is never empty")
            .config
            .num
    }

    /// Configuration `num`, if kept.
    pub fn config(&self, num: u64) -> Option<&Config> {
        let index = usize::try_from(num.checked_sub(self.oldest_num())?).ok()?;
        self.history.get(index).map(|kept| &kept.config)
    }

    /// The kept configurations, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Config> {
        self.history.iter().map(|kept| &kept.config)
    }

    /// The encoded bytes of the kept configurations.
    pub fn history_bytes(&self) -> u64 {
        self.history_bytes
    }

    /// The replica-state digest: the settings' hash plus the kept
    /// configurations' hashes, each of its canonical encoding.
    pub fn content_digest(&self) -> u64 {
        let settings = bincode::DefaultOptions::new()
            .serialize(&self.settings)
            .expect("serializing into memory cannot fail");
        fnv(&settings).wrapping_add(self.history_hash_sum)
    }

    /// Executes one operation in log order and returns its reply. A refused
    /// operation changes nothing.
    pub fn execute(&mut self, op: &ShardOp) -> ShardReply {
        match op {
            ShardOp::Join { groups } => self.on_join(groups),
            ShardOp::Leave { groups } => self.on_leave(groups),
            ShardOp::Move { shard, group } => self.on_move(*shard, *group),
            ShardOp::Query { num } => self.on_query(*num),
        }
    }

    /// Answers a `Query` without changing state; anything else is refused.
    pub fn read(&self, op: &ShardOp) -> ShardReply {
        match op {
            ShardOp::Query { num } => self.on_query(*num),
            _ => ShardReply::Error(ShardError::NotARead),
        }
    }

    fn on_join(&mut self, joining: &BTreeMap<GroupId, Vec<String>>) -> ShardReply {
        if joining.is_empty() {
            return ShardReply::Error(ShardError::NoGroups);
        }
        if let Some(error) = joining
            .iter()
            .find_map(|(&group, servers)| self.check_group(group, servers).err())
        {
            return ShardReply::Error(error);
        }
        let newest = self.newest();
        let mut groups = newest.groups.clone();
        groups.extend(joining.iter().map(|(g, s)| (*g, s.clone())));
        if groups.len() > self.settings.groups_max as usize {
            return ShardReply::Error(ShardError::TooManyGroups {
                count: groups.len() as u64,
                max: self.settings.groups_max,
            });
        }
        if groups == newest.groups {
            return ShardReply::Unchanged { num: newest.num };
        }
        // New servers for a joined group move no shards; only a change in
        // the set of groups rebalances.
        let shards = if groups.keys().eq(newest.groups.keys()) {
            newest.shards.clone()
        } else {
            rebalance(&newest.shards, &groups.keys().copied().collect())
        };
        self.make(shards, groups)
    }

    fn on_leave(&mut self, leaving: &[GroupId]) -> ShardReply {
        if leaving.is_empty() {
            return ShardReply::Error(ShardError::NoGroups);
        }
        let newest = self.newest();
        if let Some(&group) = leaving.iter().find(|g| !newest.groups.contains_key(g)) {
            return ShardReply::Error(ShardError::UnknownGroup { group });
        }
        let leaving: BTreeSet<GroupId> = leaving.iter().copied().collect();
        let mut groups = newest.groups.clone();
        groups.retain(|group, _| !leaving.contains(group));
        if groups.is_empty() {
            return ShardReply::Error(ShardError::LastGroup);
        }
        let shards = rebalance(&newest.shards, &groups.keys().copied().collect());
        self.make(shards, groups)
    }

    fn on_move(&mut self, shard: ShardId, group: GroupId) -> ShardReply {
        let newest = self.newest();
        if shard >= newest.shard_count() {
            return ShardReply::Error(ShardError::BadShard {
                shard,
                shard_count: newest.shard_count(),
            });
        }
        if group == UNASSIGNED {
            return ShardReply::Error(ShardError::ReservedGroup);
        }
        if !newest.groups.contains_key(&group) {
            return ShardReply::Error(ShardError::UnknownGroup { group });
        }
        if newest.shards[shard as usize] == group {
            return ShardReply::Unchanged { num: newest.num };
        }
        let mut shards = newest.shards.clone();
        shards[shard as usize] = group;
        let groups = newest.groups.clone();
        self.make(shards, groups)
    }

    fn on_query(&self, num: i64) -> ShardReply {
        let newest = self.newest();
        let num = match u64::try_from(num) {
            Ok(num) if num <= newest.num => num,
            Ok(_) => newest.num,
            Err(_) if num == -1 => newest.num,
            Err(_) => return ShardReply::Error(ShardError::BadConfigNum { num }),
        };
        match self.config(num) {
            Some(config) => ShardReply::Config(config.clone()),
            None => ShardReply::Compacted {
                oldest: self.oldest_num(),
            },
        }
    }

    /// Checks one group of a `Join` against the limits.
    fn check_group(&self, group: GroupId, servers: &[String]) -> Result<(), ShardError> {
        let settings = &self.settings;
        if group == UNASSIGNED {
            return Err(ShardError::ReservedGroup);
        }
        if servers.is_empty() {
            return Err(ShardError::NoServers { group });
        }
        if servers.len() > settings.servers_per_group_max as usize {
            return Err(ShardError::TooManyServers {
                group,
                count: servers.len() as u64,
                max: settings.servers_per_group_max,
            });
        }
        let mut seen = BTreeSet::new();
        for server in servers {
            if server.is_empty() {
                return Err(ShardError::EmptyAddress { group });
            }
            if server.len() > settings.server_addr_bytes_max as usize {
                return Err(ShardError::AddressTooLong {
                    group,
                    bytes: server.len() as u64,
                    max: settings.server_addr_bytes_max,
                });
            }
            if !seen.insert(server) {
                return Err(ShardError::DuplicateServer {
                    group,
                    server: server.clone(),
                });
            }
        }
        Ok(())
    }

    /// Makes the next configuration and replies with its number.
    fn make(&mut self, shards: Vec<GroupId>, groups: BTreeMap<GroupId, Vec<String>>) -> ShardReply {
        let num = self.newest().num + 1;
        self.push(Config {
            num,
            shards,
            groups,
        });
        ShardReply::Reconfigured { num }
    }

    /// Appends `config` as the newest, then drops the oldest until the
    /// history is within its limits (the newest always stays).
    fn push(&mut self, config: Config) {
        // The cheap invariants of the new configuration, on in release
        // builds: a broken one would be replicated to every group.
        assert_eq!(config.shards.len(), self.settings.shard_count as usize);
        let joined = config.groups.keys().copied().collect();
        if let Err(error) = check_assigned(&config.shards, &joined) {
            panic!(
                "configuration {} breaks the assignment rule: {error}",
                config.num
            );
        }
        assert!(config.groups.len() <= self.settings.groups_max as usize);
        let kept = Kept::new(config);
        self.history_bytes += kept.bytes;
        self.history_hash_sum = self.history_hash_sum.wrapping_add(kept.hash);
        self.history.push_back(kept);
        while self.history.len() > 1 && self.over_limits() {
            let dropped = self.history.pop_front().expect("more than one kept");
            self.history_bytes -= dropped.bytes;
            self.history_hash_sum = self.history_hash_sum.wrapping_sub(dropped.hash);
        }
        assert!(!self.over_limits(), "the newest configuration always fits");
    }

    fn over_limits(&self) -> bool {
        self.history.len() > self.settings.history_configs_max as usize
            || self.history_bytes > self.settings.history_bytes_max
    }

    /// Checks every invariant of the whole state: consecutive numbers, the
    /// shard count, the assignment rule, the group limits, the history
    /// limits and the cached sums. O(history): for tests and restore.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.settings.validate()?;
        if self.history.is_empty() {
            return Err(InvariantError::EmptyHistory);
        }
        let mut prev: Option<u64> = None;
        let (mut bytes, mut hash_sum) = (0u64, 0u64);
        for kept in &self.history {
            let config = &kept.config;
            let num = config.num;
            if let Some(prev) = prev {
                if prev.checked_add(1) != Some(num) {
                    return Err(InvariantError::NotConsecutive { prev, found: num });
                }
            }
            prev = Some(num);
            self.check_config(config)?;
            let recomputed = Kept::new(config.clone());
            if (recomputed.bytes, recomputed.hash) != (kept.bytes, kept.hash) {
                return Err(InvariantError::CachedSums);
            }
            bytes += kept.bytes;
            hash_sum = hash_sum.wrapping_add(kept.hash);
        }
        if self.over_limits() {
            return Err(InvariantError::HistoryOverLimit {
                configs: self.history.len(),
                bytes: self.history_bytes,
            });
        }
        if (bytes, hash_sum) != (self.history_bytes, self.history_hash_sum) {
            return Err(InvariantError::CachedSums);
        }
        Ok(())
    }

    /// The rules whose check costs no walk of the history: the settings
    /// hold, the history is not empty and within its limits, and the
    /// newest configuration follows the assignment rule. Costs
    /// O(shards + groups); a server runs it after every step.
    pub fn check_cheap_invariants(&self) -> Result<(), InvariantError> {
        self.settings.validate()?;
        let Some(newest) = self.history.back() else {
            return Err(InvariantError::EmptyHistory);
        };
        self.check_config(&newest.config)?;
        if self.over_limits() {
            return Err(InvariantError::HistoryOverLimit {
                configs: self.history.len(),
                bytes: self.history_bytes,
            });
        }
        Ok(())
    }

    fn check_config(&self, config: &Config) -> Result<(), InvariantError> {
        let num = config.num;
        if config.shards.len() != self.settings.shard_count as usize {
            return Err(InvariantError::ShardCount {
                num,
                found: config.shards.len(),
                expected: self.settings.shard_count,
            });
        }
        let joined = config.groups.keys().copied().collect();
        check_assigned(&config.shards, &joined)
            .map_err(|error| InvariantError::Assignment { num, error })?;
        if config.groups.len() > self.settings.groups_max as usize {
            return Err(InvariantError::Group {
                num,
                error: ShardError::TooManyGroups {
                    count: config.groups.len() as u64,
                    max: self.settings.groups_max,
                },
            });
        }
        for (&group, servers) in &config.groups {
            self.check_group(group, servers)
                .map_err(|error| InvariantError::Group { num, error })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cheap_check_catches_a_newest_configuration_off_the_rule() {
        let settings = Settings {
            shard_count: 4,
            groups_max: 4,
            ..Settings::DEFAULT
        };
        let mut controller = ShardController::new(settings).unwrap();
        let join = ShardOp::Join {
            groups: BTreeMap::from([(1, vec!["a:1".to_string()])]),
        };
        assert!(matches!(
            controller.execute(&join),
            ShardReply::Reconfigured { num: 1 }
        ));
        controller.check_cheap_invariants().unwrap();
        // Configuration 1 gives a shard to a group that never joined.
        controller.history.back_mut().unwrap().config.shards[0] = 9;
        assert!(matches!(
            controller.check_cheap_invariants(),
            Err(InvariantError::Assignment { num: 1, .. })
        ));
        assert!(controller.check_invariants().is_err());
    }
}
