//! Nodes coming and going: start, crash (losing unsynced writes), stop on
//! a disk error, restart from disk, pause and resume, leave the cluster;
//! and the end of the
//! safety phase, when every fault heals.

use crate::clock::Clock;
use crate::cluster::{Cluster, Ev, Notice, Out, TICK_US};
use crate::disk::Disk;
use crate::member::Member;
use crate::node::{Running, DATA_DIR};
use synod_node::{Clock as NodeClock, NodeOptions, ServiceNode};
use synod_paxos::{Config, DurableState, NodeId};
use synod_storage::NodeStorage;
use synod_wal::CrashPlan;

impl<W> Cluster<W> {
    /// Starts node `id` with an empty disk, booting with `initial` (the
    /// voters, or an empty configuration for a node to be added).
    pub fn spawn(&mut self, id: NodeId, initial: Config) {
        let clock = Clock::draw(&mut self.rng, self.cfg.profile.drift_ppm);
        let now = self.now();
        self.members.insert(
            id,
            Member {
                node: None,
                incarnation: 0,
                disk: Disk::default(),
                clock,
                paused: false,
                inbox: Vec::new(),
                initial,
                member: true,
            },
        );
        if let Err(e) = self.boot(id) {
            self.violation("recovery", format!("n{id} cannot open an empty disk: {e}"));
            return;
        }
        let first_tick = now + self.rng.range(0, TICK_US);
        self.sched.at(
            first_tick,
            Ev::Tick {
                node: id,
                incarnation: 0,
            },
        );
        let drift = clock.drift_ppm;
        self.note(|| format!("node {id} starts (clock drift {drift} ppm)"));
    }

    /// Opens the storage on the member's disk and starts the service node
    /// from what it recovered, as the server does at startup.
    fn boot(&mut self, id: NodeId) -> Result<DurableState, String> {
        let seed = self.rng.next_u64();
        let now = self.now();
        let m = self.members.get_mut(&id).expect("booting a member");
        let (storage, durable, _report) =
            NodeStorage::open_with_fs(m.disk.fs.shared(), DATA_DIR, self.spec.storage.clone())
                .map_err(|e| e.to_string())?;
        let clock = NodeClock {
            now_us: m.clock.local_us(now),
            wall_ms: m.clock.wall_ms(now),
        };
        let opts = NodeOptions {
            id,
            engine: self.cfg.engine.clone(),
            initial: m.initial.clone(),
            zk: self.spec.zk.clone(),
            seed,
        };
        let mut node = ServiceNode::new(opts, durable.clone(), clock);
        node.set_apply_tap(self.spec.apply_tap);
        #[cfg(feature = "broken")]
        node.set_bugs(self.spec.bugs.clone());
        m.node = Some(Running { node, storage });
        Ok(durable)
    }

    /// The machine loses power: the process forgets everything, and the
    /// disk keeps what the crash model lets survive of its unsynced writes.
    /// With torn writes, the write in progress is carried out up to a
    /// random file-system operation first, and any prefix of what it wrote
    /// may survive, the last piece torn; without, unsynced writes are lost.
    pub fn crash(&mut self, id: NodeId) {
        let torn_writes = self.cfg.profile.torn_writes;
        let roll = self.rng.next_u64();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let Some(mut running) = m.node.take() else {
            return;
        };
        m.paused = false;
        m.incarnation += 1;
        let writing = std::mem::take(&mut m.disk.writing);
        let lost = m.disk.forget_writes();
        let plan = if torn_writes {
            if !writing.is_empty() {
                // The disk thread was inside `persist` when power went.
                m.disk.fs.halt_after(roll % 64);
                let slices: Vec<&[synod_paxos::Record]> =
                    writing.iter().map(|(_, r)| r.as_slice()).collect();
                let _ = running.storage.persist(&slices);
            }
            CrashPlan::Random { seed: roll }
        } else {
            CrashPlan::LoseUnsynced
        };
        drop(running);
        let report = m.disk.fs.crash(plan);
        m.disk.fs.clear_faults();
        self.discard_inbox(id);
        self.stats.crashes += 1;
        let unacked = writing.len() + lost.len();
        self.note(|| {
            format!(
                "FAULT n{id} crashed with {unacked} persists unacknowledged: {} unsynced writes kept, {} lost, {} torn",
                report.writes_kept, report.writes_lost, report.torn_writes
            )
        });
        self.outbox.push_back(Out::Notice(Notice::Crashed(id)));
    }

