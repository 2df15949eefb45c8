//! One ZooKeeper session over one TCP connection, with requests pipelined.
//!
//! ZooKeeper answers a connection's requests in the order they were sent,
//! so a reply is matched to the oldest unanswered request; its xid is
//! checked against that request's. Watch events (xid -1) go to the
//! session's event channel and ping replies (xid -2) are dropped. A
//! connection that breaks, or answers out of order, fails every request
//! it still owes and is never used again: the caller opens a new one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synod_zkproto as wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The session timeout we ask for; servers clamp it to their range.
const SESSION_TIMEOUT_MS: i32 = 30_000;
/// Requests queued for the writer task at most; callers wait beyond it.
const SEND_QUEUE_MAX: usize = 4096;
/// Watch events buffered for a session's owner at most; more are dropped
/// (the bench's watchers re-arm after each event, so few are ever queued).
const EVENT_QUEUE_MAX: usize = 1024;
/// Bytes read from the socket at once.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A reply: its header (err, zxid) and decoded body.
pub type Reply = (wire::ReplyHeader, wire::Response);

struct Pending {
    xid: i32,
    kind: wire::ReplyKind,
    reply: oneshot::Sender<Reply>,
}

struct Outgoing {
    request: wire::Request,
    reply: oneshot::Sender<Reply>,
}

/// A live session. Dropping it stops its tasks and closes the socket.
pub struct ZkConn {
    pub endpoint: String,
    pub session_id: i64,
    /// The session timeout the server granted, in milliseconds.
    pub session_timeout_ms: i32,
    send: mpsc::Sender<Outgoing>,
    broken: Broken,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ZkConn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ZkConn {
    /// Connects and completes the handshake within `timeout`. Returns the
    /// session and the receiver of its watch events.
    pub async fn connect(
        endpoint: &str,
        timeout: Duration,
    ) -> Result<(ZkConn, mpsc::Receiver<wire::WatcherEvent>), String> {
        Self::connect_with(endpoint, timeout, SESSION_TIMEOUT_MS).await
    }

    /// As [`ZkConn::connect`], asking for a session timeout of
    /// `session_timeout_ms` (the server clamps it to its range).
    pub async fn connect_with(
        endpoint: &str,
        timeout: Duration,
        session_timeout_ms: i32,
    ) -> Result<(ZkConn, mpsc::Receiver<wire::WatcherEvent>), String> {
        tokio::time::timeout(timeout, Self::handshake(endpoint, session_timeout_ms))
            .await
            .map_err(|_| format!("{endpoint}: no handshake within {} ms", timeout.as_millis()))?
    }

    async fn handshake(
        endpoint: &str,
        session_timeout_ms: i32,
    ) -> Result<(ZkConn, mpsc::Receiver<wire::WatcherEvent>), String> {
        let mut stream = TcpStream::connect(endpoint)
            .await
            .map_err(|e| format!("{endpoint}: connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let request = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: session_timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        stream
            .write_all(&wire::encode_connect_request(&request))
            .await
            .map_err(|e| format!("{endpoint}: handshake write: {e}"))?;
        let mut frames = wire::FrameDecoder::default();
        let body = read_frame(&mut stream, &mut frames)
            .await
            .map_err(|e| format!("{endpoint}: handshake: {e}"))?;
        let response = wire::decode_connect_response(&body)
            .map_err(|e| format!("{endpoint}: bad ConnectResponse: {e}"))?;
        // A server that is not serving (no quorum) answers with session 0
        // or a zero timeout, or just closes the socket.
        if response.session_id == 0 || response.timeout_ms <= 0 {
            return Err(format!("{endpoint}: session refused (server not serving)"));
        }
        let (send, outgoing) = mpsc::channel(SEND_QUEUE_MAX);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE_MAX);
        let pending = Arc::new(Mutex::new(VecDeque::new()));
        let broken = Broken::default();
        let (read_half, write_half) = stream.into_split();
        let reader = tokio::spawn(read_loop(
            read_half,
            frames,
            pending.clone(),
            events_tx,
            broken.clone(),
        ));
        let writer = tokio::spawn(write_loop(write_half, outgoing, pending, broken.clone()));
        let ping_every = Duration::from_millis((response.timeout_ms as u64 / 3).max(100));
        let pinger = tokio::spawn(ping_loop(send.clone(), ping_every));
        Ok((
            ZkConn {
                endpoint: endpoint.to_string(),
                session_id: response.session_id,
                session_timeout_ms: response.timeout_ms,
                send,
                broken,
                tasks: vec![reader, writer, pinger],
            },
            events,
        ))
    }

    /// Whether the connection failed; a broken one answers nothing more.
    pub fn is_broken(&self) -> bool {
        self.broken.reason().is_some()
    }

    /// Sends `request` and waits for its reply (any err code: the caller
    /// judges it). Errs when the connection breaks before the reply.
    pub async fn call(&self, request: wire::Request) -> Result<Reply, String> {
        let (reply, answer) = oneshot::channel();
        self.send
            .send(Outgoing { request, reply })
            .await
            .map_err(|_| format!("{}: connection closed", self.endpoint))?;
        answer.await.map_err(|_| {
            let reason = self.broken.reason();
            format!(
                "{}: connection lost ({})",
                self.endpoint,
                reason.as_deref().unwrap_or("closed")
            )
        })
    }

    /// Ends the session politely (ephemeral nodes go at once).
    pub async fn close(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.call(wire::Request::CloseSession)).await;
    }
}

async fn read_frame(
    stream: &mut TcpStream,
    frames: &mut wire::FrameDecoder,
) -> Result<Vec<u8>, String> {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        if let Some(body) = frames.pop().map_err(|e| e.to_string())? {
            return Ok(body);
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed by the server".into());
        }
        frames.push(&chunk[..n]);
    }
}

