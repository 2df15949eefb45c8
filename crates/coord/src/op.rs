//! The operations that travel through the Paxos log and their replies.

use serde::{Deserialize, Serialize};

use crate::lock::{LockError, LockMode, LockOutcome};
use crate::types::{Acl, CreateMode, ErrorCode, Id, Stat};

/// A command for the coordination tree, chosen through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordOp {
    /// A new session; the front door chose the password and negotiated the timeout.
    CreateSession {
        passwd: Vec<u8>,
        timeout_ms: i32,
        time_ms: i64,
    },
    /// Client asked to close; deletes its ephemerals (one zxid for the whole close).
    CloseSession { session: i64 },
    /// Keepalive from a server for sessions with activity since its last touch.
    Touch { sessions: Vec<i64> },
    /// The leader's clock (wall ms) and its term (ballot round): advances log time,
    /// expires sessions, deletes empty containers and expired TTL nodes.
    Tick { time_ms: i64, term: u64 },
    /// One session's writes, applied in order; each consumes one zxid.
    Batch {
        session: i64,
        auth: Vec<Id>,
        time_ms: i64,
        writes: Vec<Write>,
    },
    /// As `Batch`, applied under the ACL rules numbered `rules`
    /// (`acl::Rules`; `Batch` is rules 1). The front door writes this one.
    RuledBatch {
        rules: u16,
        session: i64,
        auth: Vec<Id>,
        time_ms: i64,
        writes: Vec<Write>,
    },
    /// Records the ZooKeeper server line (`host:port:port:role;client`,
    /// after `server.N=`) of each id, for `/zookeeper/config` (see
    /// `zk_config`); proposed by the front door before the membership
    /// change that adds the id. Consumes one zxid. (Last, so the older
    /// variants keep their encoding.)
    ServerLines { lines: Vec<(u64, String)> },
    /// Chubby's Acquire (and TryAcquire, `try_acquire`): `session` asks for
    /// the lock on the persistent znode at `path` in `mode`, with the
    /// lock-delay it wants should its session expire while it holds the
    /// lock (clamped to `lock::LOCK_DELAY_MAX_MS`). Needs WRITE on the
    /// znode under the ACL rules numbered `rules`, for the identities in
    /// `auth`. Replies `CoordReply::Lock`; consumes no zxid. See `lock`.
    Acquire {
        rules: u16,
        session: i64,
        auth: Vec<Id>,
        path: String,
        mode: LockMode,
        lock_delay_ms: i64,
        try_acquire: bool,
    },
    /// Chubby's Release: `session` lets go of the lock at `path`, as its
    /// holder (the lock is free at once) or as a waiter (withdrawn).
    /// Replies `CoordReply::Lock`; consumes no zxid.
    Release { session: i64, path: String },
    /// `session`'s client caches what it reads (Chubby's consistent client
    /// cache, issue 12): recorded in the tree (`Tree::caching_sessions`)
    /// so that a new leader knows whose cache may hold what an old one
    /// registered, and writes nothing a cache may hold until each such
    /// session flushed or its lease ended. No effect on a session that is
    /// not live. Replies `CoordReply::Done`; consumes no zxid.
    CacheSession { session: i64 },
    /// Chubby's SetSequencer: `op` applies only if `sequencer` is valid
    /// now (`Tree::check_sequencer`: the lock's current generation, held
    /// by that session); else nothing changes, no zxid is consumed, and
    /// the reply is `CoordReply::Fenced`. The client's call attached the
    /// sequencer of a lock it holds, so the call fails once the lock is no
    /// longer its own.
    Fenced {
        sequencer: crate::lock::Sequencer,
        op: Box<CoordOp>,
    },
}

impl CoordOp {
    /// The writes of a batch (`Batch` or `RuledBatch`, fenced or not), if
    /// this is one.
    pub fn batch_writes(&self) -> Option<&[Write]> {
        match self {
            CoordOp::Batch { writes, .. } | CoordOp::RuledBatch { writes, .. } => Some(writes),
            CoordOp::Fenced { op, .. } => op.batch_writes(),
            _ => None,
        }
    }

