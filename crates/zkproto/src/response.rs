//! Server replies: the body that follows a [`ReplyHeader`], whose shape
//! depends on the request it answers, plus watch events.

use crate::consts::{err, op, xid};
use crate::error::DecodeError;
use crate::jute::{Reader, Writer};
use crate::records::{Acl, ClientInfo, MultiHeader, ReplyHeader, Stat, WatcherEvent};

/// The shape of a reply body. A client knows it from the request it sent;
/// the wire does not carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    Empty,
    Create,
    Create2,
    Stat,
    GetData,
    GetAcl,
    GetChildren,
    GetChildren2,
    Sync,
    Multi,
    MultiRead,
    GetEphemerals,
    AllChildrenNumber,
    WhoAmI,
    /// A SASL step: SetSASLResponse {token}.
    Sasl,
    /// addWatch: ZooKeeper answers with an ErrorResponse body {int err}.
    AddWatch,
}

impl ReplyKind {
    /// The reply shape of a successful request with opcode `op`; `None` for
    /// opcodes this crate does not handle.
    pub fn for_op(opcode: i32) -> Option<ReplyKind> {
        let kind = match opcode {
            op::CREATE => ReplyKind::Create,
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => ReplyKind::Create2,
            op::EXISTS | op::SET_DATA | op::SET_ACL => ReplyKind::Stat,
            op::GET_DATA => ReplyKind::GetData,
            op::GET_ACL => ReplyKind::GetAcl,
            op::GET_CHILDREN => ReplyKind::GetChildren,
            op::GET_CHILDREN2 => ReplyKind::GetChildren2,
            op::SYNC => ReplyKind::Sync,
            op::MULTI => ReplyKind::Multi,
            op::MULTI_READ => ReplyKind::MultiRead,
            op::GET_EPHEMERALS => ReplyKind::GetEphemerals,
            op::GET_ALL_CHILDREN_NUMBER => ReplyKind::AllChildrenNumber,
            op::WHO_AM_I => ReplyKind::WhoAmI,
            op::SASL => ReplyKind::Sasl,
            op::ADD_WATCH => ReplyKind::AddWatch,
            op::DELETE
            | op::DELETE_CONTAINER
            | op::PING
            | op::CHECK
            | op::CHECK_WATCHES
            | op::REMOVE_WATCHES
            | op::AUTH
            | op::SET_WATCHES
            | op::SET_WATCHES2
            | op::CLOSE_SESSION => ReplyKind::Empty,
            _ => return None,
        };
        Some(kind)
    }
}

/// A reply body, or a watch event (which travels as a reply with xid -1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// delete, setWatches, ping, auth, check, closeSession, removeWatches,
    /// addWatch, and every failed request.
    Empty,
    Create {
        path: String,
    },
    /// create2, createContainer, createTTL.
    Create2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat {
        stat: Stat,
    },
    GetData {
        /// `None`: the node's data is null.
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
    },
    GetChildren2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    Multi(Vec<MultiResult>),
    MultiRead(Vec<MultiReadResult>),
    GetEphemerals {
        paths: Vec<String>,
    },
    AllChildrenNumber {
        n: i32,
    },
    WhoAmI(Vec<ClientInfo>),
    /// The server's SASL challenge (SetSASLResponse).
    Sasl {
        token: Vec<u8>,
    },
    /// addWatch's reply: an ErrorResponse carrying 0 (the Java client,
    /// hence zkCli and Curator, drops a connection whose addWatch reply
    /// lacks it).
    AddWatch {
        err: i32,
    },
    /// Sent with xid -1 (see [`encode_watch_event`]).
    WatchEvent(WatcherEvent),
}

/// One result of a multi, in the order of the request's ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    /// From create; travels with type 1.
    Create { path: String },
    /// From create2, createTTL and createContainer; ZooKeeper's
    /// `OpResult.CreateResult` labels all three with type create2 (15).
    Create2 { path: String, stat: Stat },
    /// From setData; type 5.
    SetData { stat: Stat },
    /// From delete; type 2.
    Delete,
    /// From check; type 13.
    Check,
    /// Type -1. When one op fails, every result is an error: earlier ops
    /// carry 0, the failing op its code, later ops RuntimeInconsistency.
    Error { err: i32 },
}

impl MultiResult {
    /// The MultiHeader written before this result: its type, and its
    /// code for an error (0 otherwise).
    pub fn header(&self) -> MultiHeader {
        let err = match self {
            MultiResult::Error { err } => *err,
            _ => err::OK,
        };
        MultiHeader {
            op: self.op(),
            done: false,
            err,
        }
    }

