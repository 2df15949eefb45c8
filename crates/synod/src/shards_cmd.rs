//! `synod shards` (the controller's newest configuration, and `join`,
//! `leave`, `move`) and `synod kv txn`, and the routing of `synod kv get |
//! put | del | cas` on a sharded cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use synod_client::ShardClient;
use synod_shard::{Config, ShardReply};
use synod_shardkv::{AbortReason, Cond, Txn, TxnOutcome, Write};

use crate::kv_cmd::{runtime, Endpoints};

/// Exit status of `synod kv txn` when the transaction aborted.
pub const EXIT_ABORTED: i32 = 3;

#[derive(clap::Subcommand)]
pub enum ShardsCommand {
    /// Add replica groups: `join GROUP SERVER[,SERVER...]` (servers by
    /// their client addresses), then rebalance.
    Join {
        group: u64,
        #[arg(value_delimiter = ',', required = true)]
        servers: Vec<String>,
    },
    /// Remove replica groups; their shards go to the others.
    Leave {
        #[arg(required = true)]
        groups: Vec<u64>,
    },
    /// Give one shard to one group.
    Move { shard: u32, group: u64 },
}

#[derive(clap::Args)]
pub struct ShardsArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    /// Without a subcommand: print the newest configuration.
    #[command(subcommand)]
    command: Option<ShardsCommand>,
}

pub fn shards(args: ShardsArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client =
            ShardClient::connect(args.endpoints.endpoints.clone(), args.endpoints.options()?)
                .await?;
        let reply = match args.command {
            None => {
                let config = client.config().await.context("reading the configuration")?;
                return Ok(print_config(&config)?);
            }
            Some(ShardsCommand::Join { group, servers }) => {
                client.join(BTreeMap::from([(group, servers)])).await?
            }
            Some(ShardsCommand::Leave { groups }) => client.leave(groups).await?,
            Some(ShardsCommand::Move { shard, group }) => client.move_shard(shard, group).await?,
        };
        match reply {
            ShardReply::Reconfigured { num } => println!("configuration {num}"),
            ShardReply::Unchanged { num } => println!("unchanged (configuration {num})"),
            other => bail!("unexpected answer from the controller: {other:?}"),
        }
        Ok(())
    })
}

/// Prints shard -> group, then group -> servers. Written with `writeln!`
/// so a closed pipe (`synod shards | head`) ends quietly.
fn print_config(config: &Config) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "configuration {} ({} shards)",
        config.num,
        config.shard_count()
    )?;
    writeln!(out, "{:>5}  group", "shard")?;
    let mut groups = std::collections::BTreeSet::new();
    for shard in 0..config.shard_count() {
        match config.group_of(shard) {
            Some(group) => {
                groups.insert(group);
                writeln!(out, "{shard:>5}  {group}")?;
            }
            None => writeln!(out, "{shard:>5}  (unassigned)")?,
        }
    }
    writeln!(out, "{:>5}  servers", "group")?;
    for group in groups {
        let servers = config.servers_of(group).unwrap_or_default().join(",");
        writeln!(out, "{group:>5}  {servers}")?;
    }
    Ok(())
}

/// `synod kv txn`'s flags.
#[derive(clap::Args, Debug)]
pub struct TxnArgs {
    /// Commit only if KEY holds VALUE.
    #[arg(long = "if", value_name = "KEY=VALUE")]
    if_equals: Vec<String>,
    /// Commit only if KEY does not exist.
    #[arg(long = "if-absent", value_name = "KEY")]
    if_absent: Vec<String>,
    /// Commit only if KEY's revision is REV (0: never written).
    #[arg(long = "if-rev", value_name = "KEY=REV")]
    if_rev: Vec<String>,
    /// Write VALUE to KEY.
    #[arg(long, value_name = "KEY=VALUE")]
    put: Vec<String>,
    /// Delete KEY.
    #[arg(long, value_name = "KEY")]
    del: Vec<String>,
    /// Read KEY: what it held when the transaction committed, before the
    /// transaction's own writes (the state its conditions were judged on).
    #[arg(long, value_name = "KEY")]
    get: Vec<String>,
}

fn split(pair: &str, flag: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let Some((key, value)) = pair.split_once('=') else {
        bail!("--{flag} takes KEY=VALUE, not {pair:?}");
    };
    Ok((key.as_bytes().to_vec(), value.to_string()))
}

