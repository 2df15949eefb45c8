//! The admin listener on in-process servers with real sockets, disks and
//! clocks: what `/health`, `/readyz` and `/livez` answer as a cluster
//! comes up, that `/metrics` is valid Prometheus text naming every metric
//! the README lists (and passes `promtool check metrics` when promtool is
//! installed; `SYNOD_REQUIRE_PROMTOOL=1`, set by scripts/test.sh, makes its
//! absence a failure), that the counters move with writes, the listener's
//! limits, and HTTPS with `[access]` (the page and metrics need the read
//! right, probes stay open).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use synod_server::{Member, ServerConfig};
use synod_zkproto as wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Every metric the README's Monitoring section promises.
const METRICS: &[&str] = &[
    "synod_has_leader",
    "synod_is_leader",
    "synod_leader_changes_seen_total",
    "synod_proposals_committed_total",
    "synod_proposals_applied_total",
    "synod_proposals_pending",
    "synod_wal_fsync_duration_seconds",
    "synod_snapshot_save_duration_seconds",
    "synod_peer_round_trip_time_seconds",
    "synod_peer_sent_bytes_total",
    "synod_peer_received_bytes_total",
    "synod_zk_connections",
    "synod_zk_requests_total",
    "synod_zk_request_duration_seconds",
    "synod_sessions",
    "synod_znodes",
    "synod_watches",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// Every wait in these tests ends by this.
const WAIT: Duration = Duration::from_secs(20);

use common::free_addr;

/// Three members' configs (each with a ZooKeeper and an admin port); none
/// started.
struct Cluster {
    configs: Vec<ServerConfig>,
    stops: BTreeMap<u64, oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let members: BTreeMap<String, Member> = (1..=3u64)
            .map(|id| {
                let m = Member {
                    peer: free_addr().into(),
                    client: free_addr().into(),
                };
                (id.to_string(), m)
            })
            .collect();
        let configs = (1..=3u64)
            .map(|id| ServerConfig {
                zk_listen: Some(free_addr()),
                admin_listen: Some(free_addr()),
                ..common::node_config(id, 42, dir.path(), &members)
            })
            .collect();
        Cluster {
            configs,
            stops: BTreeMap::new(),
            _dir: dir,
        }
    }

    fn config(&self, id: u64) -> &ServerConfig {
        &self.configs[id as usize - 1]
    }

    fn admin(&self, id: u64) -> SocketAddr {
        self.config(id).admin_listen.unwrap()
    }

    fn start(&mut self, id: u64) {
        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.insert(id, stop);
        tokio::spawn(synod_server::serve(self.config(id).clone(), async move {
            let _ = stopped.await;
        }));
    }
}

