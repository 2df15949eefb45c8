//! A replica group's limits, fixed when the group is created and carried
//! in its snapshot so every replica judges by the same numbers.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    /// Keys (conditions, reads and writes together) in one transaction;
    /// more is refused before it runs (`AbortReason::TooLarge`).
    pub txn_keys_max: u32,
    /// Bytes of keys, values and conditions in one transaction; more is
    /// refused the same way.
    pub txn_bytes_max: u64,
    /// Bytes of keys and values one transaction reads (all its groups
    /// together); more aborts it `TooLarge` (a participant whose own part
    /// reads more votes no). It bounds the outcome the coordinator logs.
    pub reads_bytes_max: u64,
    /// Clients whose latest transaction a group remembers, as coordinator
    /// and as participant (each table); the least recently active are
    /// forgotten first, and a forgotten client's retry of an old
    /// transaction is no longer recognized.
    pub clients_max: usize,
    /// Bytes of the coordinator's table of outcomes, the same way.
    pub clients_bytes_max: u64,
    /// Clients each shard's exactly-once table remembers, the same way.
    pub shard_clients_max: usize,
    /// Bytes of each shard's exactly-once table, the same way; it travels
    /// whole in the last piece of a hand-over, so this plus
    /// `install_bytes_max` must fit in one log command.
    pub shard_clients_bytes_max: u64,
    /// Bytes of entries in one piece of a shard's hand-over; a larger
    /// shard is sent in several pieces, each its own log entry.
    pub install_bytes_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            txn_keys_max: 128,
            txn_bytes_max: 1 << 20,
            reads_bytes_max: 1 << 20,
            clients_max: 100_000,
            clients_bytes_max: 64 << 20,
            shard_clients_max: 10_000,
            shard_clients_bytes_max: 512 << 10,
            install_bytes_max: 1 << 20,
        }
    }
}
