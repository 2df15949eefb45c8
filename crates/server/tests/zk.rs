//! The ZooKeeper front door on three in-process servers with real sockets:
//! a minimal client built on synod-zkproto talks to them as kazoo would.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_server::{Member, ServerConfig, ZkKnobs};
use synod_zkproto as wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wire::{ReplyKind, Request, Response};

use common::free_addr;

struct Cluster {
    zk: Vec<SocketAddr>,
    stops: Vec<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    cluster_with(ZkKnobs::default()).await
}

async fn cluster_with(zk_knobs: ZkKnobs) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let members: BTreeMap<String, Member> = (1..=3)
        .map(|id: u64| {
            (
                id.to_string(),
                Member {
                    peer: free_addr().into(),
                    client: free_addr().into(),
                },
            )
        })
        .collect();
    let mut zk = Vec::new();
    let mut stops = Vec::new();
    for id in 1..=3u64 {
        let addr = free_addr();
        zk.push(addr);
        let cfg = ServerConfig {
            zk_listen: Some(addr),
            zk: zk_knobs.clone(),
            ..common::node_config(id, 9, dir.path(), &members)
        };
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        tokio::spawn(synod_server::serve(cfg, async move {
            let _ = stopped.await;
        }));
    }
    Cluster {
        zk,
        stops,
        _dir: dir,
    }
}

/// A bare ZooKeeper client: one request at a time, events collected.
struct Client {
    stream: TcpStream,
    session: i64,
    passwd: Vec<u8>,
    xid: i32,
    last_zxid: i64,
    events: Vec<wire::WatcherEvent>,
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

impl Client {
    /// Connects, retrying until the cluster has a leader to create the
    /// session through.
    async fn connect(addr: SocketAddr, session: i64, passwd: Vec<u8>) -> Client {
        Self::resume(addr, session, passwd, 0).await
    }

