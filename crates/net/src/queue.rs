//! One peer's outbound queue: bounded, never blocking the sender.
//!
//! When the queue is full the *oldest* message is dropped to make room for
//! the new one. Paxos tolerates loss, and the newest message is the one
//! worth keeping: it carries the sender's latest ballot and commit point,
//! while old heartbeats, accepts and promises are the likeliest to be stale
//! by the time a slow or absent peer could read them.

use crate::stats::Counters;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use synod_paxos::Message;
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct PeerQueue {
    messages: Mutex<VecDeque<Message>>,
    /// Wakes the peer's writer; a wake-up sent while it is busy is kept.
    pub(crate) ready: Notify,
    messages_max: usize,
}

impl PeerQueue {
    pub(crate) fn new(messages_max: usize) -> Self {
        PeerQueue {
            messages: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            messages_max,
        }
    }

    /// Queues `message`, dropping the oldest one if the queue is full.
    /// Returns whether a message was dropped.
    pub(crate) fn push(&self, message: Message, stats: &Counters) -> bool {
        let dropped = {
            let mut messages = self.lock();
            let dropped = if messages.len() >= self.messages_max {
                messages.pop_front().is_some()
            } else {
                false
            };
            messages.push_back(message);
            assert!(messages.len() <= self.messages_max);
            dropped
        };
        if dropped {
            Counters::add(&stats.messages_dropped_queue_full, 1);
        }
        self.ready.notify_one();
        dropped
    }

    pub(crate) fn pop(&self) -> Option<Message> {
        self.lock().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The queue's data stays consistent even if a holder panicked: every
    /// critical section is a single push or pop.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(seq: u64) -> Message {
        Message::Heartbeat {
            ballot: synod_paxos::Ballot::new(1, 1),
            commit: 0,
            seq,
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest_message_and_counts_it() {
        let stats = Counters::default();
        let q = PeerQueue::new(3);
        for seq in 0..5 {
            q.push(heartbeat(seq), &stats);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(stats.snapshot(0).messages_dropped_queue_full, 2);
        let left: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(left, vec![heartbeat(2), heartbeat(3), heartbeat(4)]);
    }
}
