//! What a transport needs to know: who we are, where our peers listen, and
//! a limit for every queue, frame and wait.

use crate::addr::HostPort;
use crate::codec::{BATCH_MESSAGES_MAX, FRAME_BYTES_LIMIT, FRAME_BYTES_MIN};
use crate::error::NetError;
use crate::tls::PeerTls;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use synod_paxos::NodeId;

/// Default frame limit: 64 MiB, large enough for a catch-up reply with its
/// entries and a snapshot chunk (`EngineConfig::snapshot_chunk_bytes`, 4 MiB
/// by default, with the client table in the first chunk); snapshots larger
/// than a chunk cross in chunks, so no frame holds a whole large snapshot.
/// A bigger length prefix closes the connection before any of the frame is
/// buffered.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;

/// Default byte bound of a peer's outbound queue and of the inbound
/// channel: room for a few of the largest frames.
pub const QUEUE_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;

/// What a node remembers of its peers' lives: the first incarnation it
/// saw of each node id, kept across restarts (the server keeps it in the
/// data directory).
pub trait PeerMemory: Send + Sync + std::fmt::Debug {
    /// `Ok` if `incarnation` is the one remembered for `node`, or the first
    /// one seen (which is then remembered, durably, before `Ok`).
    fn check(&self, node: NodeId, incarnation: u64) -> Result<(), String>;
}

#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Peers of another cluster are refused at the handshake.
    pub cluster_id: u64,
    /// This node. Never zero, never in `peers`.
    pub me: NodeId,
    /// Where to accept peer connections (port 0: the OS picks one, see
    /// `PeerTransport::local_addr`).
    pub listen: SocketAddr,
    /// Every other member and where it listens. Only these may connect to
    /// us, and only these can be sent to.
    pub peers: BTreeMap<NodeId, HostPort>,
    /// Per peer: messages waiting to be written. When full, the oldest
    /// queued message is dropped to make room for the new one.
    pub queue_messages_max: usize,
    /// Per peer: bytes of messages waiting to be written (by
    /// `Message::encoded_bytes_max`). When a new message would pass it, the
    /// oldest queued messages are dropped until it fits (a message larger
    /// than this alone is queued alone).
    pub queue_bytes_max: usize,
    /// Messages received but not yet taken by the server. When full, the
    /// connections stop reading, and TCP pushes back on the senders.
    pub inbound_messages_max: usize,
    /// Bytes of messages received but not yet taken by the server (by
    /// `Message::encoded_bytes_max`); when full, as above. At most
    /// `u32::MAX`.
    pub inbound_bytes_max: usize,
    /// The largest frame written or accepted, length prefix excluded.
    pub frame_bytes_max: usize,
    /// A writer stops adding messages to a frame once it would exceed this
    /// many bytes (a single larger message still goes alone, up to
    /// `frame_bytes_max`).
    pub batch_bytes_max: usize,
    /// A writer puts at most this many messages in one frame; at most
    /// `codec::BATCH_MESSAGES_MAX`, which receivers enforce.
    pub batch_messages_max: usize,
    /// First reconnect delay; delays double up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A connect attempt that takes longer fails.
    pub connect_timeout: Duration,
    /// A connection whose written bytes go unacknowledged this long is
    /// closed by the kernel (`TCP_USER_TIMEOUT`) and redialled.
    pub unacked_timeout: Duration,
    /// An inbound connection must deliver its hello within this time.
    pub handshake_timeout: Duration,
    /// Inbound connections open at once; more are closed on accept.
    pub connections_inbound_max: usize,
    /// This node's incarnation (its data directory's), sent in every hello.
    pub incarnation: u64,
    /// Remembers each peer's incarnation; an acceptor refuses a hello whose
    /// incarnation is not the one remembered for its sender. `None`: every
    /// incarnation is believed.
    pub peer_memory: Option<Arc<dyn PeerMemory>>,
    /// Mutual TLS with the cluster's CA (see [`crate::tls`]); `None`:
    /// plaintext, and a hello is believed (loopback tests, `--insecure`).
    pub tls: Option<PeerTls>,
}

