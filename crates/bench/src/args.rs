//! The command line of `synod bench`.

use clap::ValueEnum;
use std::path::PathBuf;

/// Which protocol the load speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The ZooKeeper client protocol: real ZooKeeper or synod's front door.
    Zk,
    /// synod's native gRPC API through `synod_client::Client`.
    SynodNative,
    /// etcd's v3 gRPC KV API.
    Etcd,
    /// synod's sharded tier (`[shards] groups`) through
    /// `synod_client::ShardClient`: every op a transaction routed by shard.
    SynodShards,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Zk => "zk",
            Target::SynodNative => "synod-native",
            Target::Etcd => "etcd",
            Target::SynodShards => "synod-shards",
        }
    }
}

/// What the load does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// setData / put of existing keys.
    Write,
    /// getData / linearizable get (native: the leader's lease read).
    Read,
    /// Reads and writes, `--read-ratio` of them reads.
    Mixed,
    /// Each worker creates a fresh node then deletes it; both count as ops.
    CreateDelete,
    /// `--watchers` sessions watch one node; one writer changes it; the
    /// latency is from the write's send to each event's arrival.
    Watch,
    /// `--connections` sessions contend for one lock (ZooKeeper recipe:
    /// ephemeral sequential node, watch the predecessor; with `--target
    /// synod-native`, Chubby's exclusive lock with its FIFO queue); one op
    /// is one acquisition (latency: from create or acquire to holding the
    /// lock).
    Lock,
    /// Chubby's consistent cache (`--target synod-native` only):
    /// `--connections` caching sessions each read `--keys` znodes under
    /// /bench/cache with `get_contents_and_stat`, round-robin; the first
    /// read of each fills the cache, the rest are answered from it. Compare
    /// with the read workload (getData) against ZooKeeper.
    CachedRead,
    /// Creates `--keys` nodes of `--value-bytes` under /bench/pop (1,000
    /// per parent) as fast as it can, then stops: for memory and restart
    /// measurements. Nodes that exist already count as done.
    Populate,
    /// Tries one read of a populated key until it succeeds or `--duration`
    /// passes; reports the time to the first success (restart time).
    Probe,
    /// One transaction reads two distinct random keys and writes both,
    /// atomically (etcd: one `Txn` of two Ranges then two Puts; synod
    /// sharded: one transaction, across groups when the keys' shards are
    /// on different groups).
    Txn,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Write => "write",
            Workload::Read => "read",
            Workload::Mixed => "mixed",
            Workload::CreateDelete => "create-delete",
            Workload::Watch => "watch",
            Workload::Lock => "lock",
            Workload::CachedRead => "cached-read",
            Workload::Populate => "populate",
            Workload::Probe => "probe",
            Workload::Txn => "txn",
        }
    }
}

/// Load generator for synod, ZooKeeper and etcd: ops/s and latency
/// percentiles, a progress line per second on stderr, JSON on request.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// The workload.
    #[arg(value_enum)]
    pub workload: Workload,
    /// The protocol to speak.
    #[arg(long, value_enum, default_value = "zk")]
    pub target: Target,
    /// Comma-separated host:port list. Default: synod dev's ports for the
    /// target (ZooKeeper 2181-2183, gRPC 8001-8003); etcd: 2379.
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// Connections (ZooKeeper sessions, gRPC channels), spread round-robin
    /// over the endpoints. synod-native opens one per in-flight request
    /// (its client carries one request at a time).
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Requests outstanding at once, in total, spread over the connections.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Distinct keys the load touches (populate: how many nodes to create).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// Bytes per value written.
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
    /// Seconds measured (probe: the most seconds to wait).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Fraction of reads in the mixed workload.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    /// Watch workload: watching sessions. Default: `--connections`.
    #[arg(long)]
    pub watchers: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// One request's time limit, in milliseconds; past it the request
    /// counts as an error and its connection is reopened.
    #[arg(long, default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Client runtime threads (the load generator shares the machine with
    /// the servers; one thread keeps its own footprint small).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Skip creating the keys (they exist from an earlier run).
    #[arg(long)]
    pub skip_setup: bool,
    /// Print nothing per second.
    #[arg(long)]
    pub quiet: bool,
}

impl BenchArgs {
    /// The endpoints to use: the given ones or the target's default.
    pub fn endpoints(&self) -> Vec<String> {
        if !self.endpoints.is_empty() {
            return self.endpoints.clone();
        }
        let ports: &[u16] = match self.target {
            Target::Zk => &[2181, 2182, 2183],
            Target::SynodNative | Target::SynodShards => &[8001, 8002, 8003],
            Target::Etcd => &[2379],
        };
        ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    /// Checks the knobs, with a message saying which one to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.connections >= 1, "--connections must be at least 1");
        anyhow::ensure!(self.in_flight >= 1, "--in-flight must be at least 1");
        anyhow::ensure!(self.keys >= 1, "--keys must be at least 1");
        anyhow::ensure!(
            self.workload != Workload::Txn || self.keys >= 2,
            "the txn workload writes two distinct keys: --keys must be at least 2"
        );
        anyhow::ensure!(
            self.workload != Workload::Txn
                || matches!(self.target, Target::Etcd | Target::SynodShards),
            "the txn workload runs against --target etcd or synod-shards"
        );
        anyhow::ensure!(
            self.target != Target::SynodShards
                || matches!(
                    self.workload,
                    Workload::Write | Workload::Read | Workload::Mixed | Workload::Txn
                ),
            "--target synod-shards runs the write, read, mixed and txn workloads"
        );
        anyhow::ensure!(
            self.duration > 0.0 && self.warmup >= 0.0,
            "--duration must be positive and --warmup not negative"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.read_ratio),
            "--read-ratio must be between 0 and 1"
        );
        anyhow::ensure!(self.threads >= 1, "--threads must be at least 1");
        anyhow::ensure!(
            self.workload != Workload::Watch || self.target == Target::Zk,
            "the watch workload uses ZooKeeper watches; run it with --target zk"
        );
        anyhow::ensure!(
            self.workload != Workload::Lock || self.target != Target::Etcd,
            "the lock workload runs ZooKeeper's recipe (--target zk) or Chubby's lock \
             (--target synod-native), not etcd"
        );
        anyhow::ensure!(
            self.workload != Workload::CachedRead || self.target == Target::SynodNative,
            "the cached-read workload reads through Chubby's client cache; run it with \
             --target synod-native"
        );
        Ok(())
    }
}
