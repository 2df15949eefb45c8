//! The listener and the tasks that read accepted peer connections.
//!
//! Each connection must open with a hello that names our cluster, a node
//! of our peer set, us, and our protocol version; otherwise it is closed
//! with a logged reason and counted. After the hello, every batch's
//! messages go, in order, into the bounded inbound channel. When that
//! channel is full the connection awaits room and stops reading: TCP flow
//! control then holds the sender, whose bounded queue drops its oldest
//! messages. Nothing grows without bound on either side.
//!
//! Any bad input (a length over the limit, an undecodable body, a frame
//! cut short by the end of the stream, a second hello) closes that one
//! connection with a `warn` naming the peer's address and the reason; the
//! listener and the other connections carry on.

use crate::addr::HostPort;
use crate::codec::{
    Frame, FrameDecoder, Hello, HANDSHAKE_FRAME_BYTES_MAX, PROTOCOL_VERSION, READ_CHUNK_BYTES,
};
use crate::error::{ConnError, Refusal};
use crate::parcel::Parcel;
use crate::stats::{Counters, PeerCounters};
use crate::tls::PeerStream;
use crate::transport::{stopped, Shared};
use rustls_pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use synod_paxos::NodeId;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout_at, Instant};

/// Where connections hand received messages to the server: a channel
/// bounded in messages, and a byte budget each message holds a share of
/// until the server takes it.
#[derive(Clone, Debug)]
pub(crate) struct Inbound {
    pub(crate) tx: mpsc::Sender<(NodeId, Parcel, OwnedSemaphorePermit)>,
    pub(crate) bytes: Arc<Semaphore>,
    pub(crate) bytes_max: usize,
}

/// Accepts peer connections until shutdown, then closes them all.
pub(crate) async fn listen(listener: TcpListener, shared: Arc<Shared>, inbound: Inbound) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => on_accept(stream, addr, &shared, &inbound, &mut connections),
                Err(error) => {
                    // Usually out of file descriptors: pause rather than spin.
                    tracing::warn!(%error, "cannot accept a peer connection");
                    tokio::select! {
                        _ = sleep(shared.config.backoff_min) => {}
                        _ = stopped(&mut shutdown) => break,
                    }
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
}

fn on_accept(
    stream: TcpStream,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    inbound: &Inbound,
    connections: &mut JoinSet<()>,
) {
    let stats = &shared.stats;
    if connections.len() >= shared.config.connections_inbound_max {
        Counters::add(&stats.connections_refused_limit, 1);
        tracing::warn!(
            peer = %addr,
            limit = shared.config.connections_inbound_max,
            "closing peer connection: too many inbound connections"
        );
        return;
    }
    Counters::add(&stats.connections_accepted, 1);
    let _ = stream.set_nodelay(true);
    connections.spawn(accept(stream, addr, shared.clone(), inbound.clone()));
}

/// Completes the TLS handshake, if peers use TLS, then serves the
/// connection. The TLS handshake and the hello share one deadline.
async fn accept(stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>, inbound: Inbound) {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let mut shutdown = shared.shutdown.subscribe();
    let (stream, peer_certs): (PeerStream, _) = match &shared.config.tls {
        None => (Box::new(stream), None),
        Some(tls) => {
            let handshake = timeout_at(deadline, tls.acceptor().accept(stream));
            let result = tokio::select! {
                _ = stopped(&mut shutdown) => return,
                result = handshake => result,
            };
            match result {
                Ok(Ok(stream)) => {
                    let certs = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
                    (Box::new(stream), Some(certs.unwrap_or_default()))
                }
                Ok(Err(error)) => {
                    return refused(&shared, addr, &ConnError::Tls(error));
                }
                Err(_) => return refused(&shared, addr, &Refusal::Timeout.into()),
            }
        }
    };
    let connection = Connection {
        reader: FrameReader::new(stream, &shared),
        addr,
        deadline,
        peer_certs,
        shared,
        inbound,
        shutdown,
    };
    connection.run().await
}

fn refused(shared: &Shared, addr: SocketAddr, reason: &ConnError) {
    Counters::add(&shared.stats.handshakes_refused, 1);
    tracing::warn!(peer = %addr, %reason, "closing peer connection");
}

