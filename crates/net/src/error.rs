//! Typed errors of the peer transport.

use crate::codec::{CodecError, PROTOCOL_VERSION};
use std::net::SocketAddr;
use synod_paxos::NodeId;
use thiserror::Error;

/// Starting or reconfiguring a transport failed.
#[derive(Debug, Error)]
pub enum NetError {
    #[error("invalid network config: {0}")]
    Config(String),
    #[error("cannot listen for peers on {addr}: {source} (is another server using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("peer TLS: {0}")]
    Tls(String),
    #[error("the transport is shut down")]
    ShutDown,
}

/// A message could not be queued. A full queue is not an error: the
/// oldest message is dropped and counted instead.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SendError {
    #[error("node {0} is not in the peer set")]
    UnknownPeer(NodeId),
    #[error("the transport is shut down")]
    ShutDown,
}

/// Why an acceptor refused a connection's hello.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("the first frame is not a hello")]
    NotHello,
    #[error("hello from cluster {got}, this is cluster {ours}")]
    WrongCluster { got: u64, ours: u64 },
    #[error("hello from node {0}, which is not in the peer set")]
    UnknownNode(NodeId),
    #[error("hello addressed to node {to}, this is node {me}")]
    WrongAddressee { to: NodeId, me: NodeId },
    #[error("hello with protocol version {got}, this node speaks {PROTOCOL_VERSION}")]
    WrongProtocol { got: u32 },
    #[error("no hello within the handshake timeout")]
    Timeout,
    #[error("the peer presented no certificate")]
    NoCertificate,
    #[error("the peer's certificate is not node {node}'s: {reason}")]
    NotNodeCertificate { node: NodeId, reason: String },
    #[error("hello from node {node}: {reason}")]
    Incarnation { node: NodeId, reason: String },
}

/// Why a peer connection ended; logged with the peer's address.
#[derive(Debug, Error)]
pub(crate) enum ConnError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Codec(#[from] CodecError),
    #[error("connection closed in the middle of a frame ({0} bytes buffered)")]
    Truncated(usize),
    #[error("handshake refused: {0}")]
    Refused(#[from] Refusal),
    #[error("a second hello on an established connection")]
    UnexpectedHello,
    #[error("node {0} was removed from the peer set")]
    PeerRemoved(NodeId),
    #[error("the acceptor wrote to an outbound-only connection")]
    UnexpectedBytes,
    #[error("cannot resolve the peer's address: {0}")]
    Resolve(std::io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
}