    /// As [`CoordOp::batch_writes`], to change them.
    pub fn batch_writes_mut(&mut self) -> Option<&mut Vec<Write>> {
        match self {
            CoordOp::Batch { writes, .. } | CoordOp::RuledBatch { writes, .. } => Some(writes),
            _ => None,
        }
    }
}

/// One client write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Write {
    /// `ttl_ms` is the TTL for the TTL modes; pass -1 for every other mode
    /// (0 is tolerated as "no TTL" too).
    Create {
        path: String,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<Write>),
    /// ZooKeeper's sync: goes through the log so later reads on this server see everything before it.
    Sync {
        path: String,
    },
    // Variants after this line came later; bincode numbers variants in
    // order, so a new one goes at the end and every older encoding still
    // decodes as it did. A build that predates one cannot decode it (the
    // peer protocol version says so).
    /// As `Create`, with null data (ZooKeeper's `create(path, null, ..)`),
    /// which reads back as null, not as empty.
    CreateNull {
        path: String,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: i64,
    },
    /// As `SetData`, with null data.
    SetNullData {
        path: String,
        version: i32,
    },
}

impl Write {
    /// A create of `data`, `None` being null: `Create` or `CreateNull`.
    pub fn create(
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: i64,
    ) -> Write {
        match data {
            Some(data) => Write::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms,
            },
            None => Write::CreateNull {
                path,
                acl,
                mode,
                ttl_ms,
            },
        }
    }

    /// A setData of `data`, `None` being null: `SetData` or `SetNullData`.
    pub fn set_data(path: String, data: Option<Vec<u8>>, version: i32) -> Write {
        match data {
            Some(data) => Write::SetData {
                path,
                data,
                version,
            },
            None => Write::SetNullData { path, version },
        }
    }

    /// The data bytes this write itself stores (a create's or a setData's;
    /// none for null data, for other writes and for a multi as a whole).
    pub fn data_bytes(&self) -> usize {
        match self {
            Write::Create { data, .. } | Write::SetData { data, .. } => data.len(),
            _ => 0,
        }
    }
}

/// The reply to a `CoordOp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordReply {
    Session {
        id: i64,
        passwd: Vec<u8>,
        timeout_ms: i32,
        zxid: i64,
    },
    Closed {
        zxid: i64,
    },
    /// Touch, Tick.
    Done,
    /// One per write, same order.
    Batch(Vec<WriteOutcome>),
    /// Acquire, Release. (After the older ones, so they keep their
    /// encoding.)
    Lock(Result<LockOutcome, LockError>),
    /// A `CoordOp::Fenced` whose sequencer was no longer valid.
    Fenced(crate::lock::Invalid),
}

/// The outcome of one write: the zxid it consumed (the current zxid for a
/// write that consumed none) and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    pub zxid: i64,
    pub result: Result<WriteResult, ErrorCode>,
}

/// A successful write's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteResult {
    /// The actual path (with sequential suffix).
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    SetData {
        stat: Stat,
    },
    SetAcl {
        stat: Stat,
    },
    Checked,
    /// All ops succeeded (results in order) or the index of the first failing op and its error.
    Multi(Result<Vec<WriteResult>, (usize, ErrorCode)>),
    Synced {
        path: String,
    },
}

/// A log entry or reply could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode coordination message: {0}")]
pub struct DecodeError(pub String);

