//! The client: one key-value operation at a time, sent to the leader,
//! retried until a definitive answer or the deadline.

use std::future::Future;
use std::time::Duration;

use synod_api::pb::{self, kv_client::KvClient, refusal::Reason};
use tokio::time::Instant;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::endpoints::Endpoints;
use crate::error::TimedOut;
use crate::{ClientError, ClientOptions, StatusReply};

/// The outcome of a compare-and-set that the cluster executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The key held the expected value; the new value is stored.
    Swapped,
    /// The key held `current` instead (`None`: absent); nothing changed.
    Failed {
        /// The key's value when the comparison failed.
        current: Option<Vec<u8>>,
    },
}

/// A connection to a synod cluster's key-value service.
///
/// The client remembers the leader, follows "not the leader" redirects,
/// and retries on other nodes after timeouts and connection errors, with
/// exponential backoff, until the operation's deadline
/// ([`ClientOptions::deadline`]).
///
/// **Exactly-once writes.** Every write is numbered once, with this
/// client's id and the next sequence number, and keeps that pair across all
/// its retries, so the cluster applies it at most once however many
/// attempts reach it. The sequence number is taken when the write starts,
/// so the next write always gets a new one, even when this one failed with
/// [`ClientError::NoLeader`] (its outcome then unknown) or its future was
/// dropped: reusing a number for a different write would make the cluster
/// answer it with the earlier write's reply.
///
/// **One operation at a time.** Every method takes `&mut self`, so one
/// `Client` has at most one write outstanding, which is what the cluster's
/// per-client table of last replies assumes. The type is deliberately not
/// `Clone`; for concurrency, connect several clients (each picks its own
/// random id).
#[derive(Debug)]
pub struct Client {
    /// The bearer token every request carries, if any.
    auth: Auth,
    endpoints: Endpoints,
    options: ClientOptions,
    client_id: u64,
    /// The sequence number the next write will carry; starts at 1.
    seq_next: u64,
    /// The endpoint that last answered as leader.
    leader: Option<usize>,
    /// Where to start when no leader is known.
    cursor: usize,
    /// State of a small PRNG for backoff jitter (SplitMix64).
    jitter_state: u64,
}

/// What one attempt got back once the gRPC call itself succeeded.
pub(crate) enum Answer<T> {
    /// A definitive result.
    Done(T),
    /// The node refused, and said why.
    Refused(Reason),
    /// The response made no sense (missing oneof).
    Malformed(&'static str),
}

/// What to do after an attempt that was not definitive.
enum Next {
    /// Go to this endpoint at once: it is the leader's.
    Redirect(usize),
    /// Try the next endpoint; pause after a full round of failures.
    Elsewhere,
    /// Try the same endpoint again after at least this pause.
    Again(Duration),
}

impl Client {
    /// Makes a client for the cluster whose nodes' client addresses
    /// (`http://host:port`; `host:port` also works) are `endpoints`.
    ///
    /// Connections are opened lazily, on the first request, so this
    /// succeeds while nodes are down; it fails only on an empty or invalid
    /// endpoint list. Must be called within a tokio runtime.
    pub async fn connect(
        endpoints: Vec<String>,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let auth = Auth::new(options.token.as_deref())?;
        let endpoints = Endpoints::for_options(endpoints, &options)?;
        let client_id = match options.client_id {
            Some(id) => id,
            None => random_u64(),
        };
        Ok(Client {
            auth,
            endpoints,
            client_id,
            seq_next: 1,
            leader: None,
            cursor: 0,
            jitter_state: client_id ^ random_u64(),
            options,
        })
    }

    /// This client's id, carried by every write.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// The settings this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The sequence number the next write will carry.
    pub fn next_seq(&self) -> u64 {
        self.seq_next
    }

    /// Takes `addr` (one of this client's endpoints, or a new one the set
    /// has room for) as the leader to try first.
    pub(crate) fn prefer_leader(&mut self, addr: &str) {
        if let Some(index) = self.endpoints.find_or_add(addr) {
            self.leader = Some(index);
        }
    }

    /// The address of the node that last answered as leader, if any.
    pub fn leader(&self) -> Option<&str> {
        self.leader
            .map(|index| self.endpoints.get(index).addr.as_str())
    }

    /// Reads `key`, linearizably: only the leader answers, under its lease.
    /// `None` means the key is absent.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        self.read(key, false).await
    }

