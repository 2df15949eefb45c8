//! `synod dev`: a 3-node cluster on loopback in the foreground — three real
//! `synod server` processes with real TCP and real data directories — that
//! stops cleanly on Ctrl-C. Its peers authenticate each other with mutual
//! TLS under a CA of its own (`<dir>/tls`, made on first use), so nothing
//! else on the machine can pose as one of them.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Where the nodes keep their configs and data (kept across runs, so a
    /// restarted dev cluster has its data; delete it to start afresh).
    #[arg(long, default_value = "synod-dev")]
    dir: PathBuf,
    /// First peer port; nodes use this and the next two.
    #[arg(long, default_value_t = 7001)]
    peer_port: u16,
    /// First client (gRPC) port; nodes use this and the next two.
    #[arg(long, default_value_t = 8001)]
    client_port: u16,
    /// First ZooKeeper-protocol port; nodes use this and the next two.
    #[arg(long, default_value_t = 2181)]
    zk_port: u16,
    /// First admin HTTP port (metrics, health, status page); nodes use
    /// this and the next two.
    #[arg(long, default_value_t = 9001)]
    admin_port: u16,
    /// TLS on every client port too: ZooKeeper only over TLS (on
    /// --secure-zk-port, client certificates required), gRPC and the admin
    /// port over TLS, and
    /// `[access]` with the client certificate `admin` as the admin (and as
    /// ZooKeeper's x509 super user). Prints how zkCli, kazoo and `synod`
    /// connect.
    #[arg(long)]
    secure: bool,
    /// Start a new dev cluster from a backup (`synod snapshot save`): every
    /// node restores it (the directory must hold no cluster yet).
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,
    /// First ZooKeeper TLS port under --secure (ZooKeeper's usual
    /// secureClientPort); nodes use this and the next two.
    #[arg(long, default_value_t = 2281)]
    secure_zk_port: u16,
    /// The sharded tier: the shard controller and this many replica groups
    /// over the three processes (each process a replica of every group),
    /// served on the gRPC ports (`synod shards`, `synod kv ...`). 0, the
    /// default: the plain cluster (ZooKeeper, locks, key-value).
    #[arg(long, default_value_t = 0)]
    groups: u32,
    /// Shards of the key space under --groups (fixed for the cluster's
    /// life).
    #[arg(long, default_value_t = 16)]
    shards: u32,
}

/// The dev cluster's CA and its nodes' certificates in `<dir>/tls`, made
/// the first time (and any node certificate that is missing).
fn ensure_tls(dir: &Path, secure: bool) -> anyhow::Result<PathBuf> {
    let tls = dir.join("tls");
    let ca = if tls.join("ca.crt").exists() {
        crate::certs_cmd::load_ca(&tls)?
    } else {
        let ca = synod_net::certs::ClusterCa::generate("synod dev", 3650)?;
        crate::certs_cmd::write_ca(&tls, &ca)?;
        ca
    };
    for id in 1..=3u64 {
        if !tls.join(format!("node-{id}.crt")).exists() {
            let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
            let issued = ca.issue_node(id, &hosts, 3650)?;
            crate::certs_cmd::write_pair(&tls, &format!("node-{id}"), &issued)?;
        }
    }
    if secure && !tls.join("client-admin.crt").exists() {
        let issued = ca.issue_client("admin", 3650)?;
        crate::certs_cmd::write_pair(&tls, "client-admin", &issued)?;
        // ZooKeeper's Java client reads a PEM key store: key and
        // certificate in one file.
        let pem = format!("{}{}", issued.key_pem, issued.cert_pem);
        crate::certs_cmd::write_secret(&tls.join("client-admin.pem"), pem.as_bytes())?;
    }
    Ok(tls)
}

