//! One node: its state, the step function, persistence plumbing and timers.
//!
//! The roles' handlers live in `acceptor.rs`, `leader.rs` and `replica.rs`
//! as further `impl` blocks of `Node`.

use crate::action::{Action, Event, Input, Outcome};
use crate::bugs::Bug;
use crate::config::EngineConfig;
use crate::durable::{ClientRecord, DurableState, Record, Snapshot};
use crate::forward::Forwarded;
use crate::leader::Leader;
use crate::message::Message;
use crate::rng::Rng;
use crate::state_machine::StateMachine;
use crate::transfer::{Incoming, Outgoing};
use crate::types::{Ballot, ClientId, Command, Config, Micros, NodeId, Slot, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One slot of the acceptor's log in memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub ballot: Ballot,
    pub value: Value,
    pub chosen: bool,
}

/// What a node is doing about leadership.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Follower,
    /// Asking for pre-votes in `ballot`; nothing is promised yet.
    Candidate {
        ballot: Ballot,
        granted: BTreeSet<NodeId>,
    },
    Leader(Box<Leader>),
}

/// Work that waits for a `Persist` to complete.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Deferred {
    Send {
        to: NodeId,
        msg: Message,
    },
    /// The leader's own promise of `ballot` is durable: it counts.
    SelfPromised(Ballot),
    /// The leader's own accept of `slot` in `ballot` is durable: it counts.
    SelfAccepted(Ballot, Slot),
}

/// A Multi-Paxos node: acceptor, replica and potential leader.
#[derive(Clone, Debug)]
pub struct Node<S> {
    pub(crate) id: NodeId,
    pub(crate) cfg: EngineConfig,
    pub(crate) rng: Rng,
    pub(crate) now: Micros,

    // Acceptor.
    pub(crate) promised: Ballot,
    pub(crate) log: BTreeMap<Slot, Entry>,
    /// Slots at or below this were dropped from `log` (all chosen).
    pub(crate) compacted: Slot,

    // Replica.
    pub(crate) sm: S,
    pub(crate) snapshot: Option<Snapshot>,
    /// Every slot at or below is chosen and present (in log or snapshot).
    pub(crate) commit: Slot,
    pub(crate) applied: Slot,
    /// The configuration as of `applied`.
    pub(crate) config: Config,
    pub(crate) clients: BTreeMap<ClientId, ClientRecord>,
    /// `(last slot, client)` for evicting the least recently active client.
    pub(crate) clients_by_slot: BTreeSet<(Slot, ClientId)>,
    /// Commands received from clients here, answered when applied.
    pub(crate) waiting: BTreeSet<(ClientId, u64)>,
    /// Commands taken in with `Input::Propose` while another node leads
    /// (or none is known), by (client, seq), each with where and when it
    /// was last sent. Every key is also in `waiting`. Volatile: never
    /// persisted, lost in a crash (the client submits again). At most
    /// `EngineConfig::forwarded_max` entries.
    pub(crate) forwarded: BTreeMap<(ClientId, u64), Forwarded>,
    /// Encoded bytes of the commands in `forwarded`.
    pub(crate) forwarded_bytes: usize,
    /// The highest commit point a leader told us about.
    pub(crate) known_commit: Slot,
    pub(crate) catchup_sent_at: Option<Micros>,
    /// The snapshot this replica is receiving in chunks, if any: at most
    /// one, volatile.
    pub(crate) incoming: Option<Incoming>,
    /// The snapshot this node last started sending in chunks, kept while
    /// someone asks for its chunks so a newer snapshot does not restart
    /// the transfer. Volatile.
    pub(crate) outgoing: Option<Outgoing>,

    // Leadership.
    pub(crate) role: Role,
    /// The leader we follow and its ballot.
    pub(crate) leader: Option<(NodeId, Ballot)>,
    /// Until then this acceptor refuses to help any candidate but the
    /// leader: the acceptor's half of the leader lease.
    pub(crate) contact_until: Micros,
    pub(crate) election_deadline: Micros,
    pub(crate) max_round_seen: u64,

