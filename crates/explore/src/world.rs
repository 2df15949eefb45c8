//! One state of the explored system and its nondeterministic transitions.
//!
//! A world is every node with its disk and clock, the network's in-flight
//! messages, and what the checks remember of the path so far (which value
//! each slot chose, which state each applied slot produced). Transitions
//! change one node (or only the network) at a time, and every node touched
//! is checked right after.

use crate::config::ExploreConfig;
use crate::register::Register;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use synod_paxos::{
    Action, Command, Config, DurableState, EngineConfig, Event, Input, Message, Micros, Node,
    NodeId, Outcome, Record, Slot, Value,
};

/// The client id every explored command uses; commands differ by sequence
/// number, so exactly-once bookkeeping sees one client moving forward.
const CLIENT: u64 = 7;

/// A message on the wire.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
    /// Hash of `(from, to, msg)`: orders the in-flight multiset and lets
    /// equal copies be told apart from different messages cheaply.
    pub hash: u64,
}

impl Envelope {
    fn new(from: NodeId, to: NodeId, msg: Message) -> Self {
        let hash = hash_of(&(from, to, &msg));
        Envelope {
            from,
            to,
            msg,
            hash,
        }
    }
}

/// One machine: the engine, its disk and its local clock.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub node: Node<Register>,
    pub clock_us: Micros,
    /// Every record written, durable ones first, then those whose write
    /// is still in progress.
    pub disk: Vec<Record>,
    /// How many records of `disk` are durable.
    pub durable: usize,
    /// Writes in progress, oldest first: persist id and record count.
    pub writes: VecDeque<(u64, usize)>,
    /// The highest ballot round this incarnation has seen in a message.
    /// The engine's fingerprint leaves it out, yet it decides the ballot
    /// of the node's next election, so the search tracks it.
    pub rounds_seen: u64,
    /// `node.fingerprint()`, refreshed whenever the node steps.
    pub fingerprint: u64,
    /// A hash chain over the durable records.
    pub durable_hash: u64,
}

/// Which timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A leader's clock moves by the resend interval: it sends heartbeats
    /// and resends proposals not yet chosen.
    Heartbeat,
    /// The clock moves by two election timeouts, past any election
    /// deadline and any lease: a follower starts an election, a leader
    /// that heard from nobody meanwhile steps down.
    Election,
}

/// One nondeterministic step. Message indices point into the world's
/// in-flight list of the state the step is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    Deliver(usize),
    Drop(usize),
    /// The host's oldest write in progress completes.
    Persisted(usize),
    Timer(usize, Timer),
    Submit {
        host: usize,
        command: usize,
    },
    /// The host crashes and restarts from its durable records.
    Crash(usize),
}

/// What a check found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two different values were chosen for one slot.
    Agreement,
    /// Two replicas that applied the same slots hold different states.
    Divergence,
    /// A command took effect twice.
    AppliedTwice,
    /// The engine panicked.
    Panic,
}

impl ViolationKind {
    pub fn name(&self) -> &'static str {
        match self {
            ViolationKind::Agreement => "two values chosen for one slot",
            ViolationKind::Divergence => "replicas diverged",
            ViolationKind::AppliedTwice => "a command applied twice",
            ViolationKind::Panic => "engine panicked",
        }
    }
}

/// A failed check, before the search attaches the trace.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: ViolationKind,
    pub detail: String,
}

/// Budgets spent on the path to a state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Spent {
    pub losses: u32,
    pub crashes: u32,
    pub timers: u32,
}

/// Facts the checks keep along a path: they belong to the history, not to
/// any node, because a node may forget what it chose or applied when it
/// crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct History {
    /// Slot -> digest of the value chosen there.
    pub chosen: BTreeMap<Slot, u64>,
    /// Slot -> state-machine digest right after applying it.
    pub applied: BTreeMap<Slot, u64>,
    /// Bit `i` set: command `i` was chosen in some slot.
    pub commands_chosen: u64,
}

/// The fixed parts of a search, shared by every world.
pub(crate) struct Setup {
    pub explore: ExploreConfig,
    pub engine: EngineConfig,
    pub membership: Config,
}

