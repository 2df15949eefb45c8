//! One task per peer that dials it, says hello, then writes batches of
//! queued messages; on any error it redials after a backoff.
//!
//! Connections are one-way: we only write on the connections we dial and
//! only read on the ones we accept. The dialer still watches its socket for
//! reading, so a peer that closes (restart, refusal) is noticed at once,
//! not at the next write.

use crate::addr::HostPort;
use crate::backoff::Backoff;
use crate::codec::{
    batch_frame_len, encode_frame, parcel_body_bytes, Batch, Frame, Hello, PROTOCOL_VERSION,
};
use crate::error::ConnError;
use crate::parcel::Parcel;
use crate::queue::PeerQueue;
use crate::stats::{Counters, PeerCounters};
use crate::tls::{PeerStream, PeerTls};
use crate::transport::{stopped, Shared};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use synod_paxos::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};

/// The peer's outbound link, as its task sees it.
pub(crate) struct Outbound {
    pub(crate) peer: NodeId,
    /// This peer's byte counters.
    pub(crate) bytes: Arc<PeerCounters>,
    pub(crate) queue: Arc<PeerQueue>,
    /// The peer's address; `None` (or the sender dropped) ends the task.
    pub(crate) addr: watch::Receiver<Option<HostPort>>,
    pub(crate) shared: Arc<Shared>,
}

/// How one connection ended.
enum Ended {
    /// Shutdown, or the peer was removed: the task ends.
    Stop,
    /// The peer's address changed: dial the new one at once.
    Redial,
    /// The connection failed; `up_for` is `None` if it never opened.
    Failed {
        error: ConnError,
        up_for: Option<Duration>,
    },
}

/// A message taken from the queue that did not fit in the last batch; it
/// opens the next one. Kept with its encoded size.
type Carry = Option<(Parcel, u64)>;

