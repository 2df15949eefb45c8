//! The engine's knobs. Every limit the engine enforces is here, with what
//! happens when it is reached.

use crate::types::Micros;

/// Retries of one chunk request in a row after which a replica gives a
/// snapshot transfer up (see `EngineConfig::snapshot_chunk_retry_us`).
pub const SNAPSHOT_CHUNK_RETRIES_MAX: u32 = 3;

/// What one log entry costs in a message besides its value: its slot, a
/// ballot and flags. Counted per entry against `message_bytes_max`.
pub const ENTRY_OVERHEAD_BYTES: usize = 32;

/// What a message costs besides its entries: variant tag, ballot, slots,
/// commit point, sequence lengths. Counted once per message.
pub const MESSAGE_OVERHEAD_BYTES: usize = 1024;

/// The largest ballot round and slot a node takes from a peer. A forged or
/// corrupt message naming more is dropped: counting up from it could
/// overflow (release builds check overflow and would panic, and a promise
/// once persisted would panic again after every restart). 2^62 leaves
/// room for every `+ 1` the engine does; a cluster making a million
/// ballots or slots a second reaches it in 146,000 years.
pub const ROUND_MAX: u64 = 1 << 62;
/// See `ROUND_MAX`.
pub const SLOT_MAX: u64 = 1 << 62;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EngineConfig {
    /// How often the leader sends heartbeats (commit point, lease renewal).
    pub heartbeat_interval_us: Micros,
    /// A follower that hears no leader for a random time in
    /// `[election_timeout_us, 1.5 * election_timeout_us)` starts an election.
    /// A leader that hears from no majority for this long steps down.
    pub election_timeout_us: Micros,
    /// An acceptor that hears from a leader refuses to help any other
    /// candidate for this long (its own clock). Must not exceed the
    /// election timeout, or elections would wait on refusals.
    pub lease_us: Micros,
    /// The largest rate at which two clocks may drift apart, in parts per
    /// million. The leader's lease is shortened by it; if real drift
    /// exceeds it, lease reads may be stale (and only they).
    pub drift_ppm_max: u64,
    /// Encoded bytes of the values in flight at most (with `window_slots`);
    /// commands beyond it wait in the queue. A value larger than this goes
    /// when nothing else is in flight. Bounds how far behind bulk data a
    /// heartbeat can queue on the way to a follower.
    pub window_bytes_max: usize,
    /// Proposals in flight (proposed, not yet chosen) at most; commands
    /// beyond it wait in the queue.
    pub window_slots: u64,
    /// Commands waiting for a slot at most; beyond it commands are refused
    /// with `Busy`.
    pub queue_commands_max: usize,
    /// Commands per slot at most.
    pub batch_commands_max: usize,
    /// Encoded bytes of commands per slot at most (`Command::encoded_bytes`);
    /// a single command larger than this (up to `command_bytes_max`) gets
    /// a slot of its own.
    pub batch_bytes_max: usize,
    /// The largest command op, in bytes, the engine takes into its log.
    /// A larger `Command` or `Propose` is answered `Rejected` at once and a
    /// larger forwarded command is dropped: the front doors refuse such
    /// requests before they get here, and nothing bigger may ever need a
    /// message of its own that the network cannot carry.
    pub command_bytes_max: usize,
    /// Bytes of entries one message carries at most: an `Accept` being
    /// resent, each page of a `Promise`, a `CatchupReply`, a `Forward`.
    /// What does not fit goes in the next message (a promise's next page is
    /// asked for; catch-up and resends continue on the next round). Must
    /// hold the largest value (`value_bytes_max`) and stay well below the
    /// transport's frame limit, which the server checks at startup.
    pub message_bytes_max: usize,
    /// Encoded bytes of commands waiting for a slot at most (with
    /// `queue_commands_max`); beyond it commands are refused with `Busy`.
    pub queue_bytes_max: usize,
    /// Reads waiting for a lease at most; beyond it reads get `Busy`.
    pub reads_waiting_max: usize,
    /// Bytes of the ops of reads waiting for a lease at most (with
    /// `reads_waiting_max`); beyond it reads get `Busy`.
    pub reads_waiting_bytes_max: usize,
    /// A proposal not chosen after this long is sent again.
    pub resend_interval_us: Micros,
    /// Take a snapshot every this many applied slots.
    pub snapshot_interval_slots: u64,
    /// Keep this many slots of log below a snapshot for cheap catch-up.
    pub log_retain_slots: u64,
    /// Chosen entries per catch-up reply at most.
    pub catchup_entries_max: usize,
    /// Bytes of snapshot state per message at most. A lagging replica gets
    /// a snapshot whose state is larger in chunks of this size, one chunk
    /// in flight at a time (it asks for each next chunk), so a snapshot of
    /// any size crosses a transport whose frames are far smaller. Keep it
    /// well below the transport's frame limit: the first chunk also
    /// carries the client table.
    pub snapshot_chunk_bytes: usize,
    /// The largest snapshot a replica takes from a peer, in bytes (its
    /// head and state as sent in chunks): a transfer announcing more is
    /// refused. Storage holds the same bound on its snapshot files.
    pub snapshot_bytes_max: u64,
    /// A replica receiving a snapshot in chunks asks for the next chunk
    /// again when it has not arrived after this long, and gives the
    /// transfer up after `SNAPSHOT_CHUNK_RETRIES_MAX` such retries in a row
    /// (catch-up then starts over). A sender forgets a snapshot it was
    /// sending once nobody asked for its chunks for as long as a receiver
    /// keeps retrying.
    pub snapshot_chunk_retry_us: Micros,
    /// Exactly-once table size at most; the least recently active client
    /// is forgotten first.
    pub clients_max: usize,
    /// A learner may be promoted when it lags the leader's commit point by
    /// at most this many slots.
    pub promote_lag_slots_max: u64,
    /// Commands a follower holds for `Input::Propose` (forwarded to the
    /// leader, not yet applied here) at most; beyond it `Propose` is
    /// refused with `Busy`.
    pub forwarded_max: usize,
    /// Encoded bytes of the commands held for `Input::Propose` at most
    /// (with `forwarded_max`); beyond it `Propose` is refused with `Busy`.
    pub forwarded_bytes_max: usize,
    /// A candidate whose commit point is more than this many slots behind
    /// a promise's catches up (bounded catch-up replies) before it finishes
    /// phase 1, rather than taking every chosen value it lacks through the
    /// promises and proposing them all again at once.
    pub prepare_catchup_slots: u64,
    /// A forwarded command not yet applied here is sent to the leader
    /// again after this long (the leader drops forwards it cannot take,
    /// and a `Forward` may be lost). The default is the default election
    /// timeout: by then a lost leader has usually been replaced.
    pub forward_retry_us: Micros,
    /// The leader heartbeats at once when a step moved its commit point
    /// past what its last Accept or heartbeat carried, so followers apply
    /// (and answer forwarded writes, fire watches) without waiting up to a
    /// heartbeat interval. Off only where the extra messages are a cost of
    /// their own: the exhaustive explorer, whose state space they multiply.
    pub tell_commit_at_once: bool,
    /// A node that takes over as leader answers the commands it held for
    /// `Input::Propose` with `NotLeader` naming itself, instead of
    /// proposing them itself, so its host proposes them again through its
    /// own door. Off, they are proposed at once. The service node turns it
    /// on: its client-cache gate (`synod_node::locks::cache`) must see
    /// every write a leader proposes.
    pub return_held_on_takeover: bool,
    /// Emit `Action::Event`s for traces and checkers.
    pub events: bool,
    /// Deliberate bugs, for proving that checkers catch them.
    pub bugs: crate::bugs::Bugs,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            heartbeat_interval_us: 50_000,
            election_timeout_us: 500_000,
            lease_us: 400_000,
            drift_ppm_max: 50_000,
            window_slots: 32,
            window_bytes_max: 8 << 20,
            queue_commands_max: 10_000,
            batch_commands_max: 512,
            batch_bytes_max: 1 << 20,
            command_bytes_max: 2 << 20,
            message_bytes_max: 8 << 20,
            queue_bytes_max: 64 << 20,
            reads_waiting_max: 10_000,
            reads_waiting_bytes_max: 16 << 20,
            resend_interval_us: 100_000,
            snapshot_interval_slots: 1_000,
            log_retain_slots: 200,
            catchup_entries_max: 256,
            snapshot_chunk_bytes: 4 << 20,
            snapshot_bytes_max: 4 << 30,
            snapshot_chunk_retry_us: 1_000_000,
            clients_max: 100_000,
            promote_lag_slots_max: 50,
            forwarded_max: 4096,
            forwarded_bytes_max: 64 << 20,
            prepare_catchup_slots: 64,
            forward_retry_us: 500_000,
            tell_commit_at_once: true,
            return_held_on_takeover: false,
            events: false,
            bugs: crate::bugs::Bugs::default(),
        }
    }
}

