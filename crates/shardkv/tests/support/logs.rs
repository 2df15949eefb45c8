//! A replica group's log, two ways: a queue that chooses each proposal
//! after a delay (fast; the Paxos engine is tested on its own), or three
//! replicas of the real engine, `synod_paxos::Node<ShardGroup>`, with
//! in-memory disks, a network inside the group, and crashes that restart a
//! replica from what its disk holds (the engine and the state machine
//! together, as a server will host them).

use std::collections::{BTreeMap, VecDeque};

use synod_paxos::{
    Action, Command, Config as Members, DurableState, EngineConfig, Input, Message, Node, NodeId,
    Outcome, Rng, StateMachine,
};
use synod_shard::GroupId;
use synod_shardkv::{decode, encode, GroupOp, GroupReply, Limits, ShardBugs, ShardGroup};

/// What a group's log did in one step, for its leader's driver.
#[derive(Default)]
pub struct Stepped {
    /// The leader changed: its driver starts afresh.
    pub new_leader: bool,
    /// The current leader's own proposals, applied, with their replies.
    pub applied: Vec<(GroupOp, GroupReply)>,
}

pub enum GroupLog {
    Queue(Box<QueueLog>),
    Engines(Box<EngineGroup>),
}

impl GroupLog {
    pub fn new(gid: GroupId, shards: u32, engines: bool, bugs: &ShardBugs, seed: u64) -> GroupLog {
        let mut state = ShardGroup::new(gid, shards, Limits::default());
        state.set_bugs(bugs.clone());
        if engines {
            GroupLog::Engines(Box::new(EngineGroup::new(gid, state, seed)))
        } else {
            GroupLog::Queue(Box::new(QueueLog {
                state,
                entries: VecDeque::new(),
                epoch: 0,
                new_leader: false,
            }))
        }
    }

    /// The state the leader's driver reads: the leader's, or the most
    /// advanced replica's when there is none.
    pub fn state(&self) -> &ShardGroup {
        match self {
            GroupLog::Queue(q) => &q.state,
            GroupLog::Engines(e) => e.state(),
        }
    }

    /// The state of the longest prefix of the log any replica applied:
    /// what the group has decided. (A leader just elected may lag it
    /// until it applies the rest, and serves nothing meanwhile: its
    /// requests are ordered after those entries.)
    pub fn decided_state(&self) -> &ShardGroup {
        match self {
            GroupLog::Queue(q) => &q.state,
            GroupLog::Engines(e) => e.most_applied().node.state_machine(),
        }
    }

    pub fn has_leader(&self) -> bool {
        match self {
            GroupLog::Queue(_) => true,
            GroupLog::Engines(e) => e.leader.is_some(),
        }
    }

    pub fn propose(&mut self, now_us: u64, delay_us: u64, op: GroupOp) {
        match self {
            GroupLog::Queue(q) => {
                let after_last = q.entries.back().map_or(0, |(chosen_us, _, _)| *chosen_us);
                q.entries
                    .push_back((after_last.max(now_us + delay_us), op, q.epoch));
            }
            GroupLog::Engines(e) => e.propose(now_us, op),
        }
    }

    pub fn step(&mut self, now_us: u64, rng: &mut Rng) -> Result<Stepped, String> {
        match self {
            GroupLog::Queue(q) => q.step(now_us),
            GroupLog::Engines(e) => e.step(now_us, rng),
        }
    }

    /// The leader crashes: its driver's memory goes, and so do proposals
    /// not yet chosen (some of them, for the queue).
    pub fn crash_leader(&mut self, now_us: u64, rng: &mut Rng, bugs: &ShardBugs) {
        match self {
            GroupLog::Queue(q) => {
                q.epoch += 1;
                q.new_leader = true;
                let kept = std::mem::take(&mut q.entries)
                    .into_iter()
                    .filter(|_| !rng.chance(0.5))
                    .collect();
                q.entries = kept;
                #[cfg(feature = "broken")]
                if bugs.has(synod_shardkv::ShardBug::ForgetVotesOnRestart) {
                    q.state.forget_votes();
                }
            }
            GroupLog::Engines(e) => e.crash_leader(now_us, rng),
        }
        let _ = bugs;
    }