fn write_configs(args: &DevArgs) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let tls = ensure_tls(&dir, args.secure)?;
    let mut members = String::new();
    for i in 0..3u16 {
        members.push_str(&format!(
            "[members.{}]\npeer = \"127.0.0.1:{}\"\nclient = \"127.0.0.1:{}\"\n",
            i + 1,
            args.peer_port + i,
            args.client_port + i
        ));
    }
    let mut paths = Vec::new();
    for i in 0..3u16 {
        let id = i + 1;
        let shards = if args.groups > 0 {
            format!(
                "\n[shards]\ngroups = {}\nshard_count = {}\n",
                args.groups, args.shards
            )
        } else {
            String::new()
        };
        let zk = if args.secure {
            format!(
                "secure_zk_listen = \"127.0.0.1:{}\"",
                args.secure_zk_port + i
            )
        } else {
            format!("zk_listen = \"127.0.0.1:{}\"", args.zk_port + i)
        };
        let node = |ext: &str| tls.join(format!("node-{id}.{ext}")).display().to_string();
        let ca = tls.join("ca.crt").display().to_string();
        // The sharded tier serves gRPC only.
        let plain_ports = if args.groups > 0 {
            String::new()
        } else {
            format!(
                "{zk}\nadmin_listen = \"127.0.0.1:{}\"\n",
                args.admin_port + i
            )
        };
        let mut text = format!(
            "# Written by `synod dev`.\nnode_id = {id}\ncluster_id = 1\ndata_dir = \"{}\"\npeer_listen = \"127.0.0.1:{}\"\nclient_listen = \"127.0.0.1:{}\"\n{plain_ports}\n[peer_tls]\nca = \"{ca}\"\ncert = \"{}\"\nkey = \"{}\"\n\n{members}{shards}",
            dir.join(format!("n{id}")).display(),
            args.peer_port + i,
            args.client_port + i,
            node("crt"),
            node("key"),
        );
        if args.secure {
            text.push_str(&format!(
                "\n[client_tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{ca}\"\nclient_auth = \"need\"\ngrpc = true\n\n[access]\nadmins = [\"admin\"]\n\n[zk]\nx509_super_user = \"CN=admin\"\n\n[admin]\ntls = true\n",
                node("crt"),
                node("key"),
            ));
        }
        let path = dir.join(format!("n{id}.toml"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// A new dev cluster: no node's data directory holds anything yet. Only
/// then do the nodes start with `--init`; a cluster where one node's
/// directory was deleted and the others' were not is not new, and that
/// node refuses to start (its log says what to do) instead of voting
/// without its promises.
fn is_new(dir: &Path) -> bool {
    (1..=3).all(|id| {
        std::fs::read_dir(dir.join(format!("n{id}"))).map_or(true, |entries| {
            entries
                .flatten()
                .all(|e| e.file_name() == synod_server::datadir::LOCK_FILE)
        })
    })
}

fn print_plain(args: &DevArgs, endpoints: &[String]) {
    for (i, e) in endpoints.iter().enumerate() {
        println!(
            "  node {}: ZooKeeper 127.0.0.1:{}, gRPC {e}, peers 127.0.0.1:{}, admin http://127.0.0.1:{}/",
            i + 1,
            args.zk_port + i as u16,
            args.peer_port + i as u16,
            args.admin_port + i as u16
        );
    }
    println!();
    println!("Try, in another terminal:");
    println!(
        "  zkCli.sh -server 127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
        args.zk_port,
        args.zk_port + 1,
        args.zk_port + 2
    );
    println!("  synod kv put greeting hello");
    println!("  synod kv get greeting");
    println!("  synod status");
    println!(
        "  curl http://127.0.0.1:{}/metrics   (and /health, /livez, /readyz; the status page at /)",
        args.admin_port
    );
    println!("(through cargo: cargo run --release -- kv get greeting)");
}

fn print_sharded(args: &DevArgs, endpoints: &[String]) {
    println!(
        "  the shard controller and {} replica groups over {} shards; each node a replica of every group",
        args.groups, args.shards
    );
    for (i, e) in endpoints.iter().enumerate() {
        println!(
            "  node {}: gRPC {e}, peers 127.0.0.1:{}",
            i + 1,
            args.peer_port + i as u16
        );
    }
    println!();
    println!("Try, in another terminal:");
    println!("  synod shards");
    println!("  synod kv put greeting hello && synod kv get greeting");
    println!("  synod kv txn --put a=1 --put b=2 --get greeting");
    println!("  synod kv txn --if a=1 --put a=2 --del b");
    println!("  synod shards move 3 2");
}

/// The commands that connect to a `--secure` dev cluster, with the paths
/// of its CA and the `admin` client certificate.
fn print_secure(args: &DevArgs) -> anyhow::Result<()> {
    let tls = std::fs::canonicalize(args.dir.join("tls"))?;
    let file = |name: &str| tls.join(name).display().to_string();
    let zk_hosts: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", args.secure_zk_port + i))
        .collect();
    let grpc: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", args.client_port + i))
        .collect();
    for i in 0..3u16 {
        println!(
            "  node {}: ZooKeeper over TLS {}, gRPC over TLS {}, peers 127.0.0.1:{}, admin https://127.0.0.1:{}/",
            i + 1,
            zk_hosts[i as usize],
            grpc[i as usize],
            args.peer_port + i,
            args.admin_port + i
        );
    }
    println!(
        "Every client port speaks TLS only and asks for a certificate of the CA {}.",
        file("ca.crt")
    );
    println!(
        "The client certificate `admin` ({}) may do everything.",
        file("client-admin.crt")
    );
    println!();
    println!("synod (kv, status, reconfig):");
    println!(
        "  export SYNOD_CA={} SYNOD_CERT={} SYNOD_KEY={}",
        file("ca.crt"),
        file("client-admin.crt"),
        file("client-admin.key")
    );
    println!("  synod kv put greeting hello && synod kv get greeting && synod status");
    println!();
    println!("The admin port (its status page and /metrics need a certificate or token with the read right; /health, /livez, /readyz do not):");
    println!(
        "  curl --cacert {} --cert {} --key {} https://127.0.0.1:{}/metrics",
        file("ca.crt"),
        file("client-admin.crt"),
        file("client-admin.key"),
        args.admin_port
    );
    println!();
    println!(
        "zkCli (ZooKeeper 3.5+; Debian's zkCli.sh also needs the Netty jars on its class path):"
    );
    println!(
        "  CLIENT_JVMFLAGS=\"-Dzookeeper.client.secure=true -Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty -Dzookeeper.ssl.keyStore.location={} -Dzookeeper.ssl.keyStore.type=PEM -Dzookeeper.ssl.trustStore.location={} -Dzookeeper.ssl.trustStore.type=PEM\" zkCli.sh -server {}",
        file("client-admin.pem"),
        file("ca.crt"),
        zk_hosts.join(",")
    );
    println!();
    println!("kazoo:");
    println!(
        "  KazooClient(hosts=\"{}\", use_ssl=True, ca=\"{}\", certfile=\"{}\", keyfile=\"{}\")",
        zk_hosts.join(","),
        file("ca.crt"),
        file("client-admin.crt"),
        file("client-admin.key")
    );
    Ok(())
}

/// How a dev node starts.
enum Start<'a> {
    /// From its data directory.
    Again,
    /// A new cluster.
    Init,
    /// A new cluster from a backup.
    Restore(&'a Path),
}

fn spawn(exe: &Path, config: &Path, log: &Path, start: &Start) -> anyhow::Result<Child> {
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(exe);
    command.arg("server").arg("--config").arg(config);
    match start {
        Start::Again => {}
        Start::Init => {
            command.arg("--init");
        }
        Start::Restore(file) => {
            command.arg("--restore").arg(file);
        }
    }
    command
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

pub fn run(args: DevArgs) -> anyhow::Result<()> {
    if args.groups > 0 && (args.secure || args.restore.is_some()) {
        bail!("--groups runs the sharded tier, which does not take --secure or --restore yet");
    }
    let exe = std::env::current_exe().context("finding the synod executable")?;
    let configs = write_configs(&args)?;
    let new = is_new(&std::fs::canonicalize(&args.dir)?);
    let restore = match &args.restore {
        Some(_) if !new => bail!(
            "{} holds a cluster already; --restore starts a new one (give another --dir, or remove it)",
            args.dir.display()
        ),
        Some(file) => Some(std::fs::canonicalize(file).with_context(|| format!("cannot find {}", file.display()))?),
        None => None,
    };
    let start = match (&restore, new) {
        (Some(file), _) => Start::Restore(file),
        (None, true) => Start::Init,
        (None, false) => Start::Again,
    };
    let mut children = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let log = c.with_file_name(format!("n{}.log", i + 1));
        children.push(spawn(&exe, c, &log, &start)?);
    }
    let endpoints: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", args.client_port + i))
        .collect();
    println!(
        "synod dev: 3 nodes running (data and logs in {}; peers use mutual TLS under the CA in {})",
        args.dir.display(),
        args.dir.join("tls").display()
    );
    if args.groups > 0 {
        print_sharded(&args, &endpoints);
    } else if args.secure {
        print_secure(&args)?;
    } else {
        print_plain(&args, &endpoints);
    }
    println!("Ctrl-C stops the cluster.");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let exited = runtime.block_on(async {
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        // A closed terminal stops the cluster too: the nodes themselves take
        // SIGHUP as "read your TLS files again" and would outlive it.
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            tokio::select! {
                _ = crate::server_cmd::stop_signal() => return None,
                Some(()) = async { hangup.as_mut()?.recv().await } => return None,
                _ = poll.tick() => {
                    for (i, c) in children.iter_mut().enumerate() {
                        if let Ok(Some(status)) = c.try_wait() {
                            return Some((i + 1, status));
                        }
                    }
                }
            }
        }
    });
    if let Some((node, status)) = exited {
        eprintln!(
            "node {node} exited ({status}); see its log in {}; stopping the others",
            args.dir.display()
        );
    } else {
        println!("\nstopping...");
    }
    for c in &mut children {
        // SIGTERM: each node stops accepting, finishes its disk writes, exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
    }
    for c in &mut children {
        let _ = c.wait();
    }
    println!("synod dev: stopped");
    Ok(())
}
