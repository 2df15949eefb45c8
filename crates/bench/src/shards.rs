//! synod's sharded tier through `synod_client::ShardClient`. Every op is a
//! transaction: a write or read of one key goes to its shard's group in
//! one round; the txn workload's two keys are on different groups when
//! their shards are (two-phase commit between the groups). As with the
//! native target, each in-flight request has its own client.

use std::sync::Arc;
use std::time::Duration;

use synod_client::{ClientOptions, ShardClient};
use synod_shardkv::{Txn, TxnOutcome, Write};

use crate::args::BenchArgs;
use crate::drive::{self, Op, Worker};
use crate::stats::Stats;

/// Transactions outstanding at once while creating the keys.
const SETUP_IN_FLIGHT: usize = 64;

fn key(k: u64) -> Vec<u8> {
    format!("bench/k/{k}").into_bytes()
}

pub struct ShardWorker {
    client: ShardClient,
    value: Vec<u8>,
}

impl ShardWorker {
    fn put(&self, k: u64) -> Write {
        Write {
            key: key(k),
            value: Some(self.value.clone()),
        }
    }
}

impl Worker for ShardWorker {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        let txn = match op {
            Op::Write(k) | Op::Populate(k) => Txn {
                writes: vec![self.put(k)],
                ..Txn::default()
            },
            Op::Read(k) => Txn {
                reads: vec![key(k)],
                ..Txn::default()
            },
            Op::Txn(a, b) => Txn {
                reads: vec![key(a), key(b)],
                writes: vec![self.put(a), self.put(b)],
                ..Txn::default()
            },
            Op::Create(_) | Op::Delete(_) => {
                return Err("--target synod-shards runs write, read, mixed and txn".into())
            }
        };
        match self.client.txn(txn).await {
            Ok(TxnOutcome::Committed { .. }) => Ok(()),
            Ok(TxnOutcome::Aborted(reason)) => Err(format!("aborted: {reason}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

async fn workers(args: &BenchArgs, count: usize) -> anyhow::Result<Vec<ShardWorker>> {
    let options = ClientOptions {
        request_timeout: Duration::from_millis(args.request_timeout_ms.min(2_000)),
        deadline: Duration::from_millis(args.request_timeout_ms),
        ..ClientOptions::default()
    };
    let mut workers = Vec::with_capacity(count);
    for i in 0..count {
        workers.push(ShardWorker {
            client: ShardClient::connect(args.endpoints(), options.clone()).await?,
            value: drive::value_of(args.value_bytes, i as u64),
        });
    }
    Ok(workers)
}

pub async fn run_kv(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    if !args.skip_setup {
        let setup = workers(args, SETUP_IN_FLIGHT.min(args.keys as usize)).await?;
        drive::count_bound(setup, args.keys, Arc::new(Stats::default())).await?;
    }
    let workers = workers(args, args.in_flight).await?;
    drive::closed_loop(workers, args, stats).await;
    Ok(())
}
