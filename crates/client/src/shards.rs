//! The client of the sharded tier (a cluster started with `[shards]
//! groups`): the controller's operations and transactions across shards.
//!
//! A transaction runs as one [`TxnCall`] of `synod-shardkv`, the pure rule
//! that keeps its outcome true: it stays with the group that coordinates
//! it, and is sent again there under the same id, until that group answers
//! `WrongGroup`; only then does it go, under a new id, to the group a newer
//! configuration names. Within a group the client finds the leader by the
//! servers' redirects.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use synod_api::pb;
use synod_api::pb::shards_client::ShardsClient;
use synod_shard::{decode_reply, encode_op, Config, GroupId, ShardError, ShardOp, ShardReply};
use synod_shardkv::{
    decode, encode, CallStep, CallTimers, ClientReply, Txn, TxnCall, TxnId, TxnOutcome,
};

use crate::client::{Auth, Stub};
use crate::endpoints::{Endpoints, Node};
use crate::{ClientError, ClientOptions};

/// A client of the sharded tier. It speaks TLS and sends the bearer token
/// as [`Client`](crate::Client) does, from the same [`ClientOptions`].
pub struct ShardClient {
    /// The bearer token every request carries, if any.
    auth: Auth,
    endpoints: Endpoints,
    options: ClientOptions,
    client_id: u64,
    seq: u64,
    /// The newest configuration this client has seen.
    config: Option<Config>,
    /// The server each group's leader was last found at.
    leaders: HashMap<GroupId, String>,
    /// Where the next controller request goes first.
    cursor: usize,
    started: Instant,
}

/// What one send of a transaction got back.
enum Sent {
    Reply(ClientReply),
    /// Under way, or no server answered: the call sends again when due.
    Nothing,
}

impl ShardClient {
    /// A client for the sharded cluster whose servers' client addresses
    /// are `endpoints`. Connections open lazily.
    pub async fn connect(
        endpoints: Vec<String>,
        options: ClientOptions,
    ) -> Result<ShardClient, ClientError> {
        let auth = Auth::new(options.token.as_deref())?;
        let endpoints = Endpoints::for_options(endpoints, &options)?;
        let client_id = options.client_id.unwrap_or_else(crate::client::random_u64);
        Ok(ShardClient {
            auth,
            endpoints,
            options,
            client_id,
            seq: 0,
            config: None,
            leaders: HashMap::new(),
            cursor: 0,
            started: Instant::now(),
        })
    }

    /// True if the server at `endpoint` serves the sharded tier (a plain
    /// server answers UNIMPLEMENTED), asked with `options`' TLS and token
    /// within `timeout`. Connection errors are errors.
    pub async fn is_sharded(
        endpoint: &str,
        options: &ClientOptions,
        timeout: Duration,
    ) -> Result<bool, ClientError> {
        let options = ClientOptions {
            connect_timeout: timeout,
            ..options.clone()
        };
        let auth = Auth::new(options.token.as_deref())?;
        let endpoints = Endpoints::for_options(vec![endpoint.to_string()], &options)?;
        let node = endpoints.get(0).clone();
        let addr = node.addr.clone();
        let mut stub = stub(node, &auth);
        let mut request = tonic::Request::new(pb::ShardControlRequest {
            op: encode_op(&ShardOp::Query { num: -1 }),
        });
        request.set_timeout(timeout);
        match stub.control(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == tonic::Code::Unimplemented => Ok(false),
            Err(status) => Err(ClientError::Transport {
                endpoint: addr,
                source: Box::new(status),
            }),
        }
    }

    /// What the server at `endpoint` knows of each group it hosts.
    pub async fn status(
        &self,
        endpoint: &str,
    ) -> Result<synod_api::pb::ShardStatusResponse, ClientError> {
        let node = self.endpoints.lookup_or_open(endpoint)?;
        let addr = node.addr.clone();
        let mut stub = stub(node, &self.auth);
        let mut request = tonic::Request::new(pb::ShardStatusRequest {});
        request.set_timeout(self.options.request_timeout);
        match stub.status(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(ClientError::Transport {
                endpoint: addr,
                source: Box::new(status),
            }),
        }
    }

