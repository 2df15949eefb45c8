//! One ZooKeeper client connection's I/O: framing, the handshake, and
//! moving requests to the engine task and replies back. It decides nothing
//! about the protocol's meaning (that is `front`), and a malformed frame
//! ends only this connection, with the reason logged.
//!
//! It also counts and times each request for `/metrics`: from its frame
//! decoded here to its reply written to the socket. The front door answers
//! a connection's requests in their order, one reply each, so the replies
//! written match the requests read first in, first out.

use crate::gate::{GateLimits, SocketGate};
use crate::metrics::Metrics;
use crate::runtime::{NodeHandle, ZkRequest};
use prometheus::{Histogram, IntCounter};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_front::Outgoing;
use synod_zkproto as wire;
use synod_zkproto::FourLetterWord;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn};

/// Bytes of replies and events queued for a connection that does not read
/// them; beyond this the connection is closed.
pub const OUT_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The sending half the engine task holds for one connection.
#[derive(Clone)]
pub struct ConnOut {
    pub tx: mpsc::UnboundedSender<Outgoing>,
    /// Bytes queued and not yet written to the socket.
    pub queued_bytes: Arc<AtomicUsize>,
}

impl ConnOut {
    /// Queues a frame; false when the connection is gone or its client
    /// stopped reading (then it must be closed).
    pub fn send(&self, item: Outgoing) -> bool {
        let len = match &item {
            Outgoing::Reply(b) | Outgoing::Frame(b) => b.len(),
            Outgoing::Close(_) => 0,
        };
        if self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > OUT_BYTES_MAX {
            return false;
        }
        self.tx.send(item).is_ok()
    }
}