    /// The type written in this result's MultiHeader.
    pub fn op(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => op::CREATE,
            MultiResult::Create2 { .. } => op::CREATE2,
            MultiResult::SetData { .. } => op::SET_DATA,
            MultiResult::Delete => op::DELETE,
            MultiResult::Check => op::CHECK,
            MultiResult::Error { .. } => op::ERROR,
        }
    }

    /// The results of a multi whose op at `failed_index` failed with `code`
    /// (and so rolled back), for `op_count` ops in all.
    pub fn aborted(op_count: usize, failed_index: usize, code: i32) -> Vec<MultiResult> {
        (0..op_count)
            .map(|i| {
                let err = match i.cmp(&failed_index) {
                    std::cmp::Ordering::Less => err::OK,
                    std::cmp::Ordering::Equal => code,
                    std::cmp::Ordering::Greater => err::RUNTIME_INCONSISTENCY,
                };
                MultiResult::Error { err }
            })
            .collect()
    }
}

/// One result of a multiRead, each op succeeding or failing on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiReadResult {
    /// Type 4.
    GetData { data: Option<Vec<u8>>, stat: Stat },
    /// Type 8.
    GetChildren { children: Vec<String> },
    /// Type -1.
    Error { err: i32 },
}

impl MultiReadResult {
    /// The MultiHeader written before this result: its type, and its
    /// code for an error (0 otherwise).
    pub fn header(&self) -> MultiHeader {
        let err = match self {
            MultiReadResult::Error { err } => *err,
            _ => err::OK,
        };
        MultiHeader {
            op: self.op(),
            done: false,
            err,
        }
    }

    /// The type written in this result's MultiHeader.
    pub fn op(&self) -> i32 {
        match self {
            MultiReadResult::GetData { .. } => op::GET_DATA,
            MultiReadResult::GetChildren { .. } => op::GET_CHILDREN,
            MultiReadResult::Error { .. } => op::ERROR,
        }
    }
}

impl Response {
    /// Appends the body (everything after the reply header).
    pub fn write_body(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Create { path } | Response::Sync { path } => w.write_string(path),
            Response::Create2 { path, stat } => {
                w.write_string(path);
                w.write_record(stat);
            }
            Response::Stat { stat } => w.write_record(stat),
            Response::GetData { data, stat } => {
                w.write_buffer_or_null(data.as_deref());
                w.write_record(stat);
            }
            Response::GetAcl { acl, stat } => {
                w.write_record_vec(acl);
                w.write_record(stat);
            }
            Response::GetChildren { children } => w.write_string_vec(children),
            Response::GetChildren2 { children, stat } => {
                w.write_string_vec(children);
                w.write_record(stat);
            }
            Response::Multi(results) => write_multi(w, results),
            Response::MultiRead(results) => write_multi_read(w, results),
            Response::GetEphemerals { paths } => w.write_string_vec(paths),
            Response::AllChildrenNumber { n } => w.write_int(*n),
            Response::WhoAmI(infos) => w.write_record_vec(infos),
            Response::Sasl { token } => w.write_buffer(token),
            Response::AddWatch { err } => w.write_int(*err),
            Response::WatchEvent(event) => w.write_record(event),
        }
    }
}

fn write_multi(w: &mut Writer, results: &[MultiResult]) {
    for result in results {
        w.write_record(&result.header());
        match result {
            MultiResult::Create { path } => w.write_string(path),
            MultiResult::Create2 { path, stat } => {
                w.write_string(path);
                w.write_record(stat);
            }
            MultiResult::SetData { stat } => w.write_record(stat),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::Error { err } => w.write_int(*err),
        }
    }
    w.write_record(&MultiHeader::END);
}

fn write_multi_read(w: &mut Writer, results: &[MultiReadResult]) {
    for result in results {
        w.write_record(&result.header());
        match result {
            MultiReadResult::GetData { data, stat } => {
                w.write_buffer_or_null(data.as_deref());
                w.write_record(stat);
            }
            MultiReadResult::GetChildren { children } => w.write_string_vec(children),
            MultiReadResult::Error { err } => w.write_int(*err),
        }
    }
    w.write_record(&MultiHeader::END);
}

/// Encodes a whole reply frame (length prefix included). The body is
/// written only when `header.err` is 0: a failed request's reply is its
/// header alone. (A multi whose ops failed still has err 0 in its header;
/// the failures are inside its results.)
pub fn encode_reply(header: &ReplyHeader, response: Option<&Response>) -> Vec<u8> {
    let mut w = Writer::frame();
    w.write_record(header);
    if header.err == err::OK {
        if let Some(response) = response {
            response.write_body(&mut w);
        }
    }
    w.finish()
}

/// Encodes a watch notification frame: header {xid -1, zxid -1, err 0} and
/// the event.
pub fn encode_watch_event(event: &WatcherEvent) -> Vec<u8> {
    let header = ReplyHeader {
        xid: xid::WATCH_EVENT,
        zxid: -1,
        err: err::OK,
    };
    encode_reply(&header, Some(&Response::WatchEvent(event.clone())))
}

