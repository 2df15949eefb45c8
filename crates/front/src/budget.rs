//! The byte budget of one log command, and the bound on a connection's
//! auth list that keeps the commands the front door builds inside it.
//!
//! The engine takes no command whose `op` is larger than
//! `command_bytes_max` (`EngineConfig::command_bytes_max`, default 2 MiB)
//! into its log, and the network must never be the place where a command
//! is dropped: so the front door never builds a larger one.
//!
//! | command | bytes | at the limit |
//! |---|---|---|
//! | `Batch` (a connection's consecutive writes) | exact, from `CoordOp::encoded_bytes` | the batch ends; the next write opens the next command once this one is answered |
//! | `Batch` of one write that alone exceeds the budget | | the write is answered `BadArguments` in its turn, never proposed; the connection goes on |
//! | auth list (copied into every `Batch`) | at most `AUTH_IDS_MAX` ids and `AUTH_BYTES_MAX` bytes of scheme and id | an `addauth` beyond it fails as a failed auth does: `AuthFailed`, then the connection closes |
//! | `Touch` (sessions active on this server) | 8 bytes a session | at most `touch_sessions_max` sessions; the rest go in the next `Touch`, sent as soon as this one is answered |
//! | `CreateSession`, `CloseSession`, `Tick` | fixed, under 64 bytes | |
//!
//! The budget must be at least `COMMAND_BYTES_MIN`: room for every fixed
//! command, a full auth list and writes besides.
//!
//! Why `BadArguments` for a write too large for one command: ZooKeeper 3.8
//! has no such refusal. Its only size checks close the connection: a
//! frame over `jute.maxbuffer` ("Len error", synod does the same with
//! `max_buffer_bytes`) and the `zookeeper.largeRequestMaxBytes` throttle
//! ("Rejecting large request"); `Leader.propose` serializes any
//! transaction, whatever its size. Closing would make the client resend
//! the same write after reconnecting, so synod answers an error instead,
//! and `BadArguments` (-8) is the closest existing code: ZooKeeper answers
//! it before the log for a request this server will not take as it is (bad
//! create flags, a bad TTL), clients do not retry it, and the session is
//! unaffected. `QuotaExceeded` (-125) was the other candidate, but it names
//! a path's quota, which clients report as such. With the defaults
//! (`jute.maxbuffer` 1 MiB − 1, budget 2 MiB) no single request reaches
//! the limit: a request's command is at most ~1.7 times its frame (list
//! lengths take 8 bytes in the log, 4 on the wire). It matters when
//! `max_buffer_bytes` is raised or the budget lowered.

use synod_coord::acl::Rules;
use synod_coord::{CoordOp, Id, Write};

/// The engine's default `command_bytes_max`: the largest `Command::op`
/// it takes into its log.
pub const COMMAND_BYTES_MAX_DEFAULT: usize = 2 << 20;

/// The smallest budget a server may be configured with: a `Batch` with a
/// full auth list (`AUTH_BYTES_MAX` plus 16 bytes of lengths an id) still
/// has over 40 KiB for its writes, and every fixed command fits.
pub const COMMAND_BYTES_MIN: usize = 64 * 1024;

/// Ids a connection's auth list holds at most (its `ip` id, `super` and
/// the digests it added).
pub const AUTH_IDS_MAX: usize = 16;

/// Bytes of scheme and id text a connection's auth list holds at most, over
/// all its ids. Every `Batch` of the connection carries the whole list.
pub const AUTH_BYTES_MAX: usize = 16 * 1024;

/// The bytes of the log tag (`COORD_TAG`) in front of every coordination
/// command.
const TAG_BYTES: usize = 1;

/// A write that cannot travel in the batch being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the command would take {bytes} bytes, more than the log's {bytes_max} per command")]
pub struct OverBudget {
    /// What the command would take with the write.
    pub bytes: usize,
    pub bytes_max: usize,
}

/// A connection's consecutive writes gathered into one `Batch` command,
/// which never exceeds the byte budget.
pub struct BatchBuilder {
    session: i64,
    auth: Vec<Id>,
    time_ms: i64,
    writes: Vec<Write>,
    /// `Command::op` bytes of the batch as it stands (exact).
    bytes: usize,
    bytes_max: usize,
}

impl BatchBuilder {
    pub fn new(session: i64, auth: Vec<Id>, time_ms: i64, bytes_max: usize) -> Self {
        // The auth list is bounded (AUTH_BYTES_MAX): copying it to size the
        // empty batch costs little next to the writes it will carry.
        let empty = CoordOp::RuledBatch {
            rules: Rules::CURRENT.number(),
            session,
            auth: auth.clone(),
            time_ms,
            writes: Vec::new(),
        };
        let bytes = command_bytes(&empty);
        BatchBuilder {
            session,
            auth,
            time_ms,
            writes: Vec::new(),
            bytes,
            bytes_max,
        }
    }

    /// Adds `write` if the command stays within the budget with it;
    /// otherwise leaves the batch as it was.
    pub fn push(&mut self, write: Write) -> Result<(), OverBudget> {
        let bytes = self.bytes.saturating_add(write.encoded_bytes());
        if bytes > self.bytes_max {
            return Err(OverBudget {
                bytes,
                bytes_max: self.bytes_max,
            });
        }
        self.bytes = bytes;
        self.writes.push(write);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// `Command::op` bytes of the batch as it stands.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn into_op(self) -> CoordOp {
        CoordOp::RuledBatch {
            rules: Rules::CURRENT.number(),
            session: self.session,
            auth: self.auth,
            time_ms: self.time_ms,
            writes: self.writes,
        }
    }
}

/// Sessions one `Touch` command carries at most within `bytes_max`.
pub fn touch_sessions_max(bytes_max: usize) -> usize {
    let empty = CoordOp::Touch {
        sessions: Vec::new(),
    }
    .encoded_bytes();
    let one = CoordOp::Touch { sessions: vec![0] }.encoded_bytes();
    bytes_max.saturating_sub(TAG_BYTES + empty) / (one - empty)
}

/// `Command::op` bytes of a coordination operation.
pub fn command_bytes(op: &CoordOp) -> usize {
    TAG_BYTES + op.encoded_bytes()
}

/// Bytes an auth list counts against `AUTH_BYTES_MAX`.
pub fn auth_bytes(auth: &[Id]) -> usize {
    auth.iter().map(|id| id.scheme.len() + id.id.len()).sum()
}

/// Whether an auth list is within `AUTH_IDS_MAX` and `AUTH_BYTES_MAX`.
pub fn auth_within_bound(auth: &[Id]) -> bool {
    auth.len() <= AUTH_IDS_MAX && auth_bytes(auth) <= AUTH_BYTES_MAX
}
