//! The native client API: gRPC (tonic) over the key-value state machine.
//! Every request becomes an engine input through `NodeHandle`; refusals
//! (not the leader, busy, stale) travel in-band as `Refusal`, with the
//! leader's client address so clients go straight there.

use crate::access::{common_name, Access, ClientInfo, Right};
use crate::gate::{Admission, SocketGate};
use crate::runtime::{NodeHandle, NodeStatus, WriteError};
use std::collections::BTreeMap;
use synod_api::pb::{self, kv_server::Kv};
use synod_kv::{KvOp, KvReply};
use synod_net::HostPort;
use synod_paxos::{Command, ConfigChange, NodeId, Outcome};
use tonic::{Request, Response, Status};

/// Keys and values larger than this are refused: they would make one
/// slot, one log record and one message huge.
pub const KEY_BYTES_MAX: usize = 4 * 1024;
pub const VALUE_BYTES_MAX: usize = 1024 * 1024;

pub struct KvService {
    node: NodeHandle,
    /// Who may do what (`[access]`).
    access: Access,
    redirects: Redirects,
    /// The largest command the log takes (`[engine] command_bytes_max`):
    /// a larger write is refused here, before the engine.
    command_bytes_max: usize,
}

impl KvService {
    pub fn new(
        node: NodeHandle,
        clients: BTreeMap<NodeId, HostPort>,
        command_bytes_max: usize,
        access: Access,
        tls: bool,
    ) -> Self {
        KvService {
            node,
            access,
            redirects: Redirects::new(clients, tls),
            command_bytes_max,
        }
    }

    fn refusal(&self, outcome: &Outcome) -> pb::Refusal {
        self.redirects.refusal(outcome)
    }
}

/// How a refusal names the leader: the members' client addresses.
#[derive(Clone, Debug)]
pub struct Redirects {
    /// `https` when the gRPC ports speak TLS: redirects name it.
    scheme: &'static str,
    /// Client addresses of the members, for redirects.
    clients: BTreeMap<NodeId, HostPort>,
}

impl Redirects {
    pub fn new(clients: BTreeMap<NodeId, HostPort>, tls: bool) -> Self {
        Redirects {
            scheme: if tls { "https" } else { "http" },
            clients,
        }
    }

    /// Member `id`'s client address as a URL, if it is a member.
    pub fn address(&self, id: NodeId) -> Option<String> {
        self.clients
            .get(&id)
            .map(|a| format!("{}://{a}", self.scheme))
    }

    /// The in-band refusal for an engine outcome that is not `Ok`.
    pub fn refusal(&self, outcome: &Outcome) -> pb::Refusal {
        use pb::refusal::Reason;
        let reason = match outcome {
            Outcome::NotLeader { leader } => Reason::NotLeader(pb::NotLeader {
                leader_id: *leader,
                leader_addr: leader.and_then(|l| self.address(l)),
            }),
            Outcome::Busy => Reason::Busy(pb::Busy {
                retry_after_ms: 50,
                reason: "the leader's queue is full".into(),
            }),
            Outcome::Stale => Reason::Stale(pb::Stale {
                last_applied_seq: 0,
            }),
            Outcome::Rejected(why) => Reason::Rejected(pb::Rejected {
                message: why.clone(),
            }),
            Outcome::Ok(_) => Reason::Rejected(pb::Rejected {
                message: "internal: an answer was taken for a refusal".into(),
            }),
        };
        pb::Refusal {
            reason: Some(reason),
        }
    }
}

impl KvService {
    async fn write(
        &self,
        client: u64,
        seq: u64,
        op: KvOp,
    ) -> Result<Result<KvReply, pb::Refusal>, Status> {
        check_sizes(&op)?;
        if seq == 0 {
            return Ok(Err(pb::Refusal {
                reason: Some(pb::refusal::Reason::Rejected(pb::Rejected {
                    message: "sequence numbers start at 1".into(),
                })),
            }));
        }
        let op = op.encode();
        if op.len() > self.command_bytes_max {
            // The log would refuse it: say so plainly, and the client does
            // not retry an InvalidArgument.
            return Err(Status::invalid_argument(format!(
                "the write encodes to a {} byte command, more than the {} bytes the log \
                 takes per command ([engine] command_bytes_max); split it or make it smaller",
                op.len(),
                self.command_bytes_max
            )));
        }
        let outcome = self
            .node
            .write(Command { client, seq, op })
            .await
            .map_err(|e| match e {
                // Definitive until keys are deleted: the client does not
                // retry a RESOURCE_EXHAUSTED.
                WriteError::Quota(refused) => Status::resource_exhausted(refused.to_string()),
                WriteError::Stopped(stopped) => Status::unavailable(stopped.to_string()),
            })?;
        self.decode(outcome)
    }