impl CoordOp {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("CoordOp serializes")
    }

    /// Exactly `self.encode().len()`, without building the encoding.
    ///
    /// The encoding is additive over a `Batch`'s writes: a list is its
    /// length (8 bytes) followed by its elements, so a `Batch` takes the
    /// bytes of the same `Batch` with no writes plus `Write::encoded_bytes`
    /// of each write. The front door budgets its log commands this way.
    pub fn encoded_bytes(&self) -> usize {
        encoded_bytes(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        bincode::deserialize(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

impl Write {
    /// Exactly the bytes this write adds to the encoding of the `Batch`
    /// that carries it (see `CoordOp::encoded_bytes`).
    pub fn encoded_bytes(&self) -> usize {
        encoded_bytes(self)
    }
}

/// bincode's exact size of `value` (its size counter walks the value and
/// allocates nothing), as a usize.
fn encoded_bytes<T: Serialize>(value: &T) -> usize {
    let bytes = bincode::serialized_size(value).expect("coordination values serialize");
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

impl CoordReply {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("CoordReply serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        bincode::deserialize(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(w: &Write) -> Vec<u8> {
        bincode::serialize(w).expect("serializes")
    }

    /// Logs, snapshots' client tables and peers carry bincode of `Write`:
    /// a variant's number is its place in the enum, so adding one in the
    /// middle would make every older log decode as something else.
    #[test]
    fn every_write_keeps_the_variant_number_older_logs_hold() {
        let path = String::from("/p");
        let writes = [
            Write::create(
                path.clone(),
                Some(vec![1]),
                vec![],
                CreateMode::Persistent,
                -1,
            ),
            Write::Delete {
                path: path.clone(),
                version: -1,
            },
            Write::set_data(path.clone(), Some(vec![1]), -1),
            Write::SetAcl {
                path: path.clone(),
                acl: vec![],
                version: -1,
            },
            Write::Check {
                path: path.clone(),
                version: -1,
            },
            Write::Multi(vec![]),
            Write::Sync { path: path.clone() },
            Write::create(path.clone(), None, vec![], CreateMode::Persistent, -1),
            Write::set_data(path, None, -1),
        ];
        for (number, w) in (0u32..).zip(&writes) {
            assert_eq!(encode(w)[..4], number.to_le_bytes(), "{w:?}");
        }
    }

    /// Every `CoordOp` the log may already hold keeps its variant number:
    /// logs, snapshots' client tables and peers carry them as bincode.
    #[test]
    fn every_coord_op_keeps_the_variant_number_older_logs_hold() {
        let ops = [
            CoordOp::CreateSession {
                passwd: vec![1],
                timeout_ms: 1,
                time_ms: 1,
            },
            CoordOp::CloseSession { session: 1 },
            CoordOp::Touch { sessions: vec![1] },
            CoordOp::Tick {
                time_ms: 1,
                term: 1,
            },
            CoordOp::Batch {
                session: 1,
                auth: vec![],
                time_ms: 1,
                writes: vec![],
            },
            CoordOp::RuledBatch {
                rules: 3,
                session: 1,
                auth: vec![],
                time_ms: 1,
                writes: vec![],
            },
            CoordOp::ServerLines { lines: vec![] },
        ];
        for (number, op) in (0u32..).zip(&ops) {
            assert_eq!(op.encode()[..4], number.to_le_bytes(), "{op:?}");
        }
    }

    /// The bytes of a Tick and a RuledBatch as logs before locks hold them.
    #[test]
    fn a_tick_and_a_ruled_batch_encode_as_before_locks() {
        let tick = CoordOp::Tick {
            time_ms: 0x0102,
            term: 7,
        };
        let logged: &[u8] = &[
            3, 0, 0, 0, // variant Tick
            2, 1, 0, 0, 0, 0, 0, 0, // time_ms
            7, 0, 0, 0, 0, 0, 0, 0, // term
        ];
        assert_eq!(tick.encode(), logged);
        assert_eq!(CoordOp::decode(logged).expect("decodes"), tick);

        let batch = CoordOp::RuledBatch {
            rules: 3,
            session: 9,
            auth: vec![Id::new("ip", "a")],
            time_ms: 1,
            writes: vec![Write::Sync { path: "/".into() }],
        };
        let logged: &[u8] = &[
            5, 0, 0, 0, // variant RuledBatch
            3, 0, // rules
            9, 0, 0, 0, 0, 0, 0, 0, // session
            1, 0, 0, 0, 0, 0, 0, 0, // one Id
            2, 0, 0, 0, 0, 0, 0, 0, b'i', b'p', // scheme
            1, 0, 0, 0, 0, 0, 0, 0, b'a', // id
            1, 0, 0, 0, 0, 0, 0, 0, // time_ms
            1, 0, 0, 0, 0, 0, 0, 0, // one write
            6, 0, 0, 0, // variant Sync
            1, 0, 0, 0, 0, 0, 0, 0, b'/', // path
        ];
        assert_eq!(batch.encode(), logged);
        assert_eq!(CoordOp::decode(logged).expect("decodes"), batch);
    }

    /// The lock commands, their reply and the enums inside them are in
    /// logs and client tables from now on: their numbers stay.
    #[test]
    fn lock_commands_and_replies_keep_their_numbers() {
        use crate::lock::{LockError, LockOutcome, Sequencer};
        let acquire = CoordOp::Acquire {
            rules: 3,
            session: 1,
            auth: vec![],
            path: "/l".into(),
            mode: LockMode::Shared,
            lock_delay_ms: 5,
            try_acquire: true,
        };
        let logged: &[u8] = &[
            7, 0, 0, 0, // variant Acquire
            3, 0, // rules
            1, 0, 0, 0, 0, 0, 0, 0, // session
            0, 0, 0, 0, 0, 0, 0, 0, // no identities
            2, 0, 0, 0, 0, 0, 0, 0, b'/', b'l', // path
            1, 0, 0, 0, // mode Shared
            5, 0, 0, 0, 0, 0, 0, 0, // lock_delay_ms
            1, // try_acquire
        ];
        assert_eq!(acquire.encode(), logged);
        assert_eq!(CoordOp::decode(logged).expect("decodes"), acquire);
        let release = CoordOp::Release {
            session: 1,
            path: "/l".into(),
        };
        assert_eq!(release.encode()[..4], 8u32.to_le_bytes());

        let replies = [
            (CoordReply::Lock(Ok(LockOutcome::Released)), [4, 0, 2]),
            (CoordReply::Lock(Ok(LockOutcome::Withdrawn)), [4, 0, 3]),
            (
                CoordReply::Lock(Ok(LockOutcome::Queued { ahead: 0 })),
                [4, 0, 1],
            ),
            (
                CoordReply::Lock(Ok(LockOutcome::Acquired(Sequencer::new(
                    "/l",
                    LockMode::Exclusive,
                    1,
                    1,
                )))),
                [4, 0, 0],
            ),
        ];
        for (r, numbers) in replies {
            let bytes = r.encode();
            let got = [bytes[0], bytes[4], bytes[8]];
            assert_eq!(got, numbers, "{r:?}");
        }
        let errors = [
            LockError::SessionExpired,
            LockError::BadPath,
            LockError::NoNode,
            LockError::NotLockable,
            LockError::NoAuth,
            LockError::Conflict,
            LockError::AlreadyHeld,
            LockError::AlreadyWaiting,
            LockError::NotHeld,
            LockError::WaitersFull,
            LockError::TableFull,
            LockError::Unimplemented,
        ];
        for (number, e) in (0u32..).zip(errors) {
            let bytes = CoordReply::Lock(Err(e)).encode();
            assert_eq!(bytes[4..8], 1u32.to_le_bytes(), "Err");
            assert_eq!(bytes[8..12], number.to_le_bytes(), "{e:?}");
        }
    }

    /// Replies are kept in the replicated client table, so theirs too.
    #[test]
    fn every_coord_reply_keeps_its_variant_number() {
        let replies = [
            CoordReply::Session {
                id: 1,
                passwd: vec![],
                timeout_ms: 1,
                zxid: 1,
            },
            CoordReply::Closed { zxid: 1 },
            CoordReply::Done,
            CoordReply::Batch(vec![]),
        ];
        for (number, r) in (0u32..).zip(&replies) {
            assert_eq!(r.encode()[..4], number.to_le_bytes(), "{r:?}");
        }
    }

    /// The bytes of a setData as the build before null data logged them.
    #[test]
    fn a_set_data_of_bytes_encodes_as_before_null_data() {
        let w = Write::set_data("/p".into(), Some(b"xy".to_vec()), 5);
        let logged: &[u8] = &[
            2, 0, 0, 0, // variant SetData
            2, 0, 0, 0, 0, 0, 0, 0, b'/', b'p', // path
            2, 0, 0, 0, 0, 0, 0, 0, b'x', b'y', // data
            5, 0, 0, 0, // version
        ];
        assert_eq!(encode(&w), logged);
        assert_eq!(bincode::deserialize::<Write>(logged).expect("decodes"), w);
    }
}
