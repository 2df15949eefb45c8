//! The node every simulated cluster runs: the shipped service node
//! (`synod_node::ServiceNode`, the same type the server runtime drives)
//! over the shipped storage (`synod_storage::NodeStorage`, its WAL and
//! snapshot store) on a simulated disk (`synod_wal::SimFs`). Nothing of the
//! node is re-created here: the cluster only carries its inputs in and its
//! outputs out, as the runtime's I/O does.

use synod_front::{ConnId, ZkLimits};
use synod_node::{NodeBugs, NodeInput, NodeOutput, Refused, ServiceNode};
use synod_storage::{NodeStorage, StorageOptions};
use synod_wal::{SnapshotOptions, WalOptions};
use synod_zkproto::ConnectRequest;

/// Where a node's storage lives on its simulated disk.
pub const DATA_DIR: &str = "/synod";

/// What every node of a run is built with, besides its id and engine.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The ZooKeeper front door's limits.
    pub zk: ZkLimits,
    /// The storage's limits and compaction policy. The simulator's default
    /// ([`NodeSpec::small_storage`]) compacts and rolls segments often, so
    /// runs cross those paths many times.
    pub storage: StorageOptions,
    /// Deliberate drive-loop bugs (none without the node's `broken`
    /// feature).
    pub bugs: NodeBugs,
    /// Boot every node with its apply tap on
    /// (`ServiceNode::set_apply_tap`): its `NodeOutput::Applied` records
    /// then come out as `Out::Output`, for a simulator's oracles.
    pub apply_tap: bool,
}

impl NodeSpec {
    /// Storage that compacts every 16 KiB of log, keeps 4 KiB segments and
    /// hands its writes to the file system in 512-byte pieces.
    pub fn small_storage() -> StorageOptions {
        StorageOptions {
            wal: WalOptions {
                segment_bytes_max: 4 << 10,
                // Small, so a write reaches the file system in parts and a
                // power loss mid-write can keep some of them.
                write_buffer_bytes_max: 512,
                ..WalOptions::default()
            },
            snapshots: SnapshotOptions::default(),
            compact_wal_bytes_min: 16 << 10,
        }
    }
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            zk: ZkLimits {
                min_session_timeout_ms: 4_000,
                max_session_timeout_ms: 40_000,
                super_digest: None,
                x509_super_user: None,
                sasl_users: None,
                sasl_super_user: None,
                max_buffer_bytes: 1 << 20,
                connections_max: 1_000,
                // Set from the engine's by the node itself.
                command_bytes_max: synod_front::budget::COMMAND_BYTES_MAX_DEFAULT,
                znodes_max: synod_front::ZkLimits::ZNODES_MAX_DEFAULT,
                data_bytes_max: synod_front::ZkLimits::DATA_BYTES_MAX_DEFAULT,
                read_only_mode: false,
            },
            storage: NodeSpec::small_storage(),
            bugs: NodeBugs::default(),
            apply_tap: false,
        }
    }
}

/// What a client hands a node.
#[derive(Debug)]
pub enum ClientInput {
    /// One input of the node's own: `Write`, `Propose`, `Read`,
    /// `Reconfigure`, `ZkPacket` or `ZkClosed`.
    Node(NodeInput),
    /// A ZooKeeper client's ConnectRequest (`ServiceNode::zk_open`); the
    /// answer comes back as `Out::ZkOpened` with the same `token`.
    ZkOpen {
        token: u64,
        connect: ConnectRequest,
        passwd: Vec<u8>,
    },
}

/// A running node: the process (the service node and its open storage).
/// Its disk outlives it, in the member.
pub struct Running {
    pub node: ServiceNode,
    pub(crate) storage: NodeStorage,
}

impl Running {
    /// The storage's view of what is durable.
    pub fn storage(&self) -> &NodeStorage {
        &self.storage
    }
}

/// What `zk_open` answered.
pub type ZkOpened = Result<ConnId, Refused>;

/// What a step produced, before the cluster carries it out.
pub(crate) type Outputs = Vec<NodeOutput>;
