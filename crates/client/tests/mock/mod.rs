//! An in-memory stand-in for a synod node's `Kv` service, for the client's
//! tests: a shared store with a per-client table of last replies (the
//! exactly-once rule of the real state machine), and a mode per node that
//! makes it lead, redirect, stay busy, or crash after applying a write.
//!
//! Each node runs on its own tokio runtime so that `stop` can drop every
//! task of the node at once, open connections included, as a crash would.

#![allow(dead_code)] // Each test file uses a different part.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use synod_api::pb::{self, kv_server};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A reply kept in the per-client table, so a retried write gets it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cached {
    Applied,
    CasFailed(Option<Vec<u8>>),
}

/// The replicated state, shared by every mock node of a test.
#[derive(Debug, Default)]
pub struct Store {
    pub data: BTreeMap<Vec<u8>, Vec<u8>>,
    /// client id -> (last applied seq, its reply).
    pub clients: HashMap<u64, (u64, Cached)>,
    /// How many writes were applied (duplicates are not).
    pub applied: u64,
    /// A put of a new key past this many keys is refused
    /// RESOURCE_EXHAUSTED, as a node refuses one past `[kv] keys_max`.
    pub keys_max: Option<usize>,
}

/// A put with a larger value is refused InvalidArgument, as a node refuses
/// a command over its log's budget.
pub const VALUE_BYTES_MAX: usize = 1024;

/// How a node answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Leader,
    /// Refuses everything but serializable reads, naming this leader.
    NotLeader {
        leader_id: Option<u64>,
        leader_addr: Option<String>,
    },
    /// Answers Busy this many more times, then leads.
    Busy {
        remaining: u32,
    },
    /// Applies writes, then never answers: a leader that crashes before
    /// its reply leaves.
    ApplyThenHang,
}

/// One request as the node received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub rpc: &'static str,
    pub client_id: u64,
    pub seq: u64,
}

pub struct NodeState {
    pub id: u64,
    pub mode: Mutex<Mode>,
    pub store: Arc<Mutex<Store>>,
    pub seen: Mutex<Vec<Seen>>,
}

