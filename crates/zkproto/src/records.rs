//! The fixed records of the protocol (`zookeeper.jute`): Stat, ACLs, the
//! handshake, request and reply headers, watch events, multi headers.

use crate::error::DecodeError;
use crate::jute::{Reader, Record, Writer};

/// A znode's metadata. Always 68 bytes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    /// Creation time, ms since the Unix epoch.
    pub ctime: i64,
    /// Last modification time, ms since the Unix epoch.
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// The owning session for ephemerals, 0 otherwise (special values for
    /// containers and TTL nodes).
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    /// Size of a Stat on the wire.
    pub const WIRE_BYTES: usize = 68;
}

impl Record for Stat {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.read_long("Stat.czxid")?,
            mzxid: r.read_long("Stat.mzxid")?,
            ctime: r.read_long("Stat.ctime")?,
            mtime: r.read_long("Stat.mtime")?,
            version: r.read_int("Stat.version")?,
            cversion: r.read_int("Stat.cversion")?,
            aversion: r.read_int("Stat.aversion")?,
            ephemeral_owner: r.read_long("Stat.ephemeralOwner")?,
            data_length: r.read_int("Stat.dataLength")?,
            num_children: r.read_int("Stat.numChildren")?,
            pzxid: r.read_long("Stat.pzxid")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_long(self.czxid);
        w.write_long(self.mzxid);
        w.write_long(self.ctime);
        w.write_long(self.mtime);
        w.write_int(self.version);
        w.write_int(self.cversion);
        w.write_int(self.aversion);
        w.write_long(self.ephemeral_owner);
        w.write_int(self.data_length);
        w.write_int(self.num_children);
        w.write_long(self.pzxid);
    }
}

/// An identity under an auth scheme, e.g. `world:anyone`, `digest:u:hash`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    /// Smallest wire size: two empty strings.
    pub const WIRE_BYTES_MIN: usize = 8;
}

impl Record for Id {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // kazoo writes every empty string as null (-1), so the "auth"
        // scheme's empty id arrives as null: read it as empty.
        Ok(Id {
            scheme: r.read_ustring("Id.scheme")?.unwrap_or_default(),
            id: r.read_ustring("Id.id")?.unwrap_or_default(),
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }
}

/// One ACL entry: permission bits (see `perms`) granted to an identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    /// Smallest wire size: perms plus an empty Id.
    pub const WIRE_BYTES_MIN: usize = 4 + Id::WIRE_BYTES_MIN;
}

impl Record for Acl {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl {
            perms: r.read_int("ACL.perms")?,
            id: r.read_record()?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.perms);
        w.write_record(&self.id);
    }
}

/// The first message of a connection (no request header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client is old enough not to send the byte; the reply
    /// must then omit it too.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_int("ConnectRequest.protocolVersion")?,
            last_zxid_seen: r.read_long("ConnectRequest.lastZxidSeen")?,
            timeout_ms: r.read_int("ConnectRequest.timeOut")?,
            session_id: r.read_long("ConnectRequest.sessionId")?,
            passwd: r.read_bytes("ConnectRequest.passwd")?,
            read_only: read_optional_bool(r, "ConnectRequest.readOnly")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.protocol_version);
        w.write_long(self.last_zxid_seen);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
    }
}

/// The server's answer to a [`ConnectRequest`]. Timeout 0, session 0 and a
/// zeroed password tell the client its session expired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Present exactly when the client's request carried it.
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// Length of the session password ZooKeeper hands out.
    pub const PASSWD_BYTES: usize = 16;

    /// The reply that tells a client its session is gone, mirroring whether
    /// the client sent the read-only byte.
    pub fn expired(read_only: Option<bool>) -> Self {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            passwd: vec![0; Self::PASSWD_BYTES],
            read_only: read_only.map(|_| false),
        }
    }
}

impl Record for ConnectResponse {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: r.read_int("ConnectResponse.protocolVersion")?,
            timeout_ms: r.read_int("ConnectResponse.timeOut")?,
            session_id: r.read_long("ConnectResponse.sessionId")?,
            passwd: r.read_bytes("ConnectResponse.passwd")?,
            read_only: read_optional_bool(r, "ConnectResponse.readOnly")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.protocol_version);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
    }
}

/// The trailing readOnly byte of the handshake: absent in very old clients.
fn read_optional_bool(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 {
        return Ok(None);
    }
    r.read_bool(field).map(Some)
}

/// Precedes every request after the handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    /// Client-chosen sequence number, or a special xid (see `xid`).
    pub xid: i32,
    /// The opcode (see `op`).
    pub op: i32,
}

impl Record for RequestHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            xid: r.read_int("RequestHeader.xid")?,
            op: r.read_int("RequestHeader.type")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.xid);
        w.write_int(self.op);
    }
}

/// Precedes every reply and watch event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplyHeader {
    pub xid: i32,
    /// The last zxid the server has applied, -1 for watch events.
    pub zxid: i64,
    /// An error code (see `err`); a body follows only when it is 0.
    pub err: i32,
}

impl Record for ReplyHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_int("ReplyHeader.xid")?,
            zxid: r.read_long("ReplyHeader.zxid")?,
            err: r.read_int("ReplyHeader.err")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.xid);
        w.write_long(self.zxid);
        w.write_int(self.err);
    }
}

/// A watch notification (sent with xid -1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatcherEvent {
    /// See `event_type`.
    pub event_type: i32,
    /// See `keeper_state`.
    pub state: i32,
    pub path: String,
}

impl Record for WatcherEvent {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WatcherEvent {
            event_type: r.read_int("WatcherEvent.type")?,
            state: r.read_int("WatcherEvent.state")?,
            path: r.read_ustring("WatcherEvent.path")?.unwrap_or_default(),
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.event_type);
        w.write_int(self.state);
        w.write_string(&self.path);
    }
}

/// Precedes each operation of a multi request and each result of its reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiHeader {
    /// The sub-operation's opcode, or -1 (error result / end marker).
    pub op: i32,
    /// True only on the end marker.
    pub done: bool,
    pub err: i32,
}

impl MultiHeader {
    /// The marker that ends a multi request or reply: {-1, true, -1}.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

impl Record for MultiHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MultiHeader {
            op: r.read_int("MultiHeader.type")?,
            done: r.read_bool("MultiHeader.done")?,
            err: r.read_int("MultiHeader.err")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_int(self.op);
        w.write_bool(self.done);
        w.write_int(self.err);
    }
}

/// One identity of the session, as whoAmI reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    pub auth_scheme: String,
    pub user: String,
}

impl Record for ClientInfo {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientInfo {
            auth_scheme: r.read_string("ClientInfo.authScheme")?,
            user: r.read_string("ClientInfo.user")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.write_string(&self.auth_scheme);
        w.write_string(&self.user);
    }
}
