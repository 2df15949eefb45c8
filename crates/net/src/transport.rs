//! The handle the server holds: start, send, change the peer set, read the
//! counters, shut down.

use crate::addr::HostPort;
use crate::config::{validate_peers, NetConfig};
use crate::error::{NetError, SendError};
use crate::inbound;
use crate::outbound::Outbound;
use crate::parcel::Parcel;
use crate::queue::PeerQueue;
use crate::stats::{Counters, PeerBytes, PeerCounterMap, StatsSnapshot};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use synod_paxos::NodeId;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What every task of one transport shares.
pub(crate) struct Shared {
    /// The limits and identity; its `peers` field is left empty; the
    /// current peer set is `peer_set`.
    pub(crate) config: NetConfig,
    pub(crate) stats: Counters,
    /// Bytes sent to and received from each peer.
    pub(crate) peer_bytes: PeerCounterMap,
    /// Who may connect to us; acceptors re-check live connections when it
    /// changes.
    pub(crate) peer_set: watch::Sender<BTreeMap<NodeId, HostPort>>,
    /// Becomes true once, at shutdown.
    pub(crate) shutdown: watch::Sender<bool>,
}

/// Completes once shutdown is signalled (or the transport is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One peer's outbound side, as the handle sees it.
struct PeerLink {
    queue: Arc<PeerQueue>,
    addr: watch::Sender<Option<HostPort>>,
    task: JoinHandle<()>,
}

/// The peer transport of one synod server. See the crate docs for the wire
/// format and the limits.
///
/// Dropping it signals every task to stop and aborts them, but the
/// listening port is released only when the runtime gets to it; await
/// [`shutdown`](PeerTransport::shutdown) to know that everything is closed.
pub struct PeerTransport {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    runtime: Handle,
    peers: Mutex<BTreeMap<NodeId, PeerLink>>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

/// Messages from peers, in order per connection, tagged with the sender's
/// node id (as its hello proved it to be in our peer set). Holds at most
/// `inbound_messages_max` messages and `inbound_bytes_max` bytes (by
/// `Parcel::encoded_bytes_max`); a message's bytes are freed when it is
/// taken.
#[derive(Debug)]
pub struct InboundReceiver {
    rx: mpsc::Receiver<(NodeId, Parcel, tokio::sync::OwnedSemaphorePermit)>,
}

impl InboundReceiver {
    /// The next message, or `None` once the transport shut down.
    pub async fn recv(&mut self) -> Option<(NodeId, Parcel)> {
        let (from, message, _bytes) = self.rx.recv().await?;
        Some((from, message))
    }

    /// A message if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Result<(NodeId, Parcel), mpsc::error::TryRecvError> {
        let (from, message, _bytes) = self.rx.try_recv()?;
        Ok((from, message))
    }
}

