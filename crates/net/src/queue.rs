//! One peer's outbound queue: bounded, never blocking the sender.
//!
//! When the queue is full the *oldest* message is dropped to make room for
//! the new one. Paxos tolerates loss, and the newest message is the one
//! worth keeping: it carries the sender's latest ballot and commit point,
//! while old heartbeats, accepts and promises are the likeliest to be stale
//! by the time a slow or absent peer could read them.

use crate::parcel::Parcel;
use crate::stats::Counters;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct PeerQueue {
    messages: Mutex<Queued>,
    /// Wakes the peer's writer; a wake-up sent while it is busy is kept.
    pub(crate) ready: Notify,
    messages_max: usize,
    bytes_max: usize,
}

/// The queued parcels and what they take, by `Parcel::encoded_bytes_max`.
#[derive(Debug, Default)]
struct Queued {
    messages: VecDeque<(usize, Parcel)>,
    bytes: usize,
}

impl PeerQueue {
    pub(crate) fn new(messages_max: usize, bytes_max: usize) -> Self {
        PeerQueue {
            messages: Mutex::new(Queued::default()),
            ready: Notify::new(),
            messages_max,
            bytes_max,
        }
    }

    /// Queues `message`, dropping the oldest ones while the queue would
    /// hold more than `messages_max` messages or `bytes_max` bytes (a
    /// message larger than `bytes_max` alone is still queued, alone).
    /// Returns how many messages were dropped.
    pub(crate) fn push(&self, message: Parcel, stats: &Counters) -> usize {
        let bytes = message.encoded_bytes_max();
        let dropped = {
            let mut q = self.lock();
            let mut dropped = 0;
            while !q.messages.is_empty()
                && (q.messages.len() >= self.messages_max || q.bytes + bytes > self.bytes_max)
            {
                let (b, _) = q.messages.pop_front().expect("not empty");
                q.bytes -= b;
                dropped += 1;
            }
            q.bytes += bytes;
            q.messages.push_back((bytes, message));
            assert!(q.messages.len() <= self.messages_max);
            dropped
        };
        if dropped > 0 {
            Counters::add(&stats.messages_dropped_queue_full, dropped as u64);
        }
        self.ready.notify_one();
        dropped
    }

    pub(crate) fn pop(&self) -> Option<Parcel> {
        let mut q = self.lock();
        let (bytes, message) = q.messages.pop_front()?;
        q.bytes -= bytes;
        Some(message)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// The queue's data stays consistent even if a holder panicked: every
    /// critical section is a single push or pop.
    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(seq: u64) -> Parcel {
        synod_paxos::Message::Heartbeat {
            ballot: synod_paxos::Ballot::new(1, 1),
            commit: 0,
            seq,
        }
        .into()
    }

    #[test]
    fn a_full_queue_drops_its_oldest_message_and_counts_it() {
        let stats = Counters::default();
        let q = PeerQueue::new(3, usize::MAX);
        for seq in 0..5 {
            q.push(heartbeat(seq), &stats);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(stats.snapshot(0).messages_dropped_queue_full, 2);
        let left: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(left, vec![heartbeat(2), heartbeat(3), heartbeat(4)]);
    }

    fn forward(bytes: usize) -> Parcel {
        synod_paxos::Message::Forward {
            commands: vec![synod_paxos::Command {
                client: 1,
                seq: 1,
                op: vec![0; bytes],
            }],
        }
        .into()
    }

    #[test]
    fn a_queue_over_its_bytes_drops_its_oldest_messages_until_the_new_one_fits() {
        let stats = Counters::default();
        let each = forward(10_000).encoded_bytes_max();
        let q = PeerQueue::new(100, 3 * each);
        for _ in 0..3 {
            assert_eq!(q.push(forward(10_000), &stats), 0);
        }
        // Twice the size: the two oldest go.
        assert_eq!(q.push(forward(10_000 + each), &stats), 2);
        assert_eq!(q.len(), 2);
        // Larger than the whole bound: queued alone.
        assert_eq!(q.push(forward(10 * each), &stats), 2);
        assert_eq!(q.len(), 1);
        assert_eq!(stats.snapshot(0).messages_dropped_queue_full, 4);
    }
}