impl Setup {
    pub fn new(explore: &ExploreConfig) -> Self {
        Setup {
            membership: Config::new(1..=explore.nodes as NodeId),
            engine: explore.engine(),
            explore: explore.clone(),
        }
    }

    fn command(&self, index: usize) -> Command {
        Command {
            client: CLIENT,
            seq: index as u64 + 1,
            op: vec![b'c', index as u8],
        }
    }

    /// The command index an operation encodes, if it is one of ours.
    fn command_index(op: &[u8]) -> Option<usize> {
        match op {
            [b'c', i] => Some(*i as usize),
            _ => None,
        }
    }
}

/// A whole explored state.
#[derive(Clone, Debug)]
pub(crate) struct World {
    /// Shared between a state and its successors until one changes it:
    /// a transition touches one host, so cloning a world copies none.
    pub hosts: Vec<Rc<Host>>,
    /// The multiset of messages in flight, sorted by hash.
    pub in_flight: Vec<Rc<Envelope>>,
    /// Bit `i` set: command `i` was submitted.
    pub submitted: u64,
    pub spent: Spent,
    pub history: History,
    /// A copy of `ExploreConfig::async_writes`.
    async_writes: bool,
}

/// Where effects of a step are written when a trace is being printed.
pub(crate) type EffectLog<'a> = Option<&'a mut Vec<String>>;

impl World {
    /// Nodes boot at time 0 and the search starts two election timeouts
    /// later: a booted node helps no candidate for a lease period, and the
    /// search starts past that so that one timer firing can elect a leader.
    pub fn new(setup: &Setup) -> Self {
        let start_us = 2 * setup.engine.election_timeout_us;
        let hosts = (1..=setup.explore.nodes as NodeId)
            .map(|id| {
                let node = Node::new(
                    id,
                    setup.engine.clone(),
                    setup.membership.clone(),
                    Register::new(),
                    setup.explore.seed,
                    0,
                );
                Rc::new(Host {
                    fingerprint: node.fingerprint(),
                    node,
                    clock_us: start_us,
                    disk: Vec::new(),
                    durable: 0,
                    writes: VecDeque::new(),
                    rounds_seen: 0,
                    durable_hash: 0,
                })
            })
            .collect();
        World {
            hosts,
            in_flight: Vec::new(),
            submitted: 0,
            spent: Spent::default(),
            history: History::default(),
            async_writes: setup.explore.async_writes,
        }
    }

    /// The fixed schedule that elects node 1 from freshly booted nodes:
    /// its election timer fires, then writes complete and messages are
    /// delivered, oldest in the list first, until nothing is left to do.
    /// Returns the steps taken; they spend no budget.
    pub fn warm_up(
        &mut self,
        setup: &Setup,
    ) -> Result<Vec<Transition>, (Vec<Transition>, Failure)> {
        /// Far more steps than an election of a few nodes takes.
        const STEPS_MAX: usize = 1_000;
        let mut steps = vec![Transition::Timer(0, Timer::Election)];
        let mut result = self.apply(setup, steps[0], None);
        while result.is_ok() && steps.len() < STEPS_MAX {
            let next = match self.hosts.iter().position(|h| !h.writes.is_empty()) {
                Some(i) => Transition::Persisted(i),
                None if !self.in_flight.is_empty() => Transition::Deliver(0),
                None => break,
            };
            steps.push(next);
            result = self.apply(setup, next, None);
        }
        self.spent = Spent::default();
        match result {
            Ok(()) => Ok(steps),
            Err(failure) => Err((steps, failure)),
        }
    }

    /// The 64-bit identity of the state, for the visited set. Two worlds
    /// with equal keys are treated as the same state.
    pub fn key(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for host in &self.hosts {
            host.fingerprint.hash(&mut h);
            host.clock_us.hash(&mut h);
            host.rounds_seen
                .max(host.node.promised().round)
                .hash(&mut h);
            host.durable_hash.hash(&mut h);
            host.disk[host.durable..].hash(&mut h);
        }
        self.in_flight.len().hash(&mut h);
        for env in &self.in_flight {
            env.hash.hash(&mut h);
        }
        self.submitted.hash(&mut h);
        self.spent.hash(&mut h);
        self.history.hash(&mut h);
        h.finish()
    }

