//! The fenced resource: a simulated third-party server the lock holders
//! write to, which takes a sequencer with every write and admits it
//! through `synod_coord::lock::Fence` (Chubby's "compare generation
//! numbers"), as a real one would.
//!
//! Its oracle (**fence**) is kept apart from the fence: the list of
//! generations the resource accepted, per lock, must never go down, so no
//! write from a superseded holder is accepted after its successor's.
//! `LockBug::UnfencedResource` takes the fence away, to show the oracle
//! bites.

use crate::client::Time;
use std::collections::BTreeMap;
use synod_coord::lock::Fence;
use synod_coord::Sequencer;

/// The resource and what it accepted.
#[derive(Debug, Default)]
pub(crate) struct Resource {
    fence: Fence,
    /// Without its fence (`LockBug::UnfencedResource`).
    unfenced: bool,
    /// Per lock: the newest generation accepted, by whom and when.
    newest: BTreeMap<String, (u64, i64, Time)>,
}

/// What became of one write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Accepted,
    Refused,
    /// Accepted although a later generation was accepted before: a
    /// violation of the fence oracle.
    AcceptedStale(String),
}

impl Resource {
    pub(crate) fn new(unfenced: bool) -> Self {
        Resource {
            unfenced,
            ..Resource::default()
        }
    }

    /// A write with `seq` arrives at `now`.
    pub(crate) fn write(&mut self, seq: &Sequencer, now: Time) -> Written {
        if !self.unfenced && self.fence.admit(seq).is_err() {
            return Written::Refused;
        }
        let entry = self.newest.entry(seq.path.clone()).or_insert((0, 0, 0));
        let (generation, session, at) = *entry;
        if seq.generation < generation {
            return Written::AcceptedStale(format!(
                "the resource accepted a write with {seq} at {:.6}s after one of generation {generation} (session {session:#x}) at {:.6}s",
                now as f64 / 1e6,
                at as f64 / 1e6
            ));
        }
        *entry = (seq.generation, seq.session, now);
        Written::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_coord::LockMode;

    #[test]
    fn a_fenced_resource_refuses_a_superseded_holder_and_an_unfenced_one_is_caught() {
        let at = |g| Sequencer::new("/l", LockMode::Exclusive, g, g as i64);
        let mut r = Resource::default();
        assert_eq!(r.write(&at(2), 1), Written::Accepted);
        assert_eq!(r.write(&at(1), 2), Written::Refused);
        let mut r = Resource::new(true);
        assert_eq!(r.write(&at(2), 1), Written::Accepted);
        assert!(matches!(r.write(&at(1), 2), Written::AcceptedStale(_)));
    }
}
