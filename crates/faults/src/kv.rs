//! The key-value register workload over synod's gRPC API: gets
//! (linearizable, from the leader under its lease), puts and compare-and-
//! swaps of unique values on a few keys per phase, checked with
//! `synod_check::KvModel`.

use std::time::Duration;

use synod_client::{CasOutcome, Client, ClientError, ClientOptions};
use synod_kv::{KvOp, KvReply};
use synod_wal::SplitMix64;

use crate::history::{record, Ctx, History};

/// Keys per phase: few, so that operations contend.
pub const KEYS: usize = 3;

pub type KvHistory = History<KvOp, KvReply>;

/// The client's options: short deadlines, so that an operation caught by a
/// fault gives up and is recorded as pending instead of stalling its client.
pub fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(1000),
        ..ClientOptions::default()
    }
}

/// Runs one client until the run stops.
pub async fn client(id: u64, endpoints: Vec<String>, ctx: Ctx, history: KvHistory) {
    let mut client = match Client::connect(endpoints, options()).await {
        Ok(c) => c,
        Err(e) => panic!("kv client {id}: {e}"),
    };
    let mut rng = SplitMix64(id * 7919 + 11);
    let mut seen: Vec<Option<Vec<u8>>> = vec![None; KEYS];
    let mut seen_phase = usize::MAX;
    let mut n = 0u64;
    while !ctx.stopped() {
        let phase = ctx.phase();
        if phase != seen_phase {
            seen = vec![None; KEYS];
            seen_phase = phase;
        }
        let k = rng.below(KEYS as u64) as usize;
        let key = format!("p{phase}-k{k}").into_bytes();
        n += 1;
        let value = format!("c{id}-{n}").into_bytes();
        let call = ctx.now();
        let (input, output) = match rng.below(3) {
            0 => {
                let got = client.get(&key).await;
                if let Ok(v) = &got {
                    seen[k] = v.clone();
                }
                (KvOp::Get { key }, outcome(got.map(KvReply::Value)))
            }
            1 => {
                let got = client.put(&key, &value).await;
                (KvOp::Put { key, value }, outcome(got.map(|()| KvReply::Ok)))
            }
            _ => {
                let expected = seen[k].clone();
                let got = client.cas(&key, expected.as_deref(), &value).await;
                if let Ok(CasOutcome::Failed { current }) = &got {
                    seen[k] = current.clone();
                }
                let got = got.map(|o| match o {
                    CasOutcome::Swapped => KvReply::CasOk,
                    CasOutcome::Failed { current } => KvReply::CasFailed { current },
                });
                (
                    KvOp::Cas {
                        key,
                        expected,
                        new: value,
                    },
                    outcome(got),
                )
            }
        };
        let answered = output.is_some();
        record(&history, &ctx, phase, id, (input, call, output));
        if !answered {
            // Nobody answered: give the cluster a moment before the next try.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A definite reply, or `None` when the operation may or may not have taken
/// effect. The client retries a write under one sequence number, so a
/// write that ran out of time can still be applied later: pending.
fn outcome(got: Result<KvReply, ClientError>) -> Option<KvReply> {
    match got {
        Ok(reply) => Some(reply),
        Err(ClientError::NoLeader { .. }) => None,
        Err(e) => {
            eprintln!("kv client: {e}");
            None
        }
    }
}