    /// Every transition enabled in this state. Rare steps (submissions,
    /// elections, crashes) come first, so that a depth-first search meets
    /// their consequences early; the order changes no verdict of a
    /// complete search. Equal copies of a message give one delivery (and
    /// one drop): taking either copy leads to the same state.
    pub fn enabled(&self, setup: &Setup) -> Vec<Transition> {
        let cfg = &setup.explore;
        let mut out = Vec::new();
        for command in 0..cfg.commands {
            if self.submitted & (1 << command) != 0 {
                continue;
            }
            for (host, h) in self.hosts.iter().enumerate() {
                if h.node.is_leader() {
                    out.push(Transition::Submit { host, command });
                }
            }
        }
        let timers = self.spent.timers < cfg.timer_budget;
        if timers {
            // Followers' elections first: they are what challenges a leader.
            out.extend(
                (0..self.hosts.len())
                    .rev()
                    .map(|i| Transition::Timer(i, Timer::Election)),
            );
        }
        if self.spent.crashes < cfg.crash_budget {
            out.extend((0..self.hosts.len()).map(Transition::Crash));
        }
        for (i, host) in self.hosts.iter().enumerate() {
            if !host.writes.is_empty() {
                out.push(Transition::Persisted(i));
            }
        }
        let distinct: Vec<usize> = (0..self.in_flight.len())
            .filter(|&i| i == 0 || self.in_flight[i - 1].hash != self.in_flight[i].hash)
            .collect();
        out.extend(distinct.iter().map(|&i| Transition::Deliver(i)));
        if timers {
            for (i, host) in self.hosts.iter().enumerate() {
                if host.node.is_active_leader() {
                    out.push(Transition::Timer(i, Timer::Heartbeat));
                }
            }
        }
        if self.spent.losses < cfg.loss_budget {
            out.extend(distinct.iter().map(|&i| Transition::Drop(i)));
        }
        out
    }

    /// A one-line description of `t` taken from this state.
    pub fn describe(&self, t: Transition) -> String {
        let id = |i: usize| self.hosts[i].node.id();
        match t {
            Transition::Deliver(i) => {
                let e = &self.in_flight[i];
                format!("deliver {} -> {}: {}", e.from, e.to, e.msg)
            }
            Transition::Drop(i) => {
                let e = &self.in_flight[i];
                format!("drop {} -> {}: {}", e.from, e.to, e.msg)
            }
            Transition::Persisted(i) => {
                let host = &self.hosts[i];
                let (pid, count) = host.writes[0];
                let records: Vec<String> = host.disk[host.durable..host.durable + count]
                    .iter()
                    .map(describe_record)
                    .collect();
                format!(
                    "node {} write #{pid} is durable: {}",
                    id(i),
                    records.join(", ")
                )
            }
            Transition::Timer(i, timer) => format!(
                "node {} ({}) {} timer fires",
                id(i),
                self.hosts[i].node.role_name(),
                match timer {
                    Timer::Heartbeat => "heartbeat",
                    Timer::Election => "election",
                }
            ),
            Transition::Submit { host, command } => {
                format!("client submits command c{} to node {}", command, id(host))
            }
            Transition::Crash(i) => format!(
                "node {} crashes, loses {} unwritten record(s), restarts",
                id(i),
                self.hosts[i].disk.len() - self.hosts[i].durable
            ),
        }
    }

    /// Takes transition `t`, then checks every node it touched.
    pub fn apply(
        &mut self,
        setup: &Setup,
        t: Transition,
        log: EffectLog<'_>,
    ) -> Result<(), Failure> {
        match t {
            Transition::Deliver(i) => {
                let env = self.in_flight.remove(i);
                let env = Rc::try_unwrap(env).unwrap_or_else(|shared| (*shared).clone());
                let Some(to) = self.host_index(env.to) else {
                    return Ok(());
                };
                let host = self.host_mut(to);
                host.rounds_seen = host.rounds_seen.max(rounds_in(&env.msg));
                let input = Input::Message {
                    from: env.from,
                    msg: env.msg,
                };
                self.step(to, input, log)
            }
            Transition::Drop(i) => {
                self.in_flight.remove(i);
                self.spent.losses += 1;
                Ok(())
            }
            Transition::Persisted(i) => self.complete_write(i, log),
            Transition::Timer(i, timer) => {
                let e = &setup.engine;
                self.host_mut(i).clock_us += match timer {
                    Timer::Heartbeat => e.resend_interval_us.max(e.heartbeat_interval_us),
                    Timer::Election => 2 * e.election_timeout_us,
                };
                self.spent.timers += 1;
                self.step(i, Input::Tick, log)
            }
            Transition::Submit { host, command } => {
                self.submitted |= 1 << command;
                self.step(host, Input::Command(setup.command(command)), log)
            }
            Transition::Crash(i) => {
                self.spent.crashes += 1;
                self.crash(setup, i)
            }
        }
    }

