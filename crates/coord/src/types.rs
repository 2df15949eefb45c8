//! ZooKeeper's domain types: Stat, ACLs, create modes, error codes, events.

use serde::{Deserialize, Serialize};

/// A znode's metadata, field for field as ZooKeeper's `Stat` record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// The zxid of the create.
    pub czxid: i64,
    /// The zxid of the last create or setData.
    pub mzxid: i64,
    /// Create time, wall milliseconds of the submitting server.
    pub ctime: i64,
    /// Last create or setData time, wall milliseconds.
    pub mtime: i64,
    /// Number of setData calls.
    pub version: i32,
    /// Number of child creates and deletes (as ZooKeeper counts them).
    pub cversion: i32,
    /// Number of setACL calls.
    pub aversion: i32,
    /// Owner session of an ephemeral, `i64::MIN` for a container, the TTL
    /// encoding for a TTL node, 0 otherwise.
    pub ephemeral_owner: i64,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// The zxid of the last child create or delete.
    pub pzxid: i64,
}

/// An identity: an authentication scheme and an id within it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Self {
        Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }

    /// `world:anyone`, the identity every connection has.
    pub fn anyone() -> Self {
        Id::new("world", "anyone")
    }
}

/// One ACL entry: a permission bit set granted to an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Self {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    /// ZooKeeper's `OPEN_ACL_UNSAFE`: everything for everyone.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "world", "anyone")]
    }

    /// ZooKeeper's `READ_ACL_UNSAFE`: read for everyone.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::READ, "world", "anyone")]
    }
}

/// Permission bits (ZooDefs.Perms).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// How a znode is created (ZooKeeper's CreateMode and its wire flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// The mode for a wire flag, `None` for an unknown flag (ZooKeeper
    /// answers those with BadArguments).
    pub fn from_flags(flags: i32) -> Option<Self> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// The wire flag.
    pub fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// ZooKeeper's error codes (KeeperException.Code) that the tree can produce
/// or the front door may need.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    thiserror::Error,
)]
pub enum ErrorCode {
    #[error("system error")]
    SystemError,
    #[error("runtime inconsistency")]
    RuntimeInconsistency,
    #[error("data inconsistency")]
    DataInconsistency,
    #[error("connection loss")]
    ConnectionLoss,
    #[error("marshalling error")]
    Marshalling,
    #[error("unimplemented")]
    Unimplemented,
    #[error("operation timeout")]
    OperationTimeout,
    #[error("bad arguments")]
    BadArguments,
    #[error("unknown session")]
    UnknownSession,
    #[error("API error")]
    ApiError,
    #[error("no node")]
    NoNode,
    #[error("not authorized")]
    NoAuth,
    #[error("bad version")]
    BadVersion,
    #[error("ephemerals cannot have children")]
    NoChildrenForEphemerals,
    #[error("node exists")]
    NodeExists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("session expired")]
    SessionExpired,
    #[error("invalid callback")]
    InvalidCallback,
    #[error("invalid ACL")]
    InvalidAcl,
    #[error("authentication failed")]
    AuthFailed,
    #[error("session moved")]
    SessionMoved,
    #[error("not a read-only call")]
    NotReadOnly,
    #[error("ephemeral on local session")]
    EphemeralOnLocalSession,
    #[error("no watcher")]
    NoWatcher,
    #[error("request timeout")]
    RequestTimeout,
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("throttled")]
    Throttled,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::SystemError => -1,
            ErrorCode::RuntimeInconsistency => -2,
            ErrorCode::DataInconsistency => -3,
            ErrorCode::ConnectionLoss => -4,
            ErrorCode::Marshalling => -5,
            ErrorCode::Unimplemented => -6,
            ErrorCode::OperationTimeout => -7,
            ErrorCode::BadArguments => -8,
            ErrorCode::UnknownSession => -12,
            ErrorCode::ApiError => -100,
            ErrorCode::NoNode => -101,
            ErrorCode::NoAuth => -102,
            ErrorCode::BadVersion => -103,
            ErrorCode::NoChildrenForEphemerals => -108,
            ErrorCode::NodeExists => -110,
            ErrorCode::NotEmpty => -111,
            ErrorCode::SessionExpired => -112,
            ErrorCode::InvalidCallback => -113,
            ErrorCode::InvalidAcl => -114,
            ErrorCode::AuthFailed => -115,
            ErrorCode::SessionMoved => -118,
            ErrorCode::NotReadOnly => -119,
            ErrorCode::EphemeralOnLocalSession => -120,
            ErrorCode::NoWatcher => -121,
            ErrorCode::RequestTimeout => -122,
            ErrorCode::QuotaExceeded => -125,
            ErrorCode::Throttled => -127,
        }
    }

    /// The error for a numeric code, `None` for 0 or an unknown code.
    pub fn from_code(code: i32) -> Option<Self> {
        const ALL: [ErrorCode; 27] = [
            ErrorCode::SystemError,
            ErrorCode::RuntimeInconsistency,
            ErrorCode::DataInconsistency,
            ErrorCode::ConnectionLoss,
            ErrorCode::Marshalling,
            ErrorCode::Unimplemented,
            ErrorCode::OperationTimeout,
            ErrorCode::BadArguments,
            ErrorCode::UnknownSession,
            ErrorCode::ApiError,
            ErrorCode::NoNode,
            ErrorCode::NoAuth,
            ErrorCode::BadVersion,
            ErrorCode::NoChildrenForEphemerals,
            ErrorCode::NodeExists,
            ErrorCode::NotEmpty,
            ErrorCode::SessionExpired,
            ErrorCode::InvalidCallback,
            ErrorCode::InvalidAcl,
            ErrorCode::AuthFailed,
            ErrorCode::SessionMoved,
            ErrorCode::NotReadOnly,
            ErrorCode::EphemeralOnLocalSession,
            ErrorCode::NoWatcher,
            ErrorCode::RequestTimeout,
            ErrorCode::QuotaExceeded,
            ErrorCode::Throttled,
        ];
        ALL.into_iter().find(|e| e.code() == code)
    }
}

/// What happened to a znode, for watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
}

impl EventKind {
    /// The WatcherEvent type number on the wire.
    pub fn code(self) -> i32 {
        match self {
            EventKind::Created => 1,
            EventKind::Deleted => 2,
            EventKind::DataChanged => 3,
            EventKind::ChildrenChanged => 4,
        }
    }
}