/// Requests a connection may have unanswered; reading pauses beyond it
/// (ZooKeeper's globalOutstandingLimit, per connection).
const IN_FLIGHT_MAX: usize = 1000;
/// A connection's requests not yet answered, shared by its reading half
/// (which pauses at `IN_FLIGHT_MAX`) and its writing half (which wakes it).
#[derive(Clone, Default)]
struct Flow {
    in_flight: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

/// A client must complete its handshake within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts and times one connection's requests. `waiting` holds the
/// requests awaiting their replies (which opcode, when the frame was
/// decoded): at most what the connection has in flight, which is below
/// `IN_FLIGHT_MAX` plus the frames of one read.
#[derive(Clone)]
struct RequestMeter {
    state: Arc<Mutex<MeterState>>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct MeterState {
    waiting: VecDeque<Waiting>,
    /// The counter and histogram of each opcode this connection used,
    /// looked up once: a label lookup takes a lock and a hash, and at one
    /// request in flight a read costs only tens of microseconds.
    ops: Vec<(&'static str, IntCounter, Histogram)>,
}

/// A request decoded and not yet answered: its opcode's index into
/// `MeterState::ops`, and when it was decoded.
type Waiting = (usize, Instant);

impl RequestMeter {
    fn new(metrics: Arc<Metrics>) -> Self {
        RequestMeter {
            state: Arc::default(),
            metrics,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MeterState> {
        // Each critical section is a push, a pop or a few observations: a
        // panic elsewhere cannot leave it half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request was decoded (before it goes to the node, so its reply
    /// cannot come first).
    fn on_request(&self, op: i32) {
        let name = wire::op::name(op);
        let mut state = self.state();
        let index = match state.ops.iter().position(|(n, _, _)| *n == name) {
            Some(i) => i,
            None => {
                let m = &self.metrics;
                state.ops.push((
                    name,
                    m.zk_requests.with_label_values(&[name]),
                    m.zk_request_duration.with_label_values(&[name]),
                ));
                state.ops.len() - 1
            }
        };
        state.ops[index].1.inc();
        state.waiting.push_back((index, Instant::now()));
    }

    /// The next reply is being written: the request it answers.
    fn on_reply(&self) -> Option<Waiting> {
        self.state().waiting.pop_front()
    }

    /// The replies of `answered` reached the socket.
    fn on_flushed(&self, answered: &mut Vec<Waiting>) {
        if answered.is_empty() {
            return;
        }
        let state = self.state();
        for (index, decoded) in answered.drain(..) {
            state.ops[index].2.observe(decoded.elapsed().as_secs_f64());
        }
    }
}

/// What the accept loop admits: every open client socket counts, from
/// accept to close, the handshake included, so a flood of idle sockets
/// cannot take the process's file descriptors (and with them the disk's).
#[derive(Clone, Debug)]
pub struct AcceptLimits {
    /// Open client sockets at most (`[zk] connections_max`).
    pub sockets_max: usize,
    /// Open sockets from one IP address at most (`[zk] max_client_cnxns`,
    /// ZooKeeper's maxClientCnxns); 0: no limit.
    pub per_ip_max: usize,
    pub max_buffer: usize,
    /// The four-letter words answered (`[zk] four_letter_words`).
    pub four_letter_words: Arc<[FourLetterWord]>,
}

/// The ZooKeeper ports of a node: plaintext, TLS, or both.
pub struct ZkListeners {
    pub plain: Option<TcpListener>,
    /// ZooKeeper's `secureClientPort`: TLS from the first byte.
    pub secure: Option<(TcpListener, crate::tls::ClientTls)>,
}

async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Accepts ZooKeeper clients on both ports until `stop` resolves. A socket
/// beyond `limits` (both ports count together) is closed at once, before
/// anything is read from it.
pub async fn accept_loop(
    listeners: ZkListeners,
    node: NodeHandle,
    limits: AcceptLimits,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let gate = SocketGate::new(GateLimits {
        port: "ZooKeeper",
        sockets_max: limits.sockets_max,
        sockets_knob: "[zk] connections_max",
        per_ip_max: limits.per_ip_max,
        per_ip_knob: "[zk] max_client_cnxns",
    });
    let (secure, acceptor) = match listeners.secure {
        Some((listener, acceptor)) => (Some(listener), Some(acceptor)),
        None => (None, None),
    };
    loop {
        let (accepted, tls) = tokio::select! {
            _ = &mut stop => return,
            accepted = accept_on(listeners.plain.as_ref()) => (accepted, None),
            accepted = accept_on(secure.as_ref()) => (accepted, acceptor.clone()),
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(admission) = gate.admit(peer.ip()) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let node = node.clone();
                let limits = limits.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _admission = admission;
                    let served = match tls {
                        None => serve(stream, peer, node, &limits, metrics).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => serve(stream, peer, node, &limits, metrics).await,
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Err(_) => Err("no TLS handshake within 10 s".to_string()),
                            }
                        }
                    };
                    if let Err(reason) = served {
                        info!(client = %peer, "ZooKeeper connection closed: {reason}");
                    }
                });
            }
            Err(e) => {
                warn!("accepting a ZooKeeper client failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A client socket split into its reading and writing halves: a TCP
/// stream without a lock between them, a TLS stream with one.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    type Reader: AsyncRead + Unpin + Send + 'static;
    type Writer: AsyncWrite + Unpin + Send + 'static;
    fn into_halves(self) -> (Self::Reader, Self::Writer);
    /// The subject (RFC 2253) of the client's verified certificate, if any.
    fn x509_subject(&self) -> Option<String> {
        None
    }
}

impl ClientStream for TcpStream {
    type Reader = tokio::net::tcp::OwnedReadHalf;
    type Writer = tokio::net::tcp::OwnedWriteHalf;
    fn into_halves(self) -> (Self::Reader, Self::Writer) {
        self.into_split()
    }
}

impl ClientStream for tokio_rustls::server::TlsStream<TcpStream> {
    type Reader = tokio::io::ReadHalf<Self>;
    type Writer = tokio::io::WriteHalf<Self>;
    fn into_halves(self) -> (Self::Reader, Self::Writer) {
        tokio::io::split(self)
    }
    fn x509_subject(&self) -> Option<String> {
        // The handshake verified the chain (client_auth need or want).
        let cert = self.get_ref().1.peer_certificates()?.first()?;
        crate::access::x509_subject(cert.as_ref())
    }
}

async fn serve<S: ClientStream>(
    mut stream: S,
    peer: SocketAddr,
    node: NodeHandle,
    limits: &AcceptLimits,
    metrics: Arc<Metrics>,
) -> Result<(), String> {
    let max_buffer = limits.max_buffer;
    let mut head = [0u8; 4];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut head))
        .await
        .map_err(|_| "no handshake within 10 s".to_string())?
        .map_err(|e| format!("closed before the handshake: {e}"))?;
    if let Some(word) = wire::four_letter_word(head) {
        if !limits.four_letter_words.contains(&word) {
            // ZooKeeper 3.8's answer, word for word.
            let name = String::from_utf8_lossy(word.as_bytes()).into_owned();
            let text = format!("{name} is not executed because it is not in the whitelist.\n");
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        node.zk(ZkRequest::FourLetter { word, reply: tx })
            .await
            .map_err(|e| e.to_string())?;
        let text = rx.await.map_err(|_| "the node stopped".to_string())?;
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
        return Ok(());
    }
    let len = i32::from_be_bytes(head);
    if len <= 0 || len as usize > max_buffer {
        return Err(format!(
            "the first frame claims {len} bytes, not a ConnectRequest (limit {max_buffer})"
        ));
    }
    let mut body = vec![0u8; len as usize];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut body))
        .await
        .map_err(|_| "no handshake within 10 s".to_string())?
        .map_err(|e| format!("closed during the handshake: {e}"))?;
    let connect = wire::decode_connect_request(&body)
        .map_err(|e| format!("malformed ConnectRequest: {e}"))?;

    let (tx, rx) = mpsc::unbounded_channel();
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let out = ConnOut {
        tx,
        queued_bytes: queued_bytes.clone(),
    };
    let (reply_tx, reply_rx) = oneshot::channel();
    node.zk(ZkRequest::Open {
        connect,
        peer,
        x509: stream.x509_subject(),
        out,
        reply: reply_tx,
    })
    .await
    .map_err(|e| e.to_string())?;
    let conn = reply_rx
        .await
        .map_err(|_| "the node stopped".to_string())?
        .map_err(|reason| format!("refused: {reason}"))?;

    let (reader, writer) = stream.into_halves();
    let flow = Flow::default();
    let meter = RequestMeter::new(metrics);
    let writing = tokio::spawn(write_loop(
        writer,
        rx,
        queued_bytes,
        flow.clone(),
        meter.clone(),
    ));
    let mut writing = writing;
    // Whichever half ends first ends the connection: the client hung up or
    // sent garbage, or the server closed it (expiry, a slow reader).
    let result = tokio::select! {
        r = read_loop(reader, conn, peer, &node, max_buffer, flow, &meter) => r,
        w = &mut writing => w.unwrap_or_else(|e| Err(e.to_string())),
    };
    let _ = node.zk(ZkRequest::Closed { conn }).await;
    writing.abort();
    result
}

async fn read_loop(
    mut reader: impl AsyncRead + Unpin,
    conn: u64,
    peer: SocketAddr,
    node: &NodeHandle,
    max_buffer: usize,
    flow: Flow,
    meter: &RequestMeter,
) -> Result<(), String> {
    let mut frames = wire::FrameDecoder::new(max_buffer);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while flow.in_flight.load(Ordering::Acquire) >= IN_FLIGHT_MAX {
            flow.drained.notified().await;
        }
        let n = match reader.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => return Err(format!("read failed: {e}")),
        };
        frames.push(&buf[..n]);
        loop {
            let body = match frames.pop() {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(e) => {
                    warn!(conn, client = %peer, "closing a ZooKeeper connection: {e}");
                    return Err(format!("bad frame: {e}"));
                }
            };
            // SASL and reconfig are answered Unimplemented and the
            // connection goes on; anything else malformed ends it.
            let (header, request) = match synod_front::decode_packet(&body) {
                Ok(decoded) => decoded,
                Err(e) => {
                    warn!(conn, client = %peer, "closing a ZooKeeper connection: {e}");
                    return Err(format!("malformed request: {e}"));
                }
            };
            flow.in_flight.fetch_add(1, Ordering::AcqRel);
            meter.on_request(header.op);
            node.zk(ZkRequest::Packet {
                conn,
                xid: header.xid,
                op: header.op,
                request,
            })
            .await
            .map_err(|e| e.to_string())?;
        }
    }
}

