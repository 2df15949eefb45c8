//! Messages between nodes. Every message carries the sender's ballot view so
//! a receiver can tell stale traffic from current.

use crate::durable::{ClientRecord, Snapshot};
use crate::types::{Ballot, ClientId, Command, Config, NodeId, Slot, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A snapshot without its state: what the first chunk of a snapshot
/// transfer carries besides its part of the state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotHead {
    pub config: Config,
    pub clients: BTreeMap<ClientId, ClientRecord>,
}

/// One entry an acceptor reports in its promise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reported {
    pub slot: Slot,
    /// The ballot in which the acceptor accepted `value`.
    pub ballot: Ballot,
    pub value: Value,
    /// The acceptor knows this value is chosen; it then wins over any
    /// accepted value whatever the ballots.
    pub chosen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// "Would you promise this ballot if I asked?" Answering changes no
    /// state, so a node cut off from the cluster can ask forever without
    /// raising anyone's promise and disrupting the leader when it returns.
    PreVote {
        ballot: Ballot,
    },
    PreVoteReply {
        ballot: Ballot,
        granted: bool,
    },
    /// Phase 1a, for every slot from `from_slot` on.
    Prepare {
        ballot: Ballot,
        from_slot: Slot,
    },
    /// Phase 1b. `compacted_upto` is the highest slot the acceptor has
    /// dropped from its log into a snapshot: it cannot report values at or
    /// below it, and every such slot is chosen.
    Promise {
        ballot: Ballot,
        from_slot: Slot,
        compacted_upto: Slot,
        accepted: Vec<Reported>,
    },
    /// The receiver's ballot is lower than what the sender promised, or
    /// the sender still follows a live leader and will not help.
    Nack {
        ballot: Ballot,
        promised: Ballot,
        leader_alive: bool,
    },
    /// Phase 2a for a run of slots, with the leader's commit point.
    Accept {
        ballot: Ballot,
        entries: Vec<(Slot, Value)>,
        commit: Slot,
    },
    /// Phase 2b. `commit` is the follower's own commit point, so the leader
    /// knows who lags.
    Accepted {
        ballot: Ballot,
        slots: Vec<Slot>,
        commit: Slot,
    },
    /// Leader's heartbeat: commit point and a sequence number that the lease
    /// is measured from.
    Heartbeat {
        ballot: Ballot,
        commit: Slot,
        seq: u64,
    },
    HeartbeatAck {
        ballot: Ballot,
        seq: u64,
        commit: Slot,
    },
    /// A lagging replica asks for chosen values from `from_slot` on.
    CatchupRequest {
        from_slot: Slot,
    },
    /// Chosen values in slot order, preceded by a snapshot when the sender
    /// has compacted the requested slots away.
    CatchupReply {
        snapshot: Option<Box<Snapshot>>,
        entries: Vec<(Slot, Value)>,
        commit: Slot,
    },
    /// Client commands a follower took in with `Input::Propose`, for the
    /// leader to propose. Fire-and-forget: a node that does not lead drops
    /// them, the leader skips those it already has, and the follower sends
    /// again until it has applied them. (Last in the enum so the wire tags
    /// of the older variants stay as they were.)
    Forward {
        commands: Vec<Command>,
    },
    /// Part of the sender's snapshot at `last_slot`, whose state is
    /// `state_bytes` long: `data` is the state from `offset` on, at most
    /// `EngineConfig::snapshot_chunk_bytes`. Sent instead of a
    /// `CatchupReply` carrying the snapshot when its state is larger than
    /// that, and in answer to `SnapshotChunkRequest`. The chunk at offset 0
    /// carries the rest of the snapshot in `head`. `commit` is the
    /// sender's commit point. (After `Forward`, so older wire tags stay.)
    SnapshotChunk {
        last_slot: Slot,
        state_bytes: u64,
        offset: u64,
        data: Bytes,
        head: Option<Box<SnapshotHead>>,
        commit: Slot,
    },
    /// A replica receiving the snapshot at `last_slot` in chunks asks its
    /// sender for the chunk at `offset`: flow control, one chunk in flight.
    SnapshotChunkRequest {
        last_slot: Slot,
        offset: u64,
    },
}