/// Decodes a reply frame body (after the length). `expected` is the shape
/// of the request this reply answers; a watch event (xid -1) is recognised
/// whatever `expected` says. A reply with a non-zero err has no body and
/// decodes as [`Response::Empty`]. Trailing bytes are ignored, as in
/// [`crate::decode_request`].
pub fn decode_reply(
    body: &[u8],
    expected: ReplyKind,
) -> Result<(ReplyHeader, Response), DecodeError> {
    let mut r = Reader::new(body);
    let header: ReplyHeader = r.read_record()?;
    if header.xid == xid::WATCH_EVENT {
        return Ok((header, Response::WatchEvent(r.read_record()?)));
    }
    if header.err != err::OK {
        return Ok((header, Response::Empty));
    }
    Ok((header, read_reply_body(&mut r, expected)?))
}

/// Reads a successful reply body of shape `kind`.
pub fn read_reply_body(r: &mut Reader<'_>, kind: ReplyKind) -> Result<Response, DecodeError> {
    let response = match kind {
        ReplyKind::Empty => Response::Empty,
        ReplyKind::Create => Response::Create {
            path: r.read_string("CreateResponse.path")?,
        },
        ReplyKind::Create2 => Response::Create2 {
            path: r.read_string("Create2Response.path")?,
            stat: r.read_record()?,
        },
        ReplyKind::Stat => Response::Stat {
            stat: r.read_record()?,
        },
        ReplyKind::GetData => Response::GetData {
            data: r.read_buffer("GetDataResponse.data")?,
            stat: r.read_record()?,
        },
        ReplyKind::GetAcl => Response::GetAcl {
            acl: r.read_record_vec("GetACLResponse.acl", Acl::WIRE_BYTES_MIN)?,
            stat: r.read_record()?,
        },
        ReplyKind::GetChildren => Response::GetChildren {
            children: r.read_string_vec("GetChildrenResponse.children")?,
        },
        ReplyKind::GetChildren2 => Response::GetChildren2 {
            children: r.read_string_vec("GetChildren2Response.children")?,
            stat: r.read_record()?,
        },
        ReplyKind::Sync => Response::Sync {
            path: r.read_string("SyncResponse.path")?,
        },
        ReplyKind::Multi => Response::Multi(read_multi(r)?),
        ReplyKind::MultiRead => Response::MultiRead(read_multi_read(r)?),
        ReplyKind::GetEphemerals => Response::GetEphemerals {
            paths: r.read_string_vec("GetEphemeralsResponse.ephemerals")?,
        },
        ReplyKind::AllChildrenNumber => Response::AllChildrenNumber {
            n: r.read_int("GetAllChildrenNumberResponse.totalNumber")?,
        },
        ReplyKind::WhoAmI => Response::WhoAmI(r.read_record_vec("WhoAmIResponse.clientInfo", 8)?),
        ReplyKind::Sasl => Response::Sasl {
            token: r.read_bytes("SetSASLResponse.token")?,
        },
        ReplyKind::AddWatch => Response::AddWatch {
            err: r.read_int("ErrorResponse.err")?,
        },
    };
    Ok(response)
}

fn read_multi(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header: MultiHeader = r.read_record()?;
        if header.done {
            return Ok(results);
        }
        let result = match header.op {
            op::CREATE => MultiResult::Create {
                path: r.read_string("CreateResponse.path")?,
            },
            // ZooKeeper labels createTTL and createContainer results create2
            // and its client refuses any other type here; so do we, so our
            // tests catch a server that labels them by their own opcode.
            op::CREATE2 => MultiResult::Create2 {
                path: r.read_string("Create2Response.path")?,
                stat: r.read_record()?,
            },
            op::SET_DATA => MultiResult::SetData {
                stat: r.read_record()?,
            },
            op::DELETE => MultiResult::Delete,
            op::CHECK => MultiResult::Check,
            op::ERROR => MultiResult::Error {
                err: r.read_int("ErrorResponse.err")?,
            },
            other => return Err(not_allowed(other, "multi reply")),
        };
        results.push(result);
    }
}

fn read_multi_read(r: &mut Reader<'_>) -> Result<Vec<MultiReadResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header: MultiHeader = r.read_record()?;
        if header.done {
            return Ok(results);
        }
        let result = match header.op {
            op::GET_DATA => MultiReadResult::GetData {
                data: r.read_buffer("GetDataResponse.data")?,
                stat: r.read_record()?,
            },
            op::GET_CHILDREN => MultiReadResult::GetChildren {
                children: r.read_string_vec("GetChildrenResponse.children")?,
            },
            op::ERROR => MultiReadResult::Error {
                err: r.read_int("ErrorResponse.err")?,
            },
            other => return Err(not_allowed(other, "multiRead reply")),
        };
        results.push(result);
    }
}

fn not_allowed(opcode: i32, container: &'static str) -> DecodeError {
    DecodeError::OpNotAllowedIn {
        op: opcode,
        name: op::name(opcode),
        container,
    }
}