    // Persistence.
    pub(crate) next_persist_id: u64,
    pub(crate) persisted_id: u64,
    pub(crate) records: Vec<Record>,
    pub(crate) deferred: VecDeque<(u64, Deferred)>,
    pub(crate) out: Vec<Action>,
    /// Since when the commit point has moved without being written, if it
    /// has. Safety never needs the commit point on disk (a node that loses
    /// it learns it again from the leader, and it only ever answered from
    /// what it had applied), so it rides on the next write that happens
    /// anyway instead of costing an fsync of its own: with one write in
    /// flight that was every other fsync on every node.
    pub(crate) commit_unwritten_since: Option<Micros>,
}

impl<S: StateMachine> Node<S> {
    /// A brand-new node with an empty disk. Bootstrap voters pass the
    /// initial configuration; a node that will join later passes an empty
    /// one and learns the configuration by catching up.
    pub fn new(
        id: NodeId,
        cfg: EngineConfig,
        initial: Config,
        sm: S,
        seed: u64,
        now: Micros,
    ) -> Self {
        Self::recover(id, cfg, initial, DurableState::default(), sm, seed, now)
    }

    /// A node restarting from what its disk holds. `sm` is a fresh state
    /// machine; the snapshot, if any, is restored into it.
    pub fn recover(
        id: NodeId,
        cfg: EngineConfig,
        initial: Config,
        durable: DurableState,
        sm: S,
        seed: u64,
        now: Micros,
    ) -> Self {
        assert!(id != 0, "node id 0 is reserved");
        let promised = if cfg.bugs.has(Bug::ForgetPromiseOnRestart) {
            Ballot::ZERO
        } else {
            durable.promised
        };
        let mut node = Node {
            id,
            rng: Rng::new(seed ^ id.wrapping_mul(0x2545_f491_4f6c_dd1d)),
            now,
            promised,
            log: BTreeMap::new(),
            compacted: 0,
            sm,
            snapshot: None,
            commit: 0,
            applied: 0,
            config: initial,
            clients: BTreeMap::new(),
            clients_by_slot: BTreeSet::new(),
            waiting: BTreeSet::new(),
            forwarded: BTreeMap::new(),
            forwarded_bytes: 0,
            known_commit: 0,
            catchup_sent_at: None,
            incoming: None,
            outgoing: None,
            role: Role::Follower,
            leader: None,
            // After a restart the acceptor does not remember which leader it
            // promised a lease to, so it helps nobody for a whole lease.
            contact_until: now + cfg.lease_us,
            election_deadline: 0,
            max_round_seen: promised.round,
            next_persist_id: 1,
            persisted_id: 0,
            records: Vec::new(),
            commit_unwritten_since: None,
            deferred: VecDeque::new(),
            out: Vec::new(),
            cfg,
        };
        if let Some(snap) = durable.snapshot {
            // A snapshot we wrote ourselves failed to decode: the disk is
            // corrupt and continuing would diverge.
            node.sm
                .restore(&snap.state)
                .expect("own durable snapshot must restore");
            node.install_snapshot_state(snap);
        }
        for (slot, e) in durable.log {
            node.max_round_seen = node.max_round_seen.max(e.ballot.round);
            node.log.insert(
                slot,
                Entry {
                    ballot: e.ballot,
                    value: e.value,
                    chosen: e.chosen || slot <= durable.commit,
                },
            );
        }
        node.reset_election_deadline();
        node.advance_commit();
        // Replaying chosen entries emits no records worth keeping (the
        // commit point it reaches is the one on disk).
        node.out.clear();
        node.records.clear();
        node.commit_unwritten_since = None;
        node
    }

    /// Feeds one input at local time `now` and returns the actions to
    /// execute, in order.
    pub fn step(&mut self, now: Micros, input: Input) -> Vec<Action> {
        self.now = self.now.max(now);
        let tick = matches!(input, Input::Tick);
        match input {
            Input::Tick => self.on_tick(),
            Input::Message { from, msg } => self.on_message(from, msg),
            Input::Persisted { id } => self.on_persisted(id),
            Input::Command(cmd) if self.admits(&cmd) => self.on_command(cmd),
            Input::Propose(cmd) if self.admits(&cmd) => self.on_propose(cmd),
            Input::Command(_) | Input::Propose(_) => {}
            Input::Read { client, id, op } => self.on_read(client, id, op),
            Input::Reconfigure { id, change } => {
                self.on_reconfigure(crate::reconfig::Asker::local(id), change)
            }
            Input::SubmitReconfigure { id, change } => self.on_submit_reconfigure(id, change),
        }
        self.after_step(tick);
        std::mem::take(&mut self.out)
    }

