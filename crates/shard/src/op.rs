//! Controller operations and their replies, and their binary encoding.
//!
//! An operation or reply is a version byte followed by the value in bincode
//! (varint integers, little-endian, trailing bytes refused). Bincode numbers
//! enum variants by position, so variants are only ever appended; a change
//! that is not an append bumps the version byte.

use std::collections::BTreeMap;

use bincode::Options as _;
use serde::{Deserialize, Serialize};

use crate::config::{Config, GroupId, ShardId};

/// Leads every encoded operation.
pub const OP_VERSION: u8 = 1;

/// Leads every encoded reply.
pub const REPLY_VERSION: u8 = 1;

/// One controller operation, as carried in a Paxos slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardOp {
    /// Adds the groups (or updates the servers of joined ones) and, if the
    /// set of groups changed, rebalances. Replies `Reconfigured`, or
    /// `Unchanged` when every group is already joined with these servers.
    Join {
        groups: BTreeMap<GroupId, Vec<String>>,
    },
    /// Removes the groups and rebalances their shards over the rest.
    /// Replies `Reconfigured`; refused (`LastGroup`) if no group would be
    /// left.
    Leave { groups: Vec<GroupId> },
    /// Assigns one shard to one joined group, without rebalancing. Replies
    /// `Reconfigured`, or `Unchanged` if the group already serves it.
    Move { shard: ShardId, group: GroupId },
    /// Reads configuration `num`; `-1`, or any number past the newest,
    /// reads the newest. Replies `Config` or `Compacted`.
    Query { num: i64 },
}

impl ShardOp {
    /// True if the operation never changes state (only `Query`).
    pub fn is_read(&self) -> bool {
        matches!(self, ShardOp::Query { .. })
    }
}

/// The reply to one [`ShardOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardReply {
    /// The operation made configuration `num`.
    Reconfigured { num: u64 },
    /// The operation changed nothing; `num` is the newest configuration.
    Unchanged { num: u64 },
    /// The configuration a `Query` asked for.
    Config(Config),
    /// A `Query` asked for a configuration older than `oldest`, the oldest
    /// still kept (`Settings::history_configs_max`, `history_bytes_max`).
    Compacted { oldest: u64 },
    /// The operation was refused and changed nothing.
    Error(ShardError),
}

/// Why an operation was refused. Every refusal changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ShardError {
    #[error("undecodable operation: {0}")]
    Undecodable(String),
    #[error("operation of {bytes} bytes exceeds op_bytes_max {max}: send it in parts")]
    OpTooLarge { bytes: u64, max: u32 },
    #[error("a Join or Leave must name at least one group")]
    NoGroups,
    #[error("group 0 is reserved for unassigned shards")]
    ReservedGroup,
    #[error("group {group} is not joined")]
    UnknownGroup { group: GroupId },
    #[error("shard {shard} does not exist (the controller has {shard_count})")]
    BadShard { shard: ShardId, shard_count: u32 },
    #[error("configuration number {num} is negative and not -1")]
    BadConfigNum { num: i64 },
    #[error("group {group} has no servers")]
    NoServers { group: GroupId },
    #[error("group {group} names server {server:?} twice")]
    DuplicateServer { group: GroupId, server: String },
    #[error("group {group} has an empty server address")]
    EmptyAddress { group: GroupId },
    #[error("group {group} has {count} servers, more than servers_per_group_max {max}")]
    TooManyServers {
        group: GroupId,
        count: u64,
        max: u32,
    },
    #[error("a server address of group {group} has {bytes} bytes, more than server_addr_bytes_max {max}")]
    AddressTooLong {
        group: GroupId,
        bytes: u64,
        max: u32,
    },
    #[error("the Join would make {count} groups, more than groups_max {max}: remove groups first")]
    TooManyGroups { count: u64, max: u32 },
    #[error("only Query can be answered as a read")]
    NotARead,
    /// A `Leave` of every joined group: the shards would have no group to
    /// go to, and their data would stay with the last one, served by none.
    #[error("a Leave must leave at least one group joined (the shards need a group to go to): join another group first")]
    LastGroup,
}

/// An encoded operation or reply that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("unknown version {found} (expected {expected})")]
    Version { found: u8, expected: u8 },
    #[error("malformed body: {0}")]
    Body(String),
}

fn options() -> impl bincode::Options {
    // Varint integers, little-endian, trailing bytes refused.
    bincode::DefaultOptions::new()
}

