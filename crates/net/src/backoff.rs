//! Exponential backoff with jitter for reconnecting to a peer.
//!
//! Delays double from `min` up to `max`; each delay is drawn uniformly from
//! its upper half, so peers that lost a connection at the same instant do
//! not all redial at the same instant. The jitter comes from a generator
//! seeded by the (cluster, me, peer) triple: distinct per link, and the
//! same schedule in every run, which keeps tests reproducible.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max,
            next: min,
            rng: seed,
        }
    }

    /// The delay to wait before the next attempt; grows the one after.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = ceiling / 2;
        let spread_ns = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter_ns = if spread_ns == 0 {
            0
        } else {
            self.random() % (spread_ns + 1)
        };
        half + Duration::from_nanos(jitter_ns)
    }

    /// Back to the shortest delay, after a connection that stayed up.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// splitmix64.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_maximum() {
        let min = Duration::from_millis(10);
        let max = Duration::from_millis(100);
        let mut b = Backoff::new(min, max, 42);
        let mut ceiling = min;
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d:?} outside {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(max);
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn different_seeds_give_different_schedules() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        let a: Vec<_> = {
            let mut b = Backoff::new(min, max, 1);
            (0..5).map(|_| b.next_delay()).collect()
        };
        let c: Vec<_> = {
            let mut b = Backoff::new(min, max, 2);
            (0..5).map(|_| b.next_delay()).collect()
        };
        assert_ne!(a, c);
    }
}