    /// A command larger than `command_bytes_max` is answered `Rejected` and
    /// goes no further: no log entry, message or disk record ever has to
    /// carry more than the budgets were sized for.
    fn admits(&mut self, cmd: &Command) -> bool {
        let max = self.cfg.command_bytes_max;
        if cmd.op.len() <= max {
            return true;
        }
        let why = format!(
            "a command of {} bytes exceeds command_bytes_max ({max} bytes)",
            cmd.op.len()
        );
        self.reply(cmd.client, cmd.seq, Outcome::Rejected(why));
        false
    }

    fn on_message(&mut self, from: NodeId, msg: Message) {
        if from == self.id || from == 0 || !msg.within_bounds() {
            return;
        }
        if let Some(b) = msg.ballot() {
            self.max_round_seen = self.max_round_seen.max(b.round);
        }
        match msg {
            Message::PreVote { ballot } => self.on_pre_vote(from, ballot),
            Message::PreVoteReply { ballot, granted } => {
                self.on_pre_vote_reply(from, ballot, granted)
            }
            Message::Prepare { ballot, from_slot } => self.on_prepare(from, ballot, from_slot),
            Message::Promise {
                ballot,
                from_slot,
                compacted_upto,
                commit,
                accepted,
                more,
            } => self.on_promise(
                from,
                ballot,
                from_slot,
                crate::election::Promised {
                    compacted_upto,
                    commit,
                    accepted,
                    more,
                },
            ),
            Message::Nack {
                ballot,
                promised,
                leader_alive,
            } => self.on_nack(from, ballot, promised, leader_alive),
            Message::Accept {
                ballot,
                entries,
                commit,
            } => self.on_accept(from, ballot, entries, commit),
            Message::Accepted {
                ballot,
                slots,
                commit,
            } => self.on_accepted(from, ballot, slots, commit),
            Message::Heartbeat {
                ballot,
                commit,
                seq,
            } => self.on_heartbeat(from, ballot, commit, seq),
            Message::HeartbeatAck {
                ballot,
                seq,
                commit,
            } => self.on_heartbeat_ack(from, ballot, seq, commit),
            Message::CatchupRequest { from_slot } => self.on_catchup_request(from, from_slot),
            Message::CatchupReply {
                snapshot,
                entries,
                commit,
            } => self.on_catchup_reply(from, snapshot, entries, commit),
            Message::Forward { commands } => self.on_forward(commands),
            Message::ReconfigForward { id, change } => self.on_reconfig_forward(from, id, change),
            Message::ReconfigAnswer { id, result } => self.on_reconfig_answer(id, result),
            Message::SnapshotChunk {
                last_slot,
                total_bytes,
                head_bytes,
                offset,
                data,
                commit,
            } => self.on_snapshot_chunk(
                from,
                crate::transfer::Chunk {
                    last_slot,
                    total_bytes,
                    head_bytes,
                    offset,
                    data,
                },
                commit,
            ),
            Message::SnapshotChunkRequest { last_slot, offset } => {
                self.on_snapshot_chunk_request(from, last_slot, offset)
            }
        }
    }

    fn on_tick(&mut self) {
        if self.is_leader() {
            self.leader_tick();
        } else if self.now >= self.election_deadline {
            self.start_pre_vote();
        }
        self.transfer_tick();
        self.maybe_request_catchup();
    }

    // ---- persistence plumbing ----