    /// Connects with the zxid the client has seen: a server that has not
    /// applied that far refuses, and the client tries again.
    async fn resume(
        addr: SocketAddr,
        session: i64,
        passwd: Vec<u8>,
        last_zxid_seen: i64,
    ) -> Client {
        for _ in 0..100 {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let request = wire::ConnectRequest {
                protocol_version: 0,
                last_zxid_seen,
                timeout_ms: 10_000,
                session_id: session,
                passwd: passwd.clone(),
                read_only: Some(false),
            };
            // A server that refused the socket at accept may have closed
            // it already: try again, as a client would.
            if stream
                .write_all(&wire::encode_connect_request(&request))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let answer =
                tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream)).await;
            if let Ok(Some(body)) = answer {
                let r = wire::decode_connect_response(&body).unwrap();
                return Client {
                    stream,
                    session: r.session_id,
                    passwd: r.passwd,
                    xid: 0,
                    last_zxid: 0,
                    events: Vec::new(),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no session from {addr}");
    }

    async fn call(&mut self, request: Request) -> (wire::ReplyHeader, Response) {
        self.xid += 1;
        let kind = request.reply_kind();
        self.stream
            .write_all(&wire::encode_request(self.xid, &request))
            .await
            .unwrap();
        loop {
            let body = read_frame(&mut self.stream).await.expect("a reply");
            let (header, response) = wire::decode_reply(&body, kind).unwrap();
            if header.xid == wire::xid::WATCH_EVENT {
                let Response::WatchEvent(e) = response else {
                    panic!()
                };
                self.events.push(e);
                continue;
            }
            assert_eq!(header.xid, self.xid, "replies come in request order");
            self.last_zxid = self.last_zxid.max(header.zxid);
            return (header, response);
        }
    }

    /// Waits for the next watch event.
    async fn event(&mut self) -> wire::WatcherEvent {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        let body = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut self.stream))
            .await
            .expect("an event in time")
            .expect("the connection stays open");
        match wire::decode_reply(&body, ReplyKind::Empty).unwrap() {
            (_, Response::WatchEvent(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }
}

fn open_acl() -> Vec<wire::Acl> {
    vec![wire::Acl {
        perms: wire::perms::ALL,
        id: wire::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create {
        kind: wire::CreateKind::Create2,
        path: path.into(),
        data: Some(data.to_vec()),
        acl: open_acl(),
        flags,
    }
}

async fn four_letter(addr: SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(word.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_takes_writes_reads_its_own_and_tells_watchers_on_the_others() {
    let c = cluster().await;
    let mut watcher = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    let mut writers = Vec::new();
    for addr in &c.zk {
        writers.push(Client::connect(*addr, 0, vec![0; 16]).await);
    }
    let (h, _) = watcher
        .call(Request::Exists {
            path: "/k0".into(),
            watch: true,
        })
        .await;
    assert_eq!(h.err, wire::err::NO_NODE);
    for (i, w) in writers.iter_mut().enumerate() {
        let path = format!("/k{i}");
        let (h, _) = w.call(create(&path, b"v", 0)).await;
        assert_eq!(h.err, 0, "create on server {}", i + 1);
        // Read-your-writes on whichever server the session is on.
        let (h, r) = w
            .call(Request::GetData {
                path: path.clone(),
                watch: false,
            })
            .await;
        assert_eq!(h.err, 0);
        let Response::GetData { data, stat } = r else {
            panic!()
        };
        assert_eq!((data.as_deref(), stat.version), (Some(&b"v"[..]), 0));
    }
    let e = watcher.event().await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (wire::event_type::NODE_CREATED, "/k0")
    );
    for s in c.stops {
        let _ = s.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_on_another_server_and_keeps_its_ephemeral() {
    let c = cluster().await;
    let mut first = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    let (h, _) = first.call(create("/eph", b"", 1)).await;
    assert_eq!(h.err, 0);
    let (session, passwd, seen) = (first.session, first.passwd.clone(), first.last_zxid);
    drop(first); // the TCP connection drops; the session does not end
    let mut second = Client::resume(c.zk[1], session, passwd, seen).await;
    assert_eq!(second.session, session, "the same session, not a new one");
    let (h, r) = second
        .call(Request::Exists {
            path: "/eph".into(),
            watch: false,
        })
        .await;
    assert_eq!(h.err, 0);
    let Response::Stat { stat } = r else { panic!() };
    assert_eq!(stat.ephemeral_owner, session);
    // Closing the session deletes its ephemeral.
    let (h, _) = second.call(Request::CloseSession).await;
    assert_eq!(h.err, 0);
    let mut third = Client::connect(c.zk[2], 0, vec![0; 16]).await;
    // A new session on server 3 sees the delete once its server applied
    // the close; sync makes sure.
    third.call(Request::Sync { path: "/".into() }).await;
    let (h, _) = third
        .call(Request::Exists {
            path: "/eph".into(),
            watch: false,
        })
        .await;
    assert_eq!(h.err, wire::err::NO_NODE);
    for s in c.stops {
        let _ = s.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_closes_only_that_connection_and_four_letter_words_answer() {
    let c = cluster_with(ZkKnobs {
        four_letter_words: vec!["*".into()],
        ..ZkKnobs::default()
    })
    .await;
    let mut good = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    assert_eq!(four_letter(c.zk[0], "ruok").await, "imok");
    assert!(four_letter(c.zk[0], "srvr").await.contains("Mode: "));
    assert!(four_letter(c.zk[0], "envi")
        .await
        .contains("zookeeper.version=3.8"));
    assert!(four_letter(c.zk[0], "mntr")
        .await
        .contains("zk_znode_count\t"));

    // An oversized length prefix.
    let mut bad = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    bad.stream
        .write_all(&(64 * 1024 * 1024i32).to_be_bytes())
        .await
        .unwrap();
    assert!(read_frame(&mut bad.stream).await.is_none(), "closed");
    // A request with an opcode nobody knows.
    let mut bad = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    let mut frame = 8i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&4242i32.to_be_bytes());
    bad.stream.write_all(&frame).await.unwrap();
    assert!(read_frame(&mut bad.stream).await.is_none(), "closed");
    // A truncated body inside a well-formed frame.
    let mut bad = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    let mut frame = 10i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&wire::op::CREATE.to_be_bytes());
    frame.extend_from_slice(&[0, 9]);
    bad.stream.write_all(&frame).await.unwrap();
    assert!(read_frame(&mut bad.stream).await.is_none(), "closed");
    // SASL on a server without SASL users fails as a wrong password does:
    // AuthFailed (a second late), then the connection closes.
    let mut bad = Client::connect(c.zk[0], 0, vec![0; 16]).await;
    let mut frame = 12i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&77i32.to_be_bytes());
    frame.extend_from_slice(&wire::op::SASL.to_be_bytes());
    frame.extend_from_slice(&0i32.to_be_bytes());
    bad.stream.write_all(&frame).await.unwrap();
    let body = read_frame(&mut bad.stream).await.unwrap();
    let (h, _) = wire::decode_reply(&body, ReplyKind::Empty).unwrap();
    assert_eq!((h.xid, h.err), (77, wire::err::AUTH_FAILED));
    assert!(read_frame(&mut bad.stream).await.is_none(), "closed");

    // The well-behaved client was never disturbed.
    let (h, _) = good.call(create("/still-here", b"", 0)).await;
    assert_eq!(h.err, 0);
    for s in c.stops {
        let _ = s.send(());
    }
}

/// Whether the server closed `stream` without a byte (within a deadline:
/// a socket left hanging fails the test).
async fn closed_at_once(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
        .await
        .expect("the server closes a refused socket, not leaves it hanging");
    matches!(read, Ok(0) | Err(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_beyond_max_client_cnxns_from_one_address_are_closed_at_accept() {
    let c = cluster_with(ZkKnobs {
        max_client_cnxns: 3,
        ..ZkKnobs::default()
    })
    .await;
    let addr = c.zk[0];
    // One session and two sockets that never say a word: three from 127.0.0.1.
    let mut client = Client::connect(addr, 0, vec![0; 16]).await;
    let idle = TcpStream::connect(addr).await.unwrap();
    let _idle2 = TcpStream::connect(addr).await.unwrap();
    // The fourth is closed before anything is read from it.
    let mut over = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_at_once(&mut over).await,
        "a fourth socket was admitted"
    );
    // The admitted session is served as before.
    let (header, _) = client
        .call(Request::Exists {
            path: "/".into(),
            watch: false,
        })
        .await;
    assert_eq!(header.err, 0);
    // A socket that closes gives its place back: a new session gets in.
    drop(idle);
    let mut again = Client::connect(addr, 0, vec![0; 16]).await;
    let (header, _) = again
        .call(Request::Exists {
            path: "/".into(),
            watch: false,
        })
        .await;
    assert_eq!(header.err, 0);
    // The limit is per address: another server of the cluster is not affected.
    let _other = Client::connect(c.zk[1], 0, vec![0; 16]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_allowed_four_letter_words_are_answered() {
    // The default list, as ZooKeeper's 4lw.commands.whitelist: srvr, ruok, mntr.
    let c = cluster().await;
    let addr = c.zk[0];
    let _client = Client::connect(addr, 0, vec![0; 16]).await;
    assert_eq!(four_letter(addr, "ruok").await, "imok");
    assert!(four_letter(addr, "srvr").await.contains("Mode: "));
    assert!(four_letter(addr, "mntr").await.contains("zk_znode_count\t"));
    for word in ["conf", "cons", "dump", "envi", "wchc", "stat"] {
        assert_eq!(
            four_letter(addr, word).await,
            format!("{word} is not executed because it is not in the whitelist.\n")
        );
    }
}