    /// Reads `key` from whichever node answers first, from its applied
    /// state: cheaper than [`Client::get`], but may miss recent writes.
    pub async fn get_serializable(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        self.read(key, true).await
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let request = pb::PutRequest {
            client_id: self.client_id,
            seq: self.take_seq(),
            key: key.to_vec(),
            value: value.to_vec(),
        };
        self.call(true, move |mut kv| {
            let request = request.clone();
            async move {
                Ok(match kv.put(request).await?.into_inner().result {
                    Some(pb::put_response::Result::Applied(_)) => Answer::Done(()),
                    Some(pb::put_response::Result::Refusal(refusal)) => refused(refusal),
                    None => Answer::Malformed("PutResponse without a result"),
                })
            }
        })
        .await
    }

    /// Removes `key`; succeeds whether or not it existed.
    pub async fn delete(&mut self, key: &[u8]) -> Result<(), ClientError> {
        let request = pb::DeleteRequest {
            client_id: self.client_id,
            seq: self.take_seq(),
            key: key.to_vec(),
        };
        self.call(true, move |mut kv| {
            let request = request.clone();
            async move {
                Ok(match kv.delete(request).await?.into_inner().result {
                    Some(pb::delete_response::Result::Applied(_)) => Answer::Done(()),
                    Some(pb::delete_response::Result::Refusal(refusal)) => refused(refusal),
                    None => Answer::Malformed("DeleteResponse without a result"),
                })
            }
        })
        .await
    }

