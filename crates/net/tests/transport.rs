//! The peer transport over real sockets, on loopback only, with
//! OS-assigned ports. Every test is bounded in time; waits are on
//! conditions, never on a fixed sleep.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use synod_net::codec::{encode_frame, Batch, Frame, Hello, PROTOCOL_VERSION};
use synod_net::{
    HostPort, InboundReceiver, NetConfig, Parcel, PeerTransport, SendError, StatsSnapshot,
};
use synod_paxos::{Ballot, Message, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const CLUSTER: u64 = 7;
const TEST_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(5);
/// A message the helpers use to check a link is up; tests ignore it.
const PROBE: Message = Message::CatchupRequest {
    from_slot: u64::MAX,
};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config(cluster_id: u64, me: NodeId, peers: &[(NodeId, SocketAddr)]) -> NetConfig {
    let peers = peers.iter().map(|&(id, a)| (id, a.into())).collect();
    let mut config = NetConfig::new(cluster_id, me, loopback(), peers);
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(200);
    config.handshake_timeout = Duration::from_secs(2);
    config
}

fn heartbeat(seq: u64) -> Parcel {
    Message::Heartbeat {
        ballot: Ballot::new(1, 1),
        commit: 0,
        seq,
    }
    .into()
}

fn seq_of(message: &Parcel) -> u64 {
    match message {
        Parcel::Paxos {
            group: 0,
            msg: Message::Heartbeat { seq, .. },
        } => *seq,
        other => panic!("expected a heartbeat, got {other}"),
    }
}

struct Node {
    transport: PeerTransport,
    inbound: InboundReceiver,
}

impl Node {
    async fn start(config: NetConfig) -> Node {
        let (transport, inbound) = PeerTransport::start(config).await.expect("starts");
        Node { transport, inbound }
    }

    fn addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    fn stats(&self) -> StatsSnapshot {
        self.transport.stats()
    }

    /// The next message that is not a probe.
    async fn recv(&mut self) -> (NodeId, Parcel) {
        loop {
            let got = self.inbound.recv().await.expect("inbound channel open");
            if got.1 != PROBE.into() {
                return got;
            }
        }
    }
}

/// Runs a test body with a deadline, so nothing hangs.
async fn bounded<F: Future<Output = ()>>(body: F) {
    timeout(TEST_TIMEOUT, body)
        .await
        .expect("test did not finish in time");
}

/// Waits until `condition` holds; the enclosing `bounded` is the deadline.
async fn wait_until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        tokio::time::sleep(POLL).await;
    }
}

/// Sends probes from `from` to `to` until one arrives, as a Paxos node
/// retransmits until it hears back.
async fn link_up(from: &Node, to: &mut Node, to_id: NodeId) {
    loop {
        from.transport.send(to_id, PROBE).expect("peer known");
        if let Ok(Some(_)) = timeout(Duration::from_millis(50), to.inbound.recv()).await {
            // Anything that arrives proves the link; drain the rest later.
            return;
        }
    }
}

/// Two nodes of one cluster that know each other, links up both ways.
async fn pair() -> (Node, Node) {
    let mut a = Node::start(config(CLUSTER, 1, &[])).await;
    let mut b = Node::start(config(CLUSTER, 2, &[(1, a.addr())])).await;
    a.transport
        .set_peers([(2, b.addr().into())].into_iter().collect())
        .unwrap();
    link_up(&a, &mut b, 2).await;
    link_up(&b, &mut a, 1).await;
    (a, b)
}

/// Reads until the server closes the connection (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

fn frame_bytes(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out, 1 << 20).unwrap();
    out
}

fn hello(cluster_id: u64, from: NodeId, to: NodeId, protocol_version: u32) -> Vec<u8> {
    frame_bytes(&Frame::Hello(Hello {
        cluster_id,
        from,
        to,
        protocol_version,
        incarnation: 1,
    }))
}

