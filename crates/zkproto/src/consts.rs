//! Numeric constants of the ZooKeeper protocol: opcodes, error codes,
//! create modes, permissions, watch event types and states, special xids.
//!
//! They are plain `i32` constants grouped in modules because the wire
//! carries them as ints and a peer may send values we do not know; the
//! decoders decide which unknown values are errors.

/// The default `jute.maxbuffer`, in bytes (just under 1 MiB). ZooKeeper's
/// server closes a connection whose frame length is negative or above it
/// (a frame of exactly this length is accepted); its 3.8 client refuses a
/// length at or above its own limit (`ZKClientConfig`, also 0xfffff by
/// default there, 4 MiB in older clients).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Slack jute allows on top of `jute.maxbuffer` for one length-prefixed
/// field inside a record: `zookeeper.jute.maxbuffer.extrasize`, which
/// defaults to jute.maxbuffer itself and is never below 1024. Inside a
/// frame it never binds (a field cannot be longer than its frame); it
/// matters for records read from elsewhere.
pub const DEFAULT_JUTE_EXTRA_MAX_BUFFER: usize = DEFAULT_MAX_BUFFER;

/// Operation codes (`ZooDefs.OpCode`), carried in `RequestHeader.op` and in
/// multi headers.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;

    /// The opcode's name as ZooKeeper spells it, for logs.
    pub fn name(op: i32) -> &'static str {
        match op {
            NOTIFICATION => "notification",
            CREATE => "create",
            DELETE => "delete",
            EXISTS => "exists",
            GET_DATA => "getData",
            SET_DATA => "setData",
            GET_ACL => "getACL",
            SET_ACL => "setACL",
            GET_CHILDREN => "getChildren",
            SYNC => "sync",
            PING => "ping",
            GET_CHILDREN2 => "getChildren2",
            CHECK => "check",
            MULTI => "multi",
            CREATE2 => "create2",
            RECONFIG => "reconfig",
            CHECK_WATCHES => "checkWatches",
            REMOVE_WATCHES => "removeWatches",
            CREATE_CONTAINER => "createContainer",
            DELETE_CONTAINER => "deleteContainer",
            CREATE_TTL => "createTTL",
            MULTI_READ => "multiRead",
            AUTH => "auth",
            SET_WATCHES => "setWatches",
            SASL => "sasl",
            GET_EPHEMERALS => "getEphemerals",
            GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
            SET_WATCHES2 => "setWatches2",
            ADD_WATCH => "addWatch",
            WHO_AM_I => "whoAmI",
            CREATE_SESSION => "createSession",
            CLOSE_SESSION => "closeSession",
            ERROR => "error",
            _ => "unknown",
        }
    }
}

/// Error codes (`KeeperException.Code`), carried in `ReplyHeader.err` and in
/// multi results.
pub mod err {
    pub const OK: i32 = 0;
    pub const SYSTEM_ERROR: i32 = -1;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const DATA_INCONSISTENCY: i32 = -3;
    pub const CONNECTION_LOSS: i32 = -4;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const OPERATION_TIMEOUT: i32 = -7;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const UNKNOWN_SESSION: i32 = -12;
    pub const NEW_CONFIG_NO_QUORUM: i32 = -13;
    pub const RECONFIG_IN_PROGRESS: i32 = -14;
    pub const API_ERROR: i32 = -100;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const SESSION_EXPIRED: i32 = -112;
    pub const INVALID_CALLBACK: i32 = -113;
    pub const INVALID_ACL: i32 = -114;
    pub const AUTH_FAILED: i32 = -115;
    pub const SESSION_MOVED: i32 = -118;
    pub const NOT_READ_ONLY: i32 = -119;
    pub const EPHEMERAL_ON_LOCAL_SESSION: i32 = -120;
    pub const NO_WATCHER: i32 = -121;
    pub const REQUEST_TIMEOUT: i32 = -122;
    pub const RECONFIG_DISABLED: i32 = -123;
    pub const QUOTA_EXCEEDED: i32 = -125;
    pub const THROTTLED_OP: i32 = -127;

