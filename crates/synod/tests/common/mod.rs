//! Shared harness of the real-process tests: writes TOML configs, spawns
//! `synod server` processes on loopback (each with its own data directory
//! and a log file that captures its stdout and stderr), kills and restarts
//! them, and waits for conditions with deadlines.
//!
//! Every wait is bounded: [`Deadline::tick`] panics once its time is up.
//! Every child process is killed (SIGKILL) when its [`Cluster`] is dropped,
//! also when the test fails, and the tail of each node's log is printed then
//! so a failure can be understood. With `SYNOD_TEST_KEEP=1` in the
//! environment a failed test keeps its directory (configs, data, logs).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use synod_client::{Client, ClientOptions, Role, StatusReply};

/// The engine timings every test cluster runs with.
pub const ELECTION_TIMEOUT_MS: u64 = 300;
pub const LEASE_MS: u64 = 250;
pub const HEARTBEAT_MS: u64 = 50;
pub const SNAPSHOT_INTERVAL_SLOTS: u64 = 50;

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(20);

/// The tests share two cores; running their clusters one at a time ([`run`]) keeps
/// their timings (and the measured failover) meaningful.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the lock that runs the real-process tests one at a time. A test
/// that failed while holding it does not stop the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one real-process test: takes the [`serial`] lock, then runs `test`
/// on a fresh two-thread tokio runtime.
pub fn run<F: std::future::Future>(test: F) -> F::Output {
    let _serial = serial();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(test)
}

/// Ports handed out in this test process, never handed out twice.
static PORTS_GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `n` distinct free loopback ports, chosen by the OS. All listeners are
/// held until all ports are picked, so the `n` differ; a global set keeps
/// two clusters of this process from ever getting the same port.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut given = PORTS_GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n * 20 {
        if ports.len() == n {
            break;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        let port = listener.local_addr().unwrap().port();
        if given.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    assert_eq!(ports.len(), n, "could not find {n} distinct free ports");
    ports
}

/// A point in time after which waiting is a test failure.
pub struct Deadline {
    end: Instant,
    what: String,
    limit: Duration,
}

impl Deadline {
    pub fn new(what: impl Into<String>, limit: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + limit,
            what: what.into(),
            limit,
        }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Sleeps one poll interval, or panics if the deadline passed.
    pub async fn tick(&self) {
        if self.expired() {
            panic!("timed out after {:?}: {}", self.limit, self.what);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Tokens of [`Cluster::new_secure`]: an admin's and a reader's.
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
pub const READER_TOKEN: &str = "reader-token-for-tests";

/// Client options for tests: short per-request timeouts so a dead node is
/// skipped quickly, and a bounded total deadline per operation.
pub fn client_options(deadline: Duration) -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(300),
        deadline,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..ClientOptions::default()
    }
}

/// How a cluster is laid out.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Members 1..=members are listed in every config.
    pub members: u64,
    /// `initial_voters`; `None` leaves it out (every member votes).
    pub initial_voters: Option<Vec<u64>>,
    /// The body of a `[shards]` section: the sharded tier (no admin
    /// listener then).
    pub shards: Option<String>,
}

impl Layout {
    pub fn three() -> Layout {
        Layout {
            members: 3,
            initial_voters: None,
            shards: None,
        }
    }

    /// Three servers hosting the controller and `groups` replica groups
    /// over `shards` shards.
    pub fn sharded(groups: u32, shards: u32) -> Layout {
        Layout {
            shards: Some(format!("groups = {groups}\nshard_count = {shards}\n")),
            ..Layout::three()
        }
    }
}

/// One member: its addresses, files and, while it runs, its process.
pub struct Node {
    pub id: u64,
    pub peer: SocketAddr,
    pub client: SocketAddr,
    /// The admin HTTP listener (`/health`, `/snapshot`, ...).
    pub admin: SocketAddr,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    /// The log file of the latest start (stdout and stderr).
    pub log: PathBuf,
    starts: u32,
    child: Option<Child>,
    /// `RUST_LOG` for this node's next start.
    pub log_filter: String,
}

impl Node {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Real `synod server` processes in a temporary directory.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Node>,
    layout: Layout,
    cluster_id: u64,
    /// Peers use mutual TLS with certificates in `<dir>/tls`.
    peer_tls: bool,
    /// The gRPC ports speak TLS, client certificates wanted (and the
    /// harness presents `harness`).
    client_tls: bool,
    /// `[access]` holds: see [`Cluster::new_secure`].
    access: bool,
}

