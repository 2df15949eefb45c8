//! Chubby's lock API over gRPC (the `Lock` service of `synod.proto`): each
//! call becomes a `LockRequest` for the node's lock door
//! (`synod_node::locks`), whose answer is mapped back to the proto.
//! Refusals travel in-band as `Refusal`, as the key-value API's do.

use crate::access::{Access, Right};
use crate::grpc::Redirects;
use crate::runtime::NodeHandle;
use synod_api::pb::{self, lock_server::Lock};
use synod_coord::lock::Invalid;
use synod_coord::{LockError, LockMode, LockStatus, Sequencer};
use synod_node::{LockAnswer, LockEvent, LockRequest};
use tonic::{Request, Response, Status};

/// Lock paths longer than this are refused (INVALID_ARGUMENT).
pub const PATH_BYTES_MAX: usize = 4 * 1024;
/// Sequencer texts longer than this are refused: a path of
/// `PATH_BYTES_MAX` bytes, each written `%XX`, and the header.
pub const SEQUENCER_BYTES_MAX: usize = 3 * PATH_BYTES_MAX + 64;

pub struct LockService {
    node: NodeHandle,
    access: Access,
    redirects: Redirects,
}

impl LockService {
    pub fn new(node: NodeHandle, access: Access, redirects: Redirects) -> Self {
        LockService {
            node,
            access,
            redirects,
        }
    }

    async fn ask(&self, request: LockRequest) -> Result<LockAnswer, Status> {
        self.node
            .lock(request)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }

    fn refusal(&self, answer: &LockAnswer) -> Result<pb::Refusal, Status> {
        match answer {
            LockAnswer::Refused(outcome) => Ok(self.redirects.refusal(outcome)),
            other => Err(Status::internal(format!(
                "unexpected answer from the lock door: {other:?}"
            ))),
        }
    }
}

fn check_path(path: &str) -> Result<(), Status> {
    if path.len() > PATH_BYTES_MAX {
        return Err(Status::invalid_argument(format!(
            "a lock path of {} bytes exceeds the limit of {PATH_BYTES_MAX}",
            path.len()
        )));
    }
    Ok(())
}

fn check_seq(seq: u64) -> Result<(), Status> {
    if seq == 0 {
        return Err(Status::invalid_argument("sequence numbers start at 1"));
    }
    Ok(())
}

/// The stable name of a lock error (`LockFailed.code`).
pub fn lock_error_code(e: LockError) -> &'static str {
    match e {
        LockError::SessionExpired => "session-expired",
        LockError::BadPath => "bad-path",
        LockError::NoNode => "no-node",
        LockError::NotLockable => "not-lockable",
        LockError::NoAuth => "no-auth",
        LockError::Conflict => "conflict",
        LockError::AlreadyHeld => "already-held",
        LockError::AlreadyWaiting => "already-waiting",
        LockError::NotHeld => "not-held",
        LockError::WaitersFull => "waiters-full",
        LockError::TableFull => "table-full",
        LockError::Unimplemented => "unimplemented",
    }
}

fn failed(e: LockError) -> pb::LockFailed {
    pb::LockFailed {
        code: lock_error_code(e).into(),
        message: e.to_string(),
    }
}

fn zk_failed(code: synod_coord::ErrorCode) -> pb::LockFailed {
    pb::LockFailed {
        code: format!("{code:?}")
            .chars()
            .flat_map(|c| {
                let lower = c.to_ascii_lowercase();
                if c.is_ascii_uppercase() {
                    vec!['-', lower]
                } else {
                    vec![c]
                }
            })
            .skip_while(|c| *c == '-')
            .collect(),
        message: code.to_string(),
    }
}

/// The stable name of an invalid sequencer's reason.
pub fn invalid_code(why: Invalid) -> &'static str {
    match why {
        Invalid::Free => "free",
        Invalid::Superseded { .. } => "superseded",
        Invalid::NotHolder => "not-holder",
        Invalid::WrongMode => "wrong-mode",
    }
}