async fn write_loop(
    writer: impl AsyncWrite + Unpin,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    flow: Flow,
    meter: RequestMeter,
) -> Result<(), String> {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    // The requests whose replies this round writes; timed once flushed.
    let mut answered = Vec::new();
    while let Some(item) = rx.recv().await {
        let mut next = Some(item);
        // Coalesce everything already queued into one socket write.
        while let Some(item) = next.take() {
            match item {
                Outgoing::Reply(bytes) => {
                    queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
                    writer.write_all(&bytes).await.map_err(|e| e.to_string())?;
                    answered.extend(meter.on_reply());
                    if flow.in_flight.fetch_sub(1, Ordering::AcqRel) <= IN_FLIGHT_MAX {
                        flow.drained.notify_one();
                    }
                }
                Outgoing::Frame(bytes) => {
                    queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
                    writer.write_all(&bytes).await.map_err(|e| e.to_string())?;
                }
                Outgoing::Close(reason) => {
                    let _ = writer.flush().await;
                    let _ = writer.shutdown().await;
                    debug!("closing a ZooKeeper connection: {reason}");
                    return Err(reason);
                }
            }
            next = rx.try_recv().ok();
        }
        writer.flush().await.map_err(|e| e.to_string())?;
        meter.on_flushed(&mut answered);
    }
    Ok(())
}
