//! The controller through the interface the engine drives: encoded
//! operations in, encoded replies out.

mod ops;
mod random;
mod snapshot;

use std::collections::BTreeMap;

use synod_paxos::StateMachine;
use synod_shard::{
    decode_reply, encode_op, Config, GroupId, Settings, ShardController, ShardOp, ShardReply,
};

/// Settings small enough to reach every limit in a test: 10 shards as in
/// dslabs, few groups and servers, a short history.
pub fn small_settings() -> Settings {
    Settings {
        shard_count: 10,
        groups_max: 12,
        servers_per_group_max: 3,
        server_addr_bytes_max: 16,
        op_bytes_max: 1_024,
        history_configs_max: 8,
        history_bytes_max: 8 << 10,
    }
}

pub fn controller() -> ShardController {
    ShardController::new(small_settings()).expect("valid settings")
}

/// Applies `op` as the engine does: encoded, through `StateMachine::apply`.
pub fn run(controller: &mut ShardController, op: &ShardOp) -> ShardReply {
    decode_reply(&controller.apply(&encode_op(op))).expect("the reply decodes")
}

/// The servers of group `group`: one address derived from its id.
pub fn servers(group: GroupId) -> Vec<String> {
    vec![format!("g{group}:1")]
}

pub fn join(groups: &[GroupId]) -> ShardOp {
    ShardOp::Join {
        groups: groups.iter().map(|&g| (g, servers(g))).collect(),
    }
}

pub fn leave(groups: &[GroupId]) -> ShardOp {
    ShardOp::Leave {
        groups: groups.to_vec(),
    }
}

pub fn query(controller: &ShardController, num: i64) -> ShardReply {
    decode_reply(&controller.query(&encode_op(&ShardOp::Query { num }))).expect("decodes")
}

/// The newest configuration, read through a `Query`.
pub fn newest(controller: &ShardController) -> Config {
    match query(controller, -1) {
        ShardReply::Config(config) => config,
        other => panic!("Query(-1) answered {other:?}"),
    }
}

/// How many shards each joined group serves.
pub fn counts(config: &Config) -> BTreeMap<GroupId, usize> {
    config
        .groups
        .keys()
        .map(|&g| (g, config.shards_of(g).len()))
        .collect()
}