fn lock_state(s: LockStatus) -> pb::LockState {
    pb::LockState {
        mode: match s.mode {
            Some(LockMode::Exclusive) => "exclusive",
            Some(LockMode::Shared) => "shared",
            None => "free",
        }
        .into(),
        generation: s.generation,
        holders: s.holders,
        waiters: s
            .waiters
            .into_iter()
            .map(|(session, mode)| pb::LockWaiter {
                session,
                shared: mode == LockMode::Shared,
            })
            .collect(),
        lock_delay_until_ms: s.delayed_until_ms,
    }
}

fn stat(s: synod_coord::Stat) -> pb::ZnodeStat {
    pb::ZnodeStat {
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

/// An event as the proto carries it.
fn event(e: LockEvent) -> pb::LockEvent {
    let (kind, path, child, session, generation) = match e {
        LockEvent::ContentsModified { path } => ("contents-modified", path, String::new(), 0, 0),
        LockEvent::ChildAdded { path, child } => ("child-added", path, child, 0, 0),
        LockEvent::ChildRemoved { path, child } => ("child-removed", path, child, 0, 0),
        LockEvent::ChildModified { path, child } => ("child-modified", path, child, 0, 0),
        LockEvent::HandleInvalid { path } => ("handle-invalid", path, String::new(), 0, 0),
        LockEvent::LockAcquired {
            path,
            session,
            generation,
        } => ("lock-acquired", path, String::new(), session, generation),
        LockEvent::ConflictingLockRequest { path } => {
            ("conflicting-lock-request", path, String::new(), 0, 0)
        }
        LockEvent::MasterFailover => ("master-failover", String::new(), String::new(), 0, 0),
        LockEvent::EventsLost => ("events-lost", String::new(), String::new(), 0, 0),
    };
    pb::LockEvent {
        kind: kind.into(),
        path,
        child,
        session,
        generation,
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        use pb::open_session_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        let mut passwd = vec![0u8; 16];
        getrandom::fill(&mut passwd).expect("the OS random source works");
        let answer = self
            .ask(LockRequest::OpenSession {
                client: r.client_id,
                seq: r.seq,
                timeout_ms: i32::try_from(r.timeout_ms).unwrap_or(i32::MAX),
                passwd,
            })
            .await?;
        let result = match answer {
            LockAnswer::Session { id, timeout_ms } => R::Opened(pb::SessionOpened {
                session: id,
                timeout_ms: timeout_ms.max(0) as u32,
            }),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::OpenSessionResponse {
            result: Some(result),
        }))
    }

    async fn keep_alive(
        &self,
        request: Request<pb::KeepAliveRequest>,
    ) -> Result<Response<pb::KeepAliveResponse>, Status> {
        use pb::keep_alive_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        let subscriptions = r
            .subscriptions
            .into_iter()
            .take(synod_node::locks::SUBSCRIPTIONS_MAX)
            .map(|s| check_path(&s.path).map(|()| (s.path, s.mask)))
            .collect::<Result<Vec<_>, Status>>()?;
        let answer = self
            .ask(LockRequest::KeepAlive {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
                subscriptions,
                hold_ms: r.hold_ms,
                cache_term: r.cache_term,
                acked: r.acked,
            })
            .await?;
        let result = match answer {
            LockAnswer::Alive {
                timeout_ms,
                events,
                term,
                invalidated,
                invalidation,
            } => R::Alive(pb::SessionAlive {
                timeout_ms: timeout_ms.max(0) as u32,
                events: events.into_iter().map(event).collect(),
                term,
                invalidated,
                invalidation,
            }),
            LockAnswer::Expired => R::Expired(pb::SessionExpired {}),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::KeepAliveResponse {
            result: Some(result),
        }))
    }

    async fn cache_session(
        &self,
        request: Request<pb::CacheSessionRequest>,
    ) -> Result<Response<pb::CacheSessionResponse>, Status> {
        use pb::cache_session_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        let answer = self
            .ask(LockRequest::CacheSession {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
            })
            .await?;
        let result = match answer {
            LockAnswer::Caching => R::Caching(pb::Applied {}),
            LockAnswer::Expired => R::Expired(pb::SessionExpired {}),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::CacheSessionResponse {
            result: Some(result),
        }))
    }

    async fn close_session(
        &self,
        request: Request<pb::CloseSessionRequest>,
    ) -> Result<Response<pb::CloseSessionResponse>, Status> {
        use pb::close_session_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        let answer = self
            .ask(LockRequest::CloseSession {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
            })
            .await?;
        let result = match answer {
            LockAnswer::Closed => R::Closed(pb::Applied {}),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::CloseSessionResponse {
            result: Some(result),
        }))
    }

    async fn create_node(
        &self,
        request: Request<pb::CreateNodeRequest>,
    ) -> Result<Response<pb::CreateNodeResponse>, Status> {
        use pb::create_node_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        check_path(&r.path)?;
        let answer = self
            .ask(LockRequest::Create {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
                auth: Vec::new(),
                path: r.path,
            })
            .await?;
        let result = match answer {
            LockAnswer::Created => R::Created(pb::Applied {}),
            LockAnswer::CreateFailed(code) => R::Failed(zk_failed(code)),
            LockAnswer::Failed(e) => R::Failed(failed(e)),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::CreateNodeResponse {
            result: Some(result),
        }))
    }

    async fn acquire(
        &self,
        request: Request<pb::AcquireRequest>,
    ) -> Result<Response<pb::AcquireResponse>, Status> {
        use pb::acquire_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        check_path(&r.path)?;
        let answer = self
            .ask(LockRequest::Acquire {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
                auth: Vec::new(),
                path: r.path,
                mode: if r.shared {
                    LockMode::Shared
                } else {
                    LockMode::Exclusive
                },
                lock_delay_ms: i64::from(r.lock_delay_ms),
                try_acquire: r.try_acquire,
            })
            .await?;
        let result = match answer {
            LockAnswer::Acquired(seq) => R::Acquired(pb::Acquired {
                generation: seq.generation,
                sequencer: seq.to_string(),
            }),
            LockAnswer::Failed(e) => R::Failed(failed(e)),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::AcquireResponse {
            result: Some(result),
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        use pb::release_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        check_path(&r.path)?;
        let answer = self
            .ask(LockRequest::Release {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
                path: r.path,
            })
            .await?;
        let result = match answer {
            LockAnswer::Released => R::Released(pb::Applied {}),
            LockAnswer::Failed(e) => R::Failed(failed(e)),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::ReleaseResponse {
            result: Some(result),
        }))
    }

    async fn check_sequencer(
        &self,
        request: Request<pb::CheckSequencerRequest>,
    ) -> Result<Response<pb::CheckSequencerResponse>, Status> {
        use pb::check_sequencer_response::Result as R;
        self.access.check(&request, Right::Read)?;
        let r = request.into_inner();
        if r.sequencer.len() > SEQUENCER_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "a sequencer of {} bytes exceeds the limit of {SEQUENCER_BYTES_MAX}",
                r.sequencer.len()
            )));
        }
        let seq = match r.sequencer.parse::<Sequencer>() {
            Ok(seq) => seq,
            Err(e) => {
                return Ok(Response::new(pb::CheckSequencerResponse {
                    result: Some(R::Invalid(pb::SequencerInvalid {
                        code: "unparsable".into(),
                        message: e.to_string(),
                    })),
                }))
            }
        };
        let result = match self.ask(LockRequest::Check(seq)).await? {
            LockAnswer::Check(Ok(())) => R::Valid(pb::SequencerValid {}),
            LockAnswer::Check(Err(why)) => R::Invalid(pb::SequencerInvalid {
                code: invalid_code(why).into(),
                message: why.to_string(),
            }),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::CheckSequencerResponse {
            result: Some(result),
        }))
    }

    async fn get_contents(
        &self,
        request: Request<pb::GetContentsRequest>,
    ) -> Result<Response<pb::GetContentsResponse>, Status> {
        use pb::get_contents_response::Result as R;
        self.access.check(&request, Right::Read)?;
        let r = request.into_inner();
        check_path(&r.path)?;
        let answer = self
            .ask(LockRequest::Contents {
                path: r.path,
                auth: Vec::new(),
                session: r.session,
            })
            .await?;
        let (result, cached) = match answer {
            LockAnswer::Contents {
                result: Ok((data, s)),
                cached,
            } => (
                R::Contents(pb::Contents {
                    data,
                    stat: Some(stat(s)),
                }),
                cached,
            ),
            LockAnswer::Contents {
                result: Err(code),
                cached,
            } => (R::Failed(zk_failed(code)), cached),
            other => (R::Refusal(self.refusal(&other)?), 0),
        };
        Ok(Response::new(pb::GetContentsResponse {
            result: Some(result),
            cached,
        }))
    }

    async fn set_contents(
        &self,
        request: Request<pb::SetContentsRequest>,
    ) -> Result<Response<pb::SetContentsResponse>, Status> {
        use pb::set_contents_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        check_seq(r.seq)?;
        check_path(&r.path)?;
        if r.data.len() > crate::grpc::VALUE_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "contents of {} bytes exceed the limit of {}",
                r.data.len(),
                crate::grpc::VALUE_BYTES_MAX
            )));
        }
        let sequencer = if r.sequencer.is_empty() {
            None
        } else if r.sequencer.len() > SEQUENCER_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "a sequencer of {} bytes exceeds the limit of {SEQUENCER_BYTES_MAX}",
                r.sequencer.len()
            )));
        } else {
            let parsed = r.sequencer.parse::<Sequencer>();
            Some(parsed.map_err(|e| Status::invalid_argument(format!("the sequencer: {e}")))?)
        };
        let answer = self
            .ask(LockRequest::SetContents {
                client: r.client_id,
                seq: r.seq,
                session: r.session,
                auth: Vec::new(),
                path: r.path,
                data: r.data,
                version: r.version.unwrap_or(-1),
                sequencer,
            })
            .await?;
        let result = match answer {
            LockAnswer::ContentsSet(Ok(s)) => R::Stat(stat(s)),
            LockAnswer::Fenced(why) => R::Failed(pb::LockFailed {
                code: "fenced".into(),
                message: format!(
                    "the call's sequencer is no longer valid ({}): {why}",
                    invalid_code(why)
                ),
            }),
            LockAnswer::ContentsSet(Err(code)) => R::Failed(zk_failed(code)),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::SetContentsResponse {
            result: Some(result),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::LockStatusRequest>,
    ) -> Result<Response<pb::LockStatusResponse>, Status> {
        use pb::lock_status_response::Result as R;
        self.access.check(&request, Right::Read)?;
        let r = request.into_inner();
        check_path(&r.path)?;
        let answer = self
            .ask(LockRequest::Status {
                path: r.path,
                auth: Vec::new(),
            })
            .await?;
        let result = match answer {
            LockAnswer::Status(Ok(s)) => R::State(lock_state(s)),
            LockAnswer::Status(Err(code)) => R::Failed(zk_failed(code)),
            other => R::Refusal(self.refusal(&other)?),
        };
        Ok(Response::new(pb::LockStatusResponse {
            result: Some(result),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_errors_get_kebab_names() {
        assert_eq!(
            zk_failed(synod_coord::ErrorCode::QuotaExceeded).code,
            "quota-exceeded"
        );
        assert_eq!(zk_failed(synod_coord::ErrorCode::NoNode).code, "no-node");
    }
}
