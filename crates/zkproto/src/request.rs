//! Client requests: the body that follows a [`RequestHeader`], decoded by
//! opcode, and the client-side encoder for the same shapes.

use crate::consts::op;
use crate::error::DecodeError;
use crate::jute::{Reader, Writer};
use crate::records::{Acl, MultiHeader, RequestHeader};
use crate::response::ReplyKind;

/// Which of the three opcodes that share `CreateRequest` was used. They
/// differ only in the reply shape and, for containers, the node kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateKind {
    /// create (1): replies {path}.
    Create,
    /// create2 (15): replies {path, stat}.
    Create2,
    /// createContainer (19): replies {path, stat}.
    Container,
}

impl CreateKind {
    pub fn op(self) -> i32 {
        match self {
            CreateKind::Create => op::CREATE,
            CreateKind::Create2 => op::CREATE2,
            CreateKind::Container => op::CREATE_CONTAINER,
        }
    }
}

/// A decoded client request. Reconfig (16) is not decoded.
///
/// A znode's `data` stays `None` when sent as null: ZooKeeper stores null
/// apart from empty (getData then returns null). Nullable vectors (ACLs,
/// watch lists) decode as empty: a server treats both the same way, and an
/// empty ACL is refused as InvalidACL either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Create {
        kind: CreateKind,
        path: String,
        /// `None`: null.
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        /// The create mode (see `create_mode`).
        flags: i32,
    },
    CreateTtl {
        path: String,
        /// `None`: null.
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    /// Sent by ZooKeeper's own container manager, not by clients; decoded as
    /// a jute {path} record.
    DeleteContainer {
        path: String,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        /// `None`: null.
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Sync {
        path: String,
    },
    Ping,
    Check {
        path: String,
        version: i32,
    },
    /// Atomic: create, create2, createTTL, createContainer, delete, setData,
    /// check only.
    Multi(Vec<Request>),
    /// Not atomic: getData and getChildren only.
    MultiRead(Vec<Request>),
    CheckWatches {
        path: String,
        /// See `watcher_type`.
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    Auth {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    },
    SetWatches {
        relative_zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    SetWatches2 {
        relative_zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        persistent: Vec<String>,
        persistent_recursive: Vec<String>,
    },
    GetEphemerals {
        prefix_path: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    AddWatch {
        path: String,
        /// See `add_watch_mode`.
        mode: i32,
    },
    WhoAmI,
    CloseSession,
    /// One step of a SASL exchange (GetSASLRequest): the client's token.
    Sasl {
        token: Vec<u8>,
    },
}

impl Request {
    /// The opcode this request travels under.
    pub fn op(&self) -> i32 {
        match self {
            Request::Create { kind, .. } => kind.op(),
            Request::CreateTtl { .. } => op::CREATE_TTL,
            Request::Delete { .. } => op::DELETE,
            Request::DeleteContainer { .. } => op::DELETE_CONTAINER,
            Request::Exists { .. } => op::EXISTS,
            Request::GetData { .. } => op::GET_DATA,
            Request::GetChildren { .. } => op::GET_CHILDREN,
            Request::GetChildren2 { .. } => op::GET_CHILDREN2,
            Request::SetData { .. } => op::SET_DATA,
            Request::GetAcl { .. } => op::GET_ACL,
            Request::SetAcl { .. } => op::SET_ACL,
            Request::Sync { .. } => op::SYNC,
            Request::Ping => op::PING,
            Request::Check { .. } => op::CHECK,
            Request::Multi(_) => op::MULTI,
            Request::MultiRead(_) => op::MULTI_READ,
            Request::CheckWatches { .. } => op::CHECK_WATCHES,
            Request::RemoveWatches { .. } => op::REMOVE_WATCHES,
            Request::Auth { .. } => op::AUTH,
            Request::SetWatches { .. } => op::SET_WATCHES,
            Request::SetWatches2 { .. } => op::SET_WATCHES2,
            Request::GetEphemerals { .. } => op::GET_EPHEMERALS,
            Request::GetAllChildrenNumber { .. } => op::GET_ALL_CHILDREN_NUMBER,
            Request::AddWatch { .. } => op::ADD_WATCH,
            Request::WhoAmI => op::WHO_AM_I,
            Request::Sasl { .. } => op::SASL,
            Request::CloseSession => op::CLOSE_SESSION,
        }
    }

    /// The shape of the reply body a successful answer to this request has.
    pub fn reply_kind(&self) -> ReplyKind {
        ReplyKind::for_op(self.op()).expect("every decodable opcode has a reply kind")
    }

    /// Whether the request only reads the tree (may be served locally).
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Request::Exists { .. }
                | Request::GetData { .. }
                | Request::GetChildren { .. }
                | Request::GetChildren2 { .. }
                | Request::GetAcl { .. }
                | Request::MultiRead(_)
                | Request::GetEphemerals { .. }
                | Request::GetAllChildrenNumber { .. }
        )
    }

    /// Appends the request's body (everything after the header).
    pub fn write_body(&self, w: &mut Writer) {
        match self {
            Request::Create {
                path,
                data,
                acl,
                flags,
                ..
            } => {
                write_create(w, path, data.as_deref(), acl, *flags);
            }
            Request::CreateTtl {
                path,
                data,
                acl,
                flags,
                ttl_ms,
            } => {
                write_create(w, path, data.as_deref(), acl, *flags);
                w.write_long(*ttl_ms);
            }
            Request::Delete { path, version } | Request::Check { path, version } => {
                w.write_string(path);
                w.write_int(*version);
            }
            Request::DeleteContainer { path }
            | Request::GetAcl { path }
            | Request::Sync { path }
            | Request::GetAllChildrenNumber { path }
            | Request::GetEphemerals { prefix_path: path } => w.write_string(path),
            Request::Exists { path, watch }
            | Request::GetData { path, watch }
            | Request::GetChildren { path, watch }
            | Request::GetChildren2 { path, watch } => {
                w.write_string(path);
                w.write_bool(*watch);
            }
            Request::SetData {
                path,
                data,
                version,
            } => {
                w.write_string(path);
                w.write_buffer_or_null(data.as_deref());
                w.write_int(*version);
            }
            Request::SetAcl { path, acl, version } => {
                w.write_string(path);
                w.write_record_vec(acl);
                w.write_int(*version);
            }
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
            Request::Sasl { token } => w.write_buffer(token),
            Request::Multi(ops) | Request::MultiRead(ops) => write_multi(w, ops),
            Request::CheckWatches { path, watcher_type }
            | Request::RemoveWatches { path, watcher_type } => {
                w.write_string(path);
                w.write_int(*watcher_type);
            }
            Request::AddWatch { path, mode } => {
                w.write_string(path);
                w.write_int(*mode);
            }
            Request::Auth {
                auth_type,
                scheme,
                auth,
            } => {
                w.write_int(*auth_type);
                w.write_string(scheme);
                w.write_buffer(auth);
            }
            Request::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                w.write_long(*relative_zxid);
                for list in [data, exist, child] {
                    w.write_string_vec(list);
                }
            }
            Request::SetWatches2 {
                relative_zxid,
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
            } => {
                w.write_long(*relative_zxid);
                for list in [data, exist, child, persistent, persistent_recursive] {
                    w.write_string_vec(list);
                }
            }
        }
    }
}

fn write_create(w: &mut Writer, path: &str, data: Option<&[u8]>, acl: &[Acl], flags: i32) {
    w.write_string(path);
    w.write_buffer_or_null(data);
    w.write_record_vec(acl);
    w.write_int(flags);
}

/// Each op as MultiHeader {op, done=false, err=-1} + its record, then the
/// end marker. Ops a multi does not allow are written anyway (the decoder
/// refuses them), so tests can build invalid frames.
fn write_multi(w: &mut Writer, ops: &[Request]) {
    for sub in ops {
        let header = MultiHeader {
            op: sub.op(),
            done: false,
            err: -1,
        };
        w.write_record(&header);
        sub.write_body(w);
    }
    w.write_record(&MultiHeader::END);
}

/// Encodes a whole request frame (length prefix included) as a client sends
/// it. Use `xid::PING` for pings, `xid::AUTH` for auth, `xid::SET_WATCHES`
/// for setWatches.
pub fn encode_request(xid: i32, request: &Request) -> Vec<u8> {
    let mut w = Writer::frame();
    w.write_record(&RequestHeader {
        xid,
        op: request.op(),
    });
    request.write_body(&mut w);
    w.finish()
}

/// Decodes a frame body (after the 4-byte length) into its header and
/// request.
///
/// Bytes left over after a complete request are ignored: real clients never
/// send them, and ZooKeeper itself does not look past the record it reads,
/// so refusing them would only make us stricter than the server we mimic.
pub fn decode_request(body: &[u8]) -> Result<(RequestHeader, Request), DecodeError> {
    let mut r = Reader::new(body);
    let header: RequestHeader = r.read_record()?;
    let request = read_request_body(&mut r, header.op)?;
    Ok((header, request))
}

/// Reads the body of a request with opcode `op`.
pub fn read_request_body(r: &mut Reader<'_>, op: i32) -> Result<Request, DecodeError> {
    let request = match op {
        op::CREATE => read_create(r, CreateKind::Create)?,
        op::CREATE2 => read_create(r, CreateKind::Create2)?,
        op::CREATE_CONTAINER => read_create(r, CreateKind::Container)?,
        op::CREATE_TTL => Request::CreateTtl {
            path: r.read_string("CreateTTLRequest.path")?,
            data: r.read_buffer("CreateTTLRequest.data")?,
            acl: r.read_record_vec("CreateTTLRequest.acl", Acl::WIRE_BYTES_MIN)?,
            flags: r.read_int("CreateTTLRequest.flags")?,
            ttl_ms: r.read_long("CreateTTLRequest.ttl")?,
        },
        op::DELETE => Request::Delete {
            path: r.read_string("DeleteRequest.path")?,
            version: r.read_int("DeleteRequest.version")?,
        },
        op::DELETE_CONTAINER => Request::DeleteContainer {
            path: r.read_string("DeleteContainerRequest.path")?,
        },
        op::EXISTS => {
            let (path, watch) = read_path_watch(r, "ExistsRequest.path", "ExistsRequest.watch")?;
            Request::Exists { path, watch }
        }
        op::GET_DATA => {
            let (path, watch) = read_path_watch(r, "GetDataRequest.path", "GetDataRequest.watch")?;
            Request::GetData { path, watch }
        }
        op::GET_CHILDREN => {
            let (path, watch) =
                read_path_watch(r, "GetChildrenRequest.path", "GetChildrenRequest.watch")?;
            Request::GetChildren { path, watch }
        }
        op::GET_CHILDREN2 => {
            let (path, watch) =
                read_path_watch(r, "GetChildren2Request.path", "GetChildren2Request.watch")?;
            Request::GetChildren2 { path, watch }
        }
        op::SET_DATA => Request::SetData {
            path: r.read_string("SetDataRequest.path")?,
            data: r.read_buffer("SetDataRequest.data")?,
            version: r.read_int("SetDataRequest.version")?,
        },
        op::GET_ACL => Request::GetAcl {
            path: r.read_string("GetACLRequest.path")?,
        },
        op::SET_ACL => Request::SetAcl {
            path: r.read_string("SetACLRequest.path")?,
            acl: r.read_record_vec("SetACLRequest.acl", Acl::WIRE_BYTES_MIN)?,
            version: r.read_int("SetACLRequest.version")?,
        },
        op::SYNC => Request::Sync {
            path: r.read_string("SyncRequest.path")?,
        },
        op::PING => Request::Ping,
        op::CHECK => Request::Check {
            path: r.read_string("CheckVersionRequest.path")?,
            version: r.read_int("CheckVersionRequest.version")?,
        },
        op::MULTI => Request::Multi(read_multi(r, "multi", is_multi_op)?),
        op::MULTI_READ => Request::MultiRead(read_multi(r, "multiRead", is_multi_read_op)?),
        op::CHECK_WATCHES => Request::CheckWatches {
            path: r.read_string("CheckWatchesRequest.path")?,
            watcher_type: r.read_int("CheckWatchesRequest.type")?,
        },
        op::REMOVE_WATCHES => Request::RemoveWatches {
            path: r.read_string("RemoveWatchesRequest.path")?,
            watcher_type: r.read_int("RemoveWatchesRequest.type")?,
        },
        op::AUTH => Request::Auth {
            auth_type: r.read_int("AuthPacket.type")?,
            scheme: r.read_string("AuthPacket.scheme")?,
            auth: r.read_bytes("AuthPacket.auth")?,
        },
        op::SET_WATCHES => Request::SetWatches {
            relative_zxid: r.read_long("SetWatches.relativeZxid")?,
            data: r.read_string_vec("SetWatches.dataWatches")?,
            exist: r.read_string_vec("SetWatches.existWatches")?,
            child: r.read_string_vec("SetWatches.childWatches")?,
        },
        op::SET_WATCHES2 => Request::SetWatches2 {
            relative_zxid: r.read_long("SetWatches2.relativeZxid")?,
            data: r.read_string_vec("SetWatches2.dataWatches")?,
            exist: r.read_string_vec("SetWatches2.existWatches")?,
            child: r.read_string_vec("SetWatches2.childWatches")?,
            persistent: r.read_string_vec("SetWatches2.persistentWatches")?,
            persistent_recursive: r.read_string_vec("SetWatches2.persistentRecursiveWatches")?,
        },
        op::GET_EPHEMERALS => Request::GetEphemerals {
            prefix_path: r.read_string("GetEphemeralsRequest.prefixPath")?,
        },
        op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber {
            path: r.read_string("GetAllChildrenNumberRequest.path")?,
        },
        op::ADD_WATCH => Request::AddWatch {
            path: r.read_string("AddWatchRequest.path")?,
            mode: r.read_int("AddWatchRequest.mode")?,
        },
        op::WHO_AM_I => Request::WhoAmI,
        op::SASL => Request::Sasl {
            token: r.read_bytes("GetSASLRequest.token")?,
        },
        op::CLOSE_SESSION => Request::CloseSession,
        _ => {
            return Err(DecodeError::UnknownOpcode {
                op,
                name: op::name(op),
            })
        }
    };
    Ok(request)
}

fn read_create(r: &mut Reader<'_>, kind: CreateKind) -> Result<Request, DecodeError> {
    Ok(Request::Create {
        kind,
        path: r.read_string("CreateRequest.path")?,
        data: r.read_buffer("CreateRequest.data")?,
        acl: r.read_record_vec("CreateRequest.acl", Acl::WIRE_BYTES_MIN)?,
        flags: r.read_int("CreateRequest.flags")?,
    })
}

fn read_path_watch(
    r: &mut Reader<'_>,
    path_field: &'static str,
    watch_field: &'static str,
) -> Result<(String, bool), DecodeError> {
    Ok((r.read_string(path_field)?, r.read_bool(watch_field)?))
}

fn is_multi_op(op: i32) -> bool {
    matches!(
        op,
        op::CREATE
            | op::CREATE2
            | op::CREATE_TTL
            | op::CREATE_CONTAINER
            | op::DELETE
            | op::SET_DATA
            | op::CHECK
    )
}

fn is_multi_read_op(op: i32) -> bool {
    matches!(op, op::GET_DATA | op::GET_CHILDREN)
}

/// Reads (MultiHeader + record)* up to the header whose `done` is set, as
/// ZooKeeper does: the end marker is recognised by `done`, not by its type.
/// The op count is bounded by the frame size (each op is at least 9 bytes).
fn read_multi(
    r: &mut Reader<'_>,
    container: &'static str,
    allowed: fn(i32) -> bool,
) -> Result<Vec<Request>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header: MultiHeader = r.read_record()?;
        if header.done {
            return Ok(ops);
        }
        if !allowed(header.op) {
            return Err(DecodeError::OpNotAllowedIn {
                op: header.op,
                name: op::name(header.op),
                container,
            });
        }
        ops.push(read_request_body(r, header.op)?);
    }
}