    /// This client's id: every transaction is named (id, seq).
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// An operation for the controller, at its leader.
    pub async fn control(&mut self, op: ShardOp) -> Result<ShardReply, ClientError> {
        let deadline = Instant::now() + self.options.deadline;
        let mut tried = Vec::new();
        let mut last_error = String::from("none");
        let mut attempts = 0;
        let mut target: Option<String> = None;
        while attempts < self.options.attempts_max && Instant::now() < deadline {
            attempts += 1;
            let node = match target.take() {
                Some(addr) => self.endpoints.lookup_or_open(&addr)?,
                None => {
                    let node = self
                        .endpoints
                        .get(self.cursor % self.endpoints.len())
                        .clone();
                    node
                }
            };
            if !tried.contains(&node.addr) {
                tried.push(node.addr.clone());
            }
            let mut stub = stub(node.clone(), &self.auth);
            let mut request = tonic::Request::new(pb::ShardControlRequest { op: encode_op(&op) });
            request.set_timeout(self.options.request_timeout);
            use pb::shard_control_response::Result as R;
            match stub.control(request).await {
                Ok(response) => match response.into_inner().result {
                    Some(R::Reply(bytes)) => {
                        let reply = decode_reply(&bytes).map_err(|e| ClientError::Protocol {
                            endpoint: node.addr.clone(),
                            message: format!("undecodable controller reply: {e}"),
                        })?;
                        if let ShardReply::Config(config) = &reply {
                            self.learn(config.clone());
                        }
                        return Ok(reply);
                    }
                    Some(R::Refusal(refusal)) => {
                        last_error = format!("{}: {refusal:?}", node.addr);
                        target = leader_addr(&refusal);
                        if target.is_none() {
                            self.cursor += 1;
                            tokio::time::sleep(self.options.backoff_initial).await;
                        }
                    }
                    None => {
                        return Err(ClientError::Protocol {
                            endpoint: node.addr.clone(),
                            message: "a response without a result".into(),
                        })
                    }
                },
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    return Err(ClientError::Rejected(status.message().to_string()))
                }
                Err(status) if status.code() == tonic::Code::PermissionDenied => {
                    return Err(ClientError::PermissionDenied(format!(
                        "{}: {}",
                        node.addr,
                        status.message()
                    )))
                }
                Err(status) => {
                    last_error = format!("{}: {status}", node.addr);
                    self.cursor += 1;
                    tokio::time::sleep(self.options.backoff_initial).await;
                }
            }
        }
        Err(ClientError::NoLeader {
            tried,
            last_error,
            attempts,
        })
    }

    /// The newest configuration (a linearizable read at the controller).
    pub async fn config(&mut self) -> Result<Config, ClientError> {
        match self.control(ShardOp::Query { num: -1 }).await? {
            ShardReply::Config(config) => Ok(config),
            other => Err(ClientError::Rejected(format!(
                "the controller answered a query with {other:?}"
            ))),
        }
    }

    /// Joins groups (id to their servers' client addresses) and rebalances.
    pub async fn join(
        &mut self,
        groups: std::collections::BTreeMap<GroupId, Vec<String>>,
    ) -> Result<ShardReply, ClientError> {
        refused(self.control(ShardOp::Join { groups }).await?)
    }

    /// Removes groups and rebalances their shards over the rest.
    pub async fn leave(&mut self, groups: Vec<GroupId>) -> Result<ShardReply, ClientError> {
        refused(self.control(ShardOp::Leave { groups }).await?)
    }

    /// Gives one shard to one group.
    pub async fn move_shard(
        &mut self,
        shard: synod_shard::ShardId,
        group: GroupId,
    ) -> Result<ShardReply, ClientError> {
        refused(self.control(ShardOp::Move { shard, group }).await?)
    }

    fn learn(&mut self, config: Config) {
        if self.config.as_ref().is_none_or(|c| c.num < config.num) {
            self.config = Some(config);
        }
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn next_id(&mut self) -> TxnId {
        self.seq += 1;
        TxnId {
            client: self.client_id,
            seq: self.seq,
        }
    }

    /// Runs `txn` to its outcome: committed (with what it read and the
    /// revisions it wrote) or aborted (with why). An abort that running
    /// again may cure ([`synod_shardkv::AbortReason::is_retryable`]: a lock conflict, a
    /// shard moving) is run again, as a new transaction, after a short
    /// randomized pause, until the client's deadline; the aborted attempts
    /// took no effect. An error means no answer came in time: the
    /// transaction may or may not have committed
    /// ([`ClientError::TxnUnknown`]).
    pub async fn txn(&mut self, txn: Txn) -> Result<TxnOutcome, ClientError> {
        let deadline = Instant::now() + self.options.deadline;
        let mut pause = self.options.backoff_initial;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = self.txn_once(txn.clone(), left).await?;
            match &outcome {
                TxnOutcome::Aborted(reason)
                    if reason.is_retryable() && Instant::now() + pause < deadline =>
                {
                    let jitter = crate::client::random_u64() % (pause.as_micros() as u64 + 1);
                    tokio::time::sleep(pause / 2 + Duration::from_micros(jitter / 2)).await;
                    pause = (pause * 2).min(self.options.backoff_max);
                }
                _ => return Ok(outcome),
            }
        }
    }

    /// One attempt of `txn`, given up after `within` (see [`Self::txn`]).
    async fn txn_once(&mut self, txn: Txn, within: Duration) -> Result<TxnOutcome, ClientError> {
        let config = match self.config.clone() {
            Some(config) => config,
            None => self.config().await?,
        };
        let id = self.next_id();
        let timers = CallTimers {
            give_up_us: within.as_micros() as u64,
            ..CallTimers::default()
        };
        let mut call = TxnCall::new(id, txn, &config, timers, self.now_us());
        loop {
            let Some(step) = call.poll(self.now_us()) else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let mut next = Some(step);
            while let Some(step) = next.take() {
                match step {
                    CallStep::Done(outcome) => return Ok(outcome),
                    CallStep::GaveUp => return Err(ClientError::TxnUnknown { id: call.id().seq }),
                    CallStep::NeedConfig { num } => {
                        let newest = self.config().await?;
                        if newest.num <= num {
                            // The group that refused may only be behind
                            // the controller: give it a moment.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        let new_id = self.next_id();
                        call.on_config(self.now_us(), &newest, new_id);
                    }
                    CallStep::Send { to, msg } => {
                        if let Sent::Reply(reply) = self.send_txn(to, encode(&msg)).await {
                            next = call.on_reply(self.now_us(), reply);
                        }
                    }
                }
            }
        }
    }

    /// One send to group `to`'s leader, following one redirect.
    async fn send_txn(&mut self, to: GroupId, msg: Vec<u8>) -> Sent {
        let servers: Vec<String> = self
            .config
            .as_ref()
            .and_then(|c| c.servers_of(to))
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let mut addr = match self.leaders.get(&to) {
            Some(addr) => addr.clone(),
            None => match servers.first() {
                Some(addr) => addr.clone(),
                None => return Sent::Nothing,
            },
        };
        for _ in 0..2 {
            let Ok(node) = self.endpoints.lookup_or_open(&addr) else {
                return Sent::Nothing;
            };
            let mut stub = stub(node, &self.auth);
            let mut request = tonic::Request::new(pb::ShardTxnRequest {
                group: to,
                msg: msg.clone(),
            });
            request.set_timeout(self.options.request_timeout.max(Duration::from_secs(2)));
            use pb::shard_txn_response::Result as R;
            match stub.txn(request).await.map(|r| r.into_inner().result) {
                Ok(Some(R::Reply(bytes))) => {
                    self.leaders.insert(to, addr);
                    return match decode(&bytes) {
                        Ok(reply) => Sent::Reply(reply),
                        Err(_) => Sent::Nothing,
                    };
                }
                Ok(Some(R::Refusal(refusal))) => match leader_addr(&refusal) {
                    Some(leader) if leader != addr => {
                        addr = leader;
                        self.leaders.insert(to, addr.clone());
                        continue;
                    }
                    _ => {
                        self.forget_leader(to, &addr, &servers);
                        return Sent::Nothing;
                    }
                },
                Ok(Some(R::Pending(_))) => return Sent::Nothing,
                Ok(None) | Err(_) => {
                    self.forget_leader(to, &addr, &servers);
                    return Sent::Nothing;
                }
            }
        }
        Sent::Nothing
    }

    /// The next send to group `to` tries the server after `addr`.
    fn forget_leader(&mut self, to: GroupId, addr: &str, servers: &[String]) {
        let at = servers.iter().position(|s| s == addr).map_or(0, |i| i + 1);
        match servers.get(at % servers.len().max(1)) {
            Some(next) => self.leaders.insert(to, next.clone()),
            None => self.leaders.remove(&to),
        };
    }
}

/// A `Shards` stub to `node` that sends `auth`'s token.
fn stub(node: Node, auth: &Auth) -> ShardsClient<Stub> {
    ShardsClient::with_interceptor(node.channel, auth.clone())
}

/// The leader a refusal names, if it names one.
fn leader_addr(refusal: &pb::Refusal) -> Option<String> {
    match &refusal.reason {
        Some(pb::refusal::Reason::NotLeader(n)) => n.leader_addr.clone(),
        _ => None,
    }
}

/// A controller refusal as an error.
fn refused(reply: ShardReply) -> Result<ShardReply, ClientError> {
    match reply {
        ShardReply::Error(error) => Err(ClientError::Rejected(describe(&error))),
        other => Ok(other),
    }
}

fn describe(error: &ShardError) -> String {
    error.to_string()
}