    /// Replaces the state by a restore of its snapshot (the queue only: the
    /// engines snapshot and restore themselves).
    pub fn snapshot_round_trip(&mut self, bugs: &ShardBugs) {
        if let GroupLog::Queue(q) = self {
            let snapshot = q.state.snapshot_data();
            let mut restored = ShardGroup::new(
                q.state.gid(),
                q.state.config().shard_count(),
                Limits::default(),
            );
            restored.restore(&snapshot).expect("own snapshot restores");
            restored.set_bugs(bugs.clone());
            assert_eq!(restored, q.state, "snapshot round trip");
            q.state = restored;
        }
    }
}

pub struct QueueLog {
    state: ShardGroup,
    /// (when chosen, op, the leader epoch that proposed it).
    entries: VecDeque<(u64, GroupOp, u64)>,
    epoch: u64,
    new_leader: bool,
}

impl QueueLog {
    fn step(&mut self, now_us: u64) -> Result<Stepped, String> {
        let mut stepped = Stepped {
            new_leader: std::mem::take(&mut self.new_leader),
            applied: Vec::new(),
        };
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
                stepped.applied.push((op, reply));
            }
        }
        Ok(stepped)
    }
}

const REPLICAS: u64 = 3;
const FSYNC_US: u64 = 1_000;

struct Replica {
    node: Node<ShardGroup>,
    durable: DurableState,
    /// Persists written but not yet synced: (id, records, done at).
    writing: Vec<(u64, Vec<synod_paxos::Record>, u64)>,
    down_until_us: u64,
}

pub struct EngineGroup {
    gid: GroupId,
    template: ShardGroup,
    members: Members,
    replicas: BTreeMap<NodeId, Replica>,
    /// Messages inside the group: (deliver at, from, to, message).
    net: Vec<(u64, NodeId, NodeId, Message)>,
    leader: Option<NodeId>,
    /// The driver's client id at the current leader, and its next seq.
    client: u64,
    next_seq: u64,
    proposed: BTreeMap<u64, GroupOp>,
    seed: u64,
    incarnation: u64,
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        snapshot_interval_slots: 200,
        log_retain_slots: 50,
        ..EngineConfig::default()
    }
}

impl EngineGroup {
    fn new(gid: GroupId, template: ShardGroup, seed: u64) -> EngineGroup {
        let ids: Vec<NodeId> = (1..=REPLICAS).map(|i| gid * 10 + i).collect();
        let members = Members::new(ids.clone());
        let replicas = ids
            .iter()
            .map(|&id| {
                let node = Node::new(
                    id,
                    engine_config(),
                    members.clone(),
                    template.clone(),
                    seed,
                    0,
                );
                let replica = Replica {
                    node,
                    durable: DurableState::default(),
                    writing: Vec::new(),
                    down_until_us: 0,
                };
                (id, replica)
            })
            .collect();
        EngineGroup {
            gid,
            template,
            members,
            replicas,
            net: Vec::new(),
            leader: None,
            client: 0,
            next_seq: 0,
            proposed: BTreeMap::new(),
            seed,
            incarnation: 0,
        }
    }

    fn state(&self) -> &ShardGroup {
        let replica = match self.leader {
            Some(id) => &self.replicas[&id],
            None => self.most_applied(),
        };
        replica.node.state_machine()
    }

    fn most_applied(&self) -> &Replica {
        self.replicas
            .values()
            .max_by_key(|r| r.node.applied())
            .expect("replicas")
    }