impl PeerTransport {
    /// Validates `config`, binds the listener and starts one outbound task
    /// per peer. Must be called inside a tokio runtime; the tasks run on
    /// it. The returned receiver yields every message peers send us; it
    /// closes after [`shutdown`](PeerTransport::shutdown).
    pub async fn start(config: NetConfig) -> Result<(PeerTransport, InboundReceiver), NetError> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| NetError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| NetError::Bind {
            addr: config.listen,
            source,
        })?;
        let (tx, rx) = mpsc::channel(config.inbound_messages_max);
        let inbound_tx = inbound::Inbound {
            tx,
            bytes: Arc::new(tokio::sync::Semaphore::new(config.inbound_bytes_max)),
            bytes_max: config.inbound_bytes_max,
        };
        let inbound_rx = InboundReceiver { rx };
        let peers = config.peers.clone();
        let shared = Arc::new(Shared {
            config: NetConfig {
                peers: BTreeMap::new(),
                ..config
            },
            stats: Counters::default(),
            peer_bytes: PeerCounterMap::default(),
            peer_set: watch::Sender::new(peers.clone()),
            shutdown: watch::Sender::new(false),
        });
        let runtime = Handle::current();
        let listener_task = runtime.spawn(inbound::listen(listener, shared.clone(), inbound_tx));
        let transport = PeerTransport {
            shared,
            local_addr,
            runtime,
            peers: Mutex::new(BTreeMap::new()),
            listener: Mutex::new(Some(listener_task)),
        };
        {
            let mut links = lock(&transport.peers);
            for (peer, addr) in peers {
                let link = transport.spawn_link(peer, addr);
                links.insert(peer, link);
            }
        }
        tracing::info!(
            me = transport.shared.config.me,
            listen = %local_addr,
            "peer transport started"
        );
        Ok((transport, inbound_rx))
    }

    /// The address the listener is bound to (with the OS-chosen port when
    /// the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's id.
    pub fn me(&self) -> NodeId {
        self.shared.config.me
    }

    /// Queues `message` for peer `to` and returns at once; it never waits
    /// for the network. If the peer's queue is full its oldest message is
    /// dropped (and counted in `messages_dropped_queue_full`). Delivery is
    /// not guaranteed, as on any network Paxos runs over: messages are lost
    /// when a connection fails or a queue overflows, never reordered on one
    /// connection, never duplicated.
    pub fn send(&self, to: NodeId, message: impl Into<Parcel>) -> Result<(), SendError> {
        if *self.shared.shutdown.borrow() {
            return Err(SendError::ShutDown);
        }
        let queue = match lock(&self.peers).get(&to) {
            Some(link) => link.queue.clone(),
            None => {
                Counters::add(&self.shared.stats.messages_dropped_unknown_peer, 1);
                return Err(SendError::UnknownPeer(to));
            }
        };
        queue.push(message.into(), &self.shared.stats);
        Ok(())
    }

    /// Replaces the peer set: new peers get a queue and a connection task,
    /// removed peers lose theirs (queued messages are dropped) and their
    /// inbound connections are closed, peers whose address changed are
    /// redialled at the new address with their queue kept.
    pub fn set_peers(&self, peers: BTreeMap<NodeId, HostPort>) -> Result<(), NetError> {
        if *self.shared.shutdown.borrow() {
            return Err(NetError::ShutDown);
        }
        validate_peers(self.shared.config.me, &peers)?;
        let mut links = lock(&self.peers);
        links.retain(|peer, link| {
            let keep = peers.contains_key(peer);
            if !keep {
                link.addr.send_replace(None);
                link.task.abort();
            }
            keep
        });
        for (&peer, addr) in &peers {
            match links.get(&peer) {
                Some(link) => {
                    link.addr.send_if_modified(|current| {
                        let changed = current.as_ref() != Some(addr);
                        *current = Some(addr.clone());
                        changed
                    });
                }
                None => {
                    let link = self.spawn_link(peer, addr.clone());
                    links.insert(peer, link);
                }
            }
        }
        drop(links);
        self.shared.peer_set.send_replace(peers);
        Ok(())
    }

    /// The current peer set.
    pub fn peers(&self) -> BTreeMap<NodeId, HostPort> {
        self.shared.peer_set.borrow().clone()
    }

    /// A copy of the counters, with the current total of queued messages.
    pub fn stats(&self) -> StatsSnapshot {
        let queued: usize = lock(&self.peers)
            .values()
            .map(|link| link.queue.len())
            .sum();
        self.shared.stats.snapshot(queued as u64)
    }

    /// Bytes sent to and received from each peer so far, by node id
    /// (peers that left the peer set included).
    pub fn peer_bytes(&self) -> BTreeMap<NodeId, PeerBytes> {
        self.shared.peer_bytes.snapshot()
    }

    /// Stops accepting, closes every connection, ends every task and waits
    /// for them; the listening port is free when it returns. Messages still
    /// queued are dropped. Later `send`s fail with `SendError::ShutDown`.
    /// Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let listener = lock(&self.listener).take();
        let links: Vec<PeerLink> = std::mem::take(&mut *lock(&self.peers))
            .into_values()
            .collect();
        if let Some(task) = listener {
            let _ = task.await;
        }
        for link in links {
            let _ = link.task.await;
        }
        tracing::info!(me = self.shared.config.me, "peer transport shut down");
    }

    fn spawn_link(&self, peer: NodeId, addr: HostPort) -> PeerLink {
        let queue = Arc::new(PeerQueue::new(
            self.shared.config.queue_messages_max,
            self.shared.config.queue_bytes_max,
        ));
        let (addr_tx, addr_rx) = watch::channel(Some(addr));
        let outbound = Outbound {
            peer,
            bytes: self.shared.peer_bytes.of(peer),
            queue: queue.clone(),
            addr: addr_rx,
            shared: self.shared.clone(),
        };
        PeerLink {
            queue,
            addr: addr_tx,
            task: self.runtime.spawn(outbound.run()),
        }
    }
}

impl Drop for PeerTransport {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
        for link in lock(&self.peers).values() {
            link.task.abort();
        }
    }
}

/// The handle's maps stay consistent even if a holder panicked: each
/// critical section is a single insert, remove or lookup.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
