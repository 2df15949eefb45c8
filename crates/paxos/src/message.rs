//! Messages between nodes. Every message carries the sender's ballot view so
//! a receiver can tell stale traffic from current.

use crate::config::{ROUND_MAX, SLOT_MAX};
use crate::durable::{ClientRecord, Snapshot};
use crate::types::{Ballot, ClientId, Command, Config, ConfigChange, NodeId, Slot, Value};
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
    /// Phase 1b, one page of it. `accepted` holds the acceptor's entries
    /// from `from_slot` on, in slot order, within
    /// `EngineConfig::message_bytes_max` (at least one entry); `more` is the
    /// first slot left out, which the leader asks for with another
    /// `Prepare { from_slot: more }` in the same ballot, or `None` on the
    /// last page. A promise counts only once its last page is in.
    /// `compacted_upto` is the highest slot the acceptor has dropped from
    /// its log into a snapshot: it cannot report values at or below it,
    /// and every such slot is chosen. `commit` is its commit point.
    Promise {
        ballot: Ballot,
        from_slot: Slot,
        compacted_upto: Slot,
        commit: Slot,
        accepted: Vec<Reported>,
        more: Option<Slot>,
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
    /// Part of the sender's snapshot at `last_slot`, sent as one stream of
    /// `total_bytes`: the encoded `SnapshotHead` (its first `head_bytes`
    /// bytes: configuration and client table, which can be large too),
    /// then the state. `data` is the stream from `offset` on, at most
    /// `EngineConfig::snapshot_chunk_bytes`. Sent instead of a
    /// `CatchupReply` carrying the snapshot when the snapshot is larger
    /// than that, and in answer to `SnapshotChunkRequest`. `commit` is the
    /// sender's commit point. (After `Forward`, so older wire tags stay.)
    SnapshotChunk {
        last_slot: Slot,
        total_bytes: u64,
        head_bytes: u64,
        offset: u64,
        data: Bytes,
        commit: Slot,
    },
    /// A replica receiving the snapshot at `last_slot` in chunks asks its
    /// sender for the chunk at `offset`: flow control, one chunk in flight.
    SnapshotChunkRequest {
        last_slot: Slot,
        offset: u64,
    },
    /// A membership change submitted at a follower
    /// (`Input::SubmitReconfigure`), for the leader to make. Fire and
    /// forget: a node that does not lead answers `NotLeader`, and a lost
    /// message leaves the asker to its own timeout. (After
    /// `SnapshotChunkRequest`, so older wire tags stay.)
    ReconfigForward {
        id: u64,
        change: ConfigChange,
    },
    /// The leader's answer to `ReconfigForward { id, .. }`: the slot the
    /// change took once the leader applied it, or why it refused.
    ReconfigAnswer {
        id: u64,
        result: Result<Slot, ReconfigRefusal>,
    },
}

