//! Issue 10, finding 2, as it was reported: through one ZooKeeper
//! connection to a follower, 80 pipelined `setData` of 1,000,000 bytes each
//! (each under ZooKeeper's 1 MB `jute.maxbuffer`, all of them accepted by
//! ZooKeeper 3.8). It once wedged the cluster: the front door sent them as
//! one 80 MB command, the leader's accept did not fit a peer frame and was
//! dropped, and no leader was ever elected again. Whatever happens to the
//! writes, the cluster must have a leader and take a write within two
//! election timeouts of the load.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Cluster, Deadline, Layout, ELECTION_TIMEOUT_MS};
use synod_zkproto as wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wire::{ReplyKind, Request, Response};

const WRITES: usize = 80;
const VALUE_BYTES: usize = 1_000_000;
const PATH: &str = "/wedge";
/// How long the writes' replies are waited for at most.
const LOAD_LIMIT: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(15);

/// The value of write `i` (1-based): every byte is `i`.
fn value(i: usize) -> Vec<u8> {
    vec![i as u8; VALUE_BYTES]
}

/// Starts the three nodes with the ZooKeeper protocol on; returns each
/// node's ZooKeeper address by id.
fn start_with_zk(cluster: &mut Cluster) -> Vec<(u64, SocketAddr)> {
    let ports = common::free_ports(cluster.ids().len());
    let mut zk = Vec::new();
    for (id, port) in cluster.ids().into_iter().zip(ports) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = &cluster.node(id).config;
        let text = std::fs::read_to_string(config).expect("reading a config");
        // Top-level keys come before the first table.
        std::fs::write(config, format!("zk_listen = \"{addr}\"\n{text}")).expect("a config");
        cluster.start(id);
        zk.push((id, addr));
    }
    zk
}

/// A bare ZooKeeper connection: the handshake, then frames as they come.
struct ZkStream {
    stream: TcpStream,
    frames: wire::FrameDecoder,
}

impl ZkStream {
    async fn connect(addr: SocketAddr, limit: Duration) -> ZkStream {
        let deadline = Deadline::new(format!("a ZooKeeper session at {addr}"), limit);
        loop {
            if let Some(conn) = Self::try_connect(addr).await {
                return conn;
            }
            deadline.tick().await;
        }
    }

    async fn try_connect(addr: SocketAddr) -> Option<ZkStream> {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        stream
            .write_all(&wire::encode_connect_request(&request))
            .await
            .ok()?;
        let mut conn = ZkStream {
            stream,
            frames: wire::FrameDecoder::default(),
        };
        let body = conn.next_frame().await?;
        let response = wire::decode_connect_response(&body).ok()?;
        (response.session_id != 0).then_some(conn)
    }

    /// The next frame, or `None` once the server closed the connection.
    async fn next_frame(&mut self) -> Option<Vec<u8>> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(body) = self.frames.pop().expect("well-formed frames") {
                return Some(body);
            }
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.frames.push(&chunk[..n]),
            }
        }
    }

    /// The next reply that is not a watch event: its header and body.
    async fn next_reply(&mut self, kind: ReplyKind) -> Option<(wire::ReplyHeader, Response)> {
        loop {
            let body = self.next_frame().await?;
            let (header, response) = wire::decode_reply(&body, kind).expect("a decodable reply");
            if header.xid != wire::xid::WATCH_EVENT {
                return Some((header, response));
            }
        }
    }

    async fn call(&mut self, xid: i32, request: Request) -> (wire::ReplyHeader, Response) {
        let kind = request.reply_kind();
        self.stream
            .write_all(&wire::encode_request(xid, &request))
            .await
            .expect("sending a request");
        self.next_reply(kind).await.expect("a reply")
    }
}

/// What came back for the pipelined writes.
#[derive(Debug, Default)]
struct LoadReport {
    ok: usize,
    /// (xid, error code) of each write answered with an error.
    errors: Vec<(i32, i32)>,
    /// Writes never answered: the connection closed or the time ran out.
    unanswered: usize,
    connection_closed: bool,
}

