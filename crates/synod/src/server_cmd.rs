//! `synod server`: one node, configured by a TOML file and flags.

use anyhow::Context;
use std::path::PathBuf;
use synod_server::ServerConfig;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The TOML configuration file (see crates/server/src/config.rs).
    #[arg(long)]
    config: PathBuf,
    /// The first start of a new cluster: initialize an empty data
    /// directory as a voter of the configured members. Without it a node
    /// refuses an empty directory (it would vote without remembering its
    /// promises) unless the config says `join = true`; with it, a directory
    /// that was initialized already is refused. Use it once, never in a
    /// restart command.
    #[arg(long, conflicts_with = "init_if_empty")]
    init: bool,
    /// `--init` when the data directory is empty (or missing), a normal
    /// start otherwise: for a container or StatefulSet whose command is the
    /// same at the first start and every restart. A node that lost its
    /// volume then comes back under a new incarnation that its peers
    /// refuse (it does not vote; replace it under a new id), but a whole
    /// cluster that lost every volume starts again empty, as etcd's
    /// `--initial-cluster-state new` would.
    #[arg(long)]
    init_if_empty: bool,
    /// The first start of a new cluster from a backup (`synod snapshot
    /// save`): like --init, and the node starts from the backup's state
    /// under this config's members, with every ZooKeeper session of the
    /// backup closed. Start every initial voter from the same file, or this
    /// node alone and let the others join (`join = true`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["init", "init_if_empty"])]
    restore: Option<PathBuf>,
    /// Allow plaintext peers on addresses other than loopback. Without it a
    /// node whose peers are not all on loopback refuses to start unless the
    /// config has `[peer_tls]`: a plaintext peer port lets anyone who
    /// reaches it pose as a member.
    #[arg(long)]
    insecure: bool,
    /// Overrides `data_dir` from the file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `node_id` from the file.
    #[arg(long, conflicts_with = "node_id_from_hostname")]
    node_id: Option<u64>,
    /// Takes the node id from the host name's ordinal: `synod-0` is node
    /// 1, `synod-2` node 3 (a StatefulSet's pods, whose one config file
    /// then serves every pod; see `{node_id}` in paths).
    #[arg(long)]
    node_id_from_hostname: bool,
    /// Overrides `[engine] election_timeout_ms`.
    #[arg(long)]
    election_timeout_ms: Option<u64>,
    /// Overrides `[engine] lease_ms`.
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Overrides `peer_listen`.
    #[arg(long)]
    peer_listen: Option<std::net::SocketAddr>,
    /// Overrides `client_listen`.
    #[arg(long)]
    client_listen: Option<std::net::SocketAddr>,
    /// Overrides `zk_listen`: serve the ZooKeeper protocol here.
    #[arg(long)]
    zk_listen: Option<std::net::SocketAddr>,
    /// Overrides `admin_listen`: serve /metrics, /health, /livez, /readyz
    /// and the status page here.
    #[arg(long)]
    admin_listen: Option<std::net::SocketAddr>,
    /// Adds or replaces a member: `ID=PEER_ADDR,CLIENT_ADDR` (repeatable).
    #[arg(long = "member", value_parser = parse_member)]
    members: Vec<(u64, synod_server::Member)>,
    /// `text` for people, `json` (one object per line: timestamp, level,
    /// target, fields) for log shippers. Lines about a peer name it
    /// (`peer`: node id and address), lines about a ZooKeeper client name
    /// its address (`client`) and session when it has one.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SYNOD_LOG_FORMAT")]
    log_format: LogFormat,
}

/// How `synod server` writes its log (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_member(text: &str) -> Result<(u64, synod_server::Member), String> {
    let usage = || {
        format!("`{text}` is not ID=PEER_ADDR,CLIENT_ADDR (e.g. 2=127.0.0.1:7002,127.0.0.1:8002 or 2=synod-1.synod:7000,synod-1.synod:8000)")
    };
    let (id, addrs) = text.split_once('=').ok_or_else(usage)?;
    let (peer, client) = addrs.split_once(',').ok_or_else(usage)?;
    let id: u64 = id.trim().parse().map_err(|_| usage())?;
    let peer = peer
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", usage()))?;
    let client = client
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", usage()))?;
    Ok((id, synod_server::Member { peer, client }))
}

