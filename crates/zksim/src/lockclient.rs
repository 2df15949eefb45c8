//! A simulated Chubby lock client (issue 12), as crates/client's
//! `LockSession` and `LockHandle` behave: one session at a time, opened at
//! the leader it finds (following `NotLeader` hints), kept alive a third
//! of its timeout after the last keepalive was sent, with a *local lease*
//! (`LEASE_MARGIN_US` short of what the last answered keepalive proves);
//! it acquires one of `LOCK_PATHS`, writes to the fenced resource while it
//! holds the lock and its lease runs, and releases. Sometimes it pauses
//! (a GC pause: nothing sent, nothing read) while it holds a lock, and on
//! resuming writes with its old sequencer before it looks at anything.
//!
//! Calls are exactly-once by (client id, seq): a call is sent again with
//! the same seq after a timeout or a refusal, never with a new one. Like
//! the library, it uses two client ids, one for keepalives and one for
//! everything else, each with one call outstanding. This file holds the
//! client's state; `lockclients.rs` drives it.

use crate::client::Time;
use std::collections::BTreeSet;
use synod_coord::{LockMode, Sequencer};
use synod_node::LockRequest;
use synod_paxos::{ClientId, NodeId};

/// The lock paths the clients contend for.
pub const LOCK_PATHS: [&str; 2] = ["/locks/a", "/locks/b"];
/// Lock clients in every run: two contend for the locks. They cost the CI
/// sweep about 15% more CPU (every lock call is a log command or a read,
/// stepped by three replicas that check their invariants after every
/// step); three cost about 27%.
pub const LOCK_CLIENTS: u64 = 2;
/// What the local lease leaves out of the session timeout: crates/client's
/// `LEASE_MARGIN` (the leader's log-time tick, message delays, drift).
pub const LEASE_MARGIN_US: Time = 1_500_000;
/// The session timeout asked for (the nodes' lowest).
pub const SESSION_TIMEOUT_MS: i32 = 4_000;
/// The lock-delays acquirers choose from.
pub const LOCK_DELAYS_MS: [i64; 4] = [0, 500, 1_500, 3_000];
/// A keepalive unanswered this long is sent again (same seq).
pub const KEEPALIVE_RETRY_US: Time = 300_000;
/// Any other call unanswered this long is sent again (same seq), a parked
/// acquire too (the library asks one again every `WAIT_REASK`, 30 s,
/// longer than a whole run here).
pub const CALL_RETRY_US: Time = 1_000_000;
/// The engine client ids of lock client `n` are this plus `2n` and `2n+1`.
const CLIENT_ID_BASE: ClientId = 0x10c5_0000_0000_0000;

/// Which of the client's two client ids a call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chan {
    Keeper,
    Ops,
}

/// A call on its way: the same (client, seq) until it is answered.
#[derive(Clone, Debug)]
pub struct Call {
    /// Tells this call's answers from a dropped call's.
    pub serial: u64,
    pub request: LockRequest,
    /// When it was first sent: a keepalive's lease counts from here.
    pub first_sent: Time,
    /// When to send it again if no answer came.
    pub retry_at: Time,
}

/// The client's session as it sees it.
#[derive(Clone, Debug)]
pub struct LockSessionView {
    pub id: i64,
    /// The local lease: while now is below it the client acts on its locks.
    pub lease_end: Time,
    /// When the next keepalive is due.
    pub next_keepalive: Time,
}

/// A lock the client holds.
#[derive(Clone, Debug)]
pub struct Holding {
    pub seq: Sequencer,
    /// The start of the current safe interval (`None` while the lease has
    /// run out).
    pub safe_from: Option<Time>,
    pub release_at: Time,
    pub next_write: Time,
    /// When the client pauses while holding it, if it does.
    pub pause_at: Option<Time>,
}

/// What the ops channel does next when it is free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Opens a session (none is open).
    Open,
    /// Nothing until then.
    IdleUntil(Time),
    /// Acquires this lock (its znode was created by this client).
    Acquire(String),
    /// Closes the session.
    Close,
    /// Asks whether a sequencer it released is still valid.
    CheckReleased(Sequencer),
}

/// One lock client.
#[derive(Clone, Debug)]
pub struct LockClient {
    pub n: u64,
    pub leader: NodeId,
    pub seqs: [u64; 2],
    pub session: Option<LockSessionView>,
    pub calls: [Option<Call>; 2],
    pub holding: Option<Holding>,
    pub next: Next,
    /// Paused until then: nothing is sent, answers wait.
    pub paused_until: Option<Time>,
    /// Answers that arrived during a pause, with their call's channel
    /// and serial.
    pub buffered: Vec<(Chan, u64, synod_node::LockAnswer)>,
    /// The sequencer of the release on its way.
    pub releasing: Option<Sequencer>,
    /// Calls started, for their serials.
    pub calls_started: u64,
    /// Lock znodes it created (persistent: once is enough).
    pub created: BTreeSet<String>,
    /// Wake-ups already scheduled.
    pub wakes: BTreeSet<Time>,
}

impl LockClient {
    pub fn new(n: u64, start: Time, nodes: u64) -> Self {
        LockClient {
            n,
            leader: 1 + n % nodes,
            seqs: [0, 0],
            session: None,
            calls: [None, None],
            holding: None,
            next: Next::IdleUntil(start),
            paused_until: None,
            buffered: Vec::new(),
            releasing: None,
            calls_started: 0,
            created: BTreeSet::new(),
            wakes: BTreeSet::new(),
        }
    }

    /// The engine client id of `chan`.
    pub fn client_id(&self, chan: Chan) -> ClientId {
        CLIENT_ID_BASE + 2 * self.n + chan as u64
    }

    pub fn call(&self, chan: Chan) -> Option<&Call> {
        self.calls[chan as usize].as_ref()
    }

    /// The next seq of `chan`.
    pub fn take_seq(&mut self, chan: Chan) -> u64 {
        self.seqs[chan as usize] += 1;
        self.seqs[chan as usize]
    }

    /// The local lease's end, or 0 without a session.
    pub fn lease_end(&self) -> Time {
        self.session.as_ref().map_or(0, |s| s.lease_end)
    }

    pub fn safe(&self, now: Time) -> bool {
        self.lease_end() > now
    }
}

/// A mode as a word, for traces.
pub fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Exclusive => "x",
        LockMode::Shared => "s",
    }
}
