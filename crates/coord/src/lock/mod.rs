//! Chubby's locks (Burrows, OSDI'06, sections 2.4-2.9) on the tree's
//! znodes: the replicated lock table.
//!
//! Any persistent znode can be a reader/writer lock, advisory: held
//! `Exclusive` by one session or `Shared` by many. `CoordOp::Acquire` and
//! `CoordOp::Release` change the table through the log; every replica
//! applies them in log order and ends with the same table, snapshot
//! (coordination snapshot version 4) and digest. Like the rest of the
//! tree it reads no clock: time is log time (`Tree::now_ms`, moved by
//! `Tick`), and every map is ordered.
//!
//! # Rules
//!
//! - **Who may lock.** The znode must exist and be persistent (plain or
//!   sequential): an ephemeral, container or TTL node can vanish by the
//!   tree's own hand, and a lock must not. Acquiring in either mode needs
//!   WRITE on the znode (section 2.4: an unprivileged reader must not block
//!   a writer), judged under the command's ACL rules.
//! - **Generations.** One counter for the whole table hands out generation
//!   numbers, from 1, and never goes back (it is in the snapshot). A lock
//!   takes the next one each time it changes hands: every exclusive
//!   acquisition, and every shared acquisition of a lock that no one held.
//!   A session that joins shared holders gets their generation: the
//!   generation names a *shared epoch*, and everyone in it read the same
//!   state. So an exclusive holder's generation is above every earlier
//!   holder's, shared or not, on this lock, and a resource that refuses
//!   generations below the newest it saw never takes a write from a
//!   superseded holder. Because the counter is table-wide, a lock that is
//!   freed, forgotten and taken again still moves forward.
//! - **Queue.** An acquire that cannot be granted at once waits in the
//!   lock's FIFO queue (in the replicated state), unless it is a try,
//!   which fails at once with `Conflict`. A new acquire is granted at once
//!   only if no one waits, so a stream of readers cannot starve a writer.
//!   Whenever the holders change (release, session end, lock-delay over)
//!   the queue is served from its head while the head can be granted: one
//!   exclusive waiter, or the run of shared waiters at the head. Every
//!   session woken holds the lock: no herd, no retry. Every grant, at
//!   once or to a waiter, is left as a `LockGrant` for the front door
//!   (`Tree::take_lock_grants`), like watch triggers: the door announces
//!   `LockAcquired` from these, in apply order, never from a reply (a
//!   retried acquire answered from the client table applies nothing).
//! - **Release.** By the holder: the lock is free at once. By a waiter: its
//!   request is withdrawn. A session's locks are released when the session
//!   ends: at once on a close (the client said it is done), and with
//!   lock-delay on an expiry.
//! - **Lock-delay** (section 2.4). A holder chooses its delay when it
//!   acquires: clamped to `[0, LOCK_DELAY_MAX_MS]` (60 s, Chubby's bound).
//!   When its session expires while holding, the lock grants nothing to
//!   anyone until log time reaches the expiry time plus that delay (the
//!   larger, if several holders expire); other shared holders keep
//!   holding. The first `Tick` at or past it serves the queue. A release
//!   never delays. Sessions that expire at one `Tick` end together: the
//!   queues they leave are served once all of them have ended, so the
//!   order of their ids decides nothing.
//! - **Sequencers** (section 2.4). A grant comes with a `Sequencer` naming
//!   the lock, its mode, its generation and the holder's session; its text
//!   form is in `sequencer`. `Tree::check_sequencer` answers whether one is
//!   still valid: the generation is the lock's current one and that
//!   session holds it in that mode. A resource can also compare generations
//!   itself (`Fence`).
//! - **Deletes.** A znode that has a lock record (holders, waiters or a
//!   lock-delay running) cannot be deleted: the delete fails with
//!   ZooKeeper's `NotEmpty`, as a node with children does, and so does a
//!   multi holding it. Releasing the lock (or letting the delay pass) makes
//!   it deletable. Deleting would leave holders believing they hold a lock
//!   that no longer exists.
//! - **zxids.** Lock operations change no znode and consume no zxid.
//!
//! # Limits
//!
//! The table keeps a record per lock that has holders, waiters or a
//! lock-delay running, and forgets it once it has none. What a record may
//! hold, and the table as a whole, is bounded; an acquire beyond a bound
//! fails with the error named, and changes nothing:
//!
//! | limit | value | at the limit |
//! |---|---|---|
//! | `LOCKS_MAX` records | 100,000 | `TableFull` |
//! | `LOCK_TABLE_BYTES_MAX`, counted as `LOCK_BYTES` + path per record and `ENTRY_BYTES` per holder or waiter | 64 MiB | `TableFull` |
//! | `HOLDERS_PER_LOCK_MAX` shared holders | 1,000 | none: one more shared acquirer waits (a try fails with `Conflict`) |
//! | `WAITERS_PER_LOCK_MAX` waiters | 1,000 | `WaitersFull` |
//! | `LOCK_DELAY_MAX_MS` | 60,000 | clamped, never refused |
//!
//! These numbers are part of what an apply does, so every replica must
//! have the same ones: changing one changes the log's meaning and needs a
//! new command (as the ACL rules do).

