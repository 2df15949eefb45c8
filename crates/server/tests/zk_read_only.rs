//! Read-only mode (`[zk] read_only_mode`) on three in-process servers with
//! real sockets: with two of them stopped, the third serves a read-only
//! client's reads from its own tree, refuses its writes, refuses normal
//! clients and says "ro" to `isro`; once the two are back it closes the
//! read-only connection and serves everyone normally again.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use synod_server::{Member, ServerConfig, ZkKnobs};
use synod_zkproto as wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wire::{Request, Response};

use common::free_addr;

/// How long the whole test may take: a cut-off server turns read-only an
/// election timeout (300 ms here) plus 3 s after it lost its quorum.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a state the test waits for may take to arrive.
const WAIT: Duration = Duration::from_secs(20);

struct Server {
    cfg: ServerConfig,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn spawn(cfg: ServerConfig) -> Server {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(synod_server::serve(cfg.clone(), async move {
        let _ = stopped.await;
    }));
    Server { cfg, stop, task }
}

impl Server {
    async fn stop(self) -> ServerConfig {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
        self.cfg
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// One connect attempt: the stream and the server's answer, or `None` when
/// the server closed the socket unanswered (it refused the client).
async fn try_connect(
    addr: SocketAddr,
    read_only: bool,
) -> Option<(TcpStream, wire::ConnectResponse)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = wire::ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(read_only),
    };
    stream
        .write_all(&wire::encode_connect_request(&request))
        .await
        .ok()?;
    let body = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream))
        .await
        .ok()??;
    Some((stream, wire::decode_connect_response(&body).unwrap()))
}

/// Connects, trying again until the server answers.
async fn connect(addr: SocketAddr, read_only: bool) -> (TcpStream, wire::ConnectResponse) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(connected) = try_connect(addr, read_only).await {
            return connected;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no session from {addr}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(stream: &mut TcpStream, xid: i32, request: Request) -> (wire::ReplyHeader, Response) {
    let kind = request.reply_kind();
    stream
        .write_all(&wire::encode_request(xid, &request))
        .await
        .unwrap();
    let body = read_frame(stream).await.expect("a reply");
    let (header, response) = wire::decode_reply(&body, kind).unwrap();
    assert_eq!(header.xid, xid);
    (header, response)
}

async fn four_letter(addr: SocketAddr, word: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return String::new();
    };
    let _ = s.write_all(word.as_bytes()).await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

async fn wait_for_isro(addr: SocketAddr, want: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = four_letter(addr, "isro").await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "isro stayed {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn create(path: &str) -> Request {
    Request::Create {
        kind: wire::CreateKind::Create,
        path: path.into(),
        data: Some(b"before".to_vec()),
        acl: vec![wire::Acl {
            perms: wire::perms::ALL,
            id: wire::Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }],
        flags: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cut_off_serves_read_only_clients_until_its_quorum_returns() {
    let dir = tempfile::tempdir().unwrap();
    let members: BTreeMap<String, Member> = (1..=3)
        .map(|id: u64| {
            let member = Member {
                peer: free_addr().into(),
                client: free_addr().into(),
            };
            (id.to_string(), member)
        })
        .collect();
    let knobs = ZkKnobs {
        read_only_mode: true,
        four_letter_words: vec!["*".into()],
        ..ZkKnobs::default()
    };
    let zk: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
    let result = tokio::time::timeout(TEST_TIMEOUT, async {
        let mut servers: Vec<Server> = (1..=3u64)
            .map(|id| {
                spawn(ServerConfig {
                    zk_listen: Some(zk[id as usize - 1]),
                    zk: knobs.clone(),
                    ..common::node_config(id, 11, dir.path(), &members)
                })
            })
            .collect();

        // A write through server 1, which applied it before answering.
        let (mut writer, session) = connect(zk[0], false).await;
        assert_eq!(session.read_only, Some(false));
        assert_eq!(call(&mut writer, 1, create("/kept")).await.0.err, 0);
        assert_eq!(four_letter(zk[0], "isro").await, "rw");

        // Servers 2 and 3 stop: server 1 is cut off.
        let stopped = [
            servers.remove(2).stop().await,
            servers.remove(1).stop().await,
        ];
        wait_for_isro(zk[0], "ro").await;
        assert!(four_letter(zk[0], "srvr").await.contains("Mode: read-only"));
        assert!(
            read_frame(&mut writer).await.is_none(),
            "the normal connection was closed"
        );
        assert!(
            try_connect(zk[0], false).await.is_none(),
            "a normal client is refused"
        );

        let (mut reader, session) = connect(zk[0], true).await;
        assert_eq!(session.read_only, Some(true));
        assert!(synod_front::is_read_only_session(session.session_id));
        let (h, body) = call(
            &mut reader,
            1,
            Request::GetData {
                path: "/kept".into(),
                watch: false,
            },
        )
        .await;
        assert_eq!(h.err, 0);
        assert!(matches!(body, Response::GetData { data, .. } if data.as_deref() == Some(&b"before"[..])));
        let (h, _) = call(&mut reader, 2, create("/refused")).await;
        assert_eq!(h.err, wire::err::NOT_READ_ONLY);
        assert_eq!(call(&mut reader, 3, Request::Ping).await.0.err, 0);

        // The two come back: server 1 has a leader again.
        for cfg in stopped {
            servers.push(spawn(ServerConfig { init: false, ..cfg }));
        }
        wait_for_isro(zk[0], "rw").await;
        assert!(
            tokio::time::timeout(WAIT, read_frame(&mut reader))
                .await
                .expect("the read-only connection is closed in time")
                .is_none(),
            "the read-only connection was closed"
        );
        // A read-only client now gets a normal session, and writes work.
        let (mut writer, session) = connect(zk[0], true).await;
        assert_eq!(session.read_only, Some(false));
        assert!(!synod_front::is_read_only_session(session.session_id));
        assert_eq!(call(&mut writer, 1, create("/after")).await.0.err, 0);
        assert!(!four_letter(zk[0], "srvr").await.contains("read-only"));
    })
    .await;
    result.expect("the test finished in time");
}