/// Sends every write without waiting, then reads the replies that come.
async fn pipeline_writes(mut conn: ZkStream) -> LoadReport {
    let mut frames = Vec::with_capacity(WRITES * (VALUE_BYTES + 64));
    for i in 1..=WRITES {
        let request = Request::SetData {
            path: PATH.into(),
            data: Some(value(i)),
            version: -1,
        };
        frames.extend_from_slice(&wire::encode_request(10 + i as i32, &request));
    }
    // The writer runs beside the reader: the server answers while it reads.
    let (mut read_half, mut write_half) = conn.stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write_half.write_all(&frames).await;
        write_half
    });
    let mut report = LoadReport::default();
    let read = async {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut answered = 0;
        while answered < WRITES {
            let body = match conn.frames.pop().expect("well-formed frames") {
                Some(body) => body,
                None => match read_half.read(&mut chunk).await {
                    Ok(0) | Err(_) => {
                        report.connection_closed = true;
                        break;
                    }
                    Ok(n) => {
                        conn.frames.push(&chunk[..n]);
                        continue;
                    }
                },
            };
            let (header, _) = wire::decode_reply(&body, ReplyKind::Stat).expect("a reply");
            if header.xid == wire::xid::WATCH_EVENT {
                continue;
            }
            answered += 1;
            if header.err == 0 {
                report.ok += 1;
            } else {
                report.errors.push((header.xid, header.err));
            }
        }
    };
    let _ = tokio::time::timeout(LOAD_LIMIT, read).await;
    report.unanswered = WRITES - report.ok - report.errors.len();
    writer.abort();
    report
}

#[test]
fn eighty_pipelined_megabyte_writes_to_a_follower_leave_a_leader_and_a_working_cluster() {
    common::run(async {
        let mut cluster = Cluster::new(Layout::three());
        let zk = start_with_zk(&mut cluster);
        let all = cluster.ids();
        let leader = cluster.wait_leader(&all, SETTLE).await.node_id;
        let (follower, follower_zk) = *zk.iter().find(|(id, _)| *id != leader).unwrap();

        let mut conn = ZkStream::connect(follower_zk, SETTLE).await;
        let create = Request::Create {
            kind: wire::CreateKind::Create,
            path: PATH.into(),
            data: Some(b"0".to_vec()),
            acl: synod_bench::zk::open_acl(),
            flags: 0,
        };
        let (header, _) = conn.call(1, create).await;
        assert_eq!(header.err, 0, "creating {PATH}");

        let started = Instant::now();
        let report = pipeline_writes(conn).await;
        println!(
            "{WRITES} pipelined setData of {VALUE_BYTES} bytes to follower {follower} (leader {leader}): \
             {report:?} after {:?}",
            started.elapsed()
        );

        // Whatever became of the writes: a leader and a write within two
        // election timeouts.
        let limit = Duration::from_millis(2 * ELECTION_TIMEOUT_MS);
        let since = Instant::now();
        let leader_now = cluster.wait_leader(&all, limit).await;
        let found = since.elapsed();
        let left = limit.saturating_sub(found);
        let mut client = cluster
            .client(&all, left.max(Duration::from_millis(1)))
            .await;
        client
            .put(b"after-the-load", b"ok")
            .await
            .unwrap_or_else(|e| {
                panic!(
                "no native put within {limit:?} of the load (leader {} found after {found:?}): {e}",
                leader_now.node_id
            )
            });
        println!(
            "leader {} (ballot {}.{}) and a put within {:?}",
            leader_now.node_id,
            leader_now.ballot.round,
            leader_now.ballot.node,
            since.elapsed()
        );

        // Each write applied was one of the values sent; all answered ok
        // means the last one sent is the node's data.
        let mut reader = ZkStream::connect(zk[0].1, SETTLE).await;
        let sync = Request::Sync { path: PATH.into() };
        assert_eq!(reader.call(1, sync).await.0.err, 0);
        let get = Request::GetData {
            path: PATH.into(),
            watch: false,
        };
        let (header, body) = reader.call(2, get).await;
        assert_eq!(header.err, 0);
        let Response::GetData {
            data: Some(data),
            stat,
        } = body
        else {
            panic!("{body:?}")
        };
        let written = (1..=WRITES).find(|&i| data == value(i));
        assert!(
            written.is_some(),
            "{PATH} holds {} bytes that are none of the values written",
            data.len()
        );
        assert_eq!(
            report.ok, WRITES,
            "every write is answered ok, as ZooKeeper 3.8 answers them"
        );
        assert_eq!((written, stat.version), (Some(WRITES), WRITES as i32));
    })
}