    fn decode(&self, outcome: Outcome) -> Result<Result<KvReply, pb::Refusal>, Status> {
        match outcome {
            Outcome::Ok(bytes) => KvReply::decode(&bytes).map(Ok).map_err(|e| {
                Status::internal(format!("undecodable reply from the state machine: {e}"))
            }),
            other => Ok(Err(self.refusal(&other))),
        }
    }
}

fn check_sizes(op: &KvOp) -> Result<(), Status> {
    let (key, value) = match op {
        KvOp::Put { key, value } | KvOp::Append { key, value } => (key, value.len()),
        KvOp::Cas { key, new, expected } => {
            (key, new.len().max(expected.as_ref().map_or(0, |e| e.len())))
        }
        KvOp::Get { key } | KvOp::Delete { key } => (key, 0),
    };
    if key.len() > KEY_BYTES_MAX {
        return Err(Status::invalid_argument(format!(
            "key of {} bytes exceeds the limit of {KEY_BYTES_MAX}",
            key.len()
        )));
    }
    if value > VALUE_BYTES_MAX {
        return Err(Status::invalid_argument(format!(
            "value of {value} bytes exceeds the limit of {VALUE_BYTES_MAX}"
        )));
    }
    Ok(())
}

fn unexpected(reply: KvReply) -> Status {
    Status::internal(format!(
        "unexpected reply from the state machine: {reply:?}"
    ))
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        use pb::get_response::Result as R;
        self.access.check(&request, Right::Read)?;
        let req = request.into_inner();
        let op = KvOp::Get { key: req.key };
        check_sizes(&op)?;
        let outcome = if req.serializable {
            self.node.read_local(op.encode()).await
        } else {
            self.node.read(op.encode()).await
        }
        .map_err(|e| Status::unavailable(e.to_string()))?;
        let result = match self.decode(outcome)? {
            Ok(KvReply::Value(value)) => R::Value(pb::Value { value }),
            Ok(other) => return Err(unexpected(other)),
            Err(refusal) => R::Refusal(refusal),
        };
        Ok(Response::new(pb::GetResponse {
            result: Some(result),
        }))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        use pb::put_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        let op = KvOp::Put {
            key: r.key,
            value: r.value,
        };
        let result = match self.write(r.client_id, r.seq, op).await? {
            Ok(KvReply::Ok) => R::Applied(pb::Applied {}),
            Ok(other) => return Err(unexpected(other)),
            Err(refusal) => R::Refusal(refusal),
        };
        Ok(Response::new(pb::PutResponse {
            result: Some(result),
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        use pb::delete_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        let result = match self
            .write(r.client_id, r.seq, KvOp::Delete { key: r.key })
            .await?
        {
            Ok(KvReply::Ok) => R::Applied(pb::Applied {}),
            Ok(other) => return Err(unexpected(other)),
            Err(refusal) => R::Refusal(refusal),
        };
        Ok(Response::new(pb::DeleteResponse {
            result: Some(result),
        }))
    }

    async fn cas(
        &self,
        request: Request<pb::CasRequest>,
    ) -> Result<Response<pb::CasResponse>, Status> {
        use pb::cas_response::Result as R;
        self.access.check(&request, Right::Write)?;
        let r = request.into_inner();
        let op = KvOp::Cas {
            key: r.key,
            expected: r.expected,
            new: r.new,
        };
        let result = match self.write(r.client_id, r.seq, op).await? {
            Ok(KvReply::CasOk) => R::Applied(pb::Applied {}),
            Ok(KvReply::CasFailed { current }) => R::Failed(pb::CasFailed { current }),
            Ok(other) => return Err(unexpected(other)),
            Err(refusal) => R::Refusal(refusal),
        };
        Ok(Response::new(pb::CasResponse {
            result: Some(result),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.access.check(&request, Right::Read)?;
        let s = self
            .node
            .status()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(self.status_reply(s)))
    }

    async fn reconfigure(
        &self,
        request: Request<pb::ReconfigureRequest>,
    ) -> Result<Response<pb::ReconfigureResponse>, Status> {
        use pb::reconfigure_response::Result as R;
        self.access.check(&request, Right::Admin)?;
        let r = request.into_inner();
        let change = match pb::ReconfigureKind::try_from(r.kind) {
            Ok(pb::ReconfigureKind::AddLearner) => ConfigChange::AddLearner(r.node_id),
            Ok(pb::ReconfigureKind::Promote) => ConfigChange::Promote(r.node_id),
            Ok(pb::ReconfigureKind::Remove) => ConfigChange::Remove(r.node_id),
            _ => return Err(Status::invalid_argument("unknown membership change kind")),
        };
        let outcome = self
            .node
            .reconfigure(change)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let result = match outcome {
            Outcome::Ok(_) => R::Applied(pb::Applied {}),
            other => R::Refusal(self.refusal(&other)),
        };
        Ok(Response::new(pb::ReconfigureResponse {
            result: Some(result),
        }))
    }
}

impl KvService {
    fn status_reply(&self, s: NodeStatus) -> pb::StatusResponse {
        let role = match s.role {
            "follower" => pb::Role::Follower,
            "candidate" => pb::Role::Candidate,
            "preparing" => pb::Role::Preparing,
            "leader" => pb::Role::Leader,
            _ => pb::Role::Unspecified,
        };
        pb::StatusResponse {
            node_id: s.id,
            role: role as i32,
            ballot: Some(pb::Ballot {
                round: s.promised.round,
                node: s.promised.node,
            }),
            leader_id: s.leader,
            leader_addr: s.leader.and_then(|l| self.redirects.address(l)),
            commit_slot: s.commit,
            applied_slot: s.applied,
            config: Some(pb::Config {
                voters: s.config.voters.iter().copied().collect(),
                learners: s.config.learners.iter().copied().collect(),
            }),
            peers: s
                .peer_commits
                .iter()
                .map(|(peer, commit)| pb::PeerStatus {
                    peer_id: *peer,
                    commit_slot: *commit,
                    lag_slots: s.commit.saturating_sub(*commit),
                })
                .collect(),
        }
    }
}

/// A gRPC client socket (plain, or TLS once its handshake is done) with its
/// place at the gate; the place is freed when tonic drops the connection.
pub struct GatedTcp {
    stream: ClientSocket,
    info: ClientInfo,
    _admission: Admission,
}

enum ClientSocket {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

/// The gRPC port's gate: `sockets_max` sockets in all (what the file
/// descriptor budget leaves), `[grpc] connections_per_ip_max` per address.
pub fn gate(cfg: &crate::config::ServerConfig, sockets_max: usize) -> SocketGate {
    SocketGate::new(crate::gate::GateLimits {
        port: "gRPC",
        sockets_max,
        sockets_knob: "[grpc] connections_max",
        per_ip_max: cfg.grpc.connections_per_ip_max,
        per_ip_knob: "[grpc] connections_per_ip_max",
    })
}

/// A TLS handshake that takes longer is abandoned.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The gRPC port's connections: accepted, counted at the gate (a socket
/// beyond its caps is closed before a byte is read), through a TLS
/// handshake when `tls` is given (each in its own task, so a slow one holds
/// up no other), and handed to tonic, until `stop` resolves.
pub fn incoming(
    listener: tokio::net::TcpListener,
    gate: SocketGate,
    tls: Option<crate::tls::ClientTls>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<GatedTcp>> {
    // A small channel: tonic takes each connection at once.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Ok(admission) = gate.admit(peer.ip()) else {
                        continue;
                    };
                    // Nagle on the reply path held a reply's last small
                    // write until the client's delayed ACK (~40 ms): half
                    // of single-client lease reads took 48 ms. Replies are
                    // whole HTTP/2 frames already; send them at once.
                    let _ = stream.set_nodelay(true);
                    let mut info = ClientInfo {
                        remote: Some(peer),
                        certificate_name: None,
                    };
                    let Some(acceptor) = tls.clone() else {
                        let gated = GatedTcp {
                            stream: ClientSocket::Plain(stream),
                            info,
                            _admission: admission,
                        };
                        if tx.send(Ok(gated)).await.is_err() {
                            return;
                        }
                        continue;
                    };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let handshake =
                            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                        let stream = match handshake.await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::info!(client = %peer, "gRPC TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(client = %peer, "gRPC TLS handshake timed out");
                                return;
                            }
                        };
                        info.certificate_name = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first())
                            .and_then(|leaf| common_name(leaf));
                        let gated = GatedTcp {
                            stream: ClientSocket::Tls(Box::new(stream)),
                            info,
                            _admission: admission,
                        };
                        let _ = tx.send(Ok(gated)).await;
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a gRPC client failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

impl tonic::transport::server::Connected for GatedTcp {
    /// In every request's extensions, for `[access]`.
    type ConnectInfo = ClientInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

/// Forwards a call to whichever socket this is.
macro_rules! on_socket {
    ($self:ident, $s:ident => $call:expr) => {
        match &mut $self.stream {
            ClientSocket::Plain($s) => {
                let $s = std::pin::Pin::new($s);
                $call
            }
            ClientSocket::Tls($s) => {
                let $s = std::pin::Pin::new($s.as_mut());
                $call
            }
        }
    };
}

impl tokio::io::AsyncRead for GatedTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for GatedTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        on_socket!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        on_socket!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            ClientSocket::Plain(s) => s.is_write_vectored(),
            ClientSocket::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, s => s.poll_shutdown(cx))
    }
}
