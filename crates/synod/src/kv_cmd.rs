//! `synod kv`, `synod status` and `synod reconfig`: the command-line client.

use anyhow::{bail, Context};
use synod_client::{CasOutcome, Client, ClientOptions, ClientTls, Reconfigure};

pub const DEV_ENDPOINTS: &str = "127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003";

#[derive(clap::Args)]
pub struct Endpoints {
    /// Client addresses of the cluster's nodes, comma-separated.
    #[arg(long, global = true, default_value = DEV_ENDPOINTS, value_delimiter = ',')]
    pub(crate) endpoints: Vec<String>,
    /// TLS: the CA certificate (PEM) that signed the nodes' certificates;
    /// endpoints without a scheme become https://.
    #[arg(long, global = true, env = "SYNOD_CA")]
    ca: Option<std::path::PathBuf>,
    /// TLS: this client's certificate (PEM), when the nodes ask for one;
    /// its common name is the client's identity for `[access]`.
    #[arg(long = "cert", global = true, env = "SYNOD_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS: the private key (PEM) of --cert.
    #[arg(long = "key", global = true, env = "SYNOD_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// A bearer token for `[access]` (better from the environment than the
    /// command line, which other users can see).
    #[arg(long, global = true, env = "SYNOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Endpoints {
    pub(crate) fn options(&self) -> anyhow::Result<ClientOptions> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        };
        let tls = match &self.ca {
            None => None,
            Some(ca) => Some(ClientTls {
                ca_pem: read(ca)?,
                identity: match (&self.tls_cert, &self.tls_key) {
                    (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
                    _ => None,
                },
            }),
        };
        if tls.is_none() && self.tls_cert.is_some() {
            bail!("--cert needs --ca (the CA that signed the nodes' certificates)");
        }
        Ok(ClientOptions {
            tls,
            token: self.token.clone(),
            ..ClientOptions::default()
        })
    }
}

#[derive(clap::Subcommand)]
pub enum KvCommand {
    /// Read a key (linearizable; --serializable reads any node's copy).
    Get {
        key: String,
        #[arg(long)]
        serializable: bool,
    },
    /// Write a key.
    Put { key: String, value: String },
    /// Delete a key.
    Del { key: String },
    /// Compare-and-set: write NEW if the key holds EXPECTED (`--absent`: if
    /// the key does not exist).
    Cas {
        key: String,
        #[arg(long, conflicts_with = "absent")]
        expected: Option<String>,
        #[arg(long)]
        absent: bool,
        new: String,
    },
    /// A transaction over keys on any shards (a sharded cluster only):
    /// every condition holds, then every write is made and every read
    /// taken, atomically. Prints `committed` and what it read, or
    /// `aborted: REASON` (exit 3).
    Txn(crate::shards_cmd::TxnArgs),
}

#[derive(clap::Args)]
pub struct KvArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(subcommand)]
    command: KvCommand,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn kv(args: KvArgs) -> anyhow::Result<()> {
    if let KvCommand::Txn(txn) = args.command {
        return crate::shards_cmd::txn(args.endpoints, txn);
    }
    runtime()?.block_on(async {
        let options = args.endpoints.options()?;
        if crate::shards_cmd::is_sharded(&args.endpoints.endpoints, &options).await {
            let mut client =
                synod_client::ShardClient::connect(args.endpoints.endpoints, options).await?;
            return crate::shards_cmd::kv(&mut client, args.command).await;
        }
        let mut client = Client::connect(args.endpoints.endpoints, options).await?;
        match args.command {
            KvCommand::Get { key, serializable } => {
                let value = if serializable {
                    client.get_serializable(key.as_bytes()).await?
                } else {
                    client.get(key.as_bytes()).await?
                };
                match value {
                    Some(v) => println!("{}", String::from_utf8_lossy(&v)),
                    None => {
                        eprintln!("(no such key)");
                        std::process::exit(1);
                    }
                }
            }
            KvCommand::Put { key, value } => {
                client.put(key.as_bytes(), value.as_bytes()).await?;
                println!("OK");
            }
            KvCommand::Del { key } => {
                client.delete(key.as_bytes()).await?;
                println!("OK");
            }
            KvCommand::Cas {
                key,
                expected,
                absent,
                new,
            } => {
                if expected.is_none() && !absent {
                    bail!("say what the key must hold: --expected VALUE, or --absent");
                }
                let expected = expected.as_ref().map(|e| e.as_bytes());
                match client.cas(key.as_bytes(), expected, new.as_bytes()).await? {
                    CasOutcome::Swapped => println!("OK"),
                    CasOutcome::Failed { current } => {
                        match current {
                            Some(c) => eprintln!(
                                "not swapped: the key holds {}",
                                String::from_utf8_lossy(&c)
                            ),
                            None => eprintln!("not swapped: the key does not exist"),
                        }
                        std::process::exit(1);
                    }
                }
            }
            KvCommand::Txn(_) => unreachable!("handled above"),
        }
        Ok(())
    })
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    endpoints: Endpoints,
}

pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let options = args.endpoints.options()?;
        let endpoints = args.endpoints.endpoints;
        let mut client = Client::connect(endpoints.clone(), options).await?;
        println!(
            "{:<22} {:>4} {:<10} {:>9} {:>6} {:>8} {:>8} {:>5}  config",
            "endpoint", "node", "role", "ballot", "leader", "commit", "applied", "lag"
        );
        let mut leader_commit = 0;
        let mut rows = Vec::new();
        for e in &endpoints {
            match client.status(e).await {
                Ok(s) => {
                    if matches!(s.role, synod_client::Role::Leader) {
                        leader_commit = s.commit_slot;
                    }
                    rows.push((e.clone(), Some(s)));
                }
                Err(err) => {
                    eprintln!("{e}: {err}");
                    rows.push((e.clone(), None));
                }
            }
        }
        for (e, s) in rows {
            match s {
                Some(s) => println!(
                    "{:<22} {:>4} {:<10} {:>9} {:>6} {:>8} {:>8} {:>5}  voters {:?} learners {:?}",
                    e,
                    s.node_id,
                    format!("{:?}", s.role).to_lowercase(),
                    format!("{}.{}", s.ballot.round, s.ballot.node),
                    s.leader_id.map_or("-".to_string(), |l| l.to_string()),
                    s.commit_slot,
                    s.applied_slot,
                    leader_commit.saturating_sub(s.applied_slot),
                    s.voters,
                    s.learners
                ),
                None => println!("{e:<22} (unreachable)"),
            }
        }
        Ok(())
    })
}

#[derive(clap::Subcommand)]
pub enum ReconfigCommand {
    /// Add a node as a non-voting learner (it catches up first).
    AddLearner { node: u64 },
    /// Make a caught-up learner a voter.
    Promote { node: u64 },
    /// Remove a member.
    Remove { node: u64 },
}

#[derive(clap::Args)]
pub struct ReconfigArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(subcommand)]
    command: ReconfigCommand,
}

pub fn reconfig(args: ReconfigArgs) -> anyhow::Result<()> {
    let change = match args.command {
        ReconfigCommand::AddLearner { node } => Reconfigure::AddLearner(node),
        ReconfigCommand::Promote { node } => Reconfigure::Promote(node),
        ReconfigCommand::Remove { node } => Reconfigure::Remove(node),
    };
    runtime()?.block_on(async {
        let options = args.endpoints.options()?;
        let mut client = Client::connect(args.endpoints.endpoints, options).await?;
        client
            .reconfigure(change)
            .await
            .context("membership change not made")?;
        println!("OK");
        Ok(())
    })
}
