//! Simulated time and the one event queue every run is driven by.
//!
//! Events due at the same instant run in the order they were scheduled, so
//! a run depends only on its seed, never on how a heap breaks ties.
//! Time never moves backwards: an event scheduled in the past runs now.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Simulated real time in microseconds since the run began.
pub type Time = u64;

struct Entry<E> {
    at: Time,
    /// Scheduling order: the tie-break that keeps runs deterministic.
    order: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// The clock of a run and the events waiting for their time.
pub struct Scheduler<E> {
    now: Time,
    order: u64,
    queue: BinaryHeap<Reverse<Entry<E>>>,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler {
            now: 0,
            order: 0,
            queue: BinaryHeap::new(),
        }
    }
}

impl<E> Scheduler<E> {
    pub fn now(&self) -> Time {
        self.now
    }

    /// Schedules `event` at `at`, or now if `at` has passed.
    pub fn at(&mut self, at: Time, event: E) {
        self.order += 1;
        self.queue.push(Reverse(Entry {
            at: at.max(self.now),
            order: self.order,
            event,
        }));
    }

    /// Schedules `event` `delay_us` from now.
    pub fn after(&mut self, delay_us: Time, event: E) {
        self.at(self.now.saturating_add(delay_us), event);
    }

    /// The next event due at or before `deadline`, with time moved to it.
    /// `None` when nothing is due by then; later events stay queued.
    pub fn next_until(&mut self, deadline: Time) -> Option<E> {
        if self.queue.peek()?.0.at > deadline {
            return None;
        }
        let Reverse(entry) = self.queue.pop()?;
        self.now = entry.at;
        Some(entry.event)
    }

    /// The next event, however late.
    pub fn next_any(&mut self) -> Option<E> {
        self.next_until(Time::MAX)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_at_the_same_instant_run_in_scheduling_order() {
        let mut s = Scheduler::default();
        for i in 0..100 {
            s.at(5, i);
        }
        s.at(1, -1);
        assert_eq!(s.next_any(), Some(-1));
        let order: Vec<i32> = std::iter::from_fn(|| s.next_any()).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
        assert_eq!(s.now(), 5);
    }

    #[test]
    fn time_never_moves_backwards() {
        let mut s = Scheduler::default();
        s.at(10, "a");
        assert_eq!(s.next_any(), Some("a"));
        s.at(3, "past");
        assert_eq!(s.next_any(), Some("past"));
        assert_eq!(s.now(), 10);
    }

    #[test]
    fn events_after_the_deadline_stay_queued() {
        let mut s = Scheduler::default();
        s.at(10, "early");
        s.at(20, "late");
        assert_eq!(s.next_until(15), Some("early"));
        assert_eq!(s.next_until(15), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.now(), 10);
        assert_eq!(s.next_any(), Some("late"));
    }
}
