//! `synod kv`, `synod status` and `synod reconfig`: the command-line client.

use anyhow::{bail, Context};
use synod_api::pb;
use synod_client::{CasOutcome, Client, ClientOptions};

pub const DEV_ENDPOINTS: &str = "127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003";

#[derive(clap::Args)]
pub struct Endpoints {
    /// Client addresses of the cluster's nodes, comma-separated.
    #[arg(long, global = true, default_value = DEV_ENDPOINTS, value_delimiter = ',')]
    endpoints: Vec<String>,
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
}

#[derive(clap::Args)]
pub struct KvArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(subcommand)]
    command: KvCommand,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn kv(args: KvArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client =
            Client::connect(args.endpoints.endpoints, ClientOptions::default()).await?;
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
        let endpoints = args.endpoints.endpoints;
        let mut client = Client::connect(endpoints.clone(), ClientOptions::default()).await?;
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
    let (kind, node) = match args.command {
        ReconfigCommand::AddLearner { node } => (pb::ReconfigureKind::AddLearner, node),
        ReconfigCommand::Promote { node } => (pb::ReconfigureKind::Promote, node),
        ReconfigCommand::Remove { node } => (pb::ReconfigureKind::Remove, node),
    };
    runtime()?.block_on(async {
        // Ask each node until the leader answers.
        let mut last = String::from("no endpoint answered");
        let mut endpoints = args.endpoints.endpoints.clone();
        let mut tried = 0;
        while let Some(e) = endpoints.first().cloned() {
            endpoints.remove(0);
            tried += 1;
            if tried > 10 {
                break;
            }
            let url = if e.starts_with("http") {
                e.clone()
            } else {
                format!("http://{e}")
            };
            let mut grpc = match pb::kv_client::KvClient::connect(url).await {
                Ok(c) => c,
                Err(err) => {
                    last = format!("{e}: {err}");
                    continue;
                }
            };
            let reply = grpc
                .reconfigure(pb::ReconfigureRequest {
                    kind: kind as i32,
                    node_id: node,
                })
                .await;
            match reply.map(|r| r.into_inner().result) {
                Ok(Some(pb::reconfigure_response::Result::Applied(_))) => {
                    println!("OK");
                    return Ok(());
                }
                Ok(Some(pb::reconfigure_response::Result::Refusal(r))) => match r.reason {
                    Some(pb::refusal::Reason::NotLeader(nl)) => {
                        if let Some(addr) = nl.leader_addr {
                            endpoints.insert(0, addr);
                        }
                        last = format!("{e}: not the leader");
                    }
                    Some(pb::refusal::Reason::Rejected(r)) => bail!("refused: {}", r.message),
                    other => last = format!("{e}: {other:?}"),
                },
                Ok(None) => last = format!("{e}: empty answer"),
                Err(status) => last = format!("{e}: {status}"),
            }
        }
        bail!("membership change not made: {last}")
    })
}
