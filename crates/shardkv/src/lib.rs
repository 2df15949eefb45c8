//! A replica group of the sharded tier (issue 13): the replicated state
//! of one Paxos group that serves some shards of the key space, and the
//! leader-side driver that moves shards and runs transactions with other
//! groups.
//!
//! # The pieces
//!
//! - [`ShardGroup`] is the group's state machine (`synod_paxos::StateMachine`).
//!   Everything that must survive a leader's crash is in it, decided by the
//!   group's log: the configuration it is at, each shard's data and
//!   exactly-once table, the hand-overs under way, the locks and votes of
//!   prepared transactions, and the decisions of those it coordinates.
//! - [`Driver`] is what the group's leader does with that state: learn the
//!   next configuration from the controller, send shards, run the two
//!   phases of a transaction, ask a coordinator for a decision long
//!   awaited. Its own state is only in-flight bookkeeping; a new leader
//!   starts a fresh driver and, reading the state machine, finishes what
//!   the old one started.
//!
//! # Transactions
//!
//! A transaction (conditions, reads, writes) is named by its client's
//! (id, seq). The client sends it to a coordinator group and retries
//! there. If the coordinator serves every key, the transaction runs whole
//! when its one log entry applies (`GroupOp::Client`): one round. Otherwise
//! two-phase commit with every party a Paxos group:
//!
//! 1. The coordinator's leader sends each participant group its part.
//!    Each logs a `Prepare`: no-wait locking (a key locked by another
//!    transaction votes no, so nothing waits and no deadlock forms),
//!    conditions checked, reads read, revisions reserved for the writes;
//!    its vote is in its log.
//! 2. With every vote yes, the coordinator logs `Decide { commit }`; any
//!    no, `Decide { abort }`. The first decision logged is the decision.
//! 3. It sends the decision; each participant logs `Finish`, writes or
//!    drops, unlocks, and confirms; the coordinator then `Forget`s.
//!
//! Recovery never waits on one machine: a participant that has held a
//! prepared transaction for a while asks the coordinator group, whose
//! leader answers from its log and, if no decision was logged, logs an
//! abort first (presumed abort).
//!
//! # Shards across configurations
//!
//! A group takes configurations in order, one log entry each, and only
//! when settled: every shard it was to receive has arrived, and every
//! shard leaving it is free of prepared transactions (a leaving shard
//! locked by one is `Draining` until the decision). A shard is handed over
//! in pieces of at most `install_bytes_max`, each one log entry at the
//! receiver, the last with the shard's revision counter and exactly-once
//! table; the receiver serves it only once whole, and the sender drops its
//! copy when the receiver confirms.
//!
//! # Limits
//!
//! | limit | default | when reached |
//! | --- | --- | --- |
//! | `txn_keys_max` | 128 | the transaction aborts `TooLarge`, nothing locked |
//! | `txn_bytes_max` | 1 MiB | as `txn_keys_max` |
//! | `reads_bytes_max` | 1 MiB | a participant votes no, the coordinator aborts `TooLarge` |
//! | `install_bytes_max` | 1 MiB | the hand-over takes more pieces |
//! | `shard_clients_max`, `shard_clients_bytes_max` | 10,000, 512 KiB | a shard's exactly-once table forgets its least recently active client |
//! | `clients_max`, `clients_bytes_max` | 100,000, 64 MiB | the coordinator's outcomes and the participant's votes, the same way |
//! | `DriverConfig::voting_max` | 10,000 | a client is answered `Busy` |
//!
//! A forgotten client that retries an old transaction could see it run
//! twice, as with the engine's own exactly-once table.
//!
//! A shard whose last group leaves (a configuration with no group) would
//! stay parked with that group, served by none, and a group a later
//! configuration gave it to would start it empty; the controller therefore
//! refuses to remove the last group (`ShardError::LastGroup`).
//!
//! # What it never does
//!
//! No I/O, no clock, no randomness, no hash-map iteration.

mod bugs;
mod call;
mod driver;
mod group;
mod host;
mod limits;
mod machine;
mod op;
mod recent;
mod shard;
mod txn;

pub use bugs::{ShardBug, ShardBugs};
pub use call::{coordinator_for, CallStep, CallTimers, TxnCall};
pub use driver::{Driver, DriverConfig, Out};
pub use group::{Coordinated, Decision, Lock, Memo, Piece, Prepared, ShardGroup, Slot};
pub use host::{GroupHost, HostInput, HostOutput};
pub use limits::Limits;
pub use machine::SNAPSHOT_VERSION;
pub use op::{
    decode, encode, ClientReply, DecodeError, GroupMsg, GroupOp, GroupReply, ShardTail, Vote,
    WIRE_VERSION,
};
pub use recent::{Recent, Weigh};
pub use shard::{ClientEntry, ClientTable, Entry, ShardData};
pub use txn::{AbortReason, Cond, ReadResult, Txn, TxnId, TxnOutcome, Write, WriteResult};
