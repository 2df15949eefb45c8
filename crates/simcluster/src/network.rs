//! The peer network between simulated nodes: loss, duplication, delay and
//! reordering, partitions, and the transport's limits.
//!
//! Every message sent is first sized with the transport's codec: one that
//! would not fit in a frame alone is a [`SendError::FrameTooLarge`] (the
//! cluster reports it as a `frame-limit` violation, and the message is
//! dropped, as the transport drops it). Then it may be lost (a blocked
//! link, or the profile's drop probability), duplicated, and delayed by a
//! uniform draw from the profile's range, which reorders messages whenever
//! the range is wider than the gap between sends.
//!
//! Each directed link holds the messages sent on it and not yet taken in
//! by the receiver (in flight, or waiting for a paused process, as TCP
//! backpressure would keep them in the sender's queue), like the
//! transport's per-peer queue: at `queue_messages_max` the oldest is
//! dropped to make room for the new one and counted. (The model counts
//! messages in flight as queued, which is stricter than the transport,
//! whose count covers only messages not yet written to the socket; the
//! receiver's inbound channel is not modelled apart from that.)

use crate::limits::{frame_bytes, NetLimits};
use crate::profile::Profile;
use crate::scheduler::Time;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use synod_paxos::{Message, NodeId, Rng};
use thiserror::Error;

/// A message the transport could never send.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SendError {
    #[error("a {what} message from n{from} to n{to} needs a frame of {bytes} bytes, over the transport's limit of {max}")]
    FrameTooLarge {
        from: NodeId,
        to: NodeId,
        what: &'static str,
        bytes: u64,
        max: usize,
    },
    #[error("a message from n{from} to n{to} cannot be encoded: {reason}")]
    Unencodable {
        from: NodeId,
        to: NodeId,
        reason: String,
    },
}

/// What the network did with messages, for a run's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub messages: u64,
    /// Messages lost to a partition or to the profile's drop probability.
    pub dropped: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages dropped because their link's queue was full (the oldest
    /// queued message is the one dropped).
    pub dropped_queue_full: u64,
    /// Messages over the frame limit (each also a violation).
    pub dropped_oversized: u64,
    /// The largest frame any message needed.
    pub frame_bytes_max: u64,
    /// The most messages queued on one link at once.
    pub queued_messages_max: u64,
    /// The most bytes (of frames) queued on one link at once.
    pub queued_bytes_max: u64,
}

impl NetStats {
    pub fn add(&mut self, o: &NetStats) {
        self.messages += o.messages;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.dropped_queue_full += o.dropped_queue_full;
        self.dropped_oversized += o.dropped_oversized;
        self.frame_bytes_max = self.frame_bytes_max.max(o.frame_bytes_max);
        self.queued_messages_max = self.queued_messages_max.max(o.queued_messages_max);
        self.queued_bytes_max = self.queued_bytes_max.max(o.queued_bytes_max);
    }
}

/// One directed link's queue: copies in send order (ids increase) with
/// their frame sizes, 0 once taken in. Taken-in copies behind a queued one
/// wait at the front until it goes too: at most the copies sent while the
/// oldest was in flight or held by a paused receiver.
#[derive(Debug, Default)]
struct LinkQueue {
    copies: VecDeque<(u64, u64)>,
    /// Copies still queued.
    queued: usize,
    /// Their frame bytes.
    bytes: u64,
}

impl LinkQueue {
    fn push(&mut self, id: u64, bytes: u64) {
        debug_assert!(bytes > 0, "a frame holds at least its header");
        self.copies.push_back((id, bytes));
        self.queued += 1;
        self.bytes += bytes;
    }

    /// Takes copy `id` out of the queue; false if it is not queued.
    fn take(&mut self, id: u64) -> bool {
        let Ok(i) = self.copies.binary_search_by_key(&id, |(c, _)| *c) else {
            return false;
        };
        let bytes = std::mem::take(&mut self.copies[i].1);
        if bytes == 0 {
            return false;
        }
        self.queued -= 1;
        self.bytes -= bytes;
        while self.copies.front().is_some_and(|(_, b)| *b == 0) {
            self.copies.pop_front();
        }
        true
    }

    /// Drops the oldest queued copy.
    fn drop_oldest(&mut self) {
        if let Some(&(id, _)) = self.copies.front() {
            self.take(id);
        }
    }
}

/// One copy of a message on its way: it arrives at `at` unless its link's
/// queue dropped it first (see [`Network::arrive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub at: Time,
    pub id: u64,
}

#[derive(Debug)]
pub struct Network {
    limits: NetLimits,
    drop_p: f64,
    duplicate_p: f64,
    delay_us: (Time, Time),
    /// Directed links that lose everything sent on them.
    blocked: BTreeSet<(NodeId, NodeId)>,
    links: BTreeMap<(NodeId, NodeId), LinkQueue>,
    next_id: u64,
    stats: NetStats,
}

