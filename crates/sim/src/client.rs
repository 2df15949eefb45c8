//! Simulated clients: each runs one operation at a time against the
//! key-value state machine, retries across nodes the way real clients do
//! (same sequence number, so a retry is applied at most once), and records
//! what it saw for the linearizability checker. Some writes chase the
//! leader (`Input::Command`); others are submitted at a random node
//! (`Input::Propose`), which forwards them and answers once it applied
//! them, as the ZooKeeper front door does.

use synod_kv::{KvOp, KvReply};
use synod_paxos::{ClientId, NodeId, Rng};

/// Keys written only by appends: their final value proves that no
/// acknowledged append was lost and none was applied twice.
pub const APPEND_KEYS: [&str; 2] = ["a0", "a1"];
/// Keys written by puts and compare-and-sets.
pub const REGISTER_KEYS: [&str; 2] = ["r0", "r1"];

/// The operation a client is waiting on.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Index of the operation in the history.
    pub history_index: usize,
    pub op: KvOp,
    /// Write sequence number, or the read id for reads.
    pub seq: u64,
    pub is_read: bool,
    /// A write submitted with `Input::Propose` at whatever node `target`
    /// is, rather than at the leader.
    pub anywhere: bool,
    pub target: NodeId,
    pub attempt: u32,
    /// A command over the engine's `command_bytes_max`: it must be
    /// answered `Rejected` and never reach the log (not in the history).
    pub oversized: bool,
}

/// Value sizes a client draws from (`Load::Big`); `None` for small values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigValues {
    /// The largest `Put` value whose command fits `command_bytes_max`.
    pub value_bytes_max: usize,
}

impl BigValues {
    /// For an engine whose commands may hold `command_bytes_max` bytes.
    pub fn for_command_bytes_max(command_bytes_max: usize) -> BigValues {
        let op = |len| {
            KvOp::Put {
                key: REGISTER_KEYS[0].as_bytes().to_vec(),
                value: vec![0; len],
            }
            .encode()
            .len()
        };
        let overhead = op(command_bytes_max) - command_bytes_max;
        let value_bytes_max = command_bytes_max - overhead;
        debug_assert_eq!(op(value_bytes_max), command_bytes_max);
        BigValues { value_bytes_max }
    }

    /// A value size: small, anything up to the limit, just under it, or
    /// (one write in twenty) just over it.
    fn draw(self, rng: &mut Rng) -> (usize, bool) {
        let max = self.value_bytes_max as u64;
        let roll = rng.range(0, 100);
        let len = if roll < 30 {
            rng.range(0, 64)
        } else if roll < 75 {
            rng.range(0, max + 1)
        } else if roll < 95 {
            max - rng.range(0, 64.min(max) + 1)
        } else {
            return ((max + rng.range(1, 2_000)) as usize, true);
        };
        (len as usize, false)
    }
}

#[derive(Clone, Debug)]
pub struct SimClient {
    pub id: ClientId,
    pub write_seq: u64,
    pub read_id: u64,
    pub pending: Option<Pending>,
    pub leader_guess: NodeId,
    /// Stop starting new operations (liveness phase wind-down).
    pub done: bool,
    pub completed: u64,
    /// Sim time of the latest completed operation.
    pub last_completed_at: u64,
}

impl SimClient {
    pub fn new(id: ClientId, first_target: NodeId) -> Self {
        SimClient {
            id,
            write_seq: 0,
            read_id: 0,
            pending: None,
            leader_guess: first_target,
            done: false,
            completed: 0,
            last_completed_at: 0,
        }
    }

    /// A fresh random operation; appends carry a token unique to this
    /// client and sequence number.
    /// A fresh random operation, and whether it is a read and whether it
    /// is over the command limit.
    pub fn next_op(&mut self, rng: &mut Rng, big: Option<BigValues>) -> (KvOp, bool, bool) {
        let roll = rng.range(0, 100);
        let akey = APPEND_KEYS[rng.range(0, APPEND_KEYS.len() as u64) as usize];
        let rkey = REGISTER_KEYS[rng.range(0, REGISTER_KEYS.len() as u64) as usize];
        if roll < 35 {
            let key = if roll < 20 { akey } else { rkey };
            self.read_id += 1;
            return (
                KvOp::Get {
                    key: key.as_bytes().to_vec(),
                },
                true,
                false,
            );
        }
        self.write_seq += 1;
        if let Some(big) = big.filter(|_| roll < 65 && rng.chance(0.5)) {
            let (len, oversized) = big.draw(rng);
            let mut value = format!("v{}.{}:", self.id, self.write_seq).into_bytes();
            value.resize(len.max(value.len()), b'x');
            value.truncate(len);
            let op = KvOp::Put {
                key: rkey.as_bytes().to_vec(),
                value,
            };
            return (op, false, oversized);
        }
        let op = if roll < 65 {
            KvOp::Append {
                key: akey.as_bytes().to_vec(),
                value: token(self.id, self.write_seq).into_bytes(),
            }
        } else if roll < 85 {
            KvOp::Put {
                key: rkey.as_bytes().to_vec(),
                value: format!("v{}.{}", self.id, self.write_seq).into_bytes(),
            }
        } else {
            let expected = if rng.chance(0.3) {
                None
            } else {
                Some(format!("v{}.{}", rng.range(1, 5), rng.range(1, 20)).into_bytes())
            };
            KvOp::Cas {
                key: rkey.as_bytes().to_vec(),
                expected,
                new: format!("v{}.{}", self.id, self.write_seq).into_bytes(),
            }
        };
        (op, false, false)
    }

    pub fn decode(reply: &[u8]) -> Option<KvReply> {
        KvReply::decode(reply).ok()
    }
}

/// The marker an append writes: fixed delimiters so tokens can be counted
/// in the final value.
pub fn token(client: ClientId, seq: u64) -> String {
    format!("<{client}.{seq}>")
}

/// Splits an appended value back into its tokens.
pub fn tokens(value: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(value);
    text.split_inclusive('>').map(str::to_string).collect()
}
