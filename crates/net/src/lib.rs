//! synod's peer transport: how servers carry the Paxos engine's `Message`s
//! to each other over TCP.
//!
//! This crate owns sockets, framing, the handshake, per-peer queues,
//! batching and reconnection. It never interprets a message: whatever the
//! engine asks to send is delivered (or lost) as is, and everything received
//! is handed to the server with the sender's node id. It must never block
//! the caller of [`PeerTransport::send`], and never hold more memory than
//! its limits allow, whatever peers do.
//!
//! # Shape
//!
//! Each node dials every peer once, for its own outbound messages, and
//! accepts one connection from each peer for its inbound ones, so every
//! connection carries data one way. Per peer, a bounded queue feeds one
//! task that connects, sends a hello, then drains the queue into batch
//! frames, one write per batch; on any error it redials with exponential
//! backoff and jitter. A listener task accepts peers, checks their hello,
//! and forwards their messages into one bounded inbound channel.
//!
//! # Wire format
//!
//! A frame is a `u32` big-endian length, then that many bytes: a version
//! byte ([`codec::FRAME_VERSION`]) and the bincode encoding (fixed-width
//! integers, little-endian, no trailing bytes) of a [`codec::Frame`]:
//! either `Hello { cluster_id, from, to, protocol_version }`, which must be
//! a connection's first frame and only once, or `Messages(batch)`, one or
//! more messages in send order. See [`codec`] for the layout.
//!
//! # Limits, and what happens at each
//!
//! | limit | default | at the limit |
//! |---|---|---|
//! | `frame_bytes_max` (length prefix value) | 64 MiB, room for a snapshot | receiver: a larger length prefix closes the connection before buffering any of it; sender: a single message that cannot fit is dropped, counted and logged |
//! | frame limit before the hello is accepted | 1 KiB ([`codec::HANDSHAKE_FRAME_BYTES_MAX`]) | as above: a stranger cannot make us buffer more than a hello |
//! | `batch_bytes_max` | 1 MiB | the writer closes the batch and starts the next frame |
//! | `batch_messages_max` (≤ [`codec::BATCH_MESSAGES_MAX`] = 4096, enforced by receivers) | 1024 | as above; a received batch announcing more than 4096 closes the connection |
//! | `queue_messages_max` per peer | 4096 | `send` drops the oldest queued message, counts it, and queues the new one |
//! | `queue_bytes_max` per peer | 256 MiB (by `Message::encoded_bytes_max`) | `send` drops the oldest queued messages until the new one fits, counts them |
//! | `inbound_messages_max` | 4096 | connections stop reading until the server takes messages (backpressure through TCP) |
//! | `inbound_bytes_max` | 256 MiB | as above, counted in bytes |
//! | `connections_inbound_max` | 64 | further connections are closed on accept, counted and logged |
//! | `unacked_timeout` (`TCP_USER_TIMEOUT` of dialled connections) | 10 s | the kernel closes a connection whose bytes go unacknowledged that long; the dialer resolves the peer's name again and redials |
//! | `handshake_timeout` | 5 s | a connection without a hello is closed as refused |
//! | `connect_timeout` | 2 s | the attempt fails and the next one waits a backoff |
//! | `backoff_min`..`backoff_max` | 50 ms..5 s | delays double up to the maximum, each drawn from its upper half |
//!
//! Memory for a peer's outbound side is at most `queue_messages_max`
//! messages and `queue_bytes_max` bytes (plus one message larger than that
//! alone), one message carried over to the next batch and one encoded
//! frame. An inbound connection buffers at most one incomplete frame plus
//! one 64 KiB read, grows that buffer only as bytes arrive (announcing a
//! large frame costs nothing until it is sent), and decodes each frame with
//! a byte limit equal to its length. Decoded messages take a small constant
//! factor more memory than their frame: fixed-width integers make every
//! sequence element cost at least eight wire bytes.
//!
//! # Failures
//!
//! A malformed, oversized or truncated frame, or a refused hello, closes
//! that connection only, with a `tracing::warn!` naming the peer's address
//! and the reason, and bumps a counter in [`StatsSnapshot`]. The hello is
//! not authentication: it keeps misconfigured servers apart, not attackers
//! out.

mod addr;
mod backoff;
pub mod certs;
pub mod codec;
mod config;
mod error;
mod inbound;
mod outbound;
mod parcel;
mod queue;
mod stats;
pub mod tls;
mod transport;

pub use addr::HostPort;
pub use config::{NetConfig, PeerMemory, FRAME_BYTES_MAX_DEFAULT, QUEUE_BYTES_MAX_DEFAULT};
pub use error::{NetError, Refusal, SendError};
pub use parcel::{GroupTag, Parcel};
pub use stats::{PeerBytes, StatsSnapshot};
pub use tls::{node_name, PeerTls};
pub use transport::{InboundReceiver, PeerTransport};
