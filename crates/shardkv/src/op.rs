//! What a replica group's log carries (`GroupOp`) and answers
//! (`GroupReply`), and what groups, clients and the controller say to a
//! group's leader (`GroupMsg`). Encoded as a version byte and bincode
//! (varint integers, trailing bytes refused); enum variants are only ever
//! appended.

use bincode::Options as _;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use synod_shard::{Config, GroupId, ShardId};

use crate::shard::{ClientTable, Entry};
use crate::txn::{AbortReason, ReadResult, Txn, TxnId, TxnOutcome, WriteResult};

/// Leads every encoded op, reply and message.
pub const WIRE_VERSION: u8 = 1;

/// One entry of a replica group's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupOp {
    /// Moves to the next configuration (`num` one more than the group's).
    Config(Config),
    /// A client's transaction whose keys all live in this group: it runs
    /// whole at apply (one round through the log).
    Client { id: TxnId, txn: Txn },
    /// Phase one of a cross-group transaction: lock this group's part and
    /// vote. `coordinator` is the group that records the decision.
    Prepare {
        id: TxnId,
        txn: Txn,
        coordinator: GroupId,
    },
    /// Phase two: the coordinator's recorded decision, and what the client
    /// hears of it (kept in the shards' exactly-once tables on commit). It
    /// finishes only a prepare made for that coordinator.
    Finish {
        id: TxnId,
        coordinator: GroupId,
        commit: bool,
        outcome: TxnOutcome,
    },
    /// A piece of a shard handed over in configuration `num`: the entries
    /// after key `after`, in key order; `tail` (the last piece) carries the
    /// shard's revision counter and exactly-once table.
    Install {
        num: u64,
        shard: ShardId,
        #[serde(with = "serde_bytes")]
        after: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, Entry)>,
        tail: Option<ShardTail>,
    },
    /// The receiver has the shard handed over in `num`: drop the copy.
    Release { num: u64, shard: ShardId },
    /// The coordinator's decision (the first one recorded for `id` wins).
    Decide {
        id: TxnId,
        commit: bool,
        participants: Vec<GroupId>,
        outcome: TxnOutcome,
    },
    /// `group` finished `id`; once every participant has, the decision is
    /// dropped (the client's latest outcome stays for its retries).
    Forget { id: TxnId, group: GroupId },
}

/// The last piece of a shard's hand-over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTail {
    pub rev: u64,
    pub clients: ClientTable,
}

/// A participant's vote.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vote {
    /// Locked and ready: what it read, and the revisions its writes will
    /// take if the transaction commits.
    Yes {
        reads: Vec<ReadResult>,
        writes: Vec<WriteResult>,
    },
    No(AbortReason),
    /// The transaction already ran (its outcome, from the exactly-once
    /// table): the coordinator reports that and writes nothing.
    Done(TxnOutcome),
}

/// The answer to one [`GroupOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupReply {
    ConfigApplied {
        num: u64,
    },
    /// Not applied: the group is at `current` or still moving shards.
    ConfigNotYet {
        current: u64,
    },
    Txn(TxnOutcome),
    /// A key's shard is not served here now; `num` is the group's config.
    WrongGroup {
        num: u64,
    },
    /// An earlier attempt of this transaction is prepared here; nothing
    /// was recorded: ask again once it is decided.
    Busy,
    Vote(Vote),
    Finished,
    /// The receiver holds the shard's entries up to `after` so far.
    Installing {
        after: Option<Vec<u8>>,
    },
    /// The receiver has the whole shard (now or earlier).
    Installed,
    /// The receiver has not reached configuration `num` yet.
    InstallNotYet {
        current: u64,
    },
    Released,
    Decided {
        commit: bool,
        outcome: TxnOutcome,
    },
    Forgotten,
    /// The op did not decode or is over a limit; it changed nothing.
    Refused(String),
}

/// What a group's leader hears from clients, other groups and the
/// controller, and says to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupMsg {
    /// A client's transaction; `config` is the configuration the client
    /// routed it by.
    ClientTxn {
        id: TxnId,
        txn: Txn,
        config: u64,
    },
    /// The answer to a client.
    ClientReply {
        id: TxnId,
        reply: ClientReply,
    },
    Prepare {
        id: TxnId,
        txn: Txn,
        coordinator: GroupId,
    },
    /// A participant's vote on its part of `id`; `part` is the digest
    /// (`synod_paxos::digest`) of the part it voted on, so a coordinator
    /// that split the transaction otherwise ignores it.
    Vote {
        id: TxnId,
        group: GroupId,
        part: u64,
        vote: Vote,
    },
    Decision {
        id: TxnId,
        commit: bool,
        outcome: TxnOutcome,
    },
    Finished {
        id: TxnId,
        group: GroupId,
    },
    /// A participant holding `id` prepared for long asks for the decision.
    Resolve {
        id: TxnId,
        group: GroupId,
    },
    Install {
        num: u64,
        shard: ShardId,
        from: GroupId,
        #[serde(with = "serde_bytes")]
        after: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, Entry)>,
        tail: Option<ShardTail>,
    },
    /// The receiver's progress on a hand-over: resume after `after`, or
    /// `done`.
    InstallAck {
        num: u64,
        shard: ShardId,
        #[serde(with = "serde_bytes")]
        after: Option<Vec<u8>>,
        done: bool,
    },
}

/// What a client hears back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientReply {
    Outcome(TxnOutcome),
    /// Ask the controller for a configuration past `num` and route again.
    WrongGroup {
        num: u64,
    },
    /// A earlier attempt of the transaction is still locked here: ask
    /// again shortly.
    Busy,
}

/// An encoded op, reply or message that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("unknown version {0} (expected {WIRE_VERSION})")]
    Version(u8),
    #[error("malformed body: {0}")]
    Body(String),
}

/// Encodes an op, reply or message.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    bincode::DefaultOptions::new()
        .serialize_into(&mut out, value)
        .expect("serializing into memory cannot fail");
    out
}

/// Decodes what [`encode`] wrote, reading no more than the input holds.
pub fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, DecodeError> {
    let (&version, body) = input.split_first().ok_or(DecodeError::Empty)?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version(version));
    }
    bincode::DefaultOptions::new()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| DecodeError::Body(e.to_string()))
}
