//! Counters of the peer transport. Tasks bump atomics; [`StatsSnapshot`] is
//! a plain copy for `/metrics`, logs and tests, and [`PeerBytes`] the bytes
//! exchanged with each peer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use synod_paxos::NodeId;

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters, shared by the transport's tasks.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: AtomicU64, )*
        }

        /// A copy of the transport's counters at one moment. Every field
        /// only grows, except `queued_messages`, which is a gauge.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
            /// Messages waiting in all outbound queues right now.
            pub queued_messages: u64,
        }

        impl Counters {
            pub(crate) fn snapshot(&self, queued_messages: u64) -> StatsSnapshot {
                StatsSnapshot {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                    queued_messages,
                }
            }
        }
    };
}

counters! {
    /// Frames written to peers, hellos included.
    frames_sent,
    /// Frames read from peers, hellos included.
    frames_received,
    /// Messages written to peers.
    messages_sent,
    /// Messages read from peers and handed to the inbound channel.
    messages_received,
    /// Bytes written to peers, length prefixes included.
    bytes_sent,
    /// Bytes read from peers.
    bytes_received,
    /// Messages dropped because their peer's outbound queue was full (the
    /// oldest queued message is the one dropped).
    messages_dropped_queue_full,
    /// Messages dropped because alone they exceed the frame limit.
    messages_dropped_oversized,
    /// Messages taken from a queue whose frame could not be written because
    /// the connection failed: they are lost, as on a lossy network.
    messages_lost_in_flight,
    /// `send` calls to a node that is not in the peer set.
    messages_dropped_unknown_peer,
    /// Outbound connections established (hello written).
    connections_established,
    /// Outbound connection attempts made after a failed attempt, a lost
    /// connection or a change of the peer's address.
    reconnects,
    /// Outbound connection attempts that failed (refused, timed out).
    connect_failures,
    /// Inbound connections accepted by the listener.
    connections_accepted,
    /// Inbound connections closed at once because too many were open.
    connections_refused_limit,
    /// Inbound connections whose hello was refused (other cluster, unknown
    /// node, other addressee, other protocol version, no hello in time).
    handshakes_refused,
    /// Inbound connections closed for a malformed, oversized or truncated
    /// frame.
    connections_closed_bad_frame,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Bytes exchanged with one peer since the transport started: what its
/// outbound connections wrote and what its inbound connections read (after
/// their hello named it), length prefixes and hellos included. Both only
/// grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerBytes {
    pub sent: u64,
    pub received: u64,
}

/// One peer's live byte counters.
#[derive(Debug, Default)]
pub(crate) struct PeerCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
}

/// Every peer's byte counters, by node id. A peer's entry is made the
/// first time it is dialled or proven by a hello, and kept after it leaves
/// the peer set (counters only grow), so it holds at most one entry per
/// node id the cluster ever had as a member.
#[derive(Debug, Default)]
pub(crate) struct PeerCounterMap {
    peers: Mutex<BTreeMap<NodeId, Arc<PeerCounters>>>,
}

impl PeerCounterMap {
    /// The counters of `peer`, made on first use.
    pub(crate) fn of(&self, peer: NodeId) -> Arc<PeerCounters> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.entry(peer).or_default().clone()
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<NodeId, PeerBytes> {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .iter()
            .map(|(peer, c)| {
                let bytes = PeerBytes {
                    sent: c.sent.load(Ordering::Relaxed),
                    received: c.received.load(Ordering::Relaxed),
                };
                (*peer, bytes)
            })
            .collect()
    }
}