impl NetConfig {
    /// A config with the default limits.
    pub fn new(
        cluster_id: u64,
        me: NodeId,
        listen: SocketAddr,
        peers: BTreeMap<NodeId, HostPort>,
    ) -> Self {
        NetConfig {
            cluster_id,
            me,
            listen,
            peers,
            queue_messages_max: 4096,
            queue_bytes_max: QUEUE_BYTES_MAX_DEFAULT,
            inbound_messages_max: 4096,
            inbound_bytes_max: QUEUE_BYTES_MAX_DEFAULT,
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            batch_bytes_max: 1024 * 1024,
            batch_messages_max: 1024,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            unacked_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            connections_inbound_max: 64,
            incarnation: 0,
            peer_memory: None,
            tls: None,
        }
    }

    /// Checks every field; `PeerTransport::start` calls it.
    pub fn validate(&self) -> Result<(), NetError> {
        let fail = |what: String| Err(NetError::Config(what));
        if self.me == 0 {
            return fail("node id 0 is reserved; `me` must be non-zero".into());
        }
        validate_peers(self.me, &self.peers)?;
        if self.queue_bytes_max == 0
            || self.inbound_bytes_max == 0
            || self.inbound_bytes_max > u32::MAX as usize
        {
            return fail(
                "queue_bytes_max and inbound_bytes_max must be at least 1 (inbound_bytes_max at most 4 GiB)"
                    .into(),
            );
        }
        if self.queue_messages_max == 0 || self.inbound_messages_max == 0 {
            return fail("queue_messages_max and inbound_messages_max must be at least 1".into());
        }
        if !(FRAME_BYTES_MIN..=FRAME_BYTES_LIMIT).contains(&self.frame_bytes_max) {
            return fail(format!(
                "frame_bytes_max {} must be within {FRAME_BYTES_MIN}..={FRAME_BYTES_LIMIT}",
                self.frame_bytes_max
            ));
        }
        if self.batch_bytes_max == 0 || self.batch_bytes_max > self.frame_bytes_max {
            return fail(format!(
                "batch_bytes_max {} must be within 1..=frame_bytes_max ({})",
                self.batch_bytes_max, self.frame_bytes_max
            ));
        }
        if !(1..=BATCH_MESSAGES_MAX).contains(&self.batch_messages_max) {
            return fail(format!(
                "batch_messages_max {} must be within 1..={BATCH_MESSAGES_MAX}",
                self.batch_messages_max
            ));
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return fail("backoff_min must be non-zero and at most backoff_max".into());
        }
        if self.connect_timeout.is_zero()
            || self.handshake_timeout.is_zero()
            || self.unacked_timeout.is_zero()
        {
            return fail(
                "connect_timeout, handshake_timeout and unacked_timeout must be non-zero".into(),
            );
        }
        if self.connections_inbound_max == 0 {
            return fail("connections_inbound_max must be at least 1".into());
        }
        Ok(())
    }
}

/// A peer set must not name us or node 0.
pub(crate) fn validate_peers(
    me: NodeId,
    peers: &BTreeMap<NodeId, HostPort>,
) -> Result<(), NetError> {
    if peers.contains_key(&me) {
        return Err(NetError::Config(format!(
            "the peer set names this node ({me}); list only the other members"
        )));
    }
    if peers.contains_key(&0) {
        return Err(NetError::Config("node id 0 is reserved".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetConfig {
        NetConfig::new(1, 1, "127.0.0.1:0".parse().unwrap(), BTreeMap::new())
    }

    #[test]
    fn the_defaults_are_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn bad_limits_are_refused_with_a_reason() {
        let mut c = config();
        c.peers.insert(1, "127.0.0.1:1".parse().unwrap());
        assert!(c.validate().is_err());
        let mut c = config();
        c.queue_messages_max = 0;
        assert!(c.validate().is_err());
        let mut c = config();
        c.frame_bytes_max = 10;
        assert!(c.validate().is_err());
        let mut c = config();
        c.batch_messages_max = BATCH_MESSAGES_MAX + 1;
        assert!(c.validate().is_err());
        let mut c = config();
        c.backoff_min = c.backoff_max * 2;
        assert!(c.validate().is_err());
        let mut c = config();
        c.me = 0;
        assert!(c.validate().is_err());
    }
}