mod apply;
mod query;
mod sequencer;
mod table;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use apply::{check_ties, AcquireArgs};
pub use query::{LockQuery, LockQueryReply};
pub use sequencer::{Fence, Invalid, ParseError, Sequencer, Stale};
pub(crate) use table::LockTable;

/// The longest lock-delay a holder may ask for, in log milliseconds.
pub const LOCK_DELAY_MAX_MS: i64 = 60_000;
/// Lock records the table holds at most.
pub const LOCKS_MAX: usize = 100_000;
/// Bytes the table holds at most, as `LOCK_BYTES` and `ENTRY_BYTES` count.
pub const LOCK_TABLE_BYTES_MAX: u64 = 64 << 20;
/// Shared holders of one lock at most.
pub const HOLDERS_PER_LOCK_MAX: usize = 1_000;
/// Waiting acquirers of one lock at most.
pub const WAITERS_PER_LOCK_MAX: usize = 1_000;
/// Bytes counted per lock record besides its path.
pub const LOCK_BYTES: u64 = 64;
/// Bytes counted per holder or waiter.
pub const ENTRY_BYTES: u64 = 32;

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LockMode {
    /// One holder (a writer).
    Exclusive,
    /// Many holders (readers).
    Shared,
}

/// A session waiting for a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub session: i64,
    pub mode: LockMode,
    /// Its lock-delay once it holds, already clamped.
    pub lock_delay_ms: i64,
}

/// One lock's replicated record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lock {
    /// The generation of the current holders (of the last ones, when
    /// there are none).
    pub generation: u64,
    /// The holders' mode; meaningless without holders.
    pub mode: LockMode,
    /// Holding sessions and the lock-delay each chose.
    pub holders: BTreeMap<i64, i64>,
    /// Waiting acquirers, first come first.
    pub waiters: VecDeque<Waiter>,
    /// While log time is below this, nothing is granted (lock-delay).
    pub delayed_until_ms: Option<i64>,
}

/// The lock table as replicas agree on it and as the snapshot holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Locks {
    /// The last generation handed out (0: none yet).
    pub last_generation: u64,
    /// Every lock with holders, waiters or a lock-delay running.
    pub by_path: BTreeMap<String, Lock>,
}

/// What an `Acquire` or a `Release` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOutcome {
    /// The session holds the lock now.
    Acquired(Sequencer),
    /// The session waits, behind `ahead` others; a `LockGrant` will say
    /// when it holds the lock.
    Queued { ahead: u32 },
    /// The session held the lock and no longer does.
    Released,
    /// The session waited for the lock and no longer does.
    Withdrawn,
}

