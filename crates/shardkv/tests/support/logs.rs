//! A replica group, two ways: a queue that chooses what its leader's
//! driver proposes after a delay (fast; the Paxos engine is tested on its
//! own), or three `GroupHost`s, the engine over the group's state machine
//! with the driver on the leader, exactly as a server hosts a group, with
//! in-memory disks, a network inside the group, and power losses that
//! restart a replica from what its disk holds.

use std::collections::{BTreeMap, VecDeque};

use synod_paxos::{
    Config as Members, DurableState, EngineConfig, Message, NodeId, Record, Rng, StateMachine,
};
use synod_shard::{Config, GroupId};
use synod_shardkv::{
    Driver, DriverConfig, GroupHost, GroupMsg, GroupOp, HostInput, HostOutput, Limits, Out,
    ShardBugs, ShardGroup,
};

pub enum GroupLog {
    Queue(Box<QueueLog>),
    Engines(Box<EngineGroup>),
}

impl GroupLog {
    /// `unit_us`: a queue chooses each entry exactly two units after it is
    /// proposed (else 0 to 3 ms).
    pub fn new(
        gid: GroupId,
        shards: u32,
        engines: bool,
        unit_us: Option<u64>,
        bugs: &ShardBugs,
        seed: u64,
    ) -> GroupLog {
        let mut state = ShardGroup::new(gid, shards, Limits::default());
        state.set_bugs(bugs.clone());
        if engines {
            GroupLog::Engines(Box::new(EngineGroup::new(gid, state, bugs, seed)))
        } else {
            GroupLog::Queue(Box::new(QueueLog {
                driver: Driver::with_bugs(gid, DriverConfig::default(), bugs.clone()),
                bugs: bugs.clone(),
                state,
                entries: VecDeque::new(),
                epoch: 0,
                unit_us,
            }))
        }
    }

    /// The state of the longest prefix of the log any replica applied:
    /// what the group has decided. (A leader just elected may lag it
    /// until it applies the rest, and serves nothing meanwhile: its
    /// requests are ordered after those entries.)
    pub fn decided_state(&self) -> &ShardGroup {
        match self {
            GroupLog::Queue(q) => &q.state,
            GroupLog::Engines(e) => e.most_applied().host.state(),
        }
    }

    /// A message for the group's leader (lost if none leads).
    pub fn on_message(
        &mut self,
        now_us: u64,
        rng: &mut Rng,
        from: GroupId,
        msg: GroupMsg,
    ) -> Vec<Out> {
        match self {
            GroupLog::Queue(q) => {
                let out = q.driver.on_message(now_us, &q.state, from, msg);
                q.act(now_us, rng, out)
            }
            GroupLog::Engines(e) => e.feed_leader(now_us, HostInput::Group { from, msg }),
        }
    }

    pub fn on_config(&mut self, now_us: u64, rng: &mut Rng, config: Config) -> Vec<Out> {
        match self {
            GroupLog::Queue(q) => {
                let out = q.driver.on_config(&q.state, config);
                q.act(now_us, rng, out)
            }
            GroupLog::Engines(e) => e.feed_leader(now_us, HostInput::Config(config)),
        }
    }

    /// Time passed: entries chosen, timers, the leader's driver.
    pub fn step(&mut self, now_us: u64, rng: &mut Rng) -> Result<Vec<Out>, String> {
        match self {
            GroupLog::Queue(q) => q.step(now_us, rng),
            GroupLog::Engines(e) => e.step(now_us),
        }
    }

    /// The leader crashes: its driver's memory goes, and so do proposals
    /// not yet chosen (some of them, for the queue).
    pub fn crash_leader(&mut self, now_us: u64, rng: &mut Rng) {
        match self {
            GroupLog::Queue(q) => q.crash_leader(rng),
            GroupLog::Engines(e) => e.crash_leader(now_us, rng),
        }
    }

    /// Replaces the state by a restore of its snapshot (the queue only: the
    /// engines snapshot and restore themselves).
    pub fn snapshot_round_trip(&mut self) {
        if let GroupLog::Queue(q) = self {
            let snapshot = q.state.snapshot_data();
            let mut restored = ShardGroup::new(
                q.state.gid(),
                q.state.config().shard_count(),
                Limits::default(),
            );
            restored.set_bugs(q.bugs.clone());
            restored.restore(&snapshot).expect("own snapshot restores");
            assert_eq!(restored, q.state, "snapshot round trip");
            q.state = restored;
        }
    }
}

