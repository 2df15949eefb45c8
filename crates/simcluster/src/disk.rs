//! A node's disk: the simulated device the real storage runs on, the
//! timing of its writes, and what was acknowledged.
//!
//! Contents: a `SimFs` per node (it outlives crashes). The node's
//! `NodeStorage` writes its WAL and snapshots there exactly as on a real
//! disk; a power loss keeps what `SimFs`'s crash model lets survive of the
//! unsynced writes, and a restart recovers with the storage's own code.
//!
//! Timing, as the server's disk thread does it (group commit): persists
//! wait while a write is in progress; when it completes, everything that
//! waited goes to `NodeStorage::persist` as one write with one fsync, which
//! takes a latency drawn from [`DISK_LATENCY_US`] plus one microsecond per
//! [`BYTES_PER_US`] bytes. The storage is called when the write completes,
//! so a crash before then loses the whole write (or, with torn writes, the
//! write is carried out up to a random file-system operation and the power
//! loss then decides what of it survives).
//!
//! Acknowledged: `acked` folds every record of every persist the engine
//! was told is durable, independently of the storage's own bookkeeping;
//! at a restart it becomes what recovery read back, which the node then
//! treats as durable.
//! It is the oracles' model of the disk: what must be sent only once it is
//! durable, and what recovery must give back.

use crate::scheduler::Time;
use synod_paxos::{DurableState, Record};
use synod_wal::SimFs;

/// Latency of one write (appends and one fsync), drawn per write.
pub const DISK_LATENCY_US: (Time, Time) = (50, 600);
/// Bandwidth: one more microsecond per this many bytes written.
pub const BYTES_PER_US: u64 = 1_000;

/// Persists the engine asked for, in order: `(id, records)`.
pub(crate) type Batch = Vec<(u64, Vec<Record>)>;

#[derive(Debug, Default)]
pub struct Disk {
    /// The device.
    pub(crate) fs: SimFs,
    /// Every record the engine was told is durable, folded.
    pub(crate) acked: DurableState,
    /// The write in progress, handed to the storage when it completes.
    pub(crate) writing: Batch,
    /// Persists that arrived while a write was in progress.
    pub(crate) waiting: Batch,
}

impl Disk {
    /// Queues persist `id`; returns true when the disk was idle and a write
    /// starts now (the caller schedules its completion).
    pub(crate) fn queue(&mut self, id: u64, records: Vec<Record>) -> bool {
        self.waiting.push((id, records));
        if self.writing.is_empty() {
            self.writing = std::mem::take(&mut self.waiting);
            return true;
        }
        false
    }

    /// Bytes of the write in progress, roughly (for its latency).
    pub(crate) fn writing_bytes(&self) -> u64 {
        self.writing
            .iter()
            .flat_map(|(_, records)| records)
            .map(record_bytes)
            .sum()
    }

    /// The write in progress completed: its records are acknowledged.
    /// Returns the highest persist id it covers.
    pub(crate) fn acknowledge(&mut self, batch: &Batch) -> Option<u64> {
        for (_, records) in batch {
            for r in records {
                self.acked.apply(r);
            }
        }
        batch.last().map(|(id, _)| *id)
    }

    /// Starts the next write if persists waited; returns whether it did.
    pub(crate) fn start_next(&mut self) -> bool {
        debug_assert!(self.writing.is_empty());
        if self.waiting.is_empty() {
            return false;
        }
        self.writing = std::mem::take(&mut self.waiting);
        true
    }

    /// The process died: its writes in progress and waiting are gone.
    pub(crate) fn forget_writes(&mut self) -> Batch {
        let mut lost = std::mem::take(&mut self.writing);
        lost.append(&mut self.waiting);
        lost
    }

    /// What the disk holds for sure: everything acknowledged.
    pub fn acked(&self) -> &DurableState {
        &self.acked
    }

    /// The device, for tests and reports.
    pub fn fs(&self) -> &SimFs {
        &self.fs
    }
}

/// A record's size for the disk's timing (values dominate).
fn record_bytes(r: &Record) -> u64 {
    match r {
        Record::Accept { value, .. } | Record::Learned { value, .. } => {
            value.encoded_bytes() as u64
        }
        Record::Snapshot(s) => s.state.len(),
        _ => 16,
    }
}