impl Outbound {
    pub(crate) async fn run(mut self) {
        let config = &self.shared.config;
        let seed = config.cluster_id ^ config.me.rotate_left(21) ^ self.peer.rotate_left(42);
        let mut backoff = Backoff::new(config.backoff_min, config.backoff_max, seed);
        let mut shutdown = self.shared.shutdown.subscribe();
        let mut carry: Carry = None;
        let mut attempts = 0u64;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let Some(addr) = self.addr.borrow_and_update().clone() else {
                return;
            };
            if attempts > 0 {
                Counters::add(&self.shared.stats.reconnects, 1);
            }
            attempts += 1;
            match self
                .connect_and_serve(&addr, &mut shutdown, &mut carry)
                .await
            {
                Ended::Stop => return,
                Ended::Redial => backoff.reset(),
                Ended::Failed { error, up_for } => {
                    self.on_failed(&addr, &error, up_for, &mut backoff);
                    let delay = backoff.next_delay();
                    tokio::select! {
                        _ = sleep(delay) => {}
                        _ = stopped(&mut shutdown) => return,
                        changed = self.addr.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }

    fn on_failed(
        &self,
        addr: &HostPort,
        error: &ConnError,
        up_for: Option<Duration>,
        backoff: &mut Backoff,
    ) {
        let peer = self.peer;
        match up_for {
            None => {
                Counters::add(&self.shared.stats.connect_failures, 1);
                tracing::debug!(peer, %addr, %error, "cannot connect to peer");
            }
            Some(up_for) => {
                tracing::info!(peer, %addr, %error, ?up_for, "lost connection to peer");
                // Only a connection that stayed up earns a quick redial;
                // one that is closed at once (a refused hello) keeps
                // backing off instead of hammering the acceptor.
                if up_for >= self.shared.config.backoff_max {
                    backoff.reset();
                }
            }
        }
    }

    async fn connect_and_serve(
        &mut self,
        addr: &HostPort,
        shutdown: &mut watch::Receiver<bool>,
        carry: &mut Carry,
    ) -> Ended {
        let connect = timeout(self.shared.config.connect_timeout, dial(addr));
        let stream = tokio::select! {
            _ = stopped(shutdown) => return Ended::Stop,
            changed = self.addr.changed() => return redial_or_stop(changed),
            connected = connect => match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Ended::Failed { error, up_for: None },
                Err(_) => return Ended::Failed { error: ConnError::ConnectTimeout, up_for: None },
            },
        };
        // We batch ourselves; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        // A peer whose host vanished (no reset, no acknowledgement) ends
        // the connection after this long instead of the kernel's quarter
        // of an hour of retransmissions, so the next dial resolves its
        // name again and finds where it lives now.
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_user_timeout(Some(self.shared.config.unacked_timeout));
        let stream: PeerStream = match &self.shared.config.tls {
            None => Box::new(stream),
            Some(tls) => {
                let handshake = timeout(
                    self.shared.config.connect_timeout,
                    tls.connector()
                        .connect(PeerTls::server_name(self.peer), stream),
                );
                tokio::select! {
                    _ = stopped(shutdown) => return Ended::Stop,
                    changed = self.addr.changed() => return redial_or_stop(changed),
                    handshake = handshake => match handshake {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(e)) => return Ended::Failed { error: ConnError::Tls(e), up_for: None },
                        Err(_) => return Ended::Failed { error: ConnError::ConnectTimeout, up_for: None },
                    },
                }
            }
        };
        let since = Instant::now();
        let (mut reader, mut writer) = tokio::io::split(stream);
        match self.serve(&mut reader, &mut writer, shutdown, carry).await {
            Ok(ended) => ended,
            Err(error) => Ended::Failed {
                error,
                up_for: Some(since.elapsed()),
            },
        }
    }

    /// Says hello, then writes batches until something ends the connection.
    async fn serve(
        &mut self,
        reader: &mut ReadHalf<PeerStream>,
        writer: &mut WriteHalf<PeerStream>,
        shutdown: &mut watch::Receiver<bool>,
        carry: &mut Carry,
    ) -> Result<Ended, ConnError> {
        let shared = self.shared.clone();
        let config = &shared.config;
        let frame_bytes_max = config.frame_bytes_max;
        let hello = Frame::Hello(Hello {
            cluster_id: config.cluster_id,
            from: config.me,
            to: self.peer,
            protocol_version: PROTOCOL_VERSION,
            incarnation: config.incarnation,
        });
        let mut out = Vec::new();
        encode_frame(&hello, &mut out, frame_bytes_max)?;
        if let Some(ended) = self.write(reader, writer, &out, shutdown).await? {
            return Ok(ended);
        }
        self.on_written(out.len(), 0);
        Counters::add(&self.shared.stats.connections_established, 1);
        loop {
            let batch = self.take_batch(carry);
            if batch.is_empty() {
                tokio::select! {
                    _ = stopped(shutdown) => return Ok(Ended::Stop),
                    changed = self.addr.changed() => return Ok(redial_or_stop(changed)),
                    error = peer_closed(reader) => return Err(error),
                    _ = self.queue.ready.notified() => continue,
                }
            }
            let count = batch.len();
            out.clear();
            if let Err(e) = encode_frame(&Frame::Messages(Batch(batch)), &mut out, frame_bytes_max)
            {
                // Sizes were checked message by message; this is a bug.
                tracing::error!(peer = self.peer, error = %e, "cannot encode a batch; dropping it");
                Counters::add(&self.shared.stats.messages_dropped_oversized, count as u64);
                continue;
            }
            match self.write(reader, writer, &out, shutdown).await {
                Ok(None) => self.on_written(out.len(), count),
                Ok(Some(ended)) => {
                    Counters::add(&self.shared.stats.messages_lost_in_flight, count as u64);
                    return Ok(ended);
                }
                Err(error) => {
                    Counters::add(&self.shared.stats.messages_lost_in_flight, count as u64);
                    return Err(error);
                }
            }
            // Do not keep a snapshot-sized buffer for the connection's life.
            if out.capacity() > 2 * config.batch_bytes_max {
                out = Vec::new();
            }
        }
    }

    fn on_written(&self, bytes: usize, messages: usize) {
        let stats = &self.shared.stats;
        Counters::add(&stats.frames_sent, 1);
        Counters::add(&stats.bytes_sent, bytes as u64);
        Counters::add(&self.bytes.sent, bytes as u64);
        Counters::add(&stats.messages_sent, messages as u64);
    }

    /// Writes `bytes`, unless shutdown, a new address or the peer closing
    /// comes first. `Ok(None)`: written.
    async fn write(
        &mut self,
        reader: &mut ReadHalf<PeerStream>,
        writer: &mut WriteHalf<PeerStream>,
        bytes: &[u8],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Ended>, ConnError> {
        tokio::select! {
            _ = stopped(shutdown) => Ok(Some(Ended::Stop)),
            changed = self.addr.changed() => Ok(Some(redial_or_stop(changed))),
            error = peer_closed(reader) => Err(error),
            // A TLS stream may hold the last record until flushed.
            written = write_and_flush(writer, bytes) => written.map(|()| None).map_err(ConnError::from),
        }
    }

    /// Drains the queue into one batch: messages in order, until the batch
    /// would exceed `batch_bytes_max` or `batch_messages_max`. The first
    /// message always goes, however large, up to `frame_bytes_max`; a
    /// message above that can never be sent and is dropped.
    fn take_batch(&self, carry: &mut Carry) -> Vec<Parcel> {
        let config = &self.shared.config;
        let mut batch = Vec::new();
        let mut body_bytes = 0u64;
        while batch.len() < config.batch_messages_max {
            let (message, size) = match carry.take() {
                Some(entry) => entry,
                None => match self.queue.pop() {
                    Some(message) => match parcel_body_bytes(&message) {
                        Ok(size) => (message, size),
                        Err(error) => {
                            self.drop_oversized(&message, &error.to_string());
                            continue;
                        }
                    },
                    None => break,
                },
            };
            if batch_frame_len(size) > config.frame_bytes_max as u64 {
                self.drop_oversized(&message, &format!("{size} bytes encoded"));
                continue;
            }
            if !batch.is_empty()
                && batch_frame_len(body_bytes + size) > config.batch_bytes_max as u64
            {
                *carry = Some((message, size));
                break;
            }
            batch.push(message);
            body_bytes += size;
        }
        batch
    }

    fn drop_oversized(&self, message: &Parcel, reason: &str) {
        Counters::add(&self.shared.stats.messages_dropped_oversized, 1);
        tracing::warn!(
            peer = self.peer,
            message = %message.describe(),
            reason,
            frame_bytes_max = self.shared.config.frame_bytes_max,
            "dropping a message that does not fit in a frame"
        );
    }
}

async fn write_and_flush(writer: &mut WriteHalf<PeerStream>, bytes: &[u8]) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

/// Resolves `addr` (a name is looked up again at every dial) and connects
/// to the first of its addresses that accepts.
async fn dial(addr: &HostPort) -> Result<TcpStream, ConnError> {
    let mut last = None;
    for candidate in addr.resolve().await.map_err(ConnError::Resolve)? {
        match TcpStream::connect(candidate).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(ConnError::ConnectTimeout, ConnError::Io))
}

fn redial_or_stop(changed: Result<(), watch::error::RecvError>) -> Ended {
    match changed {
        Ok(()) => Ended::Redial,
        Err(_) => Ended::Stop,
    }
}

/// Completes when the acceptor closes the connection or writes to it
/// (which it never should). Cancel-safe.
async fn peer_closed(reader: &mut ReadHalf<PeerStream>) -> ConnError {
    let mut probe = [0u8; 1];
    match reader.read(&mut probe).await {
        Ok(0) => ConnError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection",
        )),
        Ok(_) => ConnError::UnexpectedBytes,
        Err(e) => ConnError::Io(e),
    }
}
