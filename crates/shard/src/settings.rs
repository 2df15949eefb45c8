//! The controller's settings: its shard count and every limit, fixed when
//! the controller is bootstrapped and carried in its snapshot, so every
//! replica judges every operation by the same numbers.

use serde::{Deserialize, Serialize};

/// The default shard count.
///
/// A shard is the unit of placement and of migration. dslabs uses 10, which
/// is enough to show the idea but not to balance a real store: with `G`
/// groups the busiest holds at most one shard more than the idlest, so a
/// shard should be a small fraction of a group's load. 256 keeps that
/// difference under half a percent of the data, lets up to 256 groups each
/// serve a shard, and keeps a configuration's shard table small (256 group
/// ids, a few hundred bytes encoded) and a migration's unit small (1/256
/// of the data). It cannot change after bootstrap: `shard_of` places keys
/// by it.
pub const SHARDS_DEFAULT: u32 = 256;

/// The largest shard count a controller accepts at bootstrap; it bounds
/// the bytes of one configuration's shard table (9 bytes per shard at
/// most).
pub const SHARDS_MAX: u32 = 1 << 16;

/// Bytes of one encoded integer at most (bincode's varint: a tag byte and
/// eight bytes).
const VARINT_BYTES_MAX: u64 = 9;

/// A controller's shard count and limits. What happens at each limit is
/// said with it; in every case the operation is refused with an error reply
/// and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Settings {
    /// Shards, fixed for the controller's life: see [`SHARDS_DEFAULT`].
    pub shard_count: u32,
    /// Groups joined at once. A `Join` that would exceed it is refused
    /// (`TooManyGroups`). The default equals the default shard count: a
    /// group beyond the shard count would serve nothing.
    pub groups_max: u32,
    /// Servers of one group. A `Join` naming more is refused
    /// (`TooManyServers`). 16 leaves room above the 3, 5 or 7 replicas a
    /// Paxos group has.
    pub servers_per_group_max: u32,
    /// Bytes of one server address. A `Join` with a longer one is refused
    /// (`AddressTooLong`). 260 holds a DNS name (253 bytes), a colon and a
    /// port.
    pub server_addr_bytes_max: u32,
    /// Bytes of one encoded operation. A longer one is refused
    /// (`OpTooLarge`) before any decoding work. Joining many large groups
    /// takes several `Join`s. Below the engine's 2 MiB command limit.
    pub op_bytes_max: u32,
    /// Configurations kept for `Query`. When a new configuration would
    /// exceed it, the oldest is dropped, and a `Query` for it answers
    /// `Compacted { oldest }`.
    pub history_configs_max: u32,
    /// Encoded bytes of the configurations kept. When a new configuration
    /// would exceed it, the oldest are dropped as for
    /// `history_configs_max`; the newest is always kept (one configuration
    /// always fits: `validate` checks it). This bounds the state and its
    /// snapshot.
    pub history_bytes_max: u64,
}

impl Settings {
    /// Defaults for a real store.
    ///
    /// Why 1,024 configurations are enough: groups learn configurations in
    /// order, one at a time, and a configuration is made only by an
    /// operator's `Join`, `Leave` or `Move`, a few a minute at the busiest,
    /// so 1,024 is hours of reconfiguration. The byte bound keeps at least
    /// 30 of the largest possible configurations (~1 MiB each: 256 groups of
    /// 16 servers with 260-byte addresses) and all 1,024 of any realistic
    /// size (a few KiB). A group that lags further than the history reaches
    /// gets `Compacted` and must resynchronize from the newest
    /// configuration: the shard-migration layer has to handle that.
    ///
    /// The largest reply, a `Query` answering the largest configuration
    /// (`config_bytes_max`, ~1.1 MiB), fits the server's 2 MiB gRPC
    /// message and the engine's 2 MiB command.
    pub const DEFAULT: Settings = Settings {
        shard_count: SHARDS_DEFAULT,
        groups_max: SHARDS_DEFAULT,
        servers_per_group_max: 16,
        server_addr_bytes_max: 260,
        op_bytes_max: 256 << 10,
        history_configs_max: 1_024,
        history_bytes_max: 32 << 20,
    };

    /// An upper bound on the encoded bytes of one configuration under these
    /// limits.
    pub fn config_bytes_max(&self) -> u64 {
        let shards = VARINT_BYTES_MAX * (1 + u64::from(self.shard_count));
        let server = VARINT_BYTES_MAX + u64::from(self.server_addr_bytes_max);
        let group = 2 * VARINT_BYTES_MAX + u64::from(self.servers_per_group_max) * server;
        VARINT_BYTES_MAX + shards + VARINT_BYTES_MAX + u64::from(self.groups_max) * group
    }

    /// Checks that the settings make a working controller.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.shard_count == 0 || self.shard_count > SHARDS_MAX {
            return Err(SettingsError::ShardCount(self.shard_count));
        }
        let positive = [
            ("groups_max", self.groups_max),
            ("servers_per_group_max", self.servers_per_group_max),
            ("server_addr_bytes_max", self.server_addr_bytes_max),
            ("op_bytes_max", self.op_bytes_max),
            ("history_configs_max", self.history_configs_max),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(SettingsError::Zero(name));
        }
        if self.history_bytes_max < self.config_bytes_max() {
            return Err(SettingsError::HistoryTooSmall {
                history_bytes_max: self.history_bytes_max,
                config_bytes_max: self.config_bytes_max(),
            });
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

/// Settings a controller cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("shard_count {0} is outside 1..={SHARDS_MAX}")]
    ShardCount(u32),
    #[error("{0} must be positive")]
    Zero(&'static str),
    #[error(
        "history_bytes_max {history_bytes_max} cannot hold one configuration \
         of up to {config_bytes_max} bytes: raise it or lower the group limits"
    )]
    HistoryTooSmall {
        history_bytes_max: u64,
        config_bytes_max: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_keep_thirty_of_the_largest_configurations() {
        let settings = Settings::DEFAULT;
        assert_eq!(settings.validate(), Ok(()));
        assert!(settings.history_bytes_max / settings.config_bytes_max() >= 30);
        assert!(u64::from(settings.op_bytes_max) < 2 << 20);
        // The largest Query reply: a few bytes of framing and one config.
        assert!(settings.config_bytes_max() + 64 < 2 << 20);
    }

    #[test]
    fn validate_refuses_unworkable_settings() {
        let zero_shards = Settings {
            shard_count: 0,
            ..Settings::DEFAULT
        };
        assert_eq!(zero_shards.validate(), Err(SettingsError::ShardCount(0)));
        let zero_groups = Settings {
            groups_max: 0,
            ..Settings::DEFAULT
        };
        assert_eq!(
            zero_groups.validate(),
            Err(SettingsError::Zero("groups_max"))
        );
        let tiny_history = Settings {
            history_bytes_max: 1_000,
            ..Settings::DEFAULT
        };
        assert!(matches!(
            tiny_history.validate(),
            Err(SettingsError::HistoryTooSmall { .. })
        ));
    }
}
