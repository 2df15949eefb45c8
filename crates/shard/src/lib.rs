//! The shard controller's replicated state machine (the "shard master" of
//! dslabs lab 4).
//!
//! # The model
//!
//! The sharded tier splits the key space into a fixed number of shards
//! ([`shard_of`] places a key; [`SHARDS_DEFAULT`] is 256) and serves each
//! shard from one replica group, itself a Paxos group. The controller, its
//! own Paxos group, holds numbered [`Config`]urations: which group serves
//! each shard, and which servers make up each group. Config 0 has no groups
//! and every shard [`UNASSIGNED`]. Each operation that changes something
//! makes the next configuration, numbered one more:
//!
//! - `Join { groups }` adds groups (and replaces the servers of a joined
//!   group named again) and rebalances if the set of groups changed. A Join
//!   that names only joined groups with their current servers is a no-op
//!   (`Unchanged`, no new configuration); one that changes only servers
//!   makes a new configuration with no shard moved, so a group can replace
//!   a server without an operator's Leave and Join, which would move its
//!   shards away and back.
//! - `Leave { groups }` removes joined groups and rebalances their shards
//!   over the rest; a Leave that would leave no group is refused
//!   (`LastGroup`): the shards would have nowhere to go.
//! - `Move { shard, group }` hands one shard to one joined group without
//!   rebalancing (the next Join or Leave rebalances).
//! - `Query { num }` reads a configuration; `-1` or any number past the
//!   newest reads the newest.
//!
//! Groups learn configurations in order, one at a time, and hand shards
//! over between consecutive ones; that is the next layer's work, not this
//! crate's.
//!
//! # The rebalance rule
//!
//! After a Join or Leave every shard is assigned iff some group is joined,
//! the groups' shard counts differ by at most one (groups beyond the shard
//! count get none), and the fewest shards change group that any such
//! assignment allows. Ties go to the smaller group id; nothing iterates
//! over a hash map. The rule, why it is minimal, and the checker that holds
//! every transition to the minimum are in `rebalance.rs`
//! ([`rebalance()`], [`moves_min`], [`check_rebalance`]).
//!
//! # Limits
//!
//! [`Settings`] fixes the shard count and every limit at bootstrap, and
//! the snapshot carries them so every replica judges by the same numbers.
//! An operation over a limit is refused with a [`ShardError`] reply and
//! changes nothing (never a panic):
//!
//! | limit | default | when reached |
//! | --- | --- | --- |
//! | `groups_max` | 256 | Join refused: `TooManyGroups` |
//! | `servers_per_group_max` | 16 | Join refused: `TooManyServers` |
//! | `server_addr_bytes_max` | 260 | Join refused: `AddressTooLong` |
//! | `op_bytes_max` | 256 KiB | refused before decoding: `OpTooLarge` |
//! | `history_configs_max` | 1,024 | oldest config dropped; `Query` of it: `Compacted { oldest }` |
//! | `history_bytes_max` | 32 MiB | as `history_configs_max`; the newest is always kept |
//!
//! The history limits bound the state and its snapshot. Why they are
//! enough, and what a group that lags past them must do, is on
//! [`Settings::DEFAULT`].
//!
//! # What it never does
//!
//! No I/O, no clock, no randomness, no hash-map iteration: every replica
//! that applies the same operations holds the same history and the same
//! digest.

mod config;
mod controller;
mod machine;
mod op;
pub mod rebalance;
mod settings;

pub use config::{shard_of, Config, GroupId, ShardId, UNASSIGNED};
pub use controller::{InvariantError, ShardController};
pub use machine::SNAPSHOT_VERSION;
pub use op::{
    decode_op, decode_reply, encode_op, encode_reply, DecodeError, ShardError, ShardOp, ShardReply,
    OP_VERSION, REPLY_VERSION,
};
pub use rebalance::{check_rebalance, moved, moves_min, rebalance, TransitionError};
pub use settings::{Settings, SettingsError, SHARDS_DEFAULT, SHARDS_MAX};