pub fn synod_exe() -> &'static str {
    env!("CARGO_BIN_EXE_synod")
}

impl Cluster {
    /// Writes the configs of every member; starts none.
    pub fn new(layout: Layout) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("synod-proc-")
            .tempdir()
            .expect("creating a temporary directory");
        let ports = free_ports(3 * layout.members as usize);
        let mut nodes = BTreeMap::new();
        for id in 1..=layout.members {
            let i = (id - 1) as usize;
            let node = Node {
                id,
                peer: SocketAddr::from(([127, 0, 0, 1], ports[3 * i])),
                client: SocketAddr::from(([127, 0, 0, 1], ports[3 * i + 1])),
                admin: SocketAddr::from(([127, 0, 0, 1], ports[3 * i + 2])),
                data_dir: dir.path().join(format!("n{id}")),
                config: dir.path().join(format!("n{id}.toml")),
                log: dir.path().join(format!("n{id}.0.log")),
                starts: 0,
                child: None,
                log_filter: "info".to_string(),
            };
            nodes.insert(id, node);
        }
        let cluster = Cluster {
            dir,
            nodes,
            layout,
            cluster_id: 42,
            peer_tls: false,
            client_tls: false,
            access: false,
        };
        for id in 1..=cluster.layout.members {
            cluster.write_config(id, false);
        }
        cluster
    }

    /// As [`Cluster::new`], with peers on mutual TLS: a CA and every
    /// member's certificate made by `synod certs` in `<dir>/tls`.
    pub fn new_with_peer_tls(layout: Layout) -> Cluster {
        let mut cluster = Cluster::new(layout);
        cluster.make_certs(&[]);
        cluster.peer_tls = true;
        for id in cluster.ids() {
            cluster.write_config(id, false);
        }
        cluster
    }

    /// Peers on mutual TLS, gRPC ports on TLS with client certificates
    /// wanted, and `[access]`: client certificate `harness` (which this
    /// harness uses) and the token `ADMIN_TOKEN` are admins, certificate
    /// `app` a writer, the token `READER_TOKEN` a reader.
    pub fn new_secure(layout: Layout) -> Cluster {
        let mut cluster = Cluster::new(layout);
        cluster.make_certs(&["harness", "app"]);
        cluster.peer_tls = true;
        cluster.client_tls = true;
        cluster.access = true;
        for id in cluster.ids() {
            cluster.write_config(id, false);
        }
        cluster
    }

    /// As [`Cluster::new_secure`] without `[access]` (which a sharded
    /// server does not serve yet): TLS between peers and on the gRPC ports.
    pub fn new_with_client_tls(layout: Layout) -> Cluster {
        let mut cluster = Cluster::new(layout);
        cluster.make_certs(&["harness"]);
        cluster.peer_tls = true;
        cluster.client_tls = true;
        for id in cluster.ids() {
            cluster.write_config(id, false);
        }
        cluster
    }

    /// `--ca --cert --key` of client certificate `name`, for `synod kv`.
    pub fn tls_args(&self, name: &str) -> Vec<String> {
        let tls = self.tls_dir();
        vec![
            "--ca".into(),
            tls.join("ca.crt").display().to_string(),
            "--cert".into(),
            tls.join(format!("client-{name}.crt")).display().to_string(),
            "--key".into(),
            tls.join(format!("client-{name}.key")).display().to_string(),
        ]
    }

    /// A CA, every member's node certificate and the named client
    /// certificates, made by `synod certs` in `<dir>/tls`.
    fn make_certs(&mut self, clients: &[&str]) {
        let tls = self.tls_dir();
        let certs = |args: &[&str]| {
            let out = Command::new(synod_exe())
                .arg("certs")
                .args(args)
                .arg("--dir")
                .arg(&tls)
                .output()
                .expect("running synod certs");
            assert!(out.status.success(), "synod certs {args:?}: {out:?}");
        };
        certs(&["create-ca", "--name", "test"]);
        for id in self.ids() {
            certs(&[
                "create-node",
                "--id",
                &id.to_string(),
                "--host",
                "127.0.0.1",
            ]);
        }
        for name in clients {
            certs(&["create-client", "--name", name]);
        }
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// Starts every member listed as an initial voter (all by default).
    pub fn start_all(layout: Layout) -> Cluster {
        let mut cluster = Cluster::new(layout);
        let voters: Vec<u64> = match &cluster.layout.initial_voters {
            Some(v) => v.clone(),
            None => cluster.ids(),
        };
        for id in voters {
            cluster.start(id);
        }
        cluster
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.is_running())
            .map(|n| n.id)
            .collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    /// Writes node `id`'s config; `join` makes it a joining learner.
    pub fn write_config(&self, id: u64, join: bool) {
        let node = &self.nodes[&id];
        let mut text = format!(
            "node_id = {id}\ncluster_id = {}\ndata_dir = \"{}\"\npeer_listen = \"{}\"\nclient_listen = \"{}\"\njoin = {join}\n",
            self.cluster_id,
            node.data_dir.display(),
            node.peer,
            node.client,
        );
        if self.layout.shards.is_none() {
            text.push_str(&format!("admin_listen = \"{}\"\n", node.admin));
        }
        if let Some(voters) = &self.layout.initial_voters {
            let list: Vec<String> = voters.iter().map(u64::to_string).collect();
            text.push_str(&format!("initial_voters = [{}]\n", list.join(", ")));
        }
        for m in self.nodes.values() {
            text.push_str(&format!(
                "\n[members.{}]\npeer = \"{}\"\nclient = \"{}\"\n",
                m.id, m.peer, m.client
            ));
        }
        if self.peer_tls {
            let tls = self.tls_dir();
            text.push_str(&format!(
                "\n[peer_tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                tls.join("ca.crt").display(),
                tls.join(format!("node-{id}.crt")).display(),
                tls.join(format!("node-{id}.key")).display(),
            ));
        }
        if self.client_tls {
            let tls = self.tls_dir();
            text.push_str(&format!(
                "\n[client_tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\nclient_auth = \"want\"\ngrpc = true\n",
                tls.join(format!("node-{id}.crt")).display(),
                tls.join(format!("node-{id}.key")).display(),
                tls.join("ca.crt").display(),
            ));
        }
        if self.access {
            text.push_str(&format!(
                "\n[access]\nadmins = [\"harness\", \"ops\"]\nwriters = [\"app\"]\nreaders = [\"dash\"]\n[access.tokens]\nops = \"{}\"\ndash = \"{}\"\n",
                synod_server::access::token_hash_text(ADMIN_TOKEN),
                synod_server::access::token_hash_text(READER_TOKEN),
            ));
        }
        if let Some(shards) = &self.layout.shards {
            text.push_str(&format!("\n[shards]\n{shards}"));
        }
        text.push_str(&format!(
            "\n[engine]\nelection_timeout_ms = {ELECTION_TIMEOUT_MS}\nlease_ms = {LEASE_MS}\nheartbeat_interval_ms = {HEARTBEAT_MS}\nsnapshot_interval_slots = {SNAPSHOT_INTERVAL_SLOTS}\n"
        ));
        std::fs::write(&node.config, text).expect("writing a config");
    }

    /// Starts node `id` from its config and data directory; its output
    /// goes to a new log file.
    pub fn start(&mut self, id: u64) {
        self.start_with(id, &[]);
    }

    /// As [`Cluster::start`], with `extra` arguments for `synod server`.
    pub fn start_with(&mut self, id: u64, extra: &[&str]) {
        let node = self.nodes.get_mut(&id).expect("a member");
        assert!(node.child.is_none(), "node {id} is already running");
        node.log = node
            .data_dir
            .with_file_name(format!("n{id}.{}.log", node.starts));
        let log = std::fs::File::create(&node.log).expect("creating a log file");
        let mut command = Command::new(synod_exe());
        command.arg("server").arg("--config").arg(&node.config);
        if node.starts == 0 && !extra.contains(&"--init") && !extra.contains(&"--restore") {
            // The cluster's first start: every data directory is new.
            command.arg("--init");
        }
        command.args(extra);
        let child = command
            .env("RUST_LOG", &node.log_filter)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning synod server");
        node.starts += 1;
        node.child = Some(child);
    }

    /// Sets `RUST_LOG` for node `id`'s next start (e.g. to see engine
    /// events, logged at debug level).
    pub fn set_log_filter(&mut self, id: u64, filter: &str) {
        self.nodes.get_mut(&id).expect("a member").log_filter = filter.to_string();
    }

    /// `kill -9`, and reaps the process.
    /// Sends `signal` (`STOP`, `CONT`, ...) to node `id`'s process.
    pub fn signal(&self, id: u64, signal: &str) {
        let child = self.nodes[&id].child.as_ref().expect("node is running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} node {id}");
    }

    pub fn kill9(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("a member");
        let mut child = node.child.take().expect("node is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits (bounded) for a graceful exit.
    pub async fn stop_gracefully(&mut self, id: u64, limit: Duration) -> ExitStatus {
        let pid = self.nodes[&id]
            .child
            .as_ref()
            .expect("node is running")
            .id();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        self.wait_exit(id, limit).await
    }

    /// Waits (bounded) for node `id`'s process to exit by itself.
    pub async fn wait_exit(&mut self, id: u64, limit: Duration) -> ExitStatus {
        let deadline = Deadline::new(format!("node {id} to exit"), limit);
        loop {
            let node = self.nodes.get_mut(&id).expect("a member");
            let child = node.child.as_mut().expect("node was started");
            if let Some(status) = child.try_wait().expect("try_wait") {
                node.child = None;
                return status;
            }
            deadline.tick().await;
        }
    }

    /// The log of node `id`'s latest start.
    pub fn log_text(&self, id: u64) -> String {
        std::fs::read_to_string(&self.nodes[&id].log).unwrap_or_default()
    }

    pub fn endpoints(&self, ids: &[u64]) -> Vec<String> {
        ids.iter().map(|id| self.endpoint(*id)).collect()
    }

    /// Node `id`'s gRPC address with its scheme.
    pub fn endpoint(&self, id: u64) -> String {
        let scheme = if self.client_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.nodes[&id].client)
    }

    /// The harness's client options: under TLS, as client `harness`.
    pub fn options(&self, deadline: Duration) -> ClientOptions {
        let mut options = client_options(deadline);
        if self.client_tls {
            let tls = self.tls_dir();
            let read = |name: &str| std::fs::read(tls.join(name)).expect("reading a TLS file");
            options.tls = Some(synod_client::ClientTls {
                ca_pem: read("ca.crt"),
                identity: Some((read("client-harness.crt"), read("client-harness.key"))),
            });
        }
        options
    }

    /// Endpoints in the form `synod --endpoints` takes.
    pub fn endpoints_arg(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|id| self.nodes[id].client.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client that knows the nodes `ids`.
    pub async fn client(&self, ids: &[u64], deadline: Duration) -> Client {
        Client::connect(self.endpoints(ids), self.options(deadline))
            .await
            .expect("client connects")
    }

    /// Node `id`'s status, or `None` if it does not answer.
    pub async fn status(&self, client: &mut Client, id: u64) -> Option<StatusReply> {
        client.status(&self.endpoint(id)).await.ok()
    }

    /// Waits until one of `among` reports itself leader, and returns it.
    pub async fn wait_leader(&self, among: &[u64], limit: Duration) -> StatusReply {
        let mut client = self.client(among, Duration::from_secs(1)).await;
        let deadline = Deadline::new(format!("a leader among {among:?}"), limit);
        loop {
            let mut seen = Vec::new();
            for &id in among {
                let status = self.status(&mut client, id).await;
                if let Some(s) = &status {
                    if s.role == Role::Leader {
                        return s.clone();
                    }
                }
                seen.push((id, status));
            }
            if deadline.expired() {
                let mut report = String::new();
                for (id, status) in seen {
                    report.push_str(&match status {
                        Some(s) => format!(
                            "\n  node {id}: {} ballot {}.{} leader {:?} commit {} applied {} voters {:?} learners {:?}",
                            s.role, s.ballot.round, s.ballot.node, s.leader_id, s.commit_slot,
                            s.applied_slot, s.voters, s.learners
                        ),
                        None => format!("\n  node {id}: no answer"),
                    });
                }
                panic!("no leader among {among:?} within {limit:?}; their status:{report}");
            }
            deadline.tick().await;
        }
    }

    /// Waits until node `id` has applied at least `slot`.
    pub async fn wait_applied(&self, id: u64, slot: u64, limit: Duration) -> StatusReply {
        let mut client = self.client(&[id], Duration::from_secs(1)).await;
        let deadline = Deadline::new(format!("node {id} to apply slot {slot}"), limit);
        loop {
            if let Some(s) = self.status(&mut client, id).await {
                if s.applied_slot >= slot {
                    return s;
                }
            }
            deadline.tick().await;
        }
    }

    /// Waits until node `id` has applied everything the current leader
    /// (among `among`) has committed at the time of the call.
    pub async fn wait_caught_up(&self, id: u64, among: &[u64], limit: Duration) -> StatusReply {
        let leader = self.wait_leader(among, limit).await;
        self.wait_applied(id, leader.commit_slot, limit).await
    }

    /// Runs the `synod` command with `args`, killed if it outlives `limit`.
    pub async fn cli(&self, args: &[&str], limit: Duration) -> CliOutput {
        cli(args, limit).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if failing {
            if std::env::var_os("SYNOD_TEST_KEEP").is_some() {
                self.dir.disable_cleanup(true);
                eprintln!("kept {} (SYNOD_TEST_KEEP)", self.dir.path().display());
            }
            for node in self.nodes.values() {
                if node.starts == 0 {
                    continue;
                }
                let text = std::fs::read_to_string(&node.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(25)..];
                eprintln!(
                    "---- node {} log ({}), last {} lines ----",
                    node.id,
                    node.log.display(),
                    tail.len()
                );
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// What a `synod` CLI run printed.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    /// The exit status; `None` if it was killed or did not finish.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `synod` command with `args`, killed if it outlives `limit`.
pub async fn cli(args: &[&str], limit: Duration) -> CliOutput {
    let run = tokio::process::Command::new(synod_exe())
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(out)) => CliOutput {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("cannot run synod {args:?}: {e}"),
        Err(_) => CliOutput {
            success: false,
            code: None,
            stdout: String::new(),
            stderr: format!("synod {args:?} did not finish within {limit:?}"),
        },
    }
}

/// Writes `count` keys `{prefix}{i}` = `{prefix}v{i}` through `client`;
/// returns them. Each write must succeed.
pub async fn write_keys(client: &mut Client, prefix: &str, count: usize) -> Vec<(String, String)> {
    let mut written = Vec::new();
    for i in 0..count {
        let key = format!("{prefix}{i}");
        let value = format!("{prefix}v{i}");
        client
            .put(key.as_bytes(), value.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        written.push((key, value));
    }
    written
}

/// Reads every key back linearizably and compares.
pub async fn read_back(client: &mut Client, pairs: &[(String, String)]) {
    for (key, value) in pairs {
        let got = client
            .get(key.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e}"));
        assert_eq!(
            got.as_deref(),
            Some(value.as_bytes()),
            "key {key} must hold {value}"
        );
    }
}

/// Reads every key back from one node's applied state (serializable).
pub async fn read_back_serializable(client: &mut Client, pairs: &[(String, String)]) {
    for (key, value) in pairs {
        let got = client
            .get_serializable(key.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("serializable get {key}: {e}"));
        assert_eq!(
            got.as_deref(),
            Some(value.as_bytes()),
            "key {key} must hold {value} (serializable read)"
        );
    }
}

/// Files of `dir` whose names end with `suffix`, sorted by name.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// SplitMix64, a small seeded PRNG for the workload.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A one-member cluster's config in `dir` (its own voter, so it serves
/// alone) with the ZooKeeper port on; returns the file and the ZooKeeper
/// address.
pub fn one_node_config(dir: &Path) -> (PathBuf, SocketAddr) {
    let ports = free_ports(3);
    let zk = SocketAddr::from(([127, 0, 0, 1], ports[2]));
    let config = dir.join("n1.toml");
    std::fs::write(
        &config,
        format!(
            "node_id = 1\ncluster_id = 7\ndata_dir = \"{}\"\npeer_listen = \"127.0.0.1:{p}\"\nclient_listen = \"127.0.0.1:{c}\"\nzk_listen = \"{zk}\"\n\n[members.1]\npeer = \"127.0.0.1:{p}\"\nclient = \"127.0.0.1:{c}\"\n",
            dir.join("data").display(),
            p = ports[0],
            c = ports[1],
        ),
    )
    .expect("writing a config");
    (config, zk)
}