    /// The process stops on a failed disk write (as the server runtime
    /// does); the machine keeps running, so the page cache survives.
    pub(crate) fn stop_on_disk_error(&mut self, id: NodeId, error: String) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.node.take().is_none() {
            return;
        }
        m.paused = false;
        m.incarnation += 1;
        m.disk.forget_writes();
        m.disk.fs.crash(CrashPlan::KeepUnsynced);
        m.disk.fs.clear_faults();
        m.disk.fs.set_capacity_bytes(None);
        self.discard_inbox(id);
        self.stats.disk_failures += 1;
        self.note(|| format!("FAULT n{id} stops: its disk failed: {error}"));
        self.outbox.push_back(Out::Notice(Notice::DiskFailed(id)));
        let down = self.rng.range(50_000, 500_000);
        self.sched.after(down, Ev::Restart { node: id });
    }

    /// A crashed member starts again from what its disk holds.
    pub fn restart(&mut self, id: NodeId) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if m.is_up() || !m.member {
            return;
        }
        let incarnation = m.incarnation;
        match self.boot(id) {
            Ok(recovered) => {
                self.check_recovery(id, &recovered);
                // From now on the node treats what it recovered as durable
                // (writes that survived unsynced included): so do the
                // oracles, and a later crash must give it all back.
                let m = self.members.get_mut(&id).expect("restarted");
                m.disk.acked = recovered;
            }
            Err(e) => {
                self.violation(
                    "recovery",
                    format!("n{id} cannot recover from its disk: {e}"),
                );
                return;
            }
        }
        self.note(|| format!("n{id} restarts from its disk"));
        self.sched.after(
            1,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
        self.outbox.push_back(Out::Notice(Notice::Restarted(id)));
    }

    /// The process stops for `duration_us`: peer messages, client input
    /// and disk completions wait for it.
    pub fn pause(&mut self, id: NodeId, duration_us: u64) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.paused || !m.is_up() {
            return;
        }
        m.paused = true;
        self.note(|| format!("FAULT n{id} paused for {}ms", duration_us / 1000));
        self.sched.after(duration_us, Ev::Resume { node: id });
        self.outbox.push_back(Out::Notice(Notice::Paused(id)));
    }

    /// A paused process runs again and takes in what waited for it, in
    /// the order it arrived.
    pub fn resume(&mut self, id: NodeId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if !m.paused {
            return;
        }
        m.paused = false;
        let inbox = std::mem::take(&mut m.inbox);
        let waiting = inbox.len();
        self.note(|| format!("n{id} resumes with {waiting} queued events"));
        self.outbox.push_back(Out::Notice(Notice::Resumed(id)));
        for held in inbox {
            self.deliver_to(id, held);
        }
    }

    /// Node `id` leaves the cluster for good: it stops and never restarts.
    pub fn decommission(&mut self, id: NodeId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.member = false;
        m.node = None;
        m.paused = false;
        m.incarnation += 1;
        self.discard_inbox(id);
        self.note(|| format!("n{id} removed from the cluster and shut down"));
    }

    /// Ends the safety phase: no more loss, duplication or partitions,
    /// every paused node resumes and every crashed member restarts.
    pub fn heal_all(&mut self) {
        if self.healed_at.is_some() {
            return;
        }
        self.healed_at = Some(self.now());
        self.net.heal();
        for m in self.members.values() {
            m.disk.fs.clear_faults();
            m.disk.fs.set_capacity_bytes(None);
        }
        self.note(|| "=== faults healed: liveness phase ===".to_string());
        self.heal_partition();
        for id in self.ids() {
            self.resume(id);
            self.restart(id);
        }
        self.outbox.push_back(Out::Notice(Notice::Healed));
    }

    pub(crate) fn heal_partition(&mut self) {
        if self.net.heal_partition() {
            self.note(|| "partition healed".to_string());
        }
        self.outbox.push_back(Out::Notice(Notice::PartitionHealed));
    }
}