/// Takes every queued request, assigns xids in send order, registers each
/// as pending before writing it (so its reply always finds it), and writes
/// the batch with one syscall.
async fn write_loop(
    mut socket: tokio::net::tcp::OwnedWriteHalf,
    mut outgoing: mpsc::Receiver<Outgoing>,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    broken: Broken,
) {
    let mut xid_next: i32 = 1;
    let mut batch: Vec<u8> = Vec::new();
    while let Some(first) = outgoing.recv().await {
        batch.clear();
        let mut next = Some(first);
        while let Some(out) = next {
            let xid = match out.request {
                wire::Request::Ping => wire::xid::PING,
                _ => {
                    let xid = xid_next;
                    xid_next = xid_next.checked_add(1).unwrap_or(1);
                    xid
                }
            };
            batch.extend_from_slice(&wire::encode_request(xid, &out.request));
            if xid != wire::xid::PING {
                pending.lock().expect("pending lock").push_back(Pending {
                    xid,
                    kind: out.request.reply_kind(),
                    reply: out.reply,
                });
            }
            next = outgoing.try_recv().ok();
        }
        if let Err(e) = socket.write_all(&batch).await {
            broken.set(format!("write failed: {e}"));
            break;
        }
    }
    broken.set("writer stopped".into());
    pending.lock().expect("pending lock").clear();
}

async fn read_loop(
    mut socket: tokio::net::tcp::OwnedReadHalf,
    mut frames: wire::FrameDecoder,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    events: mpsc::Sender<wire::WatcherEvent>,
    broken: Broken,
) {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let reason = 'read: loop {
        loop {
            let body = match frames.pop() {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(e) => break 'read format!("bad frame from the server: {e}"),
            };
            if let Err(e) = dispatch(&body, &pending, &events) {
                break 'read e;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) => break "closed by the server".to_string(),
            Err(e) => break format!("read failed: {e}"),
            Ok(n) => frames.push(&chunk[..n]),
        }
    };
    broken.set(reason);
    // Dropping the senders fails every caller still waiting.
    pending.lock().expect("pending lock").clear();
}

/// Routes one reply frame. An error means the stream cannot be trusted.
fn dispatch(
    body: &[u8],
    pending: &Mutex<VecDeque<Pending>>,
    events: &mpsc::Sender<wire::WatcherEvent>,
) -> Result<(), String> {
    let mut r = wire::Reader::new(body);
    let header: wire::ReplyHeader = r
        .read_record()
        .map_err(|e| format!("bad reply header: {e}"))?;
    match header.xid {
        wire::xid::WATCH_EVENT => {
            let event: wire::WatcherEvent = r
                .read_record()
                .map_err(|e| format!("bad watch event: {e}"))?;
            let _ = events.try_send(event);
            return Ok(());
        }
        wire::xid::PING => return Ok(()),
        _ => {}
    }
    let Some(waiting) = pending.lock().expect("pending lock").pop_front() else {
        return Err(format!("reply xid {} to no request", header.xid));
    };
    if waiting.xid != header.xid {
        return Err(format!(
            "reply out of order: xid {} while xid {} was the oldest unanswered",
            header.xid, waiting.xid
        ));
    }
    let response = if header.err == wire::err::OK {
        wire::read_reply_body(&mut r, waiting.kind)
            .map_err(|e| format!("bad reply body for xid {}: {e}", header.xid))?
    } else {
        wire::Response::Empty
    };
    let _ = waiting.reply.send((header, response));
    Ok(())
}

async fn ping_loop(send: mpsc::Sender<Outgoing>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (reply, _ignored) = oneshot::channel();
        let ping = Outgoing {
            request: wire::Request::Ping,
            reply,
        };
        if send.send(ping).await.is_err() {
            return;
        }
    }
}

/// Why a connection stopped, set once by whichever task noticed first.
#[derive(Clone, Default)]
struct Broken(Arc<Mutex<Option<String>>>);

impl Broken {
    fn set(&self, reason: String) {
        let mut slot = self.0.lock().expect("broken lock");
        if slot.is_none() {
            *slot = Some(reason);
        }
    }

    fn reason(&self) -> Option<String> {
        self.0.lock().expect("broken lock").clone()
    }
}
