//! etcd's v3 KV API over gRPC (the generated client in [`pb`]). Workers
//! share `--connections` channels; each channel slot has one lazily opened
//! channel per endpoint, and a worker moves to the next endpoint after a
//! failure. Reads are linearizable Ranges (serializable = false).

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::args::BenchArgs;
use crate::drive::{self, Op, Worker};
use crate::stats::Stats;

#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

use pb::kv_client::KvClient;

/// Puts outstanding at once while creating the keys.
const SETUP_IN_FLIGHT: usize = 64;

fn key(k: u64) -> Vec<u8> {
    format!("bench/k/{k}").into_bytes()
}

fn churn_key(id: u64) -> Vec<u8> {
    format!("bench/cd/{id:x}").into_bytes()
}

fn pop_key(i: u64) -> Vec<u8> {
    format!("bench/pop/{i}").into_bytes()
}

/// `[slot][endpoint]` channels, opened on first use.
type Channels = Arc<Vec<Vec<Channel>>>;

fn channels(args: &BenchArgs) -> anyhow::Result<Channels> {
    let endpoints = args.endpoints();
    let mut slots = Vec::new();
    for _ in 0..args.connections {
        let mut per_endpoint = Vec::new();
        for e in &endpoints {
            let url = if e.contains("://") {
                e.clone()
            } else {
                format!("http://{e}")
            };
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|err| anyhow::anyhow!("bad endpoint {url}: {err}"))?
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true);
            per_endpoint.push(endpoint.connect_lazy());
        }
        slots.push(per_endpoint);
    }
    Ok(Arc::new(slots))
}

pub struct EtcdWorker {
    channels: Channels,
    slot: usize,
    /// Which endpoint this worker uses now, offset from its slot's own.
    endpoint_shift: usize,
    value: Vec<u8>,
}

impl EtcdWorker {
    fn client(&self) -> KvClient<Channel> {
        let per_endpoint = &self.channels[self.slot];
        let e = (self.slot + self.endpoint_shift) % per_endpoint.len();
        KvClient::new(per_endpoint[e].clone())
    }

    async fn put(&self, key: Vec<u8>) -> Result<(), tonic::Status> {
        let request = pb::PutRequest {
            key,
            value: self.value.clone(),
            ..Default::default()
        };
        self.client().put(request).await.map(|_| ())
    }

    async fn delete(&self, key: Vec<u8>) -> Result<(), tonic::Status> {
        let request = pb::DeleteRangeRequest {
            key,
            ..Default::default()
        };
        self.client().delete_range(request).await.map(|_| ())
    }

    /// Reads `a` and `b`, then writes both, in one Txn.
    async fn txn(&self, a: Vec<u8>, b: Vec<u8>) -> Result<(), tonic::Status> {
        use pb::request_op::Request;
        let range = |key: &Vec<u8>| pb::RequestOp {
            request: Some(Request::RequestRange(pb::RangeRequest {
                key: key.clone(),
                ..Default::default()
            })),
        };
        let put = |key: Vec<u8>| pb::RequestOp {
            request: Some(Request::RequestPut(pb::PutRequest {
                key,
                value: self.value.clone(),
                ..Default::default()
            })),
        };
        let request = pb::TxnRequest {
            compare: Vec::new(),
            success: vec![range(&a), range(&b), put(a), put(b)],
            failure: Vec::new(),
        };
        self.client().txn(request).await.map(|_| ())
    }

    async fn get(&self, key: Vec<u8>) -> Result<(), tonic::Status> {
        let request = pb::RangeRequest {
            key,
            serializable: false,
            ..Default::default()
        };
        self.client().range(request).await.map(|_| ())
    }
}

impl Worker for EtcdWorker {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        let result = match op {
            Op::Write(k) => self.put(key(k)).await,
            Op::Read(k) => self.get(key(k)).await,
            Op::Create(id) => self.put(churn_key(id)).await,
            Op::Delete(id) => self.delete(churn_key(id)).await,
            Op::Populate(i) => self.put(pop_key(i)).await,
            Op::Txn(a, b) => self.txn(key(a), key(b)).await,
        };
        result.map_err(|status| {
            self.endpoint_shift += 1;
            format!("etcd: {:?}: {}", status.code(), status.message())
        })
    }

    async fn on_timeout(&mut self) {
        self.endpoint_shift += 1;
    }
}

fn workers(args: &BenchArgs, channels: &Channels, count: usize) -> Vec<EtcdWorker> {
    (0..count)
        .map(|i| EtcdWorker {
            channels: channels.clone(),
            slot: i % channels.len(),
            endpoint_shift: 0,
            value: drive::value_of(args.value_bytes, i as u64),
        })
        .collect()
}

struct KeysSetup(EtcdWorker);

impl Worker for KeysSetup {
    async fn execute(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Populate(i) => self.0.execute(Op::Write(i)).await,
            other => self.0.execute(other).await,
        }
    }
}

pub async fn run_kv(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    let channels = channels(args)?;
    if !args.skip_setup {
        let setup = workers(args, &channels, SETUP_IN_FLIGHT.min(args.keys as usize));
        let setup = setup.into_iter().map(KeysSetup).collect();
        drive::count_bound(setup, args.keys, Arc::new(Stats::default())).await?;
    }
    drive::closed_loop(workers(args, &channels, args.in_flight), args, stats).await;
    Ok(())
}

pub async fn run_populate(args: &BenchArgs, stats: Arc<Stats>) -> anyhow::Result<()> {
    let channels = channels(args)?;
    drive::count_bound(workers(args, &channels, args.in_flight), args.keys, stats).await
}

pub async fn run_probe(args: &BenchArgs) -> anyhow::Result<Duration> {
    let limit = Duration::from_secs_f64(args.duration);
    let channels = channels(args)?;
    let mut worker = workers(args, &channels, 1).pop().expect("one worker");
    let worker = tokio::sync::Mutex::new(&mut worker);
    drive::until_ok(limit, |_| {
        let worker = &worker;
        async move { worker.lock().await.execute(Op::Read(0)).await }
    })
    .await
}