/// Checks a hello against our identity and current peer set. The protocol
/// version is checked first: under another version the other fields may
/// mean something else.
pub(crate) fn check_hello(
    hello: &Hello,
    cluster_id: u64,
    me: NodeId,
    peers: &BTreeMap<NodeId, HostPort>,
) -> Result<(), Refusal> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(Refusal::WrongProtocol {
            got: hello.protocol_version,
        });
    }
    if hello.cluster_id != cluster_id {
        return Err(Refusal::WrongCluster {
            got: hello.cluster_id,
            ours: cluster_id,
        });
    }
    if hello.to != me {
        return Err(Refusal::WrongAddressee { to: hello.to, me });
    }
    if !peers.contains_key(&hello.from) {
        return Err(Refusal::UnknownNode(hello.from));
    }
    Ok(())
}

/// Reads whole frames off a socket, within the frame limit.
struct FrameReader {
    stream: PeerStream,
    decoder: FrameDecoder,
    chunk: Vec<u8>,
    shared: Arc<Shared>,
    /// Bytes read on this connection so far.
    read_bytes: u64,
    /// The counters of the peer its hello proved it to be, once it did.
    peer: Option<Arc<PeerCounters>>,
}

impl FrameReader {
    fn new(stream: PeerStream, shared: &Arc<Shared>) -> Self {
        FrameReader {
            stream,
            // Until the hello is accepted, only a hello-sized frame is: a
            // stranger cannot make us buffer a large one.
            decoder: FrameDecoder::new(HANDSHAKE_FRAME_BYTES_MAX),
            chunk: vec![0; READ_CHUNK_BYTES],
            shared: shared.clone(),
            read_bytes: 0,
            peer: None,
        }
    }

    /// From now on this connection's bytes count as `peer`'s, and so do
    /// those read before (its hello, and anything that came with it).
    fn count_as(&mut self, peer: Arc<PeerCounters>) {
        Counters::add(&peer.received, self.read_bytes);
        self.peer = Some(peer);
    }

    /// The next frame; `Ok(None)` at a clean end of stream. Cancel-safe:
    /// bytes are only taken from the socket by the final `read`, and are
    /// buffered before the next await.
    async fn next_frame(&mut self) -> Result<Option<Frame>, ConnError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                Counters::add(&self.shared.stats.frames_received, 1);
                return Ok(Some(frame));
            }
            let n = self.stream.read(&mut self.chunk).await?;
            if n == 0 {
                return match self.decoder.buffered_bytes() {
                    0 => Ok(None),
                    left => Err(ConnError::Truncated(left)),
                };
            }
            Counters::add(&self.shared.stats.bytes_received, n as u64);
            self.read_bytes += n as u64;
            if let Some(peer) = &self.peer {
                Counters::add(&peer.received, n as u64);
            }
            self.decoder.extend(&self.chunk[..n]);
        }
    }
}

