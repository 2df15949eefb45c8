//! Oracles over the lock clients' history (issue 12), judged in simulated
//! real time from what the clients saw, never from the nodes' state:
//!
//! - **lock-exclusive**: a holder's *safe interval* runs from the receipt
//!   of its `Acquired` answer to the earlier of sending its release and its
//!   local lease running out (a keepalive answered later opens a new one).
//!   On one lock, two sessions' intervals never overlap if either is
//!   exclusive. This is what the lease margin must guarantee.
//! - **check-linearizable**: a CheckSequencer sent after the release of
//!   its sequencer was answered, or after a later generation of its lock
//!   was granted to someone (answer received), must not be answered valid
//!   (unless its session joined the same shared epoch again since: the
//!   same sequencer is then valid again).

use crate::client::Time;
use std::collections::BTreeMap;
use synod_coord::{LockMode, Sequencer};

/// One stretch during which a client acted on a lock.
#[derive(Clone, Debug)]
struct Piece {
    client: u64,
    seq: Sequencer,
    from: Time,
    to: Time,
}

/// What the lock clients did, for the oracles.
#[derive(Debug, Default)]
pub(crate) struct LockHistory {
    pieces: Vec<Piece>,
    /// Release answers received, by sequencer (the first).
    released: BTreeMap<Sequencer, Time>,
    /// `Acquired` answers received per lock: generation and time.
    granted: BTreeMap<String, Vec<(u64, Time)>>,
    /// The lock-delay each session last asked for on each lock.
    pub(crate) requested_delay: BTreeMap<(i64, String), i64>,
}

type Problems = Vec<(&'static str, String)>;

impl LockHistory {
    /// Client `client` acted on `seq` from `from` to `to`.
    pub(crate) fn piece(&mut self, client: u64, seq: &Sequencer, from: Time, to: Time) {
        if from < to {
            self.pieces.push(Piece {
                client,
                seq: seq.clone(),
                from,
                to,
            });
        }
    }

    /// An `Acquired` answer received. A shared holder that leaves and
    /// joins the same shared epoch again holds the same sequencer, valid
    /// again: its earlier release no longer counts.
    pub(crate) fn on_acquired(&mut self, seq: &Sequencer, now: Time) {
        self.released.remove(seq);
        let granted = self.granted.entry(seq.path.clone()).or_default();
        granted.push((seq.generation, now));
    }

    pub(crate) fn on_released(&mut self, seq: &Sequencer, now: Time) {
        self.released.entry(seq.clone()).or_insert(now);
    }

    /// Whether a check of `seq` sent at `sent` must find it invalid, and
    /// why: its release completed, or a later generation was granted.
    pub(crate) fn must_be_invalid(&self, seq: &Sequencer, sent: Time) -> Option<String> {
        if let Some(at) = self.released.get(seq).filter(|at| **at < sent) {
            return Some(format!(
                "its release was answered at {:.6}s",
                *at as f64 / 1e6
            ));
        }
        let later = self
            .granted
            .get(&seq.path)?
            .iter()
            .find(|(generation, at)| *generation > seq.generation && *at < sent)?;
        Some(format!(
            "generation {} of the lock was granted (answer received) at {:.6}s",
            later.0,
            later.1 as f64 / 1e6
        ))
    }

    /// At the end of the run: no two sessions' safe intervals on one lock
    /// overlap unless both are shared.
    pub(crate) fn check_exclusion(&self) -> Problems {
        let mut by_path: BTreeMap<&str, Vec<&Piece>> = BTreeMap::new();
        for p in &self.pieces {
            by_path.entry(p.seq.path.as_str()).or_default().push(p);
        }
        let mut problems = Vec::new();
        for pieces in by_path.values_mut() {
            pieces.sort_by_key(|p| (p.from, p.to));
            for (i, a) in pieces.iter().enumerate() {
                for b in pieces[i + 1..].iter().take_while(|b| b.from < a.to) {
                    let both_shared =
                        a.seq.mode == LockMode::Shared && b.seq.mode == LockMode::Shared;
                    if a.seq.session == b.seq.session || both_shared {
                        continue;
                    }
                    problems.push(("lock-exclusive", overlap(a, b)));
                }
            }
        }
        problems
    }
}

fn overlap(a: &Piece, b: &Piece) -> String {
    let show = |p: &Piece| {
        format!(
            "client {} holding {} safe {:.6}s..{:.6}s",
            p.client,
            p.seq,
            p.from as f64 / 1e6,
            p.to as f64 / 1e6
        )
    };
    format!("two holders at once: {} and {}", show(a), show(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(mode: LockMode, generation: u64, session: i64) -> Sequencer {
        Sequencer::new("/l", mode, generation, session)
    }

    #[test]
    fn overlapping_exclusive_intervals_are_reported_and_shared_ones_are_not() {
        let mut h = LockHistory::default();
        h.piece(1, &seq(LockMode::Exclusive, 1, 10), 0, 100);
        h.piece(2, &seq(LockMode::Exclusive, 2, 20), 100, 200);
        assert!(h.check_exclusion().is_empty());
        h.piece(3, &seq(LockMode::Shared, 3, 30), 300, 400);
        h.piece(4, &seq(LockMode::Shared, 3, 40), 350, 450);
        assert!(h.check_exclusion().is_empty());
        h.piece(5, &seq(LockMode::Exclusive, 4, 50), 440, 500);
        assert_eq!(h.check_exclusion().len(), 1);
    }

    #[test]
    fn a_check_after_a_completed_release_or_a_later_grant_must_fail() {
        let mut h = LockHistory::default();
        let s = seq(LockMode::Exclusive, 1, 10);
        h.on_released(&s, 100);
        assert!(h.must_be_invalid(&s, 100).is_none());
        assert!(h.must_be_invalid(&s, 101).is_some());
        let shared = seq(LockMode::Shared, 1, 10);
        h.on_released(&shared, 100);
        h.on_acquired(&shared, 150);
        assert!(h.must_be_invalid(&shared, 200).is_none());
        let t = seq(LockMode::Exclusive, 2, 10);
        h.on_acquired(&seq(LockMode::Exclusive, 3, 20), 500);
        assert!(h.must_be_invalid(&t, 400).is_none());
        assert!(h.must_be_invalid(&t, 501).is_some());
    }
}