impl TxnArgs {
    fn txn(&self) -> anyhow::Result<Txn> {
        let mut txn = Txn::default();
        for pair in &self.if_equals {
            let (key, value) = split(pair, "if")?;
            txn.conds.push(Cond::Equals {
                key,
                value: value.into_bytes(),
            });
        }
        for key in &self.if_absent {
            txn.conds.push(Cond::Absent {
                key: key.as_bytes().to_vec(),
            });
        }
        for pair in &self.if_rev {
            let (key, rev) = split(pair, "if-rev")?;
            let rev = rev
                .parse()
                .with_context(|| format!("--if-rev {pair}: the revision is a number"))?;
            txn.conds.push(Cond::Revision { key, rev });
        }
        for pair in &self.put {
            let (key, value) = split(pair, "put")?;
            txn.writes.push(Write {
                key,
                value: Some(value.into_bytes()),
            });
        }
        for key in &self.del {
            txn.writes.push(Write {
                key: key.as_bytes().to_vec(),
                value: None,
            });
        }
        txn.reads = self.get.iter().map(|k| k.as_bytes().to_vec()).collect();
        if txn.conds.is_empty() && txn.writes.is_empty() && txn.reads.is_empty() {
            bail!("an empty transaction: give --if, --if-absent, --if-rev, --put, --del or --get");
        }
        Ok(txn)
    }
}

/// `synod kv txn`: prints `committed` and what it read, or `aborted:
/// REASON` and exits 3.
pub fn txn(endpoints: Endpoints, args: TxnArgs) -> anyhow::Result<()> {
    let txn = args.txn()?;
    runtime()?.block_on(async {
        let mut client =
            ShardClient::connect(endpoints.endpoints.clone(), endpoints.options()?).await?;
        match client.txn(txn).await? {
            TxnOutcome::Committed { reads, .. } => {
                println!("committed");
                for read in reads {
                    let key = String::from_utf8_lossy(&read.key);
                    match read.value {
                        Some(value) => println!("{key}={}", String::from_utf8_lossy(&value)),
                        None => println!("{key} (absent)"),
                    }
                }
                Ok(())
            }
            TxnOutcome::Aborted(reason) => aborted(&reason),
        }
    })
}

fn aborted(reason: &AbortReason) -> anyhow::Result<()> {
    println!("aborted: {reason}");
    std::process::exit(EXIT_ABORTED);
}

/// True if the cluster at `endpoints` is sharded, asked with the command's
/// TLS and token: the first endpoint that answers decides. None answering:
/// not sharded (the plain client then reports the failure in its own
/// words).
pub async fn is_sharded(endpoints: &[String], options: &synod_client::ClientOptions) -> bool {
    for endpoint in endpoints {
        if let Ok(sharded) =
            ShardClient::is_sharded(endpoint, options, Duration::from_secs(2)).await
        {
            return sharded;
        }
    }
    false
}

/// `synod kv get|put|del|cas` on a sharded cluster: each a transaction of
/// one key, routed by its shard. Prints as the plain commands do.
pub async fn kv(client: &mut ShardClient, command: crate::kv_cmd::KvCommand) -> anyhow::Result<()> {
    use crate::kv_cmd::KvCommand;
    let (txn, key) = match &command {
        KvCommand::Get { key, .. } => (
            Txn {
                reads: vec![key.as_bytes().to_vec()],
                ..Txn::default()
            },
            key,
        ),
        KvCommand::Put { key, value } => (
            Txn {
                writes: vec![Write {
                    key: key.as_bytes().to_vec(),
                    value: Some(value.as_bytes().to_vec()),
                }],
                ..Txn::default()
            },
            key,
        ),
        KvCommand::Del { key } => (
            Txn {
                writes: vec![Write {
                    key: key.as_bytes().to_vec(),
                    value: None,
                }],
                ..Txn::default()
            },
            key,
        ),
        KvCommand::Cas {
            key,
            expected,
            absent,
            new,
        } => {
            let cond = match (expected, absent) {
                (Some(expected), false) => Cond::Equals {
                    key: key.as_bytes().to_vec(),
                    value: expected.as_bytes().to_vec(),
                },
                (None, true) => Cond::Absent {
                    key: key.as_bytes().to_vec(),
                },
                _ => bail!("say what the key must hold: --expected VALUE, or --absent"),
            };
            (
                Txn {
                    conds: vec![cond],
                    reads: Vec::new(),
                    writes: vec![Write {
                        key: key.as_bytes().to_vec(),
                        value: Some(new.as_bytes().to_vec()),
                    }],
                },
                key,
            )
        }
        KvCommand::Txn(_) => bail!("synod kv txn runs through shards_cmd::txn"),
    };
    match client.txn(txn).await? {
        TxnOutcome::Committed { reads, .. } => match command {
            KvCommand::Get { .. } => match reads.into_iter().next().and_then(|r| r.value) {
                Some(value) => println!("{}", String::from_utf8_lossy(&value)),
                None => {
                    eprintln!("(no such key)");
                    std::process::exit(1);
                }
            },
            _ => println!("OK"),
        },
        TxnOutcome::Aborted(AbortReason::ConditionFailed { .. }) => {
            eprintln!("not swapped: {key} does not hold what --expected/--absent said");
            std::process::exit(1);
        }
        TxnOutcome::Aborted(reason) => bail!("not done: {reason}"),
    }
    Ok(())
}