    /// Queues a record for this step's `Persist`.
    pub(crate) fn persist(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Holds `item` until everything persisted so far in this step (and
    /// before it) is durable.
    pub(crate) fn defer(&mut self, item: Deferred) {
        if self.cfg.bugs.has(Bug::SendBeforePersist) {
            self.run_deferred(item);
            return;
        }
        self.deferred.push_back((self.next_persist_id, item));
    }

    fn on_persisted(&mut self, id: u64) {
        if id >= self.next_persist_id {
            // A completion for a write this incarnation never asked for.
            return;
        }
        self.persisted_id = self.persisted_id.max(id);
        self.release_deferred();
    }

    fn release_deferred(&mut self) {
        while let Some((id, _)) = self.deferred.front() {
            if *id > self.persisted_id {
                break;
            }
            let (_, item) = self.deferred.pop_front().expect("front exists");
            self.run_deferred(item);
        }
    }

    fn run_deferred(&mut self, item: Deferred) {
        match item {
            Deferred::Send { to, msg } => self.out.push(Action::Send { to, msg }),
            Deferred::SelfPromised(ballot) => self.on_self_promised(ballot),
            Deferred::SelfAccepted(ballot, slot) => self.on_self_accepted(ballot, slot),
        }
    }

    fn after_step(&mut self, tick: bool) {
        self.flush_forwarded(tick);
        self.flush_proposals();
        if self.is_leader() {
            self.serve_reads();
            self.tell_commit();
        }
        self.maybe_snapshot();
        self.write_commit_point(tick);
        if self.records.is_empty() {
            // Nothing new to write: whatever was deferred in this step only
            // waits for earlier writes.
            let last = self.next_persist_id - 1;
            for (id, _) in self.deferred.iter_mut().rev() {
                if *id != self.next_persist_id {
                    break;
                }
                *id = last;
            }
            self.release_deferred();
        } else {
            let id = self.next_persist_id;
            self.next_persist_id += 1;
            let records = std::mem::take(&mut self.records);
            // Sends must follow the write they depend on in the action list
            // only when released; persist goes first so the runtime starts
            // the disk write as early as possible.
            self.out.insert(0, Action::Persist { id, records });
        }
    }

    /// Notes that the commit point moved; `write_commit_point` writes it.
    pub(crate) fn record_commit_later(&mut self) {
        self.commit_unwritten_since.get_or_insert(self.now);
    }

    /// Adds the unwritten commit point to this step's records when the
    /// step writes anyway, or on a tick once it has waited a heartbeat
    /// interval, so an idle node's commit point reaches its disk too (and
    /// a restart replays no more than it must). Last in the records, after
    /// the accepts it may cover.
    fn write_commit_point(&mut self, tick: bool) {
        let Some(since) = self.commit_unwritten_since else {
            return;
        };
        if self.commit <= self.snapshot_slot() {
            // A snapshot on disk or in these records implies it.
            self.commit_unwritten_since = None;
            return;
        }
        if !self.records.is_empty() || (tick && self.now >= since + self.cfg.heartbeat_interval_us)
        {
            self.records.push(Record::Commit(self.commit));
            self.commit_unwritten_since = None;
        }
    }

    // ---- helpers shared by the roles ----

    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        if to != self.id {
            self.out.push(Action::Send { to, msg });
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        if self.cfg.events {
            self.out.push(Action::Event(event));
        }
    }

    /// The next election starts a random time in `[T, 1.5 T)` from now
    /// (`T` the election timeout) unless a leader is heard first. Half a
    /// timeout of spread is ample to keep two followers from campaigning at
    /// once (a round trip is far shorter, and a higher ballot preempts a
    /// lower one anyway), and bounds the wait after a leader dies by
    /// 1.5 `T` rather than 2 `T`.
    pub(crate) fn reset_election_deadline(&mut self) {
        let t = self.cfg.election_timeout_us;
        self.election_deadline = self.now + self.rng.range(t, t + t / 2);
    }

    /// A majority of `config`'s voters among `nodes` (one fewer in the
    /// broken engine that counts a minority as chosen).
    pub(crate) fn is_quorum<'a>(
        &self,
        config: &Config,
        nodes: impl IntoIterator<Item = &'a NodeId>,
    ) -> bool {
        config.votes(nodes) >= self.quorum_size(config)
    }

    /// The configuration elections use: the applied one, changed by every
    /// membership change in the log above it, chosen or only accepted (as
    /// Raft's "latest configuration in the log"). A learner whose promotion
    /// it accepted may campaign; a cluster that lost the leader right after
    /// a change still elects. Safety does not rest on this choice: phase 1
    /// needs a majority of every configuration the promised logs imply
    /// (`Node::phase1_configs`).
    pub(crate) fn latest_config(&self) -> Config {
        if self.config.voters.is_empty() {
            // A joining node that has not yet received its snapshot knows no
            // configuration: changes in its log apply to an unknown base,
            // and replaying them from nothing would make it a cluster of
            // one. It votes and campaigns for nothing until it knows.
            return self.config.clone();
        }
        let above = self.log.range(self.applied + 1..).map(|(_, e)| &e.value);
        self.config.clone().changed_by(above)
    }

    /// A true majority of `config`'s voters among `nodes`, for phase 1.
    /// Never the smaller count of the broken engine that calls a minority
    /// a quorum: that engine must stay broken, and a larger phase-1 quorum
    /// would make it correct (Flexible Paxos).
    pub(crate) fn is_true_majority<'a>(
        &self,
        config: &Config,
        nodes: impl IntoIterator<Item = &'a NodeId>,
    ) -> bool {
        config.is_quorum(nodes)
    }