/// Why an `Acquire` or a `Release` changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum LockError {
    #[error("the session has ended; open a new session and acquire again")]
    SessionExpired,
    #[error("the lock path is not a valid znode path")]
    BadPath,
    #[error("no znode at the lock path; create it (persistent) before locking it")]
    NoNode,
    #[error("locks live on persistent znodes; this one is ephemeral, a container or has a TTL")]
    NotLockable,
    #[error("acquiring a lock needs WRITE permission on its znode")]
    NoAuth,
    #[error("the lock is held or waited for by another session (a try does not wait)")]
    Conflict,
    #[error("this session already holds the lock")]
    AlreadyHeld,
    #[error("this session already waits for the lock")]
    AlreadyWaiting,
    #[error("this session neither holds nor waits for the lock")]
    NotHeld,
    #[error("the lock has its most waiters ({WAITERS_PER_LOCK_MAX}); try again later")]
    WaitersFull,
    #[error(
        "the lock table is full ({LOCKS_MAX} locks or {LOCK_TABLE_BYTES_MAX} bytes); \
         release locks no one needs"
    )]
    TableFull,
    #[error("the command's ACL rules are newer than this build; upgrade it")]
    Unimplemented,
}

/// A session that came to hold a lock during an apply: at once (its
/// `Acquire`'s reply holds the same sequencer) or as a waiter served.
/// Not state: drained by `Tree::take_lock_grants`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockGrant {
    pub sequencer: Sequencer,
    /// It waited in the queue (its `Acquire` was answered `Queued`).
    pub waited: bool,
}

/// A lock as `synod lock status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockStatus {
    /// The holders' mode, `None` when no one holds the lock.
    pub mode: Option<LockMode>,
    /// The current (or last) generation; 0 if the table has forgotten it.
    pub generation: u64,
    /// Holding sessions, in id order.
    pub holders: Vec<i64>,
    /// Waiting sessions and the mode each asked for, first come first.
    pub waiters: Vec<(i64, LockMode)>,
    /// The log time a running lock-delay ends.
    pub delayed_until_ms: Option<i64>,
}

/// What `synod lock status` prints, one `name value` pair a line, sessions
/// as 16 hex digits (as sequencers write them), waiters first come first
/// with their mode (`x` exclusive, `s` shared):
///
/// ```text
/// mode exclusive
/// generation 42
/// holders 0001a2b3c4d50000
/// waiters 0001a2b3c4d50001:x 0001a2b3c4d50002:s
/// lock-delay-until-ms none
/// ```
impl fmt::Display for LockStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mode = match self.mode {
            Some(LockMode::Exclusive) => "exclusive",
            Some(LockMode::Shared) => "shared",
            None => "free",
        };
        writeln!(f, "mode {mode}")?;
        writeln!(f, "generation {}", self.generation)?;
        write!(f, "holders")?;
        for s in &self.holders {
            write!(f, " {:016x}", *s as u64)?;
        }
        write!(f, "\nwaiters")?;
        for (s, mode) in &self.waiters {
            let mode = if *mode == LockMode::Exclusive {
                'x'
            } else {
                's'
            };
            write!(f, " {:016x}:{mode}", *s as u64)?;
        }
        match self.delayed_until_ms {
            Some(until) => write!(f, "\nlock-delay-until-ms {until}"),
            None => write!(f, "\nlock-delay-until-ms none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_prints_one_pair_a_line() {
        let status = LockStatus {
            mode: Some(LockMode::Shared),
            generation: 42,
            holders: vec![0x1a, 0x1b],
            waiters: vec![(0x1c, LockMode::Exclusive), (0x1d, LockMode::Shared)],
            delayed_until_ms: Some(1_000),
        };
        assert_eq!(
            status.to_string(),
            "mode shared\n\
             generation 42\n\
             holders 000000000000001a 000000000000001b\n\
             waiters 000000000000001c:x 000000000000001d:s\n\
             lock-delay-until-ms 1000"
        );
        assert_eq!(
            LockStatus::default().to_string(),
            "mode free\ngeneration 0\nholders\nwaiters\nlock-delay-until-ms none"
        );
    }
}