impl Network {
    pub fn new(limits: NetLimits, profile: &Profile) -> Network {
        Network {
            limits,
            drop_p: profile.drop_p,
            duplicate_p: profile.duplicate_p,
            delay_us: profile.delay_us,
            blocked: BTreeSet::new(),
            links: BTreeMap::new(),
            next_id: 0,
            stats: NetStats::default(),
        }
    }

    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Sends `msg` from `from` to `to` at `now`: the copies that will
    /// arrive are appended to `copies` (none if it was lost, two if it was
    /// duplicated).
    pub fn send(
        &mut self,
        now: Time,
        rng: &mut Rng,
        from: NodeId,
        to: NodeId,
        msg: &Message,
        copies: &mut Vec<InFlight>,
    ) -> Result<(), SendError> {
        self.stats.messages += 1;
        let bytes = frame_bytes(msg).map_err(|e| {
            self.stats.dropped_oversized += 1;
            SendError::Unencodable {
                from,
                to,
                reason: e.to_string(),
            }
        })?;
        self.stats.frame_bytes_max = self.stats.frame_bytes_max.max(bytes);
        if bytes > self.limits.frame_bytes_max as u64 {
            self.stats.dropped_oversized += 1;
            return Err(SendError::FrameTooLarge {
                from,
                to,
                what: kind(msg),
                bytes,
                max: self.limits.frame_bytes_max,
            });
        }
        if self.blocked.contains(&(from, to)) || rng.chance(self.drop_p) {
            self.stats.dropped += 1;
            return Ok(());
        }
        let n = if rng.chance(self.duplicate_p) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..n {
            let at = now + rng.range(self.delay_us.0, self.delay_us.1);
            let id = self.enqueue(from, to, bytes);
            copies.push(InFlight { at, id });
        }
        Ok(())
    }

    fn enqueue(&mut self, from: NodeId, to: NodeId, bytes: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let link = self.links.entry((from, to)).or_default();
        if link.queued >= self.limits.queue_messages_max.max(1) {
            link.drop_oldest();
            self.stats.dropped_queue_full += 1;
        }
        link.push(id, bytes);
        self.stats.queued_messages_max = self.stats.queued_messages_max.max(link.queued as u64);
        self.stats.queued_bytes_max = self.stats.queued_bytes_max.max(link.bytes);
        id
    }

    /// Copy `id` reaches the end of its link: false if the link's queue
    /// dropped it on the way.
    pub fn arrive(&mut self, from: NodeId, to: NodeId, id: u64) -> bool {
        self.links
            .get_mut(&(from, to))
            .is_some_and(|link| link.take(id))
    }

    /// Cuts exactly the directed links in `blocked` (replacing any other
    /// partition).
    pub fn partition(&mut self, blocked: BTreeSet<(NodeId, NodeId)>) {
        self.blocked = blocked;
    }

    pub fn is_partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }

    /// Ends the partition; returns whether there was one.
    pub fn heal_partition(&mut self) -> bool {
        let was = self.is_partitioned();
        self.blocked.clear();
        was
    }

    /// No more loss, duplication or partitions (delays stay).
    pub fn heal(&mut self) {
        self.drop_p = 0.0;
        self.duplicate_p = 0.0;
        self.heal_partition();
    }
}

