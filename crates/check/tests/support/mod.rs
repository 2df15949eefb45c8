//! Helpers shared by the checker's integration tests.
#![allow(dead_code)]

pub mod txn;

use synod_check::Operation;
use synod_kv::{KvOp, KvReply, KvStore};

pub type KvOperation = Operation<KvOp, KvReply>;

pub fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub fn get(key: &str) -> KvOp {
    KvOp::Get { key: bytes(key) }
}

pub fn put(key: &str, value: &str) -> KvOp {
    KvOp::Put {
        key: bytes(key),
        value: bytes(value),
    }
}

pub fn append(key: &str, value: &str) -> KvOp {
    KvOp::Append {
        key: bytes(key),
        value: bytes(value),
    }
}

pub fn cas(key: &str, expected: Option<&str>, new: &str) -> KvOp {
    KvOp::Cas {
        key: bytes(key),
        expected: expected.map(bytes),
        new: bytes(new),
    }
}

pub fn value(v: Option<&str>) -> KvReply {
    KvReply::Value(v.map(bytes))
}

/// A completed operation.
pub fn done(client: u64, input: KvOp, call: u64, output: KvReply, ret: u64) -> KvOperation {
    Operation {
        client,
        input,
        call,
        output: Some(output),
        ret: Some(ret),
    }
}

/// An operation that never returned.
pub fn pending(client: u64, input: KvOp, call: u64) -> KvOperation {
    Operation {
        client,
        input,
        call,
        output: None,
        ret: None,
    }
}

/// SplitMix64: a tiny seeded PRNG, so every run sees the same histories.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Shape of a simulated workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub clients: u64,
    pub keys: u64,
    pub ops: usize,
    /// Percent chance that an in-flight operation's client crashes at a
    /// given step, leaving the operation pending (applied or not).
    pub crash_percent: u64,
}

enum Client {
    Idle,
    Invoked { index: usize },
    Applied { index: usize, reply: KvReply },
}

/// Simulates concurrent clients of one real `KvStore` (a linearizable
/// object: each operation takes effect atomically at one step between its
/// call and its return) and records their history. Every history it
/// produces is linearizable by construction.
pub fn simulate(rng: &mut Rng, workload: Workload) -> Vec<KvOperation> {
    let mut store = KvStore::new();
    let mut clients: Vec<Client> = (0..workload.clients).map(|_| Client::Idle).collect();
    let mut history: Vec<KvOperation> = Vec::new();
    let mut now = 0u64;
    let mut token = 0u64;
    while history.len() < workload.ops || clients.iter().any(|c| !matches!(c, Client::Idle)) {
        // Time sometimes stands still, so ties between a return and a call
        // are exercised.
        now += rng.below(2);
        let id = rng.below(workload.clients) as usize;
        let client = std::mem::replace(&mut clients[id], Client::Idle);
        clients[id] = match client {
            Client::Idle if history.len() < workload.ops => {
                token += 1;
                let input = random_op(rng, &store, workload.keys, token);
                history.push(pending(id as u64, input, now));
                Client::Invoked {
                    index: history.len() - 1,
                }
            }
            Client::Idle => Client::Idle,
            // A crash leaves the operation pending, never applied.
            Client::Invoked { .. } if rng.chance(workload.crash_percent) => Client::Idle,
            Client::Invoked { index } => Client::Applied {
                index,
                reply: store.execute(&history[index].input),
            },
            // A crash after the effect: applied, but never returned.
            Client::Applied { .. } if rng.chance(workload.crash_percent) => Client::Idle,
            Client::Applied { index, reply } => {
                history[index].output = Some(reply);
                history[index].ret = Some(now);
                Client::Idle
            }
        };
    }
    history
}

fn random_op(rng: &mut Rng, store: &KvStore, keys: u64, token: u64) -> KvOp {
    let key = format!("k{}", rng.below(keys)).into_bytes();
    let fresh = format!("v{token}.").into_bytes();
    match rng.below(10) {
        0..=3 => KvOp::Get { key },
        4 | 5 => KvOp::Put { key, value: fresh },
        6 => KvOp::Delete { key },
        7 => KvOp::Append { key, value: fresh },
        _ => {
            // Usually the current value, so that some CASes succeed.
            let expected = match rng.below(3) {
                0 => None,
                1 => Some(b"stale".to_vec()),
                _ => store.get(&key).map(<[u8]>::to_vec),
            };
            KvOp::Cas {
                key,
                expected,
                new: fresh,
            }
        }
    }
}
