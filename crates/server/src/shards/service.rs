//! The `Shards` gRPC service: the controller's operations and clients'
//! transactions, handed to the shard task. Refusals are in-band, as on the
//! `Kv` service: not the leader (with its address), busy.

use std::time::Duration;

use synod_api::pb::{self, shards_server::Shards};
use synod_paxos::Outcome;
use synod_shard::{decode_op, encode_reply};
use synod_shardkv::{decode, encode, GroupMsg};
use tonic::{Request, Response, Status};

use super::runtime::{Answer, ShardHandle};
use crate::grpc::Redirects;

/// How long a transaction call waits for its decision before the client
/// hears `Pending` and sends it again (same id: safe). Below the clients'
/// own deadline, so a slow commit never looks like a dead server.
pub const TXN_WAIT: Duration = Duration::from_secs(1);

pub struct ShardService {
    handle: ShardHandle,
    redirects: Redirects,
    node_id: u64,
}

impl ShardService {
    pub fn new(handle: ShardHandle, redirects: Redirects, node_id: u64) -> ShardService {
        ShardService {
            handle,
            redirects,
            node_id,
        }
    }

    fn refusal<T>(&self, answer: &Answer<T>) -> pb::Refusal {
        let outcome = match answer {
            Answer::NotLeader(leader) => Outcome::NotLeader { leader: *leader },
            Answer::Busy => Outcome::Busy,
            Answer::NoSuchGroup => {
                Outcome::Rejected("this server hosts no replica of that group".into())
            }
            Answer::Reply(_) => Outcome::Rejected("internal: a reply taken for a refusal".into()),
        };
        self.redirects.refusal(&outcome)
    }
}

fn stopped(e: impl std::fmt::Display) -> Status {
    Status::unavailable(e.to_string())
}

#[tonic::async_trait]
impl Shards for ShardService {
    async fn control(
        &self,
        request: Request<pb::ShardControlRequest>,
    ) -> Result<Response<pb::ShardControlResponse>, Status> {
        let op = decode_op(&request.into_inner().op)
            .map_err(|e| Status::invalid_argument(format!("undecodable shard operation: {e}")))?;
        let answer = self.handle.control(op).await.map_err(stopped)?;
        use pb::shard_control_response::Result as R;
        let result = match answer {
            Answer::Reply(reply) => R::Reply(encode_reply(&reply)),
            other => R::Refusal(self.refusal(&other)),
        };
        Ok(Response::new(pb::ShardControlResponse {
            result: Some(result),
        }))
    }

    async fn txn(
        &self,
        request: Request<pb::ShardTxnRequest>,
    ) -> Result<Response<pb::ShardTxnResponse>, Status> {
        let request = request.into_inner();
        let msg: GroupMsg = decode(&request.msg)
            .map_err(|e| Status::invalid_argument(format!("undecodable transaction: {e}")))?;
        let GroupMsg::ClientTxn { id, .. } = &msg else {
            return Err(Status::invalid_argument(
                "only a client's transaction (GroupMsg::ClientTxn) is taken here",
            ));
        };
        let id = *id;
        use pb::shard_txn_response::Result as R;
        let asked = self.handle.txn(request.group, id, msg);
        let result = match tokio::time::timeout(TXN_WAIT, asked).await {
            Err(_) => R::Pending(pb::Pending {}),
            Ok(answer) => match answer.map_err(stopped)? {
                Answer::Reply(reply) => R::Reply(encode(&reply)),
                other => R::Refusal(self.refusal(&other)),
            },
        };
        Ok(Response::new(pb::ShardTxnResponse {
            result: Some(result),
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::ShardStatusRequest>,
    ) -> Result<Response<pb::ShardStatusResponse>, Status> {
        let groups = self.handle.status().await.map_err(stopped)?;
        Ok(Response::new(pb::ShardStatusResponse {
            node_id: self.node_id,
            groups: groups
                .into_iter()
                .map(|g| pb::GroupReplicaStatus {
                    group: g.group,
                    leader_id: g.leader,
                    leads: g.leads,
                    config: g.config,
                    applied_slot: g.applied,
                })
                .collect(),
        }))
    }
}