fn encode<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = vec![version];
    options()
        .serialize_into(&mut out, value)
        .expect("serializing into memory cannot fail");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(expected: u8, input: &[u8]) -> Result<T, DecodeError> {
    let (&found, body) = input.split_first().ok_or(DecodeError::Empty)?;
    if found != expected {
        return Err(DecodeError::Version { found, expected });
    }
    // The limit is the input's length: a corrupt length can make bincode
    // read no further, and so allocate no more, than the input holds.
    options()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| DecodeError::Body(e.to_string()))
}

/// Encodes an operation for proposing to the controller's group.
pub fn encode_op(op: &ShardOp) -> Vec<u8> {
    encode(OP_VERSION, op)
}

/// Decodes an operation; the controller does this on apply and query.
pub fn decode_op(input: &[u8]) -> Result<ShardOp, DecodeError> {
    decode(OP_VERSION, input)
}

/// Encodes a reply; the controller does this on apply and query.
pub fn encode_reply(reply: &ShardReply) -> Vec<u8> {
    encode(REPLY_VERSION, reply)
}

/// Decodes the controller's reply to an operation.
pub fn decode_reply(input: &[u8]) -> Result<ShardReply, DecodeError> {
    decode(REPLY_VERSION, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::Rng;

    fn sample_ops() -> Vec<ShardOp> {
        vec![
            ShardOp::Join {
                groups: BTreeMap::from([(1, vec!["a:1".into(), "b:2".into()]), (7, vec![])]),
            },
            ShardOp::Join {
                groups: BTreeMap::new(),
            },
            ShardOp::Leave {
                groups: vec![3, 1, u64::MAX],
            },
            ShardOp::Move { shard: 9, group: 2 },
            ShardOp::Query { num: -1 },
            ShardOp::Query { num: i64::MIN },
        ]
    }

    fn sample_replies() -> Vec<ShardReply> {
        let mut config = Config::initial(4);
        config.num = 3;
        config.shards = vec![1, 1, 2, 2];
        config.groups = BTreeMap::from([(1, vec!["x:1".into()]), (2, vec!["y:1".into()])]);
        vec![
            ShardReply::Reconfigured { num: 1 },
            ShardReply::Unchanged { num: u64::MAX },
            ShardReply::Config(config),
            ShardReply::Compacted { oldest: 17 },
            ShardReply::Error(ShardError::UnknownGroup { group: 4 }),
            ShardReply::Error(ShardError::Undecodable("bad".into())),
        ]
    }

    #[test]
    fn ops_and_replies_round_trip() {
        for op in sample_ops() {
            assert_eq!(decode_op(&encode_op(&op)), Ok(op));
        }
        for reply in sample_replies() {
            assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
        }
    }

    #[test]
    fn encoding_leads_with_the_version_byte() {
        let bytes = encode_op(&ShardOp::Query { num: -1 });
        assert_eq!(bytes[0], OP_VERSION);
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert_eq!(
            decode_op(&wrong),
            Err(DecodeError::Version {
                found: 9,
                expected: OP_VERSION
            })
        );
        assert_eq!(decode_op(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn every_truncation_and_trailing_bytes_are_refused() {
        for op in sample_ops() {
            let bytes = encode_op(&op);
            for len in 0..bytes.len() {
                assert!(decode_op(&bytes[..len]).is_err(), "{op:?} cut at {len}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(decode_op(&longer), Err(DecodeError::Body(_))));
        }
        for reply in sample_replies() {
            let bytes = encode_reply(&reply);
            for len in 0..bytes.len() {
                assert!(decode_reply(&bytes[..len]).is_err());
            }
        }
    }

    #[test]
    fn a_huge_length_is_refused_without_allocating_it() {
        // Join, then a map length of u64::MAX (varint tag 253 + 8 bytes).
        let mut bytes = vec![OP_VERSION, 0, 253];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(decode_op(&bytes), Err(DecodeError::Body(_))));
    }

    #[test]
    fn random_bytes_never_panic_and_what_decodes_round_trips() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..20_000 {
            let len = rng.range(0, 24) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first = OP_VERSION;
            }
            if let Some(tag) = bytes.get_mut(1) {
                *tag %= 5;
            }
            // Compare values, not bytes: bincode accepts a varint longer
            // than it needs and a map's keys out of order.
            if let Ok(op) = decode_op(&bytes) {
                assert_eq!(decode_op(&encode_op(&op)), Ok(op));
            }
            if let Ok(reply) = decode_reply(&bytes) {
                assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
            }
        }
    }

    #[test]
    fn only_query_is_a_read() {
        for op in sample_ops() {
            assert_eq!(op.is_read(), matches!(op, ShardOp::Query { .. }));
        }
    }
}
