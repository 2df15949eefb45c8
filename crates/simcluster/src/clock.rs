//! A node's clocks: the monotonic clock the engine runs on and the wall
//! clock the ZooKeeper front door stamps znodes with, both drifting from
//! simulated real time.
//!
//! Local time is `now * (1 + drift) + offset`, with `|drift|` at most the
//! profile's bound (the engine's `drift_ppm_max` must cover it, or its
//! leases are unsafe by design). The offset says nodes never agree on what
//! time it is; only rates matter to the engine.

use crate::scheduler::Time;
use synod_paxos::{Micros, Rng};

/// Wall-clock time at simulated time zero, in ms since the Unix epoch.
pub const EPOCH_MS: i64 = 1_700_000_000_000;
/// Largest offset of a node's monotonic clock from real time.
const OFFSET_US_MAX: u64 = 10_000_000;
/// Largest skew of a node's wall clock.
const WALL_SKEW_MS_MAX: u64 = 50;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Rate error in parts per million; positive runs fast.
    pub drift_ppm: i64,
    /// Monotonic clock reading at real time zero.
    pub offset_us: u64,
    /// Wall clock error, on top of the drift.
    pub wall_skew_ms: i64,
}

impl Clock {
    /// A clock drifting at most `drift_ppm_max`: at one of the two
    /// extremes half the time, since that is where lease bugs live, and
    /// anywhere in between otherwise.
    pub fn draw(rng: &mut Rng, drift_ppm_max: u64) -> Clock {
        let ppm = drift_ppm_max as i64;
        let drift_ppm = if ppm == 0 {
            0
        } else if rng.chance(0.5) {
            if rng.chance(0.5) {
                ppm
            } else {
                -ppm
            }
        } else {
            rng.range(0, 2 * drift_ppm_max + 1) as i64 - ppm
        };
        Clock {
            drift_ppm,
            offset_us: rng.range(0, OFFSET_US_MAX),
            wall_skew_ms: rng.range(0, WALL_SKEW_MS_MAX) as i64,
        }
    }

    /// The node's monotonic clock at real time `now`.
    pub fn local_us(&self, now: Time) -> Micros {
        (now as i64 + self.skew_us(now)) as u64 + self.offset_us
    }

    /// The node's wall clock at real time `now`, ms since the epoch.
    pub fn wall_ms(&self, now: Time) -> i64 {
        EPOCH_MS + (now as i64 + self.skew_us(now)) / 1000 + self.wall_skew_ms
    }

    fn skew_us(&self, now: Time) -> i64 {
        (now as i128 * self.drift_ppm as i128 / 1_000_000) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_runs_at_the_drawn_rate_within_the_bound() {
        let mut rng = Rng::new(1);
        let mut extremes = 0;
        for _ in 0..1000 {
            let c = Clock::draw(&mut rng, 50_000);
            assert!(c.drift_ppm.abs() <= 50_000);
            extremes += usize::from(c.drift_ppm.abs() == 50_000);
            let elapsed = c.local_us(2_000_000) - c.local_us(1_000_000);
            assert_eq!(elapsed as i64, 1_000_000 + c.drift_ppm);
        }
        assert!(extremes > 300, "{extremes} clocks at an extreme");
    }

    #[test]
    fn without_drift_clocks_differ_only_by_their_offsets() {
        let mut rng = Rng::new(2);
        let c = Clock::draw(&mut rng, 0);
        assert_eq!(c.drift_ppm, 0);
        assert_eq!(c.local_us(123), 123 + c.offset_us);
        assert_eq!(c.wall_ms(5_000), EPOCH_MS + 5 + c.wall_skew_ms);
    }
}
