//! Bank clients: transfers between accounts on different shards, and
//! audits that read every account in one transaction.

use synod_paxos::Rng;
use synod_shard::Config;
use synod_shardkv::{Cond, Txn, TxnCall, Write};

pub const START_BALANCE: i64 = 100;

pub fn account(i: usize) -> Vec<u8> {
    format!("acct/{i}").into_bytes()
}

/// A value: the balance and the write's unique tag.
pub fn encode_value(balance: i64, tag: u64) -> Vec<u8> {
    format!("{balance}:{tag}").into_bytes()
}

/// (balance, tag); an absent account holds the starting balance.
pub fn decode_value(value: Option<&[u8]>) -> (i64, Option<u64>) {
    let Some(value) = value else {
        return (START_BALANCE, None);
    };
    let text = std::str::from_utf8(value).expect("bank values are text");
    let (balance, tag) = text.split_once(':').expect("balance:tag");
    (
        balance.parse().expect("balance"),
        Some(tag.parse().expect("tag")),
    )
}

/// What a client does next.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Read two accounts, then transfer between them.
    ReadPair {
        from: usize,
        to: usize,
    },
    Transfer {
        txn: Txn,
    },
    Audit,
}

/// One client's transaction in flight.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub call: TxnCall,
    pub plan: Plan,
    pub record: usize,
}

pub struct BankClient {
    pub client: u64,
    pub seq: u64,
    pub config: Config,
    pub flight: Option<InFlight>,
    pub next_plan: Option<Plan>,
    pub idle_until_us: u64,
}

impl BankClient {
    pub fn new(client: u64, config: Config) -> BankClient {
        BankClient {
            client,
            seq: 0,
            config,
            flight: None,
            next_plan: None,
            idle_until_us: 0,
        }
    }

    pub fn choose(&mut self, rng: &mut Rng, accounts: usize) -> Plan {
        if let Some(plan) = self.next_plan.take() {
            return plan;
        }
        if rng.chance(0.25) {
            return Plan::Audit;
        }
        let from = rng.range(0, accounts as u64) as usize;
        let mut to = rng.range(0, accounts as u64 - 1) as usize;
        if to >= from {
            to += 1;
        }
        Plan::ReadPair { from, to }
    }
}

pub fn read_txn(keys: &[Vec<u8>]) -> Txn {
    Txn {
        reads: keys.to_vec(),
        ..Txn::default()
    }
}

/// Moves `amount` from `from` to `to`, if neither changed since read at
/// `revs`.
#[allow(clippy::too_many_arguments)]
pub fn transfer_txn(
    from: usize,
    to: usize,
    revs: (u64, u64),
    balances: (i64, i64),
    amount: i64,
    tags: (u64, u64),
) -> Txn {
    Txn {
        conds: vec![
            Cond::Revision {
                key: account(from),
                rev: revs.0,
            },
            Cond::Revision {
                key: account(to),
                rev: revs.1,
            },
        ],
        reads: Vec::new(),
        writes: vec![
            Write {
                key: account(from),
                value: Some(encode_value(balances.0 - amount, tags.0)),
            },
            Write {
                key: account(to),
                value: Some(encode_value(balances.1 + amount, tags.1)),
            },
        ],
    }
}
