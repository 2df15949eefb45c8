//! What one server sends another on the peer port: a Paxos message between
//! the replicas of one group, or a message between groups of the sharded
//! tier. A server hosts replicas of several groups (issue 13) over one
//! connection per pair of servers; the group id tells the receiver which
//! replica a message is for. The single-group server is the case of one
//! group, [`GroupTag`] 0.

use serde::{Deserialize, Serialize};
use synod_paxos::Message;

/// A Paxos group's id on the wire (the shard controller's `GroupId`).
pub type GroupTag = u64;

/// Bytes a parcel's envelope takes beyond its message, at most.
const ENVELOPE_BYTES: usize = 32;

/// One item of a batch frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Parcel {
    /// To the replica of `group` on the receiving server.
    Paxos { group: GroupTag, msg: Message },
    /// From the leader of group `from` to the leader of group `to` (an
    /// encoded `synod_shardkv::GroupMsg`), or between a group and the
    /// controller (group 0), which this crate never interprets. `relayed`:
    /// a server that got it for a leader elsewhere passed it on (at most
    /// once).
    Group {
        from: GroupTag,
        to: GroupTag,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        relayed: bool,
    },
}

impl Parcel {
    /// An upper bound on the parcel's encoded size, for the queues' byte
    /// budgets (as `Message::encoded_bytes_max`).
    pub fn encoded_bytes_max(&self) -> usize {
        ENVELOPE_BYTES
            + match self {
                Parcel::Paxos { msg, .. } => msg.encoded_bytes_max(),
                Parcel::Group { bytes, .. } => bytes.len(),
            }
    }

    /// One line for logs.
    pub fn describe(&self) -> String {
        match self {
            Parcel::Paxos { group, msg } => format!("group {group}: {}", msg.describe()),
            Parcel::Group {
                from, to, bytes, ..
            } => format!("group {from} to group {to}: {} bytes", bytes.len()),
        }
    }

    /// The group this parcel is addressed to.
    pub fn group(&self) -> GroupTag {
        match self {
            Parcel::Paxos { group, .. } => *group,
            Parcel::Group { to, .. } => *to,
        }
    }
}

/// A message of the single group a plain server runs (group 0).
impl From<Message> for Parcel {
    fn from(msg: Message) -> Parcel {
        Parcel::Paxos { group: 0, msg }
    }
}

impl std::fmt::Display for Parcel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parcel::Paxos { group, msg } => write!(f, "[g{group}] {msg}"),
            Parcel::Group {
                from, to, bytes, ..
            } => write!(f, "[g{from}->g{to}] {} bytes", bytes.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_bound_covers_the_encoding() {
        let parcels = [
            Parcel::Paxos {
                group: 7,
                msg: Message::CatchupRequest { from_slot: 3 },
            },
            Parcel::Group {
                from: 1,
                to: u64::MAX,
                bytes: vec![9; 1000],
                relayed: true,
            },
        ];
        for parcel in parcels {
            let size = crate::codec::parcel_body_bytes(&parcel).unwrap();
            assert!(size as usize <= parcel.encoded_bytes_max(), "{parcel}");
        }
    }
}