struct Connection {
    reader: FrameReader,
    addr: SocketAddr,
    /// When the hello must have arrived.
    deadline: Instant,
    /// The certificate chain the peer's TLS handshake presented; `None`
    /// without TLS.
    peer_certs: Option<Vec<CertificateDer<'static>>>,
    shared: Arc<Shared>,
    inbound: Inbound,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self) {
        let mut from = None;
        let result = self.serve(&mut from).await;
        let stats = &self.shared.stats;
        let peer = self.addr;
        match result {
            Ok(()) => tracing::debug!(%peer, node = ?from, "peer connection closed"),
            Err(ConnError::Io(error)) => {
                tracing::info!(%peer, node = ?from, %error, "peer connection failed")
            }
            Err(reason) => {
                match reason {
                    ConnError::Refused(_) | ConnError::Tls(_) => {
                        Counters::add(&stats.handshakes_refused, 1)
                    }
                    ConnError::Codec(_) | ConnError::Truncated(_) | ConnError::UnexpectedHello => {
                        Counters::add(&stats.connections_closed_bad_frame, 1)
                    }
                    _ => {}
                }
                tracing::warn!(%peer, node = ?from, %reason, "closing peer connection");
            }
        }
    }

    async fn serve(&mut self, from: &mut Option<NodeId>) -> Result<(), ConnError> {
        let Some(hello) = self.on_connect().await? else {
            return Ok(());
        };
        *from = Some(hello.from);
        let mut peers = self.shared.peer_set.subscribe();
        check_hello(
            &hello,
            self.shared.config.cluster_id,
            self.shared.config.me,
            &peers.borrow_and_update(),
        )?;
        if let Some(tls) = &self.shared.config.tls {
            tls.check_peer(self.peer_certs.as_deref(), hello.from)?;
        }
        // After the certificate: only a proven member's incarnation is
        // remembered.
        if let Some(memory) = &self.shared.config.peer_memory {
            memory
                .check(hello.from, hello.incarnation)
                .map_err(|reason| Refusal::Incarnation {
                    node: hello.from,
                    reason,
                })?;
        }
        self.reader.count_as(self.shared.peer_bytes.of(hello.from));
        self.reader
            .decoder
            .set_frame_bytes_max(self.shared.config.frame_bytes_max);
        loop {
            tokio::select! {
                _ = stopped(&mut self.shutdown) => return Ok(()),
                changed = peers.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if !peers.borrow_and_update().contains_key(&hello.from) {
                        return Err(ConnError::PeerRemoved(hello.from));
                    }
                }
                frame = self.reader.next_frame() => match frame? {
                    None => return Ok(()),
                    Some(Frame::Hello(_)) => return Err(ConnError::UnexpectedHello),
                    Some(Frame::Messages(batch)) => {
                        if !self.on_batch(hello.from, batch.0).await {
                            return Ok(());
                        }
                    }
                },
            }
        }
    }

    /// Waits for the hello; `Ok(None)` if the stream ends first or we shut
    /// down.
    async fn on_connect(&mut self) -> Result<Option<Hello>, ConnError> {
        let first = tokio::select! {
            _ = stopped(&mut self.shutdown) => return Ok(None),
            first = timeout_at(self.deadline, self.reader.next_frame()) => first,
        };
        match first {
            Err(_) => Err(Refusal::Timeout.into()),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(Frame::Hello(hello)))) => Ok(Some(hello)),
            Ok(Ok(Some(Frame::Messages(_)))) => Err(Refusal::NotHello.into()),
            Ok(Err(error)) => Err(error),
        }
    }

    /// Hands a batch to the server, in order, awaiting room in the inbound
    /// channel. Returns false when the server is gone or shutting down.
    async fn on_batch(&mut self, from: NodeId, messages: Vec<Parcel>) -> bool {
        for message in messages {
            // Its share of the byte budget first (a message larger than the
            // whole budget takes all of it): until the server takes
            // messages, this connection stops reading, and TCP pushes back.
            let share = message.encoded_bytes_max().clamp(1, self.inbound.bytes_max);
            let share = u32::try_from(share).unwrap_or(u32::MAX);
            let permit = tokio::select! {
                biased;
                _ = stopped(&mut self.shutdown) => return false,
                permit = self.inbound.bytes.clone().acquire_many_owned(share) => match permit {
                    Ok(p) => p,
                    Err(_) => return false,
                },
            };
            tokio::select! {
                biased;
                _ = stopped(&mut self.shutdown) => return false,
                sent = self.inbound.tx.send((from, message, permit)) => {
                    if sent.is_err() {
                        return false;
                    }
                }
            }
            Counters::add(&self.shared.stats.messages_received, 1);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> BTreeMap<NodeId, HostPort> {
        [(2, "127.0.0.1:1".parse().unwrap())].into_iter().collect()
    }

    fn hello() -> Hello {
        Hello {
            cluster_id: 7,
            from: 2,
            to: 1,
            protocol_version: PROTOCOL_VERSION,
            incarnation: 9,
        }
    }

    #[test]
    fn a_hello_from_a_known_peer_of_our_cluster_to_us_is_accepted() {
        assert_eq!(check_hello(&hello(), 7, 1, &peers()), Ok(()));
    }

    #[test]
    fn a_hello_is_refused_for_each_wrong_field() {
        let h = Hello {
            cluster_id: 8,
            ..hello()
        };
        assert_eq!(
            check_hello(&h, 7, 1, &peers()),
            Err(Refusal::WrongCluster { got: 8, ours: 7 })
        );
        let h = Hello { from: 3, ..hello() };
        assert_eq!(
            check_hello(&h, 7, 1, &peers()),
            Err(Refusal::UnknownNode(3))
        );
        let h = Hello { to: 4, ..hello() };
        assert_eq!(
            check_hello(&h, 7, 1, &peers()),
            Err(Refusal::WrongAddressee { to: 4, me: 1 })
        );
        let h = Hello {
            protocol_version: PROTOCOL_VERSION + 1,
            ..hello()
        };
        assert_eq!(
            check_hello(&h, 7, 1, &peers()),
            Err(Refusal::WrongProtocol {
                got: PROTOCOL_VERSION + 1
            })
        );
    }
}