/// A GET over HTTP/1.0: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8(answer).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Polls `path` until `accept` takes the answer; panics with the last
/// answer after `WAIT`.
async fn wait_for(
    addr: SocketAddr,
    path: &str,
    accept: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let start = Instant::now();
    loop {
        let answer = get(addr, path).await;
        if let Some((status, body)) = &answer {
            if accept(*status, body) {
                return (*status, body.clone());
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "{path} on {addr} never answered as expected; last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readyz_say_no_leader_on_a_lone_node_and_ok_once_a_majority_is_up() {
    let mut cluster = Cluster::new();
    cluster.start(1);
    let admin = cluster.admin(1);
    let (status, body) = wait_for(admin, "/livez", |s, _| s == 200).await;
    assert_eq!(body, "ok\n");

    // Alone, 1 of 3: no leader can be elected.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (status_h, body_h) = get(admin, "/health").await.expect("an answer");
    assert_eq!(status_h, 503, "{body_h}");
    let h = json(&body_h);
    assert_eq!(h["health"], "false");
    assert_eq!(h["reason"], "no leader");
    assert_eq!(h["leader"], serde_json::Value::Null);
    assert_eq!(h["node"], 1);
    let (status_r, body_r) = get(admin, "/readyz").await.expect("an answer");
    assert_eq!((status_r, body_r.as_str()), (503, "not ready: no leader\n"));
    assert_eq!(status, 200);

    // A majority: a leader, and both answers turn.
    cluster.start(2);
    let (_, body) = wait_for(admin, "/health", |s, _| s == 200).await;
    let h = json(&body);
    assert_eq!(h["health"], "true");
    assert_eq!(h["reason"], "");
    let leader = h["leader"].as_u64().expect("a leader id");
    assert!(leader == 1 || leader == 2, "{body}");
    assert!(h["applied"].as_u64() <= h["commit"].as_u64(), "{body}");
    assert_eq!(h["lag_slots_max"], 1000);
    wait_for(admin, "/readyz", |s, b| s == 200 && b == "ok\n").await;
    let (status, _) = get(admin, "/livez").await.expect("an answer");
    assert_eq!(status, 200);
}

/// Opens a ZooKeeper session at `addr` (retrying until the cluster can
/// create it), creates `count` znodes one after the other, then closes.
async fn zk_writes(addr: SocketAddr, count: usize) {
    let start = Instant::now();
    let mut stream = loop {
        assert!(start.elapsed() < WAIT, "no ZooKeeper session from {addr}");
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let connect = wire::ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        stream
            .write_all(&wire::encode_connect_request(&connect))
            .await
            .unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream)).await;
        if let Ok(Some(_)) = answered {
            break stream;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for i in 0..count {
        let request = wire::Request::Create {
            kind: wire::CreateKind::Create2,
            path: format!("/admin-test-{i}"),
            data: Some(b"x".to_vec()),
            acl: vec![wire::Acl {
                perms: wire::perms::ALL,
                id: wire::Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            flags: 0,
        };
        let kind = request.reply_kind();
        let xid = i as i32 + 1;
        stream
            .write_all(&wire::encode_request(xid, &request))
            .await
            .unwrap();
        let body = read_frame(&mut stream).await.expect("a reply");
        let (header, _) = wire::decode_reply(&body, kind).unwrap();
        assert_eq!((header.xid, header.err), (xid, 0), "create {i} succeeds");
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// The scrape parsed: every sample by name, labels ignored (summed).
fn samples(text: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the text format parses");
    let mut by_name = BTreeMap::new();
    for s in &scrape.samples {
        let v = match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        *by_name.entry(s.metric.clone()).or_insert(0.0) += v;
    }
    for name in scrape.docs.keys() {
        by_name.entry(name.clone()).or_insert(f64::NAN);
    }
    by_name
}

/// Runs `promtool check metrics` on `text` if promtool is installed.
fn promtool_check(text: &str) {
    use std::io::Write;
    let required = std::env::var_os("SYNOD_REQUIRE_PROMTOOL").is_some();
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            assert!(
                !required,
                "SYNOD_REQUIRE_PROMTOOL is set but promtool cannot run: {e}"
            );
            eprintln!("promtool not installed: `promtool check metrics` skipped");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_name_every_metric_pass_promtool_and_count_committed_writes() {
    let mut cluster = Cluster::new();
    for id in 1..=3 {
        cluster.start(id);
    }
    let (_, body) = wait_for(cluster.admin(1), "/health", |s, _| s == 200).await;
    let leader = json(&body)["leader"].as_u64().unwrap();
    let admin = cluster.admin(leader);
    // The leader times heartbeats to both peers.
    let (_, before) = wait_for(admin, "/metrics", |s, b| {
        s == 200
            && b.matches("synod_peer_round_trip_time_seconds_count")
                .count()
                == 2
            && {
                let m = samples(b);
                m["synod_peer_round_trip_time_seconds_count"] >= 1.0
            }
    })
    .await;
    let before = samples(&before);
    assert_eq!(before["synod_is_leader"], 1.0);
    assert_eq!(before["synod_has_leader"], 1.0);

    let zk = cluster.config(leader).zk_listen.unwrap();
    zk_writes(zk, 5).await;

    let (status, text) = get(admin, "/metrics").await.expect("an answer");
    assert_eq!(status, 200);
    promtool_check(&text);
    let after = samples(&text);
    for name in METRICS {
        let present = after.contains_key(*name)
            || after.contains_key(&format!("{name}_count"))
            || text.contains(&format!("# HELP {name} "));
        assert!(present, "{name} missing from /metrics:\n{text}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    let committed = |m: &BTreeMap<String, f64>| m["synod_proposals_committed_total"];
    assert!(
        committed(&after) >= committed(&before) + 5.0,
        "5 writes, each its own slot: committed {} -> {}",
        committed(&before),
        committed(&after)
    );
    assert!(
        after["synod_proposals_applied_total"] >= before["synod_proposals_applied_total"] + 5.0
    );
    assert!(after["synod_zk_requests_total"] >= 5.0, "{text}");
    assert!(
        text.contains(r#"synod_zk_requests_total{op="create2"} 5"#),
        "{text}"
    );
    assert!(after["synod_zk_request_duration_seconds_count"] >= 5.0);
    assert!(after["synod_wal_fsync_duration_seconds_count"] >= 5.0);
    assert!(after["synod_znodes"] >= 6.0, "the root and 5 znodes");
    assert!(after["synod_peer_sent_bytes_total"] > 0.0);
    assert!(after["synod_peer_received_bytes_total"] > 0.0);
    assert!(after["synod_leader_changes_seen_total"] >= 1.0);
    assert!(after["process_resident_memory_bytes"] > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_names_the_leader_and_every_member_and_unknown_paths_are_404() {
    let mut cluster = Cluster::new();
    for id in 1..=3 {
        cluster.start(id);
    }
    let (_, body) = wait_for(cluster.admin(2), "/health", |s, _| s == 200).await;
    let leader = json(&body)["leader"].as_u64().unwrap();
    let (status, page) = wait_for(cluster.admin(2), "/", |s, b| {
        s == 200 && b.contains(&format!(r#"data-leader="{leader}""#))
    })
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<span id="node-id">2</span>"#), "{page}");
    for id in 1..=3u64 {
        assert!(page.contains(&format!(r#"data-node="{id}""#)), "{page}");
        let peer = cluster.config(id).peer_listen.to_string();
        assert!(
            page.contains(&peer),
            "member {id}'s address {peer}:\n{page}"
        );
    }
    let (status, _) = get(cluster.admin(2), "/nothing-here").await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_connections_beyond_the_limit_are_answered_503_at_once() {
    let mut cluster = Cluster::new();
    cluster.start(1);
    let admin = cluster.admin(1);
    wait_for(admin, "/livez", |s, _| s == 200).await;
    // Connections that never send a request hold their slots until the
    // head timeout.
    let mut idle = Vec::new();
    for _ in 0..synod_server::admin::CONNECTIONS_MAX {
        idle.push(TcpStream::connect(admin).await.unwrap());
    }
    let (status, body) = wait_for(admin, "/livez", |s, _| s == 503).await;
    assert_eq!(body, "too many admin connections.\r\n");
    assert_eq!(status, 503);
    drop(idle);
    wait_for(admin, "/livez", |s, _| s == 200).await;
}

/// A GET over TLS (trusting `ca`, with `cert` if given) and with `token`
/// as a bearer token if given: the status code and the body; `None` if
/// the connection failed.
async fn get_tls(
    addr: SocketAddr,
    path: &str,
    ca: &synod_net::certs::ClusterCa,
    cert: Option<&synod_net::certs::Issued>,
    token: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = common::tls_client(addr, ca, cert).await.ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    // A backup's body is binary: only its head must be text.
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_with_access_the_page_and_metrics_need_the_read_right_and_probes_stay_open() {
    use synod_net::certs::ClusterCa;
    use synod_server::{AccessConfig, ClientAuth, ClientTlsFiles};
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate("test", 30).unwrap();
    let node = ca.issue_node(1, &["127.0.0.1".into()], 30).unwrap();
    let root = ca.issue_client("root", 30).unwrap();
    let app = ca.issue_client("app", 30).unwrap();
    let member = Member {
        peer: free_addr().into(),
        client: free_addr().into(),
    };
    let members: BTreeMap<String, Member> = [("1".to_string(), member)].into_iter().collect();
    let admin = free_addr();
    let write = |name: &str, text: &str| common::write(dir.path(), name, text);
    let cfg = ServerConfig {
        admin_listen: Some(admin),
        admin: synod_server::AdminKnobs {
            tls: true,
            ..Default::default()
        },
        client_tls: Some(ClientTlsFiles {
            cert: write("node.crt", &node.cert_pem),
            key: write("node.key", &node.key_pem),
            ca: Some(write("ca.crt", ca.cert_pem())),
            // Need on the client ports; the admin port only wants one.
            client_auth: ClientAuth::Need,
            grpc: false,
            crl: None,
        }),
        access: Some(AccessConfig {
            admins: vec!["root".into()],
            writers: vec!["app".into()],
            readers: vec!["dash".into()],
            tokens: [(
                "dash".to_string(),
                synod_server::access::token_hash_text("dash-secret"),
            )]
            .into_iter()
            .collect(),
        }),
        ..common::node_config(1, 9, dir.path(), &members)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(synod_server::serve(cfg, async move {
        let _ = stopped.await;
    }));
    // Probes need nothing: no certificate, no token.
    let start = Instant::now();
    while get_tls(admin, "/livez", &ca, None, None).await.map(|a| a.0) != Some(200) {
        assert!(start.elapsed() < WAIT, "/livez never answered 200 over TLS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = get_tls(admin, "/health", &ca, None, None).await.unwrap();
    assert!(status == 200 || status == 503, "/health answers: {status}");
    for path in ["/metrics", "/"] {
        let (status, body) = get_tls(admin, path, &ca, None, None).await.unwrap();
        assert_eq!(status, 401, "{path} without an identity: {body}");
        let (status, _) = get_tls(admin, path, &ca, None, Some("wrong"))
            .await
            .unwrap();
        assert_eq!(status, 401, "{path} with an unknown token");
        // A writer has the read right too; a name [access] does not list
        // has none.
        let (status, body) = get_tls(admin, path, &ca, Some(&app), None).await.unwrap();
        assert_eq!(status, 200, "{path} with the writer's certificate: {body}");
        let (status, _) = get_tls(admin, path, &ca, Some(&root), None).await.unwrap();
        assert_eq!(status, 200, "{path} with the admin's certificate");
    }
    let stranger = ca.issue_client("stranger", 30).unwrap();
    let (status, body) = get_tls(admin, "/metrics", &ca, Some(&stranger), None)
        .await
        .unwrap();
    assert_eq!(status, 403, "a certificate [access] does not name: {body}");
    let (status, body) = get_tls(admin, "/metrics", &ca, None, Some("dash-secret"))
        .await
        .unwrap();
    assert_eq!(status, 200, "the reader's token");
    assert!(body.contains("synod_has_leader"), "{body}");
    // A backup needs the admin right: the reader and the writer get 403,
    // no identity 401, the admin the file (this lone node leads).
    let (status, _) = get_tls(admin, "/snapshot", &ca, None, Some("dash-secret"))
        .await
        .unwrap();
    assert_eq!(status, 403, "a reader may not take a backup");
    let (status, _) = get_tls(admin, "/snapshot", &ca, Some(&app), None)
        .await
        .unwrap();
    assert_eq!(status, 403, "a writer may not take a backup");
    let (status, _) = get_tls(admin, "/snapshot", &ca, None, None).await.unwrap();
    assert_eq!(status, 401);
    let start = Instant::now();
    loop {
        let (status, body) = get_tls(admin, "/snapshot", &ca, Some(&root), None)
            .await
            .unwrap();
        if status == 200 {
            assert!(
                body.starts_with("SYNOD-BACKUP 2\n"),
                "{}",
                &body[..body.len().min(200)]
            );
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "no backup for the admin: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Plain HTTP on the HTTPS port gets no answer.
    assert_eq!(get(admin, "/livez").await, None);
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, server).await;
}