    /// Host `i`'s oldest write in progress becomes durable.
    fn complete_write(&mut self, i: usize, log: EffectLog<'_>) -> Result<(), Failure> {
        let host = self.host_mut(i);
        let (pid, count) = host.writes.pop_front().expect("a write in progress");
        for record in &host.disk[host.durable..host.durable + count] {
            host.durable_hash = hash_of(&(host.durable_hash, record));
        }
        host.durable += count;
        self.step(i, Input::Persisted { id: pid }, log)
    }

    fn host_mut(&mut self, i: usize) -> &mut Host {
        Rc::make_mut(&mut self.hosts[i])
    }

    fn host_index(&self, id: NodeId) -> Option<usize> {
        self.hosts.iter().position(|h| h.node.id() == id)
    }

    /// Loses memory and unwritten records, then restarts from the disk.
    fn crash(&mut self, setup: &Setup, i: usize) -> Result<(), Failure> {
        let host = self.host_mut(i);
        host.disk.truncate(host.durable);
        host.writes.clear();
        let durable = DurableState::replay(&host.disk);
        let rounds = durable.log.values().map(|e| e.ballot.round).max();
        let id = host.node.id();
        let clock = host.clock_us;
        let recovered = catch_unwind(AssertUnwindSafe(|| {
            Node::recover(
                id,
                setup.engine.clone(),
                setup.membership.clone(),
                durable,
                Register::new(),
                setup.explore.seed,
                clock,
            )
        }));
        host.node = recovered.map_err(|p| panic_failure(id, "recovering", p))?;
        host.rounds_seen = rounds.unwrap_or(0);
        host.fingerprint = host.node.fingerprint();
        self.check_host(i)
    }

    /// Steps host `i` and carries out the actions it returns.
    fn step(&mut self, i: usize, input: Input, mut log: EffectLog<'_>) -> Result<(), Failure> {
        let host = self.host_mut(i);
        let id = host.node.id();
        let now = host.clock_us;
        let actions = catch_unwind(AssertUnwindSafe(|| host.node.step(now, input)))
            .map_err(|p| panic_failure(id, "stepping", p))?;
        host.fingerprint = host.node.fingerprint();
        let mut result = Ok(());
        for action in actions {
            if let Some(log) = log.as_deref_mut() {
                log.push(describe_action(id, &action));
            }
            match action {
                Action::Persist { id: pid, records } => {
                    let host = self.host_mut(i);
                    host.writes.push_back((pid, records.len()));
                    host.disk.extend(records);
                }
                // Messages to itself or to strangers go nowhere.
                Action::Send { to, msg } if to != id && self.host_index(to).is_some() => {
                    let env = Rc::new(Envelope::new(id, to, msg));
                    let at = self.in_flight.partition_point(|e| e.hash < env.hash);
                    self.in_flight.insert(at, env);
                }
                Action::Event(Event::Chosen { slot, value, .. }) => {
                    let r = self.note_chosen(id, slot, value, "chose (leader saw a majority)");
                    result = result.and(r);
                }
                Action::Event(Event::Applied { slot, value, state }) => {
                    let r = self
                        .note_chosen(id, slot, value, "applied")
                        .and_then(|()| self.note_applied(id, slot, state));
                    result = result.and(r);
                }
                _ => {}
            }
        }
        result?;
        self.check_host(i)?;
        if !self.async_writes {
            while !self.hosts[i].writes.is_empty() {
                self.complete_write(i, log.as_deref_mut())?;
            }
        }
        Ok(())
    }