/// Checks that `a` still reaches `b` with a fresh message.
async fn still_delivers(a: &Node, b: &mut Node, seq: u64) {
    a.transport.send(2, heartbeat(seq)).unwrap();
    let (from, message) = b.recv().await;
    assert_eq!((from, seq_of(&message)), (1, seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_messages_both_ways() {
    bounded(async {
        let (mut a, mut b) = pair().await;
        a.transport.send(2, heartbeat(10)).unwrap();
        b.transport.send(1, heartbeat(20)).unwrap();
        let (from, message) = b.recv().await;
        assert_eq!((from, message), (1, heartbeat(10)));
        let (from, message) = a.recv().await;
        assert_eq!((from, message), (2, heartbeat(20)));
        assert!(a.stats().connections_established >= 1);
        assert!(b.stats().connections_accepted >= 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_arrive_in_order_and_are_batched() {
    // Below the default queue bound: the whole burst is queued before the
    // writer runs, and none of it may be dropped.
    const COUNT: u64 = 4000;
    bounded(async {
        let (a, mut b) = pair().await;
        let before = b.stats();
        for seq in 0..COUNT {
            a.transport.send(2, heartbeat(seq)).unwrap();
        }
        for seq in 0..COUNT {
            let (from, message) = b.recv().await;
            assert_eq!((from, seq_of(&message)), (1, seq));
        }
        wait_until(|| b.stats().messages_received - before.messages_received >= COUNT).await;
        let after = b.stats();
        let frames = after.frames_received - before.frames_received;
        let messages = after.messages_received - before.messages_received;
        assert!(
            frames < messages,
            "{messages} messages came in {frames} frames: no batching"
        );
        assert_eq!(a.stats().messages_dropped_queue_full, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_counted_per_peer_and_match_the_totals() {
    bounded(async {
        let (a, mut b) = pair().await;
        for seq in 0..100 {
            a.transport.send(2, heartbeat(seq)).unwrap();
        }
        for _ in 0..100 {
            b.recv().await;
        }
        // Everything one side wrote to the other, the other read: the two
        // are one link, counted at both ends.
        wait_until(|| {
            let sent = a.transport.peer_bytes()[&2].sent;
            sent == a.stats().bytes_sent && sent == b.transport.peer_bytes()[&1].received
        })
        .await;
        assert!(a.transport.peer_bytes()[&2].sent > 100 * 8);
        assert_eq!(
            b.stats().bytes_received,
            b.transport.peer_bytes()[&1].received
        );
        assert!(
            a.transport.peer_bytes()[&2].received > 0,
            "b's probes reached a"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_gets_messages_again_after_reconnect() {
    bounded(async {
        let (a, b) = pair().await;
        let b_addr = b.addr();
        b.transport.shutdown().await;
        drop(b);
        let mut b_config = config(CLUSTER, 2, &[(1, a.addr())]);
        b_config.listen = b_addr;
        let mut b = Node::start(b_config).await;
        link_up(&a, &mut b, 2).await;
        still_delivers(&a, &mut b, 99).await;
        assert!(a.stats().reconnects >= 1);
        assert!(a.stats().connections_established >= 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hellos_from_another_cluster_or_an_unknown_node_are_refused_while_a_good_peer_works() {
    const INTRUDER: u64 = 666;
    bounded(async {
        let (a, mut b) = pair().await;
        let refused_before = b.stats().handshakes_refused;
        // Another cluster that happens to reuse our node ids.
        let other_cluster = Node::start(config(CLUSTER + 1, 1, &[(2, b.addr())])).await;
        other_cluster
            .transport
            .send(2, heartbeat(INTRUDER))
            .unwrap();
        // Our cluster, but a node b does not know.
        let stranger = Node::start(config(CLUSTER, 9, &[(2, b.addr())])).await;
        stranger.transport.send(2, heartbeat(INTRUDER)).unwrap();
        // Raw hellos addressed to another node, and in another protocol.
        let mut wrong_addressee = TcpStream::connect(b.addr()).await.unwrap();
        wrong_addressee
            .write_all(&hello(CLUSTER, 1, 5, PROTOCOL_VERSION))
            .await
            .unwrap();
        let mut wrong_protocol = TcpStream::connect(b.addr()).await.unwrap();
        wrong_protocol
            .write_all(&hello(CLUSTER, 1, 2, PROTOCOL_VERSION + 1))
            .await
            .unwrap();
        closed_by_server(&mut wrong_addressee).await;
        closed_by_server(&mut wrong_protocol).await;
        wait_until(|| b.stats().handshakes_refused >= refused_before + 4).await;
        for seq in 0..20 {
            still_delivers(&a, &mut b, seq).await;
        }
        while let Ok((_, message)) = b.inbound.try_recv() {
            assert_ne!(message, heartbeat(INTRUDER), "a refused peer got through");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_their_connection_and_the_listener_keeps_serving() {
    bounded(async {
        let (a, mut b) = pair().await;
        let frame_bytes_max =
            NetConfig::new(CLUSTER, 2, loopback(), BTreeMap::new()).frame_bytes_max;
        let good_hello = hello(CLUSTER, 1, 2, PROTOCOL_VERSION);
        let batch = frame_bytes(&Frame::Messages(Batch(vec![heartbeat(1), heartbeat(2)])));
        let mut bad_inputs: Vec<(&str, Vec<u8>, bool)> = Vec::new();
        // A length one past the limit, after a good hello and before it.
        let oversized = ((frame_bytes_max + 1) as u32).to_be_bytes().to_vec();
        bad_inputs.push((
            "oversized length",
            [good_hello.clone(), oversized.clone()].concat(),
            false,
        ));
        bad_inputs.push(("oversized length first", oversized, false));
        // A small frame whose body is garbage.
        let garbage = vec![
            0, 0, 0, 9, 1, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff,
        ];
        bad_inputs.push((
            "garbage body",
            [good_hello.clone(), garbage.clone()].concat(),
            false,
        ));
        bad_inputs.push(("garbage first", garbage, false));
        // A frame with an unknown version byte.
        let mut wrong_version = batch.clone();
        wrong_version[4] = 0xee;
        bad_inputs.push((
            "wrong version",
            [good_hello.clone(), wrong_version].concat(),
            false,
        ));
        // Half a batch, then the client closes its side.
        let truncated = batch[..batch.len() / 2].to_vec();
        bad_inputs.push((
            "truncated frame",
            [good_hello.clone(), truncated].concat(),
            true,
        ));
        // A second hello.
        bad_inputs.push((
            "second hello",
            [good_hello.clone(), good_hello.clone()].concat(),
            false,
        ));

        for (seq, (what, bytes, half_close)) in bad_inputs.into_iter().enumerate() {
            let bad_before = b.stats().connections_closed_bad_frame;
            let mut client = TcpStream::connect(b.addr()).await.unwrap();
            client.write_all(&bytes).await.unwrap();
            if half_close {
                client.shutdown().await.unwrap();
            }
            closed_by_server(&mut client).await;
            wait_until(|| b.stats().connections_closed_bad_frame > bad_before).await;
            // The listener, and the good peer's connection, carry on.
            still_delivers(&a, &mut b, seq as u64).await;
            eprintln!("{what}: closed and counted");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_peers_queue_stays_bounded_drops_the_oldest_and_delivers_the_newest() {
    const QUEUE: usize = 100;
    const SENT: u64 = 10_000;
    bounded(async {
        // An address where nothing listens: bind, note the port, close.
        let dead = std::net::TcpListener::bind(loopback()).unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let mut a_config = config(CLUSTER, 1, &[(2, dead_addr)]);
        a_config.queue_messages_max = QUEUE;
        let a = Node::start(a_config).await;
        for seq in 0..SENT {
            a.transport.send(2, heartbeat(seq)).unwrap();
            assert!(a.stats().queued_messages <= QUEUE as u64);
        }
        let stats = a.stats();
        assert_eq!(stats.queued_messages, QUEUE as u64);
        assert_eq!(stats.messages_dropped_queue_full, SENT - QUEUE as u64);
        wait_until(|| a.stats().connect_failures >= 2).await;
        assert_eq!(a.stats().queued_messages, QUEUE as u64);

        // The peer comes up at that address: the newest messages arrive.
        let mut b_config = config(CLUSTER, 2, &[(1, a.addr())]);
        b_config.listen = dead_addr;
        let mut b = Node::start(b_config).await;
        for seq in SENT - QUEUE as u64..SENT {
            let (from, message) = b.recv().await;
            assert_eq!((from, seq_of(&message)), (1, seq));
        }
        assert_eq!(a.stats().queued_messages, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_peers_adds_and_removes_peers_at_runtime() {
    bounded(async {
        let (a, mut b) = pair().await;
        assert_eq!(
            a.transport.send(3, heartbeat(0)),
            Err(SendError::UnknownPeer(3))
        );
        still_delivers(&a, &mut b, 1).await;

        let refused_before = a.stats().handshakes_refused;
        a.transport.set_peers(BTreeMap::new()).unwrap();
        assert_eq!(
            a.transport.send(2, heartbeat(2)),
            Err(SendError::UnknownPeer(2))
        );
        assert_eq!(a.stats().messages_dropped_unknown_peer, 2);
        // b's connection to a is closed, and its redials are refused.
        b.transport.send(1, heartbeat(3)).unwrap();
        wait_until(|| a.stats().handshakes_refused > refused_before).await;

        a.transport
            .set_peers([(2, b.addr().into())].into_iter().collect())
            .unwrap();
        still_delivers(&a, &mut b, 4).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_inbound_channel_and_frees_the_port() {
    bounded(async {
        let (mut a, b) = pair().await;
        let addr = a.addr();
        a.transport.shutdown().await;
        while a.inbound.recv().await.is_some() {}
        assert_eq!(a.transport.send(2, heartbeat(0)), Err(SendError::ShutDown));
        a.transport.shutdown().await;
        let rebound = tokio::net::TcpListener::bind(addr).await;
        assert!(rebound.is_ok(), "port still held after shutdown");
        drop(b);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_named_by_dns_is_looked_up_at_each_dial() {
    bounded(async {
        let a = Node::start(config(CLUSTER, 1, &[])).await;
        let mut b = Node::start(config(CLUSTER, 2, &[(1, a.addr())])).await;
        // A name that resolves to nothing: dials fail and are counted.
        a.transport
            .set_peers(
                [(2, "no-such-peer.invalid:1".parse().unwrap())]
                    .into_iter()
                    .collect(),
            )
            .unwrap();
        a.transport.send(2, heartbeat(0)).unwrap();
        wait_until(|| a.stats().connect_failures >= 1).await;
        // The peer's name; `localhost` may resolve to ::1 first, where
        // nothing listens, so the dial goes on to the next address.
        let named: HostPort = format!("localhost:{}", b.addr().port()).parse().unwrap();
        a.transport
            .set_peers([(2, named)].into_iter().collect())
            .unwrap();
        link_up(&a, &mut b, 2).await;
    })
    .await;
}