/// This machine's (or pod's) host name.
fn hostname() -> anyhow::Result<String> {
    let name = match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) => name,
        Err(e) => std::env::var("HOSTNAME").map_err(|_| {
            anyhow::anyhow!("cannot read the host name: {e}, and HOSTNAME is unset")
        })?,
    };
    Ok(name.trim().to_string())
}

/// `synod-0` is node 1: a StatefulSet numbers its pods from 0, and node
/// id 0 is reserved.
fn node_id_from_hostname(host: &str) -> anyhow::Result<u64> {
    let ordinal = host
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .filter(|n| *n < u64::MAX)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the host name `{host}` does not end in -ORDINAL (as a StatefulSet's pod, synod-0, does)"
            )
        })?;
    Ok(ordinal + 1)
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // tonic reports a client connection it closed for bad input
        // ("failed serving connection: ...") at debug level only.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,tonic::transport::server=debug")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).try_init()
        }
        // One JSON object per line; the event's fields sit at the top
        // level next to `timestamp`, `level` and `target`, where shippers
        // (Loki, Elasticsearch, Vector) look for them.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let mut cfg = ServerConfig::load(&args.config)?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if args.node_id_from_hostname {
        let host = hostname().context("--node-id-from-hostname")?;
        cfg.node_id = node_id_from_hostname(&host).context("--node-id-from-hostname")?;
    }
    cfg.expand_node_id();
    if let Some(t) = args.election_timeout_ms {
        cfg.engine.election_timeout_ms = t;
    }
    if let Some(t) = args.lease_ms {
        cfg.engine.lease_ms = t;
    }
    if let Some(a) = args.peer_listen {
        cfg.peer_listen = a;
    }
    if let Some(a) = args.zk_listen {
        cfg.zk_listen = Some(a);
    }
    if let Some(a) = args.admin_listen {
        cfg.admin_listen = Some(a);
    }
    if let Some(a) = args.client_listen {
        cfg.client_listen = a;
    }
    cfg.init = args.init || (args.init_if_empty && synod_server::datadir::is_empty(&cfg.data_dir));
    cfg.restore = args.restore;
    cfg.insecure = args.insecure;
    for (id, member) in args.members {
        cfg.members.insert(id.to_string(), member);
    }
    cfg.validate()?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if cfg.worker_threads > 0 {
        builder.worker_threads(cfg.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(synod_server::serve(cfg, stop_signal()))
}

#[cfg(test)]
mod tests {
    use super::{node_id_from_hostname, parse_member};

    #[test]
    fn a_statefulset_pod_is_node_its_ordinal_plus_one() {
        assert_eq!(node_id_from_hostname("synod-0").unwrap(), 1);
        assert_eq!(node_id_from_hostname("my-synod-12").unwrap(), 13);
        for bad in ["synod", "synod-", "synod-x", "synod-18446744073709551615"] {
            let e = node_id_from_hostname(bad).unwrap_err().to_string();
            assert!(e.contains("-ORDINAL"), "{bad}: {e}");
        }
    }

    #[test]
    fn member_flags_parse_and_bad_ones_say_the_expected_form() {
        let (id, m) = parse_member("2=127.0.0.1:7002,127.0.0.1:8002").unwrap();
        assert_eq!(id, 2);
        assert_eq!(m.peer.port(), 7002);
        assert_eq!(m.client.port(), 8002);
        let err = parse_member("2=127.0.0.1:7002").unwrap_err();
        assert!(err.contains("ID=PEER_ADDR,CLIENT_ADDR"), "{err}");
        assert!(parse_member("x=1.2.3.4:1,1.2.3.4:2").is_err());
    }
}
