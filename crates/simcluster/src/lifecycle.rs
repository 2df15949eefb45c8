//! Nodes coming and going: start, crash (losing unsynced writes), restart
//! from disk, pause and resume, leave the cluster; and the end of the
//! safety phase, when every fault heals.

use crate::clock::Clock;
use crate::cluster::{Cluster, Ev, Notice, Out, TICK_US};
use crate::disk::Disk;
use crate::member::Member;
use crate::node::{Boot, SimNode};
use synod_paxos::{Config, NodeId};

impl<N: SimNode, W> Cluster<N, W> {
    /// Starts node `id` with an empty disk, booting with `initial` (the
    /// voters, or an empty configuration for a node to be added).
    pub fn spawn(&mut self, id: NodeId, initial: Config) {
        let clock = Clock::draw(&mut self.rng, self.cfg.profile.drift_ppm);
        let seed = self.rng.next_u64();
        let now = self.now();
        let node = N::boot(
            &self.spec,
            Boot {
                id,
                engine: self.cfg.engine.clone(),
                initial: initial.clone(),
                recovered: None,
                seed,
                local_us: clock.local_us(now),
            },
        );
        self.members.insert(
            id,
            Member {
                node: Some(node),
                incarnation: 0,
                disk: Disk::default(),
                clock,
                paused: false,
                inbox: Vec::new(),
                initial,
                member: true,
            },
        );
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

    /// The process dies: it forgets everything but its disk, which keeps
    /// only completed writes (and, with torn writes, a prefix of the rest).
    pub fn crash(&mut self, id: NodeId) {
        let torn_writes = self.cfg.profile.torn_writes;
        let roll = self.rng.next_u64();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if !m.is_up() {
            return;
        }
        m.node = None;
        m.paused = false;
        m.incarnation += 1;
        let loss = m.disk.crash(torn_writes, roll);
        self.discard_inbox(id);
        self.stats.crashes += 1;
        self.note(|| {
            format!(
                "FAULT n{id} crashed: {} of {} unsynced records survive{}",
                loss.kept,
                loss.total,
                if loss.torn { ", the next one torn" } else { "" }
            )
        });
        self.outbox.push_back(Out::Notice(Notice::Crashed(id)));
    }

    /// A crashed member starts again from what its disk holds.
    pub fn restart(&mut self, id: NodeId) {
        let seed = self.rng.next_u64();
        let now = self.now();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.is_up() || !m.member {
            return;
        }
        let boot = Boot {
            id,
            engine: self.cfg.engine.clone(),
            initial: m.initial.clone(),
            recovered: Some(m.disk.replay()),
            seed,
            local_us: m.clock.local_us(now),
        };
        m.node = Some(N::boot(&self.spec, boot));
        let incarnation = m.incarnation;
        self.check_recovery(id);
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