    fn propose(&mut self, now_us: u64, op: GroupOp) {
        let Some(leader) = self.leader else {
            return; // no leader: the proposal is lost, as a crashed one's
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        let command = Command {
            client: self.client,
            seq,
            op: encode(&op),
        };
        self.proposed.insert(seq, op);
        let actions = self
            .replicas
            .get_mut(&leader)
            .expect("leader")
            .node
            .step(now_us, Input::Command(command));
        let mut applied = Vec::new();
        self.execute(now_us, leader, actions, &mut applied);
        // A reply in the same step would be lost here; the engine answers a
        // command only once it is chosen, never within `Command` itself.
        assert!(applied.is_empty(), "a command answered as it was proposed");
    }

    fn step(&mut self, now_us: u64, rng: &mut Rng) -> Result<Stepped, String> {
        let mut applied = Vec::new();
        let ids: Vec<NodeId> = self.replicas.keys().copied().collect();
        // Restarts, syncs, ticks.
        for &id in &ids {
            self.restart_if_due(now_us, id);
            if self.replicas[&id].down_until_us > now_us {
                continue;
            }
            let replica = self.replicas.get_mut(&id).expect("listed");
            let synced: Vec<_> = replica
                .writing
                .iter()
                .filter(|(_, _, at)| *at <= now_us)
                .map(|(pid, _, _)| *pid)
                .collect();
            if let Some(&last) = synced.last() {
                for (_, records, _) in replica.writing.iter().filter(|(pid, _, _)| *pid <= last) {
                    for record in records {
                        replica.durable.apply(record);
                    }
                }
                replica.writing.retain(|(pid, _, _)| *pid > last);
                let actions = replica.node.step(now_us, Input::Persisted { id: last });
                self.execute(now_us, id, actions, &mut applied);
            }
            let actions = self
                .replicas
                .get_mut(&id)
                .expect("listed")
                .node
                .step(now_us, Input::Tick);
            self.execute(now_us, id, actions, &mut applied);
        }
        // Messages inside the group.
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
            if self.replicas[&to].down_until_us > now_us {
                continue;
            }
            let actions = self
                .replicas
                .get_mut(&to)
                .expect("member")
                .node
                .step(now_us, Input::Message { from, msg });
            self.execute(now_us, to, actions, &mut applied);
        }
        let _ = rng;
        for replica in self.replicas.values() {
            replica
                .node
                .state_machine()
                .check_invariants()
                .map_err(|e| format!("group {}: {e}", self.gid))?;
        }
        // Who leads now: the active leader that is up.
        let leader = self
            .replicas
            .iter()
            .find(|(_, r)| r.down_until_us <= now_us && r.node.is_active_leader())
            .map(|(&id, _)| id);
        let new_leader = leader != self.leader;
        if new_leader {
            self.leader = leader;
            self.incarnation += 1;
            self.client = (self.gid << 48) | (self.incarnation << 16) | leader.unwrap_or(0);
            self.next_seq = 0;
            self.proposed.clear();
            applied.clear();
        }
        Ok(Stepped {
            new_leader,
            applied,
        })
    }

    fn execute(
        &mut self,
        now_us: u64,
        id: NodeId,
        actions: Vec<Action>,
        applied: &mut Vec<(GroupOp, GroupReply)>,
    ) {
        for action in actions {
            match action {
                Action::Persist { id: pid, records } => {
                    let replica = self.replicas.get_mut(&id).expect("member");
                    replica.writing.push((pid, records, now_us + FSYNC_US));
                }
                Action::Send { to, msg } => {
                    let delay = 300 + (synod_paxos::digest(&(now_us, id, to)) % 1_500);
                    self.net.push((now_us + delay, id, to, msg));
                }
                Action::Reply {
                    client,
                    seq,
                    outcome,
                } => {
                    if client != self.client || Some(id) != self.leader {
                        continue;
                    }
                    let Some(op) = self.proposed.remove(&seq) else {
                        continue;
                    };
                    if let Outcome::Ok(bytes) = outcome {
                        let reply: GroupReply =
                            decode(&bytes).expect("the group's own reply decodes");
                        applied.push((op, reply));
                    }
                }
                Action::ReadReply { .. } | Action::ReconfigReply { .. } | Action::Event(_) => {}
            }
        }
    }

    /// The leader (or a random replica, when none leads) loses power: what
    /// it had not synced is gone, and it restarts from its disk a little
    /// later.
    fn crash_leader(&mut self, now_us: u64, rng: &mut Rng) {
        let ids: Vec<NodeId> = self.replicas.keys().copied().collect();
        let victim = self
            .leader
            .unwrap_or(ids[rng.range(0, ids.len() as u64) as usize]);
        let replica = self.replicas.get_mut(&victim).expect("member");
        if replica.down_until_us > now_us {
            return;
        }
        replica.writing.clear();
        replica.down_until_us = now_us + rng.range(50_000, 1_000_000);
        self.net
            .retain(|(_, from, to, _)| *from != victim && *to != victim);
    }

    fn restart_if_due(&mut self, now_us: u64, id: NodeId) {
        let replica = self.replicas.get_mut(&id).expect("member");
        if replica.down_until_us == 0 || replica.down_until_us > now_us {
            return;
        }
        replica.down_until_us = 0;
        replica.node = Node::recover(
            id,
            engine_config(),
            self.members.clone(),
            replica.durable.clone(),
            self.template.clone(),
            self.seed ^ now_us,
            now_us,
        );
    }
}