    /// Promises from `nodes` meet every majority of `config`: at least
    /// `n - majority + 1` of its voters (Flexible Paxos). Not enough for
    /// phase 1 (see `Node::phase1_configs`); only the broken engine
    /// `Phase1CoverOnly` uses it.
    pub(crate) fn phase1_cover<'a>(
        &self,
        config: &Config,
        nodes: impl IntoIterator<Item = &'a NodeId>,
    ) -> bool {
        config.votes(nodes) + config.quorum() > config.voters.len()
    }

    /// The configuration in force after the commit point: the applied one,
    /// changed by the chosen changes not yet applied (none, except while a
    /// joining node waits for its first snapshot).
    pub(crate) fn config_at_commit(&self) -> Config {
        let unapplied = self
            .log
            .range(self.applied + 1..self.commit + 1)
            .map(|(_, e)| &e.value);
        self.config.clone().changed_by(unapplied)
    }

    /// Votes that make a majority of `config` (one fewer in the broken
    /// engine that counts a minority as chosen).
    pub(crate) fn quorum_size(&self, config: &Config) -> usize {
        let need = config.quorum();
        if self.cfg.bugs.has(Bug::MinorityQuorum) && need > 1 {
            need - 1
        } else {
            need
        }
    }

    /// The leader to send clients to: only one heard within the lease,
    /// so two nodes that lost their leader never bounce clients between
    /// each other.
    pub(crate) fn leader_hint(&self) -> Option<NodeId> {
        match self.leader {
            Some((n, _)) if n == self.id || self.now < self.contact_until => Some(n),
            _ => None,
        }
    }

    pub(crate) fn reply(&mut self, client: ClientId, seq: u64, outcome: Outcome) {
        self.out.push(Action::Reply {
            client,
            seq,
            outcome,
        });
    }

    // ---- read-only views for runtimes, simulators and checkers ----

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
    /// Leading with phase 1 done.
    pub fn is_active_leader(&self) -> bool {
        matches!(&self.role, Role::Leader(l) if l.preparing.is_none())
    }
    pub fn role_name(&self) -> &'static str {
        match &self.role {
            Role::Follower => "follower",
            Role::Candidate { .. } => "candidate",
            Role::Leader(l) if l.preparing.is_some() => "preparing",
            Role::Leader(_) => "leader",
        }
    }
    pub fn promised(&self) -> Ballot {
        self.promised
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader_hint()
    }
    pub fn commit(&self) -> Slot {
        self.commit
    }
    pub fn applied(&self) -> Slot {
        self.applied
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn state_machine(&self) -> &S {
        &self.sm
    }
    /// The state machine, mutably, for runtimes that drain what it
    /// collects for them between steps (the coordination tree's watch
    /// triggers). Callers must not change replicated state through it:
    /// every replica must apply exactly the chosen commands, so anything
    /// that `apply`, `snapshot` or `digest` depends on stays untouched.
    pub fn state_machine_mut(&mut self) -> &mut S {
        &mut self.sm
    }
    /// Commands held here for `Input::Propose` and not yet applied.
    /// Whether the command `(client, seq)` is on its way into the log
    /// here: this leader took it in (from a client of its own or a
    /// follower's forward) and has not applied or refused it yet.
    pub fn in_flight(&self, client: ClientId, seq: u64) -> bool {
        let key = (client, seq);
        match &self.role {
            Role::Leader(l) => self.waiting.contains(&key) || l.relayed.contains(&key),
            _ => false,
        }
    }
    pub fn forwarded_len(&self) -> usize {
        self.forwarded.len()
    }
    pub fn state_digest(&self) -> u64 {
        self.sm.digest()
    }
    pub fn snapshot_slot(&self) -> Slot {
        self.snapshot.as_ref().map_or(0, |s| s.last_slot)
    }
    /// Chosen values this replica knows, at or below its commit point and
    /// still in its log.
    pub fn chosen_values(&self) -> impl Iterator<Item = (Slot, &Value)> + '_ {
        self.log
            .range(..=self.commit)
            .filter(|(_, e)| e.chosen)
            .map(|(s, e)| (*s, &e.value))
    }
    /// The log entry at `slot`: ballot, value and whether known chosen.
    pub fn log_entry(&self, slot: Slot) -> Option<(Ballot, &Value, bool)> {
        self.log.get(&slot).map(|e| (e.ballot, &e.value, e.chosen))
    }
    /// The log's slot range currently held in memory.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }
    /// When the leader's lease ends (its clock) and the ballot it leads
    /// in, if it leads.
    pub fn lease_until(&self) -> Option<(Ballot, Micros)> {
        match &self.role {
            Role::Leader(l) => Some((l.ballot, l.lease_until)),
            _ => None,
        }
    }
    /// The leader's view of each peer's commit point (empty unless
    /// leading), for lag reports.
    pub fn peer_commits(&self) -> Vec<(NodeId, Slot)> {
        match &self.role {
            Role::Leader(l) => l.follower_commit.iter().map(|(n, s)| (*n, *s)).collect(),
            _ => Vec::new(),
        }
    }
    /// Slots this leader proposed and has not yet seen chosen (0 unless
    /// leading), for monitoring.
    pub fn proposals_in_flight(&self) -> usize {
        match &self.role {
            Role::Leader(l) => l.proposals.len(),
            _ => 0,
        }
    }
    /// Commands queued at this leader for a slot (0 unless leading), for
    /// monitoring.
    pub fn queued_commands(&self) -> usize {
        match &self.role {
            Role::Leader(l) => l.queue.len(),
            _ => 0,
        }
    }
    /// Writes in progress (persist requests not yet completed).
    pub fn persist_backlog(&self) -> u64 {
        self.next_persist_id - 1 - self.persisted_id
    }

    /// A hash of the whole protocol state, for the exhaustive search.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::hash::Fnv64::default();
        self.promised.hash(&mut h);
        self.log.hash(&mut h);
        self.compacted.hash(&mut h);
        self.commit.hash(&mut h);
        self.applied.hash(&mut h);
        self.sm.digest().hash(&mut h);
        self.role.hash(&mut h);
        self.leader.hash(&mut h);
        self.deferred.hash(&mut h);
        self.persisted_id.hash(&mut h);
        self.next_persist_id.hash(&mut h);
        self.commit_unwritten_since.hash(&mut h);
        self.known_commit.hash(&mut h);
        self.max_round_seen.hash(&mut h);
        self.catchup_sent_at.hash(&mut h);
        self.incoming.hash(&mut h);
        self.outgoing.hash(&mut h);
        self.contact_until.hash(&mut h);
        self.election_deadline.hash(&mut h);
        self.now.hash(&mut h);
        self.waiting.hash(&mut h);
        self.forwarded.hash(&mut h);
        self.config.hash(&mut h);
        self.clients.hash(&mut h);
        h.finish()
    }
}