    /// Remembers that `node` holds `value` chosen in `slot`; fails if the
    /// path already saw another value chosen there.
    fn note_chosen(
        &mut self,
        node: NodeId,
        slot: Slot,
        value: u64,
        how: &str,
    ) -> Result<(), Failure> {
        match self.history.chosen.insert(slot, value) {
            Some(before) if before != value => Err(Failure {
                kind: ViolationKind::Agreement,
                detail: format!(
                    "slot {slot}: node {node} {how} a value with digest {value:#018x}, \
                     but a value with digest {before:#018x} was chosen there earlier"
                ),
            }),
            _ => Ok(()),
        }
    }

    fn note_applied(&mut self, node: NodeId, slot: Slot, state: u64) -> Result<(), Failure> {
        match self.history.applied.insert(slot, state) {
            Some(before) if before != state => Err(Failure {
                kind: ViolationKind::Divergence,
                detail: format!(
                    "after applying slot {slot} node {node} has state {state:#018x}, \
                     another replica had {before:#018x}"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The checks on one node's state: its chosen values agree with every
    /// value chosen before on this path, its state agrees with every other
    /// replica's at the same slot, and no command took effect twice.
    fn check_host(&mut self, i: usize) -> Result<(), Failure> {
        let node = &self.hosts[i].node;
        let id = node.id();
        let mut found = Vec::new();
        let mut commands = 0u64;
        for (slot, value) in node.chosen_values() {
            found.push((slot, value.digest(), value.describe()));
            if let Value::Batch(cmds) = value {
                for c in cmds {
                    if let Some(index) = Setup::command_index(&c.op) {
                        commands |= 1 << index;
                    }
                }
            }
        }
        let applied = node.applied();
        let state = node.state_digest();
        let repeated = node.state_machine().repeated_op().map(<[u8]>::to_vec);
        self.history.commands_chosen |= commands;
        for (slot, digest, text) in found {
            self.note_chosen(id, slot, digest, &format!("holds {text} as chosen and"))?;
        }
        if applied > 0 {
            self.note_applied(id, applied, state)?;
        }
        if let Some(op) = repeated {
            return Err(Failure {
                kind: ViolationKind::AppliedTwice,
                detail: format!("node {id} applied operation {op:?} twice"),
            });
        }
        Ok(())
    }
}

/// The highest ballot round a message shows its receiver, as the engine
/// counts it for choosing its next ballot.
fn rounds_in(msg: &Message) -> u64 {
    let mut round = msg.ballot().map_or(0, |b| b.round);
    if let Message::Nack { promised, .. } = msg {
        round = round.max(promised.round);
    }
    round
}

fn panic_failure(node: NodeId, doing: &str, payload: Box<dyn std::any::Any + Send>) -> Failure {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string());
    Failure {
        kind: ViolationKind::Panic,
        detail: format!("node {node} panicked while {doing}: {text}"),
    }
}

pub(crate) fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn describe_record(r: &Record) -> String {
    match r {
        Record::Promise(b) => format!("promise {b}"),
        Record::Accept {
            slot,
            ballot,
            value,
        } => format!("accept {slot}@{ballot}={}", value.describe()),
        Record::Learned { slot, value } => format!("learned {slot}={}", value.describe()),
        Record::Commit(slot) => format!("commit {slot}"),
        Record::Snapshot(s) => format!("snapshot at {}", s.last_slot),
    }
}

fn describe_action(node: NodeId, action: &Action) -> String {
    match action {
        Action::Persist { id, records } => {
            let r: Vec<String> = records.iter().map(describe_record).collect();
            format!("node {node} starts write #{id}: {}", r.join(", "))
        }
        Action::Send { to, msg } => format!("node {node} sends {node} -> {to}: {msg}"),
        Action::Reply {
            client,
            seq,
            outcome,
        } => format!(
            "node {node} replies to client {client} #{seq}: {}",
            describe_outcome(outcome)
        ),
        Action::ReadReply {
            client,
            id,
            outcome,
        } => format!(
            "node {node} answers read {id} of client {client}: {}",
            describe_outcome(outcome)
        ),
        Action::ReconfigReply { id, outcome } => format!(
            "node {node} answers membership change {id}: {}",
            describe_outcome(outcome)
        ),
        Action::Event(e) => format!("node {node}: {e:?}"),
    }
}

fn describe_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Ok(bytes) => format!("ok {bytes:?}"),
        other => format!("{other:?}"),
    }
}