/// A log that chooses what its one leader proposes, after a delay.
pub struct QueueLog {
    driver: Driver,
    bugs: ShardBugs,
    state: ShardGroup,
    /// (when chosen, op, the leader epoch that proposed it).
    entries: VecDeque<(u64, GroupOp, u64)>,
    epoch: u64,
    unit_us: Option<u64>,
}

impl QueueLog {
    fn act(&mut self, now_us: u64, rng: &mut Rng, outs: Vec<Out>) -> Vec<Out> {
        let mut rest = Vec::new();
        for out in outs {
            match out {
                Out::Propose(op) => {
                    let delay = match self.unit_us {
                        Some(unit) => 2 * unit,
                        None => rng.range(0, 3_000),
                    };
                    let after_last = self
                        .entries
                        .back()
                        .map_or(0, |(chosen_us, _, _)| *chosen_us);
                    self.entries
                        .push_back((after_last.max(now_us + delay), op, self.epoch));
                }
                other => rest.push(other),
            }
        }
        rest
    }

    fn step(&mut self, now_us: u64, rng: &mut Rng) -> Result<Vec<Out>, String> {
        let mut outs = Vec::new();
        while self
            .entries
            .front()
            .is_some_and(|(chosen_us, _, _)| *chosen_us <= now_us)
        {
            let (_, op, epoch) = self.entries.pop_front().expect("looked");
            let reply = self.state.apply(op.clone());
            self.state
                .check_invariants()
                .map_err(|e| format!("group {}: {e}", self.state.gid()))?;
            // Only the leader that proposed an op hears its reply.
            if epoch == self.epoch {
                let out = self.driver.on_applied(now_us, &self.state, &op, &reply);
                outs.extend(self.act(now_us, rng, out));
            }
        }
        let out = self.driver.on_tick(now_us, &self.state);
        outs.extend(self.act(now_us, rng, out));
        Ok(outs)
    }

    fn crash_leader(&mut self, rng: &mut Rng) {
        self.epoch += 1;
        self.driver =
            Driver::with_bugs(self.state.gid(), DriverConfig::default(), self.bugs.clone());
        let kept = std::mem::take(&mut self.entries)
            .into_iter()
            .filter(|_| !rng.chance(0.5))
            .collect();
        self.entries = kept;
        #[cfg(feature = "broken")]
        if self.bugs.has(synod_shardkv::ShardBug::ForgetVotesOnRestart) {
            self.state.forget_votes();
        }
    }
}

const REPLICAS: u64 = 3;
const FSYNC_US: u64 = 1_000;

struct Replica {
    host: GroupHost,
    durable: DurableState,
    /// Persists written but not yet synced: (id, records, done at).
    writing: Vec<(u64, Vec<Record>, u64)>,
    down_until_us: u64,
}

/// Three hosted replicas of one group (`synod_shardkv::GroupHost`: the
/// engine and, on the leader, the driver), as a server runs each.
pub struct EngineGroup {
    template: ShardGroup,
    bugs: ShardBugs,
    members: Members,
    replicas: BTreeMap<NodeId, Replica>,
    /// Messages inside the group: (deliver at, from, to, message).
    net: Vec<(u64, NodeId, NodeId, Message)>,
    seed: u64,
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        snapshot_interval_slots: 200,
        log_retain_slots: 50,
        ..EngineConfig::default()
    }
}

impl EngineGroup {
    fn new(gid: GroupId, template: ShardGroup, bugs: &ShardBugs, seed: u64) -> EngineGroup {
        let ids: Vec<NodeId> = (1..=REPLICAS).map(|i| gid * 10 + i).collect();
        let members = Members::new(ids.clone());
        let mut group = EngineGroup {
            template,
            bugs: bugs.clone(),
            members,
            replicas: BTreeMap::new(),
            net: Vec::new(),
            seed,
        };
        for id in ids {
            let replica = Replica {
                host: group.boot(id, DurableState::default(), 0),
                durable: DurableState::default(),
                writing: Vec::new(),
                down_until_us: 0,
            };
            group.replicas.insert(id, replica);
        }
        group
    }

    fn boot(&self, id: NodeId, durable: DurableState, now_us: u64) -> GroupHost {
        let mut host = GroupHost::recover(
            id,
            engine_config(),
            self.members.clone(),
            durable,
            self.template.clone(),
            DriverConfig::default(),
            self.seed ^ now_us,
            now_us,
        );
        host.set_bugs(self.bugs.clone());
        host
    }

