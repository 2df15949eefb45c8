//! The fault schedule of the safety phase: every so often (a uniform draw
//! around the profile's mean) one fault the profile allows: a partition
//! of a random shape (only while none is in place) for 0.2-2 s; a crash
//! of a live member (never the last one) for 50 ms-1 s; or a pause of
//! 50 ms-1.2 s; or a disk failure armed on a live node (see
//! `disk_fault`). Crashes and pauses hit the leader half the time, since
//! that is where they hurt most.

use crate::cluster::{Cluster, Ev, Notice, Out};
use crate::partition;
use crate::scheduler::Time;
use std::collections::BTreeSet;
use synod_paxos::NodeId;
use synod_wal::FsOp;

const PARTITION_US: (Time, Time) = (200_000, 2_000_000);
const CRASH_DOWN_US: (Time, Time) = (50_000, 1_000_000);
const PAUSE_US: (Time, Time) = (50_000, 1_200_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Partition,
    Crash,
    Pause,
    Disk,
}

impl<W> Cluster<W> {
    /// Starts the random fault schedule (a simulator that scripts its
    /// faults does not call it).
    pub fn start_faults(&mut self) {
        let first = self.fault_delay();
        self.sched.at(first, Ev::Fault);
    }

    fn fault_delay(&mut self) -> Time {
        let mean = self.cfg.profile.fault_every_us;
        self.rng.range(mean / 2, mean * 3 / 2)
    }

    pub(crate) fn inject_fault(&mut self) {
        if self.is_healed() {
            return;
        }
        let next = self.fault_delay();
        self.sched.after(next, Ev::Fault);
        let p = &self.cfg.profile;
        let mut kinds = Vec::new();
        if p.partitions && !self.net.is_partitioned() {
            kinds.push(Fault::Partition);
        }
        if p.crashes {
            kinds.push(Fault::Crash);
        }
        if p.pauses {
            kinds.push(Fault::Pause);
        }
        if p.disk_faults {
            kinds.push(Fault::Disk);
        }
        if kinds.is_empty() {
            return;
        }
        let kind = kinds[self.rng.range(0, kinds.len() as u64) as usize];
        self.stats.faults += 1;
        let live = self.live_members();
        match kind {
            Fault::Partition => self.random_partition(),
            Fault::Crash if live.len() > 1 => {
                let victim = self.pick_victim(&live);
                self.crash(victim);
                let down = self.rng.range(CRASH_DOWN_US.0, CRASH_DOWN_US.1);
                self.sched.after(down, Ev::Restart { node: victim });
            }
            Fault::Pause if !live.is_empty() => {
                let victim = self.pick_victim(&live);
                let duration = self.rng.range(PAUSE_US.0, PAUSE_US.1);
                self.pause(victim, duration);
            }
            Fault::Disk if !live.is_empty() => {
                let victim = self.pick_victim(&live);
                self.disk_fault(victim);
            }
            Fault::Crash | Fault::Pause | Fault::Disk => {}
        }
    }

    /// Arms one failure on `id`'s disk: the next write or fsync fails
    /// with EIO, a write lands in part and fails, or the disk fills up (a
    /// little room left, so it fills mid-write). The node meets it at its
    /// next persist or compaction and stops; it restarts from its disk.
    pub fn disk_fault(&mut self, id: NodeId) {
        let roll = self.rng.range(0, 4);
        let landed = self.rng.range(0, 64) as usize;
        let room = self.rng.range(0, 4_096);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let fs = &m.disk.fs;
        let what = match roll {
            0 => {
                fs.fail_next(FsOp::Write);
                "the next write fails (EIO)".to_string()
            }
            1 => {
                fs.fail_next(FsOp::SyncFile);
                "the next fsync fails (EIO)".to_string()
            }
            2 => {
                fs.fail_next_write_partly(landed);
                format!("the next write lands {landed} bytes, then fails")
            }
            _ => {
                fs.set_capacity_bytes(Some(fs.used_bytes() + room));
                format!("the disk fills up {room} bytes from now (ENOSPC)")
            }
        };
        self.note(|| format!("FAULT n{id}'s disk: {what}"));
    }

    /// The leader half the time (where faults hurt most), anyone otherwise.
    fn pick_victim(&mut self, live: &[NodeId]) -> NodeId {
        if let Some(l) = self.current_leader() {
            if self.rng.chance(0.5) {
                return l;
            }
        }
        live[self.rng.range(0, live.len() as u64) as usize]
    }

    fn random_partition(&mut self) {
        let ids = self.members();
        if ids.is_empty() {
            return;
        }
        let leader = self.current_leader();
        let p = partition::draw(&mut self.rng, &ids, leader);
        self.cut_links(p.cut, &p.description);
        let duration = self.rng.range(PARTITION_US.0, PARTITION_US.1);
        self.sched.after(duration, Ev::Heal);
    }

    /// Cuts exactly these directed links until the next heal (scripted
    /// scenarios call it directly; random partitions heal on a timer).
    pub fn cut_links(&mut self, cut: BTreeSet<(NodeId, NodeId)>, description: &str) {
        self.net.partition(cut);
        self.note(|| format!("FAULT partition: {description}"));
        self.outbox.push_back(Out::Notice(Notice::Partitioned));
    }
}
