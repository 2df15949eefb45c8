//! Power loss on the simulated disk: what survives of the changes that were
//! not yet durable.

use super::disk::{Disk, FileOp, Inode};
use crate::rng::SplitMix64;

/// What a crash keeps of the changes that were not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPlan {
    /// Chosen by a generator seeded with `seed`: per file, any prefix of its
    /// unsynced writes, the last kept one possibly torn; per directory, each
    /// unsynced creation, rename and removal kept or lost on its own.
    Random {
        /// Replays the same choices for the same disk.
        seed: u64,
    },
    /// Nothing that was not synced survives.
    LoseUnsynced,
    /// Everything survives, as when only the process died; handles opened
    /// before still go stale.
    KeepUnsynced,
}

/// What one crash kept and lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Unsynced writes (and length changes) that survived whole.
    pub writes_kept: u64,
    /// Unsynced writes lost.
    pub writes_lost: u64,
    /// Writes that survived in part: a prefix of their bytes, possibly
    /// followed by zeros or garbage instead of the rest of the prefix.
    pub torn_writes: u64,
    /// Unsynced creations, renames and removals that survived.
    pub dir_ops_kept: u64,
    /// Unsynced creations, renames and removals lost.
    pub dir_ops_lost: u64,
}

/// Loses power: every directory and file falls back to what survived.
pub(super) fn crash(disk: &mut Disk, plan: CrashPlan) -> CrashReport {
    let mut rng = match plan {
        CrashPlan::Random { seed } => Some(SplitMix64(seed)),
        _ => None,
    };
    let mut report = CrashReport::default();
    for dir in disk.dirs.values_mut() {
        for op in std::mem::take(&mut dir.pending) {
            let keep = match (&mut rng, plan) {
                (Some(rng), _) => rng.one_in(2),
                (None, plan) => plan == CrashPlan::KeepUnsynced,
            };
            if keep {
                op.apply(&mut dir.durable);
                report.dir_ops_kept += 1;
            } else {
                report.dir_ops_lost += 1;
            }
        }
        dir.entries = dir.durable.clone();
    }
    for inode in disk.files.values_mut() {
        crash_file(inode, plan, rng.as_mut(), &mut report);
    }
    disk.generation += 1;
    disk.faults.resume();
    disk.collect_garbage();
    let stats = &mut disk.stats;
    stats.crashes += 1;
    stats.writes_lost += report.writes_lost;
    stats.torn_writes += report.torn_writes;
    stats.dir_ops_lost += report.dir_ops_lost;
    report
}

/// Keeps a prefix of the file's unsynced writes, tearing the last kept one
/// half of the time under a random plan.
fn crash_file(
    inode: &mut Inode,
    plan: CrashPlan,
    mut rng: Option<&mut SplitMix64>,
    report: &mut CrashReport,
) {
    let ops = std::mem::take(&mut inode.pending);
    let keep = match (&mut rng, plan) {
        (Some(rng), _) => rng.below(ops.len() as u64 + 1) as usize,
        (None, CrashPlan::KeepUnsynced) => ops.len(),
        (None, _) => 0,
    };
    for (i, op) in ops.into_iter().enumerate() {
        if i >= keep {
            report.writes_lost += 1;
            continue;
        }
        let tear = i + 1 == keep && rng.as_mut().is_some_and(|rng| rng.one_in(2));
        match (op, rng.as_mut()) {
            (FileOp::Write { offset, bytes }, Some(rng)) if tear && !bytes.is_empty() => {
                let bytes = torn(&bytes, rng);
                if bytes.is_empty() {
                    report.writes_lost += 1;
                } else {
                    report.torn_writes += 1;
                    FileOp::Write { offset, bytes }.apply(&mut inode.durable);
                }
            }
            (op, _) => {
                op.apply(&mut inode.durable);
                report.writes_kept += 1;
            }
        }
    }
    inode.data = inode.durable.clone();
    inode.handles = 0;
}

/// What a torn write leaves: fewer bytes than were written, the first of
/// them as written and the rest zeros (a size that reached the disk before
/// the data) or garbage (a sector half written).
fn torn(bytes: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    let kept = rng.below(bytes.len() as u64) as usize;
    let real = rng.below(kept as u64 + 1) as usize;
    let mut out = bytes[..real].to_vec();
    if rng.one_in(2) {
        out.resize(kept, 0);
    } else {
        out.extend(rng.bytes(kept - real));
    }
    out
}