pub struct MockNode {
    pub addr: String,
    pub state: Arc<NodeState>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MockNode {
    /// Starts a node on 127.0.0.1, on a port the system picks.
    pub fn start(id: u64, mode: Mode, store: Arc<Mutex<Store>>) -> MockNode {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(NodeState {
            id,
            mode: Mutex::new(mode),
            store,
            seen: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let service = kv_server::KvServer::new(MockService(state.clone()));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        MockNode {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Crashes the node: its listener and every connection close.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// The (client id, seq) of every write request received, in order.
    pub fn writes_seen(&self) -> Vec<(u64, u64)> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.rpc != "get" && s.rpc != "status")
            .map(|s| (s.client_id, s.seq))
            .collect()
    }

    pub fn requests_seen(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

impl Drop for MockNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A refusal for a request that needs the leader, if this node will not
/// serve it now.
fn gate(state: &NodeState) -> Option<pb::Refusal> {
    let mut mode = state.mode.lock().unwrap();
    let reason = match &mut *mode {
        Mode::Leader | Mode::ApplyThenHang => return None,
        Mode::NotLeader {
            leader_id,
            leader_addr,
        } => pb::refusal::Reason::NotLeader(pb::NotLeader {
            leader_id: *leader_id,
            leader_addr: leader_addr.clone(),
        }),
        Mode::Busy { remaining: 0 } => {
            *mode = Mode::Leader;
            return None;
        }
        Mode::Busy { remaining } => {
            *remaining -= 1;
            pb::refusal::Reason::Busy(pb::Busy {
                retry_after_ms: 5,
                reason: "proposal queue full".into(),
            })
        }
    };
    Some(pb::Refusal {
        reason: Some(reason),
    })
}

fn refusal(reason: pb::refusal::Reason) -> pb::Refusal {
    pb::Refusal {
        reason: Some(reason),
    }
}

/// Applies a write under the exactly-once rule, or refuses it.
async fn write(
    state: &NodeState,
    rpc: &'static str,
    client_id: u64,
    seq: u64,
    key: &[u8],
    apply: impl FnOnce(&mut BTreeMap<Vec<u8>, Vec<u8>>) -> Cached,
) -> Result<Cached, pb::Refusal> {
    state.seen.lock().unwrap().push(Seen {
        rpc,
        client_id,
        seq,
    });
    if let Some(refused) = gate(state) {
        return Err(refused);
    }
    if key.is_empty() || seq == 0 {
        return Err(refusal(pb::refusal::Reason::Rejected(pb::Rejected {
            message: "empty key or seq 0".into(),
        })));
    }
    let reply = {
        let mut store = state.store.lock().unwrap();
        match store.clients.get(&client_id) {
            Some((last, cached)) if *last == seq => Ok(cached.clone()),
            Some((last, _)) if *last > seq => Err(refusal(pb::refusal::Reason::Stale(pb::Stale {
                last_applied_seq: *last,
            }))),
            _ => {
                let reply = apply(&mut store.data);
                store.applied += 1;
                store.clients.insert(client_id, (seq, reply.clone()));
                Ok(reply)
            }
        }
    };
    if matches!(*state.mode.lock().unwrap(), Mode::ApplyThenHang) {
        std::future::pending::<()>().await;
    }
    reply
}

struct MockService(Arc<NodeState>);

#[tonic::async_trait]
impl kv_server::Kv for MockService {
    async fn reconfigure(
        &self,
        _request: Request<pb::ReconfigureRequest>,
    ) -> Result<Response<pb::ReconfigureResponse>, Status> {
        Err(Status::unimplemented("the mock has no membership"))
    }

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        let request = request.into_inner();
        self.0.seen.lock().unwrap().push(Seen {
            rpc: "get",
            client_id: 0,
            seq: 0,
        });
        let refused = if request.serializable {
            None
        } else {
            gate(&self.0)
        };
        let result = match refused {
            Some(refusal) => pb::get_response::Result::Refusal(refusal),
            None => {
                let store = self.0.store.lock().unwrap();
                pb::get_response::Result::Value(pb::Value {
                    value: store.data.get(&request.key).cloned(),
                })
            }
        };
        Ok(Response::new(pb::GetResponse {
            result: Some(result),
        }))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let r = request.into_inner();
        if r.value.len() > VALUE_BYTES_MAX {
            // As synod's nodes refuse a write too large for one log command.
            self.0.seen.lock().unwrap().push(Seen {
                rpc: "put",
                client_id: r.client_id,
                seq: r.seq,
            });
            return Err(Status::invalid_argument(format!(
                "the write encodes to a {} byte command, more than the {VALUE_BYTES_MAX} bytes",
                r.value.len()
            )));
        }
        let full = {
            let store = self.0.store.lock().unwrap();
            store
                .keys_max
                .is_some_and(|max| !store.data.contains_key(&r.key) && store.data.len() >= max)
        };
        if full {
            self.0.seen.lock().unwrap().push(Seen {
                rpc: "put",
                client_id: r.client_id,
                seq: r.seq,
            });
            return Err(Status::resource_exhausted(
                "the key-value store would hold 2 keys, more than [kv] keys_max (1); \
                 delete keys, or raise [kv] keys_max on every node",
            ));
        }
        let (key, value) = (r.key.clone(), r.value);
        let result = match write(&self.0, "put", r.client_id, r.seq, &r.key, |data| {
            data.insert(key, value);
            Cached::Applied
        })
        .await
        {
            Ok(_) => pb::put_response::Result::Applied(pb::Applied {}),
            Err(refusal) => pb::put_response::Result::Refusal(refusal),
        };
        Ok(Response::new(pb::PutResponse {
            result: Some(result),
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let r = request.into_inner();
        let key = r.key.clone();
        let result = match write(&self.0, "delete", r.client_id, r.seq, &r.key, |data| {
            data.remove(&key);
            Cached::Applied
        })
        .await
        {
            Ok(_) => pb::delete_response::Result::Applied(pb::Applied {}),
            Err(refusal) => pb::delete_response::Result::Refusal(refusal),
        };
        Ok(Response::new(pb::DeleteResponse {
            result: Some(result),
        }))
    }

    async fn cas(
        &self,
        request: Request<pb::CasRequest>,
    ) -> Result<Response<pb::CasResponse>, Status> {
        let r = request.into_inner();
        let (key, expected, new) = (r.key.clone(), r.expected, r.new);
        let result = match write(&self.0, "cas", r.client_id, r.seq, &r.key, |data| {
            let current = data.get(&key).cloned();
            if current == expected {
                data.insert(key, new);
                Cached::Applied
            } else {
                Cached::CasFailed(current)
            }
        })
        .await
        {
            Ok(Cached::Applied) => pb::cas_response::Result::Applied(pb::Applied {}),
            Ok(Cached::CasFailed(current)) => {
                pb::cas_response::Result::Failed(pb::CasFailed { current })
            }
            Err(refusal) => pb::cas_response::Result::Refusal(refusal),
        };
        Ok(Response::new(pb::CasResponse {
            result: Some(result),
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.0.seen.lock().unwrap().push(Seen {
            rpc: "status",
            client_id: 0,
            seq: 0,
        });
        let leading = matches!(*self.0.mode.lock().unwrap(), Mode::Leader);
        let store = self.0.store.lock().unwrap();
        Ok(Response::new(pb::StatusResponse {
            node_id: self.0.id,
            role: if leading {
                pb::Role::Leader
            } else {
                pb::Role::Follower
            } as i32,
            ballot: Some(pb::Ballot {
                round: 7,
                node: self.0.id,
            }),
            leader_id: leading.then_some(self.0.id),
            leader_addr: None,
            commit_slot: store.applied,
            applied_slot: store.applied,
            config: Some(pb::Config {
                voters: vec![1, 2, 3],
                learners: vec![4],
            }),
            peers: vec![pb::PeerStatus {
                peer_id: 2,
                commit_slot: 1,
                lag_slots: store.applied.saturating_sub(1),
            }],
        }))
    }
}