    /// Sets `key` to `new` if its value is `expected` (`None`: the key must
    /// be absent). A failed comparison is an `Ok`
    /// ([`CasOutcome::Failed`]) with the current value, not an error.
    pub async fn cas(
        &mut self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, ClientError> {
        let request = pb::CasRequest {
            client_id: self.client_id,
            seq: self.take_seq(),
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.to_vec(),
        };
        self.call(true, move |mut kv| {
            let request = request.clone();
            async move {
                Ok(match kv.cas(request).await?.into_inner().result {
                    Some(pb::cas_response::Result::Applied(_)) => Answer::Done(CasOutcome::Swapped),
                    Some(pb::cas_response::Result::Failed(failed)) => {
                        Answer::Done(CasOutcome::Failed {
                            current: failed.current,
                        })
                    }
                    Some(pb::cas_response::Result::Refusal(refusal)) => refused(refusal),
                    None => Answer::Malformed("CasResponse without a result"),
                })
            }
        })
        .await
    }

    /// Changes membership by one step (the leader answers; the client
    /// follows redirects). Needs the admin right where the servers have
    /// `[access]`.
    pub async fn reconfigure(&mut self, change: Reconfigure) -> Result<(), ClientError> {
        let (kind, node_id) = match change {
            Reconfigure::AddLearner(node) => (pb::ReconfigureKind::AddLearner, node),
            Reconfigure::Promote(node) => (pb::ReconfigureKind::Promote, node),
            Reconfigure::Remove(node) => (pb::ReconfigureKind::Remove, node),
        };
        let request = pb::ReconfigureRequest {
            kind: kind as i32,
            node_id,
        };
        self.call(true, move |mut kv| async move {
            Ok(match kv.reconfigure(request).await?.into_inner().result {
                Some(pb::reconfigure_response::Result::Applied(_)) => Answer::Done(()),
                Some(pb::reconfigure_response::Result::Refusal(refusal)) => refused(refusal),
                None => Answer::Malformed("ReconfigureResponse without a result"),
            })
        })
        .await
    }

    /// Asks the node at `endpoint` (any node, known to this client or not)
    /// for its view of the cluster. One request, no retries: a failure is
    /// [`ClientError::Transport`].
    pub async fn status(&mut self, endpoint: &str) -> Result<StatusReply, ClientError> {
        let node = self.endpoints.lookup_or_open(endpoint)?;
        let timeout = self.options.request_timeout;
        let mut kv = KvClient::with_interceptor(node.channel, self.auth.clone());
        let transport = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::Transport {
            endpoint: node.addr.clone(),
            source,
        };
        let reply = tokio::time::timeout(timeout, kv.status(pb::StatusRequest {}))
            .await
            .map_err(|_| {
                transport(Box::new(TimedOut {
                    timeout_ms: timeout.as_millis(),
                }))
            })?
            .map_err(|status| transport(Box::new(status)))?;
        Ok(StatusReply::from_pb(node.addr.clone(), reply.into_inner()))
    }

    async fn read(
        &mut self,
        key: &[u8],
        serializable: bool,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let request = pb::GetRequest {
            key: key.to_vec(),
            serializable,
        };
        self.call(!serializable, move |mut kv| {
            let request = request.clone();
            async move {
                Ok(match kv.get(request).await?.into_inner().result {
                    Some(pb::get_response::Result::Value(value)) => Answer::Done(value.value),
                    Some(pb::get_response::Result::Refusal(refusal)) => refused(refusal),
                    None => Answer::Malformed("GetResponse without a result"),
                })
            }
        })
        .await
    }

    /// Numbers a new write. Advancing here, before any attempt, is what
    /// guarantees that no two writes of this client share a number.
    pub(crate) fn take_seq(&mut self) -> u64 {
        let seq = self.seq_next;
        self.seq_next += 1;
        seq
    }

    /// Sends one request (built afresh per attempt by `attempt`) until a
    /// definitive answer, the deadline, or the attempt limit. `at_leader`
    /// says whether the answering node is known to be the leader (false for
    /// serializable reads, which any node answers).
    async fn call<T, F, Fut>(&mut self, at_leader: bool, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut(Kv) -> Fut,
        Fut: Future<Output = Result<Answer<T>, tonic::Status>>,
    {
        self.call_stub(at_leader, move |stub| attempt(KvClient::new(stub)))
            .await
    }

    /// As `call`, for any service on the channel (`stub`).
    pub(crate) async fn call_stub<T, F, Fut>(
        &mut self,
        at_leader: bool,
        attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(Stub) -> Fut,
        Fut: Future<Output = Result<Answer<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + self.options.deadline;
        let timeout = self.options.request_timeout;
        self.call_within(at_leader, timeout, deadline, attempt)
            .await
    }

    /// As `call`, for any service on the channel (`stub`), with the
    /// per-request timeout and the deadline given.
    pub(crate) async fn call_within<T, F, Fut>(
        &mut self,
        at_leader: bool,
        request_timeout: Duration,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(Stub) -> Fut,
        Fut: Future<Output = Result<Answer<T>, tonic::Status>>,
    {
        let mut backoff = self.options.backoff_initial;
        let mut target = self.leader.unwrap_or(self.cursor % self.endpoints.len());
        let mut tried: Vec<String> = Vec::new();
        let mut last_error =
            String::from("no request was sent (the deadline or attempts_max is zero)");
        let mut attempts: u32 = 0;
        // Failures since the last pause, and redirects followed in a row: a
        // pause comes after a full round of failed endpoints, or when
        // redirects go in circles.
        let mut failures_unpaused = 0usize;
        let mut redirects_in_row = 0usize;
        loop {
            let now = Instant::now();
            if now >= deadline || attempts >= self.options.attempts_max {
                return Err(ClientError::NoLeader {
                    tried,
                    last_error,
                    attempts,
                });
            }
            attempts += 1;
            let node = self.endpoints.get(target).clone();
            if !tried.contains(&node.addr) {
                tried.push(node.addr.clone());
            }
            let budget = request_timeout.min(deadline - now);
            let stub = InterceptedService::new(node.channel, self.auth.clone());
            let outcome = tokio::time::timeout(budget, attempt(stub)).await;
            let next = match outcome {
                Ok(Ok(Answer::Done(value))) => {
                    if at_leader {
                        self.leader = Some(target);
                    }
                    self.cursor = target;
                    return Ok(value);
                }
                Ok(Ok(Answer::Refused(reason))) => {
                    let (next, error) = self.on_refusal(target, reason)?;
                    last_error = format!("{}: {error}", node.addr);
                    next
                }
                Ok(Ok(Answer::Malformed(message))) => {
                    return Err(ClientError::Protocol {
                        endpoint: node.addr,
                        message: message.to_string(),
                    })
                }
                Ok(Err(status)) if status.code() == tonic::Code::PermissionDenied => {
                    return Err(ClientError::PermissionDenied(format!(
                        "{}: {}",
                        node.addr,
                        status.message()
                    )))
                }
                // A cap on the store (`[kv] keys_max`, `bytes_max`): every
                // node judges the same way until keys are deleted.
                Ok(Err(status)) if status.code() == tonic::Code::ResourceExhausted => {
                    return Err(ClientError::QuotaExceeded(format!(
                        "{}: {}",
                        node.addr,
                        status.message()
                    )))
                }
                Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                    return Err(ClientError::Protocol {
                        endpoint: node.addr,
                        message: format!("the node does not implement this request: {status}"),
                    })
                }
                // The node judged the request itself invalid (too large for
                // the log, a key or value over its limit): another node or
                // another try would answer the same.
                Ok(Err(status))
                    if matches!(
                        status.code(),
                        tonic::Code::InvalidArgument | tonic::Code::OutOfRange
                    ) =>
                {
                    return Err(ClientError::Rejected(format!(
                        "{}: {}",
                        node.addr,
                        status.message()
                    )))
                }
                Ok(Err(status)) => {
                    last_error = format!("{}: {}", node.addr, describe_status(&status));
                    Next::Elsewhere
                }
                Err(_) => {
                    last_error =
                        format!("{}: no answer within {} ms", node.addr, budget.as_millis());
                    Next::Elsewhere
                }
            };
            let pause = match next {
                Next::Redirect(index) if redirects_in_row < self.endpoints.len() => {
                    redirects_in_row += 1;
                    target = index;
                    None
                }
                Next::Redirect(_) | Next::Elsewhere => {
                    redirects_in_row = 0;
                    if self.leader == Some(target) {
                        self.leader = None;
                    }
                    target = (target + 1) % self.endpoints.len();
                    failures_unpaused += 1;
                    (failures_unpaused >= self.endpoints.len()).then_some(Duration::ZERO)
                }
                Next::Again(at_least) => Some(at_least),
            };
            self.cursor = target;
            if let Some(at_least) = pause {
                failures_unpaused = 0;
                let jittered = self.jitter(backoff).max(at_least);
                tokio::time::sleep_until(deadline.min(Instant::now() + jittered)).await;
                backoff = (backoff * 2).min(self.options.backoff_max);
            }
        }
    }

    /// Decides what a refusal from the node at `target` means: where to go
    /// next and how to describe it, or a definitive error.
    fn on_refusal(&mut self, target: usize, reason: Reason) -> Result<(Next, String), ClientError> {
        match reason {
            Reason::NotLeader(hint) => {
                let leader = hint
                    .leader_addr
                    .as_deref()
                    .and_then(|addr| self.endpoints.find_or_add(addr))
                    .filter(|&index| index != target);
                let described = match (hint.leader_id, &hint.leader_addr) {
                    (Some(id), Some(addr)) => format!("not the leader; node {id} at {addr} is"),
                    (Some(id), None) => format!("not the leader; node {id} is, address unknown"),
                    (None, _) => "not the leader, and knows no leader".to_string(),
                };
                let next = leader.map_or(Next::Elsewhere, Next::Redirect);
                Ok((next, described))
            }
            Reason::Busy(busy) => Ok((
                Next::Again(Duration::from_millis(busy.retry_after_ms.into())),
                format!("busy: {}", busy.reason),
            )),
            Reason::Stale(stale) => Err(ClientError::Stale {
                client_id: self.client_id,
                last_applied_seq: stale.last_applied_seq,
            }),
            Reason::Rejected(rejected) => Err(ClientError::Rejected(rejected.message)),
        }
    }

    /// `backoff` plus a random part of up to half of it.
    fn jitter(&mut self, backoff: Duration) -> Duration {
        let half_us = (backoff.as_micros() / 2).max(1) as u64;
        backoff + Duration::from_micros(splitmix64(&mut self.jitter_state) % half_us)
    }
}

/// One membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconfigure {
    /// A new node that receives the log but does not vote.
    AddLearner(u64),
    /// A learner becomes a voter.
    Promote(u64),
    /// A node leaves the configuration.
    Remove(u64),
}

/// A channel with this client's bearer token on every request.
pub(crate) type Stub = InterceptedService<Channel, Auth>;
/// The key-value service on a `Stub`.
type Kv = KvClient<Stub>;

/// Adds `authorization: Bearer <token>` to every request, when a token is
/// set.
#[derive(Clone, Debug)]
pub(crate) struct Auth(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Auth {
    pub(crate) fn new(token: Option<&str>) -> Result<Auth, ClientError> {
        let Some(token) = token else {
            return Ok(Auth(None));
        };
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::Rejected("the token is not printable ASCII".into()))?;
        Ok(Auth(Some(value)))
    }
}

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub(crate) fn refused<T>(refusal: pb::Refusal) -> Answer<T> {
    match refusal.reason {
        Some(reason) => Answer::Refused(reason),
        None => Answer::Malformed("Refusal without a reason"),
    }
}

/// A gRPC failure in one line, with the cause of a connection error (which
/// tonic keeps in the error's source chain, not in its message).
fn describe_status(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A random 64-bit number from the operating system; falls back to the
/// clock and process id in the unlikely case that fails.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut state = nanos ^ (u64::from(std::process::id()) << 32);
        splitmix64(&mut state)
    })
}

/// SplitMix64: advances `state` and returns the next pseudo-random number.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