impl EngineConfig {
    /// The leader's lease, in its own clock, measured from when it sent the
    /// heartbeat a majority acknowledged. Acceptors hold off other leaders
    /// for `lease_us` of their clock from when they received it, which is
    /// later in real time; with clocks that drift by at most `rho` the
    /// leader's safe length is `lease_us * (1 - rho) / (1 + rho)`.
    pub fn leader_lease_us(&self) -> Micros {
        if self.bugs.has(crate::bugs::Bug::LeaseWithoutDriftMargin) {
            return self.lease_us;
        }
        let rho = self.drift_ppm_max.min(500_000);
        self.lease_us * (1_000_000 - rho) / (1_000_000 + rho)
    }

    /// The largest value one slot can hold, encoded: a batch of commands
    /// within `batch_bytes_max`, or one command of up to
    /// `command_bytes_max` alone.
    pub fn value_bytes_max(&self) -> usize {
        let alone = crate::types::COMMAND_OVERHEAD_BYTES + self.command_bytes_max;
        12 + self.batch_bytes_max.max(alone)
    }

    /// The largest message the engine sends, encoded: `message_bytes_max`
    /// of entries plus one entry's and the envelope's overhead, or a
    /// snapshot chunk. The transport's frame limit must be above it.
    pub fn message_encoded_bytes_max(&self) -> usize {
        let entries = self.message_bytes_max.max(self.snapshot_chunk_bytes);
        entries + ENTRY_OVERHEAD_BYTES + MESSAGE_OVERHEAD_BYTES
    }

