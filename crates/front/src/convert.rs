//! Translation between the wire's records (synod-zkproto) and the
//! coordination tree's domain types (synod-coord): requests into `Write`s,
//! results into replies in ZooKeeper's exact shapes.

use synod_coord::{Acl, CreateMode, ErrorCode, EventKind, Id, Stat, Write, WriteResult};
use synod_zkproto as wire;
use wire::{CreateKind, MultiResult, Request, Response};

/// The reply a write's result must be rendered as.
#[derive(Clone, Debug)]
pub enum Shape {
    /// create: {path}.
    Create,
    /// create2, createContainer, createTTL: {path, stat}.
    Create2,
    /// delete, check: nothing.
    Empty,
    /// setData, setACL: {stat}.
    Stat,
    /// multi: one shape per op.
    Multi(Vec<Shape>),
    Sync,
}

/// Whether the request goes through the log.
pub fn is_write(req: &Request) -> bool {
    matches!(
        req,
        Request::Create { .. }
            | Request::CreateTtl { .. }
            | Request::Delete { .. }
            | Request::DeleteContainer { .. }
            | Request::SetData { .. }
            | Request::SetAcl { .. }
            | Request::Check { .. }
            | Request::Multi(_)
            | Request::Sync { .. }
    )
}

pub fn stat(s: &Stat) -> wire::Stat {
    wire::Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

pub fn acl_to_wire(a: &Acl) -> wire::Acl {
    wire::Acl {
        perms: a.perms,
        id: wire::Id {
            scheme: a.id.scheme.clone(),
            id: a.id.id.clone(),
        },
    }
}

fn acl_from_wire(a: &wire::Acl) -> Acl {
    Acl {
        perms: a.perms,
        id: Id {
            scheme: a.id.scheme.clone(),
            id: a.id.id.clone(),
        },
    }
}

pub fn event_type(kind: EventKind) -> i32 {
    use wire::event_type as t;
    match kind {
        EventKind::Created => t::NODE_CREATED,
        EventKind::Deleted => t::NODE_DELETED,
        EventKind::DataChanged => t::NODE_DATA_CHANGED,
        EventKind::ChildrenChanged => t::NODE_CHILDREN_CHANGED,
    }
}

/// A path a watch may be set on (the tree validates paths it stores).
pub fn valid_path(path: &str) -> bool {
    path.starts_with('/') && (path == "/" || !path.ends_with('/')) && !path.contains("//")
}

/// The write a request asks for, and how to render its reply; or the error
/// ZooKeeper answers before the request reaches its log. Null data becomes
/// `Write::CreateNull` or `Write::SetNullData`, so every other write keeps
/// the log encoding it had before null data.
pub fn to_write(req: &Request) -> Result<(Write, Shape), ErrorCode> {
    Ok(match req {
        Request::Create {
            kind,
            path,
            data,
            acl,
            flags,
        } => {
            let mode = CreateMode::from_flags(*flags).ok_or(ErrorCode::BadArguments)?;
            let shape = match kind {
                CreateKind::Create => Shape::Create,
                CreateKind::Create2 | CreateKind::Container => Shape::Create2,
            };
            (
                Write::create(
                    path.clone(),
                    data.clone(),
                    acl.iter().map(acl_from_wire).collect(),
                    mode,
                    -1,
                ),
                shape,
            )
        }
        Request::CreateTtl {
            path,
            data,
            acl,
            flags,
            ttl_ms,
        } => {
            let mode = CreateMode::from_flags(*flags).ok_or(ErrorCode::BadArguments)?;
            (
                Write::create(
                    path.clone(),
                    data.clone(),
                    acl.iter().map(acl_from_wire).collect(),
                    mode,
                    *ttl_ms,
                ),
                Shape::Create2,
            )
        }
        Request::Delete { path, version } => (
            Write::Delete {
                path: path.clone(),
                version: *version,
            },
            Shape::Empty,
        ),
        Request::DeleteContainer { path } => (
            Write::Delete {
                path: path.clone(),
                version: -1,
            },
            Shape::Empty,
        ),
        Request::SetData {
            path,
            data,
            version,
        } => (
            Write::set_data(path.clone(), data.clone(), *version),
            Shape::Stat,
        ),
        Request::SetAcl { path, acl, version } => (
            Write::SetAcl {
                path: path.clone(),
                acl: acl.iter().map(acl_from_wire).collect(),
                version: *version,
            },
            Shape::Stat,
        ),
        Request::Check { path, version } => (
            Write::Check {
                path: path.clone(),
                version: *version,
            },
            Shape::Empty,
        ),
        Request::Sync { path } => (Write::Sync { path: path.clone() }, Shape::Sync),
        Request::Multi(ops) => {
            let mut writes = Vec::with_capacity(ops.len());
            let mut shapes = Vec::with_capacity(ops.len());
            for op in ops {
                let (w, s) = to_write(op)?;
                writes.push(w);
                shapes.push(s);
            }
            (Write::Multi(writes), Shape::Multi(shapes))
        }
        _ => return Err(ErrorCode::Unimplemented),
    })
}

fn multi_result(shape: &Shape, result: WriteResult) -> MultiResult {
    match (shape, result) {
        (Shape::Create, WriteResult::Created { path, .. }) => MultiResult::Create { path },
        (Shape::Create2, WriteResult::Created { path, stat: s }) => MultiResult::Create2 {
            path,
            stat: stat(&s),
        },
        (_, WriteResult::SetData { stat: s }) => MultiResult::SetData { stat: stat(&s) },
        (_, WriteResult::Deleted) => MultiResult::Delete,
        (_, WriteResult::Checked) => MultiResult::Check,
        _ => MultiResult::Error {
            err: ErrorCode::SystemError.code(),
        },
    }
}

/// Renders a write's result as ZooKeeper replies to it: a body, or the
/// error code for the reply header.
pub fn write_reply(shape: Shape, result: Result<WriteResult, ErrorCode>) -> Result<Response, i32> {
    let result = result.map_err(|e| e.code())?;
    Ok(match (shape, result) {
        (Shape::Create, WriteResult::Created { path, .. }) => Response::Create { path },
        (Shape::Create2, WriteResult::Created { path, stat: s }) => Response::Create2 {
            path,
            stat: stat(&s),
        },
        (Shape::Empty, WriteResult::Deleted | WriteResult::Checked) => Response::Empty,
        (Shape::Stat, WriteResult::SetData { stat: s } | WriteResult::SetAcl { stat: s }) => {
            Response::Stat { stat: stat(&s) }
        }
        (Shape::Sync, WriteResult::Synced { path }) => Response::Sync { path },
        (Shape::Multi(shapes), WriteResult::Multi(outcome)) => match outcome {
            Ok(results) => Response::Multi(
                shapes
                    .iter()
                    .zip(results)
                    .map(|(s, r)| multi_result(s, r))
                    .collect(),
            ),
            Err((index, code)) => {
                Response::Multi(MultiResult::aborted(shapes.len(), index, code.code()))
            }
        },
        _ => return Err(ErrorCode::SystemError.code()),
    })
}