/// The message's name, for reports.
fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::PreVote { .. } => "PreVote",
        Message::PreVoteReply { .. } => "PreVoteReply",
        Message::Prepare { .. } => "Prepare",
        Message::Promise { .. } => "Promise",
        Message::Nack { .. } => "Nack",
        Message::Accept { .. } => "Accept",
        Message::Accepted { .. } => "Accepted",
        Message::Heartbeat { .. } => "Heartbeat",
        Message::HeartbeatAck { .. } => "HeartbeatAck",
        Message::CatchupRequest { .. } => "CatchupRequest",
        Message::CatchupReply { .. } => "CatchupReply",
        Message::Forward { .. } => "Forward",
        Message::SnapshotChunk { .. } => "SnapshotChunk",
        Message::SnapshotChunkRequest { .. } => "SnapshotChunkRequest",
        Message::ReconfigForward { .. } => "ReconfigForward",
        Message::ReconfigAnswer { .. } => "ReconfigAnswer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::{Ballot, Command};

    fn heartbeat(seq: u64) -> Message {
        Message::Heartbeat {
            ballot: Ballot::new(1, 1),
            commit: 0,
            seq,
        }
    }

    fn calm() -> Profile {
        Profile::named("calm").expect("exists")
    }

    fn net(frame_bytes_max: usize, queue_messages_max: usize, profile: &Profile) -> Network {
        let limits = NetLimits {
            frame_bytes_max,
            queue_messages_max,
        };
        Network::new(limits, profile)
    }

    #[test]
    fn a_message_over_the_frame_limit_is_refused_not_silently_lost() {
        let mut n = net(1024, 16, &calm());
        let big = Message::Forward {
            commands: vec![Command {
                client: 1,
                seq: 1,
                op: vec![7; 2000],
            }],
        };
        let mut copies = Vec::new();
        let err = n
            .send(0, &mut Rng::new(1), 1, 2, &big, &mut copies)
            .expect_err("over the limit");
        assert!(matches!(
            err,
            SendError::FrameTooLarge {
                from: 1,
                to: 2,
                max: 1024,
                ..
            }
        ));
        assert!(copies.is_empty());
        assert_eq!(n.stats().dropped_oversized, 1);
        // One that fits goes through.
        n.send(0, &mut Rng::new(1), 1, 2, &heartbeat(1), &mut copies)
            .expect("fits");
        assert_eq!(copies.len(), 1);
    }

    #[test]
    fn a_full_link_queue_drops_its_oldest_message_and_counts_it() {
        let mut n = net(1 << 20, 3, &calm());
        let mut rng = Rng::new(2);
        let mut copies = Vec::new();
        for seq in 0..5 {
            n.send(0, &mut rng, 1, 2, &heartbeat(seq), &mut copies)
                .expect("fits");
        }
        // Another link has its own queue.
        n.send(0, &mut rng, 2, 1, &heartbeat(9), &mut copies)
            .expect("fits");
        assert_eq!(n.stats().dropped_queue_full, 2);
        assert_eq!(n.stats().queued_messages_max, 3);
        let arrived: Vec<bool> = copies[..5].iter().map(|c| n.arrive(1, 2, c.id)).collect();
        assert_eq!(arrived, vec![false, false, true, true, true]);
        assert!(n.arrive(2, 1, copies[5].id));
        assert!(!n.arrive(2, 1, copies[5].id), "arrives once");
    }

    #[test]
    fn the_oldest_copy_still_queued_is_the_one_dropped_whatever_arrived_first() {
        let mut n = net(1 << 20, 2, &calm());
        let mut rng = Rng::new(5);
        let mut copies = Vec::new();
        for seq in 0..3 {
            n.send(0, &mut rng, 1, 2, &heartbeat(seq), &mut copies)
                .expect("fits");
        }
        // The third send dropped the first; the second arrives early.
        assert!(n.arrive(1, 2, copies[1].id));
        n.send(0, &mut rng, 1, 2, &heartbeat(3), &mut copies)
            .expect("fits");
        n.send(0, &mut rng, 1, 2, &heartbeat(4), &mut copies)
            .expect("fits");
        assert_eq!(n.stats().dropped_queue_full, 2);
        let arrived: Vec<bool> = copies.iter().map(|c| n.arrive(1, 2, c.id)).collect();
        assert_eq!(arrived, vec![false, false, false, true, true]);
    }

    #[test]
    fn a_blocked_link_loses_messages_one_way_only() {
        let mut n = net(1 << 20, 16, &calm());
        n.partition([(1, 2)].into_iter().collect());
        let mut rng = Rng::new(3);
        let mut copies = Vec::new();
        n.send(0, &mut rng, 1, 2, &heartbeat(1), &mut copies)
            .unwrap();
        assert!(copies.is_empty());
        n.send(0, &mut rng, 2, 1, &heartbeat(1), &mut copies)
            .unwrap();
        assert_eq!(copies.len(), 1);
        assert_eq!(n.stats().dropped, 1);
        assert!(n.heal_partition());
        n.send(0, &mut rng, 1, 2, &heartbeat(2), &mut copies)
            .unwrap();
        assert_eq!(copies.len(), 2);
    }

    #[test]
    fn delays_fall_in_the_profile_range_and_duplicates_are_extra_copies() {
        let mut profile = Profile::named("lossy").expect("exists");
        profile.drop_p = 0.0;
        profile.duplicate_p = 0.5;
        let mut n = net(1 << 20, 1 << 20, &profile);
        let mut rng = Rng::new(4);
        let mut copies = Vec::new();
        for seq in 0..1000 {
            n.send(1_000, &mut rng, 1, 2, &heartbeat(seq), &mut copies)
                .unwrap();
        }
        let (lo, hi) = profile.delay_us;
        assert!(copies
            .iter()
            .all(|c| (1_000 + lo..1_000 + hi).contains(&c.at)));
        assert_eq!(copies.len() as u64, 1000 + n.stats().duplicated);
        assert!(n.stats().duplicated > 300);
    }
}