    fn most_applied(&self) -> &Replica {
        self.replicas
            .values()
            .max_by_key(|r| r.host.node().applied())
            .expect("replicas")
    }

    fn up(&self, id: NodeId, now_us: u64) -> bool {
        self.replicas[&id].down_until_us <= now_us
    }

    fn feed_leader(&mut self, now_us: u64, input: HostInput) -> Vec<Out> {
        let leader = self
            .replicas
            .iter()
            .find(|(_, r)| r.down_until_us <= now_us && r.host.leads())
            .map(|(&id, _)| id);
        match leader {
            Some(id) => self.feed(now_us, id, input),
            None => Vec::new(),
        }
    }

    /// Steps replica `id` and executes what stays inside the group.
    fn feed(&mut self, now_us: u64, id: NodeId, input: HostInput) -> Vec<Out> {
        let outputs = self
            .replicas
            .get_mut(&id)
            .expect("member")
            .host
            .step(now_us, input);
        let mut outs = Vec::new();
        for output in outputs {
            match output {
                HostOutput::Persist { id: pid, records } => {
                    let replica = self.replicas.get_mut(&id).expect("member");
                    replica.writing.push((pid, records, now_us + FSYNC_US));
                }
                HostOutput::Peer { to, msg } => {
                    let delay = 300 + (synod_paxos::digest(&(now_us, id, to)) % 1_500);
                    self.net.push((now_us + delay, id, to, msg));
                }
                HostOutput::Group { to, msg } => outs.push(Out::Send { to, msg }),
                HostOutput::Reply { id, reply } => outs.push(Out::Reply { id, reply }),
                HostOutput::QueryConfig { num } => outs.push(Out::QueryConfig { num }),
            }
        }
        outs
    }

    fn step(&mut self, now_us: u64) -> Result<Vec<Out>, String> {
        let mut outs = Vec::new();
        let ids: Vec<NodeId> = self.replicas.keys().copied().collect();
        for &id in &ids {
            self.restart_if_due(now_us, id);
            if !self.up(id, now_us) {
                continue;
            }
            let replica = self.replicas.get_mut(&id).expect("listed");
            let synced = replica
                .writing
                .iter()
                .filter(|(_, _, at)| *at <= now_us)
                .map(|(pid, _, _)| *pid)
                .max();
            if let Some(last) = synced {
                for (_, records, _) in replica.writing.iter().filter(|(pid, _, _)| *pid <= last) {
                    for record in records {
                        replica.durable.apply(record);
                    }
                }
                replica.writing.retain(|(pid, _, _)| *pid > last);
                outs.extend(self.feed(now_us, id, HostInput::Persisted { id: last }));
            }
            outs.extend(self.feed(now_us, id, HostInput::Tick));
        }
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].0 <= now_us {
                due.push(self.net.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(at, from, to, _)| (*at, *from, *to));
        for (_, from, to, msg) in due {
            if self.up(to, now_us) {
                outs.extend(self.feed(now_us, to, HostInput::Peer { from, msg }));
            }
        }
        for (id, replica) in &self.replicas {
            let state = replica.host.state();
            state
                .check_invariants()
                .map_err(|e| format!("group {} replica {id}: {e}", state.gid()))?;
        }
        Ok(outs)
    }

    /// The leader (or a random replica, when none leads) loses power: what
    /// it had not synced is gone, and it restarts from its disk a little
    /// later.
    fn crash_leader(&mut self, now_us: u64, rng: &mut Rng) {
        let ids: Vec<NodeId> = self.replicas.keys().copied().collect();
        let leader = ids
            .iter()
            .copied()
            .find(|&id| self.up(id, now_us) && self.replicas[&id].host.leads());
        let victim = leader.unwrap_or(ids[rng.range(0, ids.len() as u64) as usize]);
        if !self.up(victim, now_us) {
            return;
        }
        let replica = self.replicas.get_mut(&victim).expect("member");
        replica.writing.clear();
        replica.down_until_us = now_us + rng.range(50_000, 1_000_000);
        self.net
            .retain(|(_, from, to, _)| *from != victim && *to != victim);
    }

    fn restart_if_due(&mut self, now_us: u64, id: NodeId) {
        let replica = &self.replicas[&id];
        if replica.down_until_us == 0 || replica.down_until_us > now_us {
            return;
        }
        let host = self.boot(id, replica.durable.clone(), now_us);
        let replica = self.replicas.get_mut(&id).expect("member");
        replica.host = host;
        replica.down_until_us = 0;
    }
}
