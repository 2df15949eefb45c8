//! The Chubby workload's checker: pure functions of the run's history (the
//! acquisitions the holders reported, the writes the fence judged). The
//! rules apply to each lock's whole history (a holder may be cut off under
//! one phase's lock while the next phase begins); the figures count what
//! happened within a phase's time.
//!
//! The rules, from the Chubby paper's section 2.4 (a resource "compares
//! generation numbers" and may "call CheckSequencer"):
//!
//! 1. **No write accepted from a stale holder.** An accepted write of
//!    generation `g` whose CheckSequencer started after the harness had
//!    heard of an acquisition of a newer generation `g' > g` is an anomaly.
//!    Sound: the holder reports `acquired` only after the grant, and the
//!    harness hears it later still, so when that check began the lock had
//!    moved past `g` already, and a linearizable CheckSequencer must have
//!    called `g` invalid.
//! 2. **No generation granted twice.** Two `acquired` reports of the same
//!    generation of one lock are an anomaly (generations grow with every
//!    grant).
//! 3. **Locks were served again after the heal**: at least one acquisition
//!    reported after it (the harness applies this one with [`figures`]).

use std::collections::BTreeMap;

/// One `acquired` report, as the harness heard it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquisition {
    pub lock: String,
    pub generation: u64,
    pub holder: u64,
    /// When the harness read the report (the run's clock, ns).
    pub heard: u64,
}

/// What the fence answered a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Refused without asking the cluster: the fence had accepted a newer
    /// generation of the lock.
    Older {
        newest: u64,
    },
    /// CheckSequencer said the sequencer no longer protects anything
    /// (its stable code: `free`, `superseded`, `not-holder`, ...).
    Invalid(String),
    /// CheckSequencer got no answer (no leader within its deadline).
    Unanswered,
}

/// One write the fence judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub lock: String,
    pub holder: u64,
    pub generation: u64,
    /// When the fence started its CheckSequencer (the run's clock, ns);
    /// for an `Older` refusal, when it compared.
    pub check_started: u64,
    pub verdict: Verdict,
}

/// The figures of a span of time (a phase).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub acquisitions: u64,
    pub acquisitions_after_heal: u64,
    pub accepted: u64,
    pub refused_older: u64,
    pub refused_invalid: u64,
    pub refused_unanswered: u64,
}

impl Figures {
    /// Adds `other`'s counts to these (the run's totals of its phases).
    pub fn add(&mut self, other: &Figures) {
        self.acquisitions += other.acquisitions;
        self.acquisitions_after_heal += other.acquisitions_after_heal;
        self.accepted += other.accepted;
        self.refused_older += other.refused_older;
        self.refused_invalid += other.refused_invalid;
        self.refused_unanswered += other.refused_unanswered;
    }

    /// Every refused write.
    pub fn refused(&self) -> u64 {
        self.refused_older + self.refused_invalid + self.refused_unanswered
    }
}

/// Counts the acquisitions heard and the writes checked within
/// `[from, to)`; `heal` splits the acquisitions.
pub fn figures(
    acquisitions: &[Acquisition],
    writes: &[Write],
    from: u64,
    heal: u64,
    to: u64,
) -> Figures {
    let within = |t: u64| from <= t && t < to;
    let heard: Vec<&Acquisition> = acquisitions.iter().filter(|a| within(a.heard)).collect();
    let mut figures = Figures {
        acquisitions: heard.len() as u64,
        acquisitions_after_heal: heard.iter().filter(|a| a.heard >= heal).count() as u64,
        ..Figures::default()
    };
    for w in writes.iter().filter(|w| within(w.check_started)) {
        match w.verdict {
            Verdict::Accepted => figures.accepted += 1,
            Verdict::Older { .. } => figures.refused_older += 1,
            Verdict::Invalid(_) => figures.refused_invalid += 1,
            Verdict::Unanswered => figures.refused_unanswered += 1,
        }
    }
    figures
}

/// Rules 1 and 2 on each lock's history: `(lock, anomaly)` pairs.
pub fn anomalies(acquisitions: &[Acquisition], writes: &[Write]) -> Vec<(String, String)> {
    let mut locks: BTreeMap<&str, (Vec<&Acquisition>, Vec<&Write>)> = BTreeMap::new();
    for a in acquisitions {
        locks.entry(&a.lock).or_default().0.push(a);
    }
    for w in writes {
        locks.entry(&w.lock).or_default().1.push(w);
    }
    let mut found = Vec::new();
    for (lock, (acquisitions, writes)) in locks {
        let of_lock = stale_accepted(&acquisitions, &writes)
            .into_iter()
            .chain(granted_twice(&acquisitions));
        found.extend(of_lock.map(|a| (lock.to_string(), a)));
    }
    found
}

/// Rule 1 on one lock: accepted writes whose check began after a newer
/// generation had been reported.
fn stale_accepted(acquisitions: &[&Acquisition], writes: &[&Write]) -> Vec<String> {
    let mut heard: Vec<&Acquisition> = acquisitions.to_vec();
    heard.sort_by_key(|a| a.heard);
    // The newest generation reported by each time, and by whom.
    let mut newest_by: Vec<(u64, u64, u64)> = Vec::with_capacity(heard.len());
    let mut newest: Option<(u64, u64)> = None;
    for a in heard {
        if newest.is_none_or(|(g, _)| a.generation > g) {
            newest = Some((a.generation, a.holder));
        }
        let (g, h) = newest.expect("set above");
        newest_by.push((a.heard, g, h));
    }
    let mut stale: Vec<&Write> = Vec::new();
    let mut first_against = None;
    for &w in writes.iter().filter(|w| w.verdict == Verdict::Accepted) {
        // The last report heard strictly before the check began.
        let known = newest_by.partition_point(|&(t, _, _)| t < w.check_started);
        let Some(&(_, g, h)) = known.checked_sub(1).map(|i| &newest_by[i]) else {
            continue;
        };
        if g > w.generation {
            first_against.get_or_insert((g, h));
            stale.push(w);
        }
    }
    let Some(first) = stale.first() else {
        return Vec::new();
    };
    let (g, h) = first_against.expect("set with the first stale write");
    vec![format!(
        "{} writes accepted from stale holders; the first: holder {} with generation {}, \
         checked {:.3} s into the run, after holder {h} had reported generation {g}",
        stale.len(),
        first.holder,
        first.generation,
        first.check_started as f64 / 1e9
    )]
}

