//! A model of the sharded tier for tests: replica groups whose logs are
//! delayed queues or three replicas of the real Paxos engine (`logs`),
//! leaders that crash (losing their driver and some proposals),
//! snapshots, a lossy network between groups, the shard controller
//! moving shards, and bank clients. Its checks: the bank's total, one
//! group per shard per configuration, strict serializability of the
//! transaction history, and that everything settles once faults stop.

// Each test binary uses a part of the support.
#![allow(dead_code)]

pub mod bank;
pub mod logs;
pub mod world;