/// Why a leader (or a node that is not one) refused a forwarded
/// membership change; the asker answers its caller with the matching
/// `Outcome`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReconfigRefusal {
    /// The receiver does not lead (any more): ask again where the leader is.
    NotLeader,
    /// The leader is still in phase 1: ask again shortly.
    Busy,
    /// The change is not allowed (`Outcome::Rejected`'s reason).
    Rejected(String),
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
                from_slot,
                accepted,
                compacted_upto,
                more,
                ..
            } => {
                let entries: Vec<String> = accepted
                    .iter()
                    .take(4)
                    .map(|r| format!("{}@{}={}", r.slot, r.ballot, r.value.describe()))
                    .collect();
                format!(
                    "promise {ballot} from slot {from_slot}, compacted to {compacted_upto}, accepted [{}{}]{}",
                    entries.join("; "),
                    if accepted.len() > 4 { "; ..." } else { "" },
                    match more {
                        Some(s) => format!(", more from {s}"),
                        None => String::new(),
                    }
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
                total_bytes,
                offset,
                data,
                commit,
                ..
            } => format!(
                "snapshot at {last_slot}: bytes {offset}..{} of {total_bytes}, commit {commit}",
                offset.saturating_add(data.len() as u64),
            ),
            Message::SnapshotChunkRequest { last_slot, offset } => {
                format!("snapshot at {last_slot}: send bytes from {offset}")
            }
            Message::ReconfigForward { id, change } => format!("reconfig #{id} {change:?}"),
            Message::ReconfigAnswer { id, result } => format!("reconfig #{id}: {result:?}"),
        }
    }

    /// An upper bound of the message's encoded size in bytes, cheap to
    /// compute (it walks entries, never bytes): queues that hold messages
    /// bound their memory with it.
    pub fn encoded_bytes_max(&self) -> usize {
        use crate::config::{ENTRY_OVERHEAD_BYTES, MESSAGE_OVERHEAD_BYTES};
        let entries = |n: usize| n * ENTRY_OVERHEAD_BYTES;
        MESSAGE_OVERHEAD_BYTES
            + match self {
                Message::Promise { accepted, .. } => {
                    entries(accepted.len())
                        + accepted
                            .iter()
                            .map(|r| r.value.encoded_bytes())
                            .sum::<usize>()
                }
                Message::Accept { entries: e, .. } => {
                    entries(e.len()) + e.iter().map(|(_, v)| v.encoded_bytes()).sum::<usize>()
                }
                Message::Accepted { slots, .. } => 8 * slots.len(),
                Message::CatchupReply {
                    snapshot,
                    entries: e,
                    ..
                } => {
                    entries(e.len())
                        + e.iter().map(|(_, v)| v.encoded_bytes()).sum::<usize>()
                        + snapshot.as_ref().map_or(0, |s| {
                            // A snapshot sent whole is at most a chunk
                            // (`snapshot_chunk_bytes`), far below usize.
                            usize::try_from(s.state.encoded_bytes()).unwrap_or(usize::MAX)
                                + 64 * s.config.voters.len()
                                + 64 * s.config.learners.len()
                                + s.clients
                                    .values()
                                    .map(|c| ENTRY_OVERHEAD_BYTES + c.reply.len())
                                    .sum::<usize>()
                        })
                }
                Message::Forward { commands } => {
                    8 + commands.iter().map(Command::encoded_bytes).sum::<usize>()
                }
                Message::SnapshotChunk { data, .. } => data.len(),
                Message::PreVote { .. }
                | Message::PreVoteReply { .. }
                | Message::Prepare { .. }
                | Message::Nack { .. }
                | Message::Heartbeat { .. }
                | Message::HeartbeatAck { .. }
                | Message::CatchupRequest { .. }
                | Message::SnapshotChunkRequest { .. }
                | Message::ReconfigForward { .. } => 0,
                Message::ReconfigAnswer { result, .. } => match result {
                    Err(ReconfigRefusal::Rejected(reason)) => 8 + reason.len(),
                    _ => 0,
                },
            }
    }

    /// Whether every ballot round and slot in the message is within
    /// `ROUND_MAX` and `SLOT_MAX`. A node drops a message that is not (see
    /// `ROUND_MAX` for why), so no forged or corrupt number reaches the
    /// engine's arithmetic or its disk.
    pub fn within_bounds(&self) -> bool {
        let b = |b: &Ballot| b.round <= ROUND_MAX;
        let s = |s: &Slot| *s <= SLOT_MAX;
        match self {
            Message::PreVote { ballot } | Message::PreVoteReply { ballot, .. } => b(ballot),
            Message::Prepare { ballot, from_slot } => b(ballot) && s(from_slot),
            Message::Promise {
                ballot,
                from_slot,
                compacted_upto,
                commit,
                accepted,
                more,
            } => {
                b(ballot)
                    && s(from_slot)
                    && s(compacted_upto)
                    && s(commit)
                    && more.as_ref().is_none_or(s)
                    && accepted.iter().all(|r| s(&r.slot) && b(&r.ballot))
            }
            Message::Nack {
                ballot, promised, ..
            } => b(ballot) && b(promised),
            Message::Accept {
                ballot,
                entries,
                commit,
            } => b(ballot) && s(commit) && entries.iter().all(|(slot, _)| s(slot)),
            Message::Accepted {
                ballot,
                slots,
                commit,
            } => b(ballot) && s(commit) && slots.iter().all(s),
            Message::Heartbeat { ballot, commit, .. }
            | Message::HeartbeatAck { ballot, commit, .. } => b(ballot) && s(commit),
            Message::CatchupRequest { from_slot } => s(from_slot),
            Message::CatchupReply {
                snapshot,
                entries,
                commit,
            } => {
                s(commit)
                    && snapshot.as_ref().is_none_or(|snap| s(&snap.last_slot))
                    && entries.iter().all(|(slot, _)| s(slot))
            }
            Message::Forward { .. } => true,
            Message::SnapshotChunk {
                last_slot,
                total_bytes,
                head_bytes,
                offset,
                commit,
                ..
            } => {
                s(last_slot)
                    && s(commit)
                    && head_bytes <= total_bytes
                    && offset < total_bytes
                    && *total_bytes <= SLOT_MAX
            }
            Message::SnapshotChunkRequest { last_slot, offset } => {
                s(last_slot) && *offset <= SLOT_MAX
            }
            Message::ReconfigForward { .. } => true,
            Message::ReconfigAnswer { result, .. } => {
                result.as_ref().is_ok_and(s) || result.is_err()
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
            | Message::SnapshotChunkRequest { .. }
            | Message::ReconfigForward { .. }
            | Message::ReconfigAnswer { .. } => None,
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