/// Rule 2 on one lock: generations reported by more than one acquisition.
fn granted_twice(acquisitions: &[&Acquisition]) -> Vec<String> {
    let mut by_generation: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for a in acquisitions {
        by_generation
            .entry(a.generation)
            .or_default()
            .push(a.holder);
    }
    by_generation
        .into_iter()
        .filter(|(_, holders)| holders.len() > 1)
        .map(|(g, holders)| {
            format!(
                "generation {g} acquired {} times, by holders {holders:?}",
                holders.len()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "/chubby/p0-l0";
    const MS: u64 = 1_000_000;

    fn acquired(holder: u64, generation: u64, heard_ms: u64) -> Acquisition {
        Acquisition {
            lock: LOCK.into(),
            generation,
            holder,
            heard: heard_ms * MS,
        }
    }

    fn write(holder: u64, generation: u64, at_ms: u64, verdict: Verdict) -> Write {
        Write {
            lock: LOCK.into(),
            holder,
            generation,
            check_started: at_ms * MS,
            verdict,
        }
    }

    /// Holder 1 holds generation 1, is cut off, its session ends; holder 2
    /// gets generation 2; holder 1 goes on writing and is refused.
    fn clean() -> (Vec<Acquisition>, Vec<Write>) {
        let acquisitions = vec![acquired(1, 1, 100), acquired(2, 2, 5_000)];
        let writes = vec![
            write(1, 1, 120, Verdict::Accepted),
            write(1, 1, 140, Verdict::Accepted),
            // Checked before the harness heard of generation 2: its
            // acceptance proves nothing wrong.
            write(1, 1, 4_990, Verdict::Accepted),
            write(1, 1, 4_000, Verdict::Invalid("not-holder".into())),
            write(2, 2, 5_010, Verdict::Accepted),
            write(1, 1, 5_020, Verdict::Older { newest: 2 }),
            write(2, 2, 5_030, Verdict::Unanswered),
        ];
        (acquisitions, writes)
    }

    /// The anomalies' texts.
    fn texts(acquisitions: &[Acquisition], writes: &[Write]) -> Vec<String> {
        anomalies(acquisitions, writes)
            .into_iter()
            .map(|(lock, a)| format!("{lock}: {a}"))
            .collect()
    }

    #[test]
    fn a_history_the_fence_kept_clean_passes_with_its_figures() {
        let (acquisitions, writes) = clean();
        assert_eq!(texts(&acquisitions, &writes), Vec::<String>::new());
        assert_eq!(
            figures(&acquisitions, &writes, 0, 3_000 * MS, 10_000 * MS),
            Figures {
                acquisitions: 2,
                acquisitions_after_heal: 1,
                accepted: 4,
                refused_older: 1,
                refused_invalid: 1,
                refused_unanswered: 1,
            }
        );
        // A phase's figures hold only what happened in its time.
        let later = figures(&acquisitions, &writes, 5_000 * MS, 6_000 * MS, 10_000 * MS);
        assert_eq!(
            (later.acquisitions, later.accepted, later.refused()),
            (1, 1, 2)
        );
    }

    #[test]
    fn a_write_accepted_from_a_superseded_holder_is_an_anomaly() {
        let (acquisitions, mut writes) = clean();
        writes.push(write(1, 1, 5_040, Verdict::Accepted));
        writes.push(write(1, 1, 5_060, Verdict::Accepted));
        let found = texts(&acquisitions, &writes);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "/chubby/p0-l0: 2 writes accepted from stale holders; the first: holder 1 with generation 1"
            ),
            "{found:?}"
        );
        assert!(found[0].contains("holder 2 had reported generation 2"));
    }

    #[test]
    fn a_generation_acquired_twice_is_an_anomaly() {
        let (mut acquisitions, writes) = clean();
        acquisitions.push(acquired(3, 2, 6_000));
        assert_eq!(
            texts(&acquisitions, &writes),
            vec!["/chubby/p0-l0: generation 2 acquired 2 times, by holders [2, 3]".to_string()]
        );
    }

    #[test]
    fn both_anomalies_in_one_history_are_both_reported() {
        let (mut acquisitions, mut writes) = clean();
        acquisitions.push(acquired(3, 2, 6_000));
        writes.push(write(1, 1, 7_000, Verdict::Accepted));
        let found = texts(&acquisitions, &writes);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("accepted from stale holders"));
        assert!(found[1].contains("generation 2 acquired 2 times"));
    }

    #[test]
    fn a_newer_generation_of_another_lock_does_not_make_a_write_stale() {
        let (mut acquisitions, mut writes) = clean();
        acquisitions.push(Acquisition {
            lock: "/chubby/p0-l1".into(),
            ..acquired(3, 9, 5_000)
        });
        writes.push(write(2, 2, 6_000, Verdict::Accepted));
        assert_eq!(texts(&acquisitions, &writes), Vec::<String>::new());
    }
}
