//! `synod snapshot save|inspect`: backups of a live cluster through the
//! leader's admin port (`GET /snapshot`, the admin right under `[access]`),
//! and what a backup file holds. A backup is restored with
//! `synod server --restore FILE` or `synod dev --restore FILE`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use synod_paxos::StateMachine;

#[derive(clap::Args)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    command: SnapshotCommand,
}

#[derive(clap::Subcommand)]
enum SnapshotCommand {
    /// Save a consistent snapshot of the cluster to FILE: asks each admin
    /// address in turn; the leader answers once it has applied every write
    /// acknowledged before the request.
    Save {
        file: PathBuf,
        /// Admin addresses of the nodes (http:// or https://), comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "http://127.0.0.1:9001,http://127.0.0.1:9002,http://127.0.0.1:9003"
        )]
        admin: Vec<String>,
        /// The CA (PEM) of an https admin port.
        #[arg(long, env = "SYNOD_CA")]
        ca: Option<PathBuf>,
        /// A client certificate (PEM) with the admin right.
        #[arg(long = "cert", env = "SYNOD_CERT", requires = "key")]
        cert: Option<PathBuf>,
        #[arg(long, env = "SYNOD_KEY", requires = "cert")]
        key: Option<PathBuf>,
        /// A bearer token with the admin right.
        #[arg(long, env = "SYNOD_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Check FILE and print what it holds.
    Inspect { file: PathBuf },
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    match args.command {
        SnapshotCommand::Save {
            file,
            admin,
            ca,
            cert,
            key,
            token,
        } => save(&file, &admin, agent(ca, cert, key)?, token.as_deref()),
        SnapshotCommand::Inspect { file } => inspect(&file),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A backup file, to be read as a stream (it can be gigabytes).
fn open(path: &Path) -> anyhow::Result<std::io::BufReader<std::fs::File>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

/// An HTTP agent; with `ca`, HTTPS trusting it (and presenting `cert`).
fn agent(
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<ureq::Agent> {
    let builder = ureq::AgentBuilder::new().timeout_connect(std::time::Duration::from_secs(5));
    let Some(ca) = ca else {
        if cert.is_some() {
            bail!("--cert needs --ca (the CA of the admin port's certificate)");
        }
        return Ok(builder.build());
    };
    let roots = synod_net::tls::pem_roots(&read(&ca)?).map_err(anyhow::Error::msg)?;
    let config = rustls::ClientConfig::builder_with_provider(synod_net::tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (cert, key) {
        (Some(cert), Some(key)) => config.with_client_auth_cert(
            synod_net::tls::pem_chain(&read(&cert)?).map_err(anyhow::Error::msg)?,
            synod_net::tls::pem_key(&read(&key)?).map_err(anyhow::Error::msg)?,
        )?,
        _ => config.with_no_client_auth(),
    };
    Ok(builder.tls_config(Arc::new(config)).build())
}

fn save(
    file: &Path,
    admin: &[String],
    agent: ureq::Agent,
    token: Option<&str>,
) -> anyhow::Result<()> {
    let mut refusals = Vec::new();
    for base in admin {
        let url = format!("{}/snapshot", base.trim_end_matches('/'));
        let mut request = agent.get(&url);
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                if code == 401 || code == 403 {
                    bail!("{url}: {code} {}", text.trim());
                }
                refusals.push(format!("{url}: {code} {}", text.trim()));
                continue;
            }
            Err(e) => {
                refusals.push(format!("{url}: {e}"));
                continue;
            }
        };
        let tmp = file.with_extension("part");
        let mut out = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut body = response.into_reader();
        let mut chunk = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut shown = 0u64;
        loop {
            let n = body
                .read(&mut chunk)
                .with_context(|| format!("reading {url}"))?;
            if n == 0 {
                break;
            }
            out.write_all(&chunk[..n])
                .with_context(|| format!("writing {}", tmp.display()))?;
            total += n as u64;
            if total - shown >= 64 << 20 {
                eprintln!("  {} MiB received", total >> 20);
                shown = total;
            }
        }
        out.sync_all()?;
        drop(out);
        let (header, _) = synod_server::backup::read(&mut open(&tmp)?)
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        std::fs::rename(&tmp, file)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), file.display()))?;
        println!(
            "saved {} ({total} bytes): cluster {}, everything up to slot {}, from node {}",
            file.display(),
            header.cluster_id,
            header.slot,
            header.node_id
        );
        return Ok(());
    }
    bail!(
        "no node gave a snapshot (only the leader does):\n  {}",
        refusals.join("\n  ")
    )
}

fn inspect(file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let (header, snapshot) = synod_server::backup::read(&mut open(file)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut state = synod_node::ServiceState::new();
    state
        .restore(&snapshot.state)
        .map_err(|e| anyhow::anyhow!("{}: the state does not restore: {}", file.display(), e.0))?;
    let taken = std::time::UNIX_EPOCH + std::time::Duration::from_millis(header.time_ms);
    println!("{}: a synod backup, checksum good", file.display());
    println!(
        "  cluster {}, taken by node {} at {} ms since the epoch ({:.0} s ago)",
        header.cluster_id,
        header.node_id,
        header.time_ms,
        taken.elapsed().map_or(0.0, |d| d.as_secs_f64())
    );
    println!("  holds every slot up to {}", header.slot);
    println!(
        "  voters {:?}, learners {:?}",
        snapshot.config.voters, snapshot.config.learners
    );
    println!(
        "  key-value: {} keys; ZooKeeper: {} znodes, {} sessions (a restore closes them); {} clients in the exactly-once table",
        state.kv.len(),
        state.tree.node_count(),
        state.tree.sessions().count(),
        snapshot.clients.len()
    );
    println!(
        "  {} bytes ({} of state), SHA-256 {}",
        bytes,
        snapshot.state.len(),
        header.sha256
    );
    Ok(())
}