    /// Checks the relations between knobs that safety or liveness need.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_us > self.election_timeout_us {
            return Err("lease_us must not exceed election_timeout_us".into());
        }
        if self.heartbeat_interval_us * 3 > self.lease_us {
            return Err("heartbeat_interval_us must be at most a third of lease_us".into());
        }
        if self.window_slots == 0 || self.batch_commands_max == 0 {
            return Err("window_slots and batch_commands_max must be positive".into());
        }
        if self.snapshot_interval_slots == 0 {
            return Err("snapshot_interval_slots must be positive".into());
        }
        if self.forward_retry_us == 0 {
            return Err("forward_retry_us must be positive".into());
        }
        if self.snapshot_chunk_bytes == 0 || self.snapshot_chunk_retry_us == 0 {
            return Err("snapshot_chunk_bytes and snapshot_chunk_retry_us must be positive".into());
        }
        if self.command_bytes_max == 0 || self.batch_bytes_max == 0 {
            return Err("command_bytes_max and batch_bytes_max must be positive".into());
        }
        if self.value_bytes_max() + ENTRY_OVERHEAD_BYTES > self.message_bytes_max {
            return Err(format!(
                "message_bytes_max ({}) must hold the largest value, {} bytes (from batch_bytes_max and command_bytes_max)",
                self.message_bytes_max,
                self.value_bytes_max() + ENTRY_OVERHEAD_BYTES
            ));
        }
        if self.queue_bytes_max < self.value_bytes_max()
            || self.forwarded_bytes_max < self.value_bytes_max()
        {
            return Err(
                "queue_bytes_max and forwarded_bytes_max must hold at least one command of command_bytes_max"
                    .into(),
            );
        }
        Ok(())
    }
}
