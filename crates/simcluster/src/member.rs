//! One node's place in the cluster: the process (while it runs), its disk
//! and clock (which outlive crashes), and what a paused process has not
//! yet seen.

use crate::clock::Clock;
use crate::disk::Disk;
use crate::node::{ClientInput, Running};
use synod_paxos::{Config, Message, NodeId};

/// An input that reached a paused process: its socket buffers and disk
/// completions hold it until the process runs again. A peer message
/// stays queued on its link meanwhile (`id`), so a long pause fills the
/// sender's queue as it would over TCP.
#[derive(Debug)]
pub(crate) enum Held {
    Peer {
        from: NodeId,
        id: u64,
        msg: Message,
    },
    /// The write in progress completed.
    DiskDone,
    Input {
        incarnation: Option<u32>,
        input: ClientInput,
    },
}

pub(crate) struct Member {
    /// `None` while crashed or after it left the cluster.
    pub(crate) node: Option<Running>,
    /// Bumped at every crash: timers and disk completions of an earlier
    /// life are ignored.
    pub(crate) incarnation: u32,
    pub(crate) disk: Disk,
    pub(crate) clock: Clock,
    pub(crate) paused: bool,
    pub(crate) inbox: Vec<Held>,
    /// The configuration it boots with (and restarts with).
    pub(crate) initial: Config,
    /// Still part of the cluster (not decommissioned).
    pub(crate) member: bool,
}

impl Member {
    pub(crate) fn is_up(&self) -> bool {
        self.node.is_some()
    }
}