    /// Every code above, for tables and exhaustive tests.
    pub const ALL: [i32; 31] = [
        OK,
        SYSTEM_ERROR,
        RUNTIME_INCONSISTENCY,
        DATA_INCONSISTENCY,
        CONNECTION_LOSS,
        MARSHALLING_ERROR,
        UNIMPLEMENTED,
        OPERATION_TIMEOUT,
        BAD_ARGUMENTS,
        UNKNOWN_SESSION,
        NEW_CONFIG_NO_QUORUM,
        RECONFIG_IN_PROGRESS,
        API_ERROR,
        NO_NODE,
        NO_AUTH,
        BAD_VERSION,
        NO_CHILDREN_FOR_EPHEMERALS,
        NODE_EXISTS,
        NOT_EMPTY,
        SESSION_EXPIRED,
        INVALID_CALLBACK,
        INVALID_ACL,
        AUTH_FAILED,
        SESSION_MOVED,
        NOT_READ_ONLY,
        EPHEMERAL_ON_LOCAL_SESSION,
        NO_WATCHER,
        REQUEST_TIMEOUT,
        RECONFIG_DISABLED,
        QUOTA_EXCEEDED,
        THROTTLED_OP,
    ];

    /// The code's name as `KeeperException.Code` spells it, for logs.
    pub fn name(code: i32) -> &'static str {
        match code {
            OK => "OK",
            SYSTEM_ERROR => "SYSTEMERROR",
            RUNTIME_INCONSISTENCY => "RUNTIMEINCONSISTENCY",
            DATA_INCONSISTENCY => "DATAINCONSISTENCY",
            CONNECTION_LOSS => "CONNECTIONLOSS",
            MARSHALLING_ERROR => "MARSHALLINGERROR",
            UNIMPLEMENTED => "UNIMPLEMENTED",
            OPERATION_TIMEOUT => "OPERATIONTIMEOUT",
            BAD_ARGUMENTS => "BADARGUMENTS",
            UNKNOWN_SESSION => "UNKNOWNSESSION",
            NEW_CONFIG_NO_QUORUM => "NEWCONFIGNOQUORUM",
            RECONFIG_IN_PROGRESS => "RECONFIGINPROGRESS",
            API_ERROR => "APIERROR",
            NO_NODE => "NONODE",
            NO_AUTH => "NOAUTH",
            BAD_VERSION => "BADVERSION",
            NO_CHILDREN_FOR_EPHEMERALS => "NOCHILDRENFOREPHEMERALS",
            NODE_EXISTS => "NODEEXISTS",
            NOT_EMPTY => "NOTEMPTY",
            SESSION_EXPIRED => "SESSIONEXPIRED",
            INVALID_CALLBACK => "INVALIDCALLBACK",
            INVALID_ACL => "INVALIDACL",
            AUTH_FAILED => "AUTHFAILED",
            SESSION_MOVED => "SESSIONMOVED",
            NOT_READ_ONLY => "NOTREADONLY",
            EPHEMERAL_ON_LOCAL_SESSION => "EPHEMERALONLOCALSESSION",
            NO_WATCHER => "NOWATCHER",
            REQUEST_TIMEOUT => "REQUESTTIMEOUT",
            RECONFIG_DISABLED => "RECONFIGDISABLED",
            QUOTA_EXCEEDED => "QUOTAEXCEEDED",
            THROTTLED_OP => "THROTTLEDOP",
            _ => "UNKNOWN",
        }
    }
}

/// Create modes (`CreateMode`), carried in the `flags` of create requests.
pub mod create_mode {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;

    /// Whether the mode appends the parent's cversion as a `%010d` suffix.
    pub fn is_sequential(mode: i32) -> bool {
        matches!(
            mode,
            PERSISTENT_SEQUENTIAL | EPHEMERAL_SEQUENTIAL | PERSISTENT_SEQUENTIAL_WITH_TTL
        )
    }

    /// Whether the mode is one ZooKeeper 3.8 defines.
    pub fn is_known(mode: i32) -> bool {
        (PERSISTENT..=PERSISTENT_SEQUENTIAL_WITH_TTL).contains(&mode)
    }
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event_type {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// Connection states carried in watch events (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const SASL_AUTHENTICATED: i32 = 6;
    pub const EXPIRED: i32 = -112;
    pub const CLOSED: i32 = 7;
}

/// Special xids: values of `xid` that do not number an ordinary request.
pub mod xid {
    /// A server-initiated watch event.
    pub const WATCH_EVENT: i32 = -1;
    /// A ping and its reply.
    pub const PING: i32 = -2;
    /// An auth request and its reply.
    pub const AUTH: i32 = -4;
    /// The setWatches request a client sends after reconnecting.
    pub const SET_WATCHES: i32 = -8;
}

/// Modes of the addWatch request (`AddWatchMode`).
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

/// Watcher types of checkWatches and removeWatches (`Watcher.WatcherType`).
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
}
