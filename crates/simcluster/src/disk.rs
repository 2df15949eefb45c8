//! A node's disk: what the engine asked to persist, when each write
//! completes, and what a crash leaves behind.
//!
//! Timing: writes complete one at a time, in order, each taking a latency
//! drawn from [`DISK_LATENCY_US`] after the previous one completes (a
//! write-ahead log appends and syncs in order). Contents: records, replayed
//! into a `DurableState` on restart; in stage 2 the real storage on a
//! simulated file system takes their place under the same timing.
//!
//! A crash loses every write not yet completed. With torn writes, any
//! prefix of those records may have reached the platter (recovery keeps
//! it) and the record after it is torn (recovery cuts it off); without,
//! all of them are lost.

use crate::scheduler::Time;
use std::collections::VecDeque;
use synod_paxos::{DurableState, Record};

/// Latency of one write (append and fsync), drawn per write.
pub const DISK_LATENCY_US: (Time, Time) = (50, 600);

/// Durable records kept before the list is rewritten as the equivalent
/// short one; the engine's own compaction keeps that one short.
const DURABLE_RECORDS_MAX: usize = 4_096;

#[derive(Debug, Default)]
pub struct Disk {
    /// What recovery will read, in write order.
    durable: Vec<Record>,
    /// `durable`, folded.
    state: DurableState,
    /// Writes in progress, oldest first, with the engine's persist id.
    /// As many as the engine has asked for and not heard back about.
    pending: VecDeque<(u64, Vec<Record>)>,
    /// When the last write in progress completes.
    busy_until: Time,
}

/// What a crash did to the writes in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoss {
    /// Records of unfinished writes that survived.
    pub kept: usize,
    /// Records of unfinished writes in all.
    pub total: usize,
    /// Whether the record after the survivors was torn.
    pub torn: bool,
}

impl Disk {
    /// Starts writing `records` for persist `id`; returns when the write
    /// completes, `latency_us` after the write before it.
    pub fn write(&mut self, now: Time, latency_us: Time, id: u64, records: Vec<Record>) -> Time {
        self.pending.push_back((id, records));
        self.busy_until = self.busy_until.max(now) + latency_us;
        self.busy_until
    }

    /// Completes the oldest write in progress; returns its persist id.
    pub fn complete(&mut self) -> Option<u64> {
        let (id, records) = self.pending.pop_front()?;
        for r in &records {
            self.state.apply(r);
        }
        self.durable.extend(records);
        self.compact();
        Some(id)
    }

    /// Loses the writes in progress; `roll` (uniform) picks how many
    /// records survive when writes can tear.
    pub fn crash(&mut self, torn_writes: bool, roll: u64) -> CrashLoss {
        let pending: Vec<Record> = self.pending.drain(..).flat_map(|(_, r)| r).collect();
        let total = pending.len();
        let kept = if torn_writes && total > 0 {
            (roll % (total as u64 + 1)) as usize
        } else {
            0
        };
        for r in pending.into_iter().take(kept) {
            self.state.apply(&r);
            self.durable.push(r);
        }
        self.busy_until = 0;
        CrashLoss {
            kept,
            total,
            torn: torn_writes && kept < total,
        }
    }

    /// What the disk holds for sure (writes completed or survived).
    pub fn durable(&self) -> &DurableState {
        &self.state
    }

    /// What recovery reads back: the records replayed from the start.
    pub fn replay(&self) -> DurableState {
        let replayed = DurableState::replay(self.durable.iter());
        debug_assert_eq!(replayed, self.state, "replay equals the folded state");
        replayed
    }

    /// Keeps the record list small: it describes `state`, so a long list
    /// is replaced by the equivalent short one.
    fn compact(&mut self) {
        if self.durable.len() < DURABLE_RECORDS_MAX {
            return;
        }
        let s = &self.state;
        let mut records = Vec::new();
        if let Some(snap) = &s.snapshot {
            records.push(Record::Snapshot(Box::new(snap.clone())));
        }
        records.push(Record::Promise(s.promised));
        for (slot, e) in &s.log {
            records.push(Record::Accept {
                slot: *slot,
                ballot: e.ballot,
                value: e.value.clone(),
            });
            if e.chosen {
                records.push(Record::Learned {
                    slot: *slot,
                    value: e.value.clone(),
                });
            }
        }
        records.push(Record::Commit(s.commit));
        self.durable = records;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::Ballot;

    fn promise(round: u64) -> Vec<Record> {
        vec![Record::Promise(Ballot::new(round, 1))]
    }

    #[test]
    fn writes_complete_one_at_a_time_in_order() {
        let mut d = Disk::default();
        assert_eq!(d.write(100, 50, 1, promise(1)), 150);
        assert_eq!(d.write(120, 50, 2, promise(2)), 200);
        assert_eq!(d.write(500, 50, 3, promise(3)), 550);
        assert_eq!(d.complete(), Some(1));
        assert_eq!(d.durable().promised, Ballot::new(1, 1));
        assert_eq!(d.complete(), Some(2));
        assert_eq!(d.complete(), Some(3));
        assert_eq!(d.complete(), None);
        assert_eq!(d.replay().promised, Ballot::new(3, 1));
    }

    #[test]
    fn a_crash_loses_unfinished_writes_or_keeps_a_prefix_when_they_tear() {
        let mut d = Disk::default();
        d.write(0, 10, 1, promise(1));
        d.complete();
        d.write(0, 10, 2, promise(2));
        d.write(0, 10, 3, promise(3));
        let mut lost = Disk::default();
        lost.write(0, 10, 1, promise(1));
        assert_eq!(
            lost.crash(false, 7),
            CrashLoss {
                kept: 0,
                total: 1,
                torn: false
            }
        );
        assert_eq!(lost.replay(), DurableState::default());
        // Roll 1 of 3 outcomes: one record survives, the next is torn.
        assert_eq!(
            d.crash(true, 1),
            CrashLoss {
                kept: 1,
                total: 2,
                torn: true
            }
        );
        assert_eq!(d.replay().promised, Ballot::new(2, 1));
        assert_eq!(d.complete(), None, "nothing in progress after a crash");
    }
}