impl Message {
    /// A one-line description for traces.
    pub fn describe(&self) -> String {
        match self {
            Message::PreVote { ballot } => format!("pre-vote? ballot {ballot}"),
            Message::PreVoteReply { ballot, granted } => {
                format!(
                    "pre-vote {} for {ballot}",
                    if *granted { "yes" } else { "no" }
                )
            }
            Message::Prepare { ballot, from_slot } => {
                format!("prepare ballot {ballot} from slot {from_slot}")
            }
            Message::Promise {
                ballot,
                accepted,
                compacted_upto,
                ..
            } => {
                let entries: Vec<String> = accepted
                    .iter()
                    .take(4)
                    .map(|r| format!("{}@{}={}", r.slot, r.ballot, r.value.describe()))
                    .collect();
                format!(
                    "promise {ballot}, compacted to {compacted_upto}, accepted [{}{}]",
                    entries.join("; "),
                    if accepted.len() > 4 { "; ..." } else { "" }
                )
            }
            Message::Nack {
                ballot,
                promised,
                leader_alive,
            } => format!(
                "nack {ballot}: promised {promised}{}",
                if *leader_alive { ", leader alive" } else { "" }
            ),
            Message::Accept {
                ballot,
                entries,
                commit,
            } => {
                let e: Vec<String> = entries
                    .iter()
                    .take(4)
                    .map(|(s, v)| format!("{s}={}", v.describe()))
                    .collect();
                format!(
                    "accept {ballot} [{}{}] commit {commit}",
                    e.join("; "),
                    if entries.len() > 4 { "; ..." } else { "" }
                )
            }
            Message::Accepted {
                ballot,
                slots,
                commit,
            } => format!("accepted {ballot} slots {slots:?} (commit {commit})"),
            Message::Heartbeat {
                ballot,
                commit,
                seq,
            } => format!("heartbeat {ballot} #{seq} commit {commit}"),
            Message::HeartbeatAck { ballot, seq, .. } => format!("heartbeat-ack {ballot} #{seq}"),
            Message::CatchupRequest { from_slot } => format!("catch-up from slot {from_slot}"),
            Message::CatchupReply {
                snapshot,
                entries,
                commit,
            } => format!(
                "catch-up reply: {}{} entries, commit {commit}",
                match snapshot {
                    Some(s) => format!("snapshot at {}, ", s.last_slot),
                    None => String::new(),
                },
                entries.len()
            ),
            Message::Forward { commands } => {
                let ids: Vec<String> = commands
                    .iter()
                    .take(4)
                    .map(|c| format!("c{}#{}", c.client, c.seq))
                    .collect();
                format!(
                    "forward [{}{}]",
                    ids.join(", "),
                    if commands.len() > 4 { ", ..." } else { "" }
                )
            }
            Message::SnapshotChunk {
                last_slot,
                state_bytes,
                offset,
                data,
                head,
                commit,
            } => format!(
                "snapshot at {last_slot}: bytes {offset}..{} of {state_bytes}{}, commit {commit}",
                offset + data.len() as u64,
                if head.is_some() { " with head" } else { "" }
            ),
            Message::SnapshotChunkRequest { last_slot, offset } => {
                format!("snapshot at {last_slot}: send bytes from {offset}")
            }
        }
    }

    /// The ballot a message speaks for, if any.
    pub fn ballot(&self) -> Option<Ballot> {
        match self {
            Message::PreVote { ballot }
            | Message::PreVoteReply { ballot, .. }
            | Message::Prepare { ballot, .. }
            | Message::Promise { ballot, .. }
            | Message::Nack { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Accepted { ballot, .. }
            | Message::Heartbeat { ballot, .. }
            | Message::HeartbeatAck { ballot, .. } => Some(*ballot),
            Message::CatchupRequest { .. }
            | Message::CatchupReply { .. }
            | Message::Forward { .. }
            | Message::SnapshotChunk { .. }
            | Message::SnapshotChunkRequest { .. } => None,
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Used by `Config` users that want the set of peers to address.
pub fn peers(config: &Config, me: NodeId) -> impl Iterator<Item = NodeId> + '_ {
    config.members().filter(move |n| *n != me)
}
