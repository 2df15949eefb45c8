//! ZooKeeper's dynamic reconfiguration over synod's membership changes:
//! the request (`ReconfigRequest`, opcode 16), its plan in one-node steps
//! (`plan`), and `/zookeeper/config` as clients read it (`render`). The
//! front door runs a plan step by step (`front/reconfig.rs`).

pub mod plan;
pub mod render;

use std::collections::BTreeMap;
use synod_paxos::NodeId;
use synod_zkproto as wire;

/// ZooKeeper's ReconfigRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconfigRequest {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    /// -1: any version.
    pub cur_config_id: i64,
}

impl ReconfigRequest {
    /// Decodes the body after the request header.
    pub fn decode(r: &mut wire::Reader<'_>) -> Result<Self, wire::DecodeError> {
        Ok(ReconfigRequest {
            joining: r.read_ustring("ReconfigRequest.joiningServers")?,
            leaving: r.read_ustring("ReconfigRequest.leavingServers")?,
            new_members: r.read_ustring("ReconfigRequest.newMembers")?,
            cur_config_id: r.read_long("ReconfigRequest.curConfigId")?,
        })
    }
}

/// A node's reconfig settings (not replicated: each node's own config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconfigSettings {
    /// ZooKeeper's `reconfigEnabled` (`[zk] reconfig_enabled`), off by
    /// default as there: a reconfig is answered `ReconfigDisabled`.
    pub enabled: bool,
    /// Each static member's address in ZooKeeper's form
    /// (`PEER_HOST:PEER_PORT:GRPC_PORT`), for members never given a line.
    pub static_servers: BTreeMap<NodeId, String>,
}
