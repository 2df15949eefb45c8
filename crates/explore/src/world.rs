//! One state of the explored system and how a transition changes it.
//!
//! A world is every node with its disk and clock, the network's in-flight
//! messages, the budgets spent and what the checks remember of the path
//! so far (`checks.rs`). Transitions (`transition.rs`) change one node (or
//! only the network) at a time, and every node touched is checked right
//! after.

use crate::checks::{panic_failure, Failure, History};
use crate::register::Register;
use crate::setup::Setup;
use crate::text::describe_action;
use crate::transition::{Timer, Transition};
use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::mem::size_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use synod_paxos::{Action, DurableState, Event, Input, Message, Micros, Node, NodeId, Record};

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

/// Budgets spent on the path to a state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Spent {
    pub losses: u32,
    pub crashes: u32,
    pub timers: u32,
    pub reconfigs: u32,
}

/// What a transition that broke no check did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// The state changed; it is a state of its own.
    Changed,
    /// The step changed no node and no history: a delivery the receiver
    /// ignored (the state is the parent less one message), or an operator
    /// request the engine refused at once. The parent reaches everything
    /// this state would (see the crate doc), so the search does not keep
    /// it.
    Dominated,
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
    /// How many steps of the operator's plan (`ExploreConfig::changes`)
    /// were asked for.
    pub changes_asked: u8,
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
        let hosts = (1..=setup.explore.hosts() as NodeId)
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
            changes_asked: 0,
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
                Some(i) => Transition::Persisted(i as u8),
                None if !self.in_flight.is_empty() => Transition::Deliver(0),
                None => break,
            };
            steps.push(next);
            result = self.apply(setup, next, None);
        }
        self.spent = Spent::default();
        match result {
            Ok(_) => Ok(steps),
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
        self.changes_asked.hash(&mut h);
        self.spent.hash(&mut h);
        self.history.hash(&mut h);
        h.finish()
    }

    /// Takes transition `t`, then checks every node it touched.
    pub fn apply(
        &mut self,
        setup: &Setup,
        t: Transition,
        log: EffectLog<'_>,
    ) -> Result<Effect, Failure> {
        match t {
            Transition::Deliver(i) => {
                let env = self.in_flight.remove(usize::from(i));
                let env = Rc::try_unwrap(env).unwrap_or_else(|shared| (*shared).clone());
                let Some(to) = self.host_index(env.to) else {
                    return Ok(Effect::Changed);
                };
                let before = self.quiet_mark(to);
                let host = self.host_mut(to);
                host.rounds_seen = host.rounds_seen.max(rounds_in(&env.msg));
                let input = Input::Message {
                    from: env.from,
                    msg: env.msg,
                };
                self.step(setup, to, input, log)?;
                if self.quiet_mark(to) == before {
                    return Ok(Effect::Dominated);
                }
            }
            Transition::Drop(i) => {
                self.in_flight.remove(usize::from(i));
                self.spent.losses += 1;
            }
            Transition::Persisted(i) => self.complete_write(setup, usize::from(i), log)?,
            Transition::Timer(i, timer) => {
                let e = &setup.engine;
                self.host_mut(usize::from(i)).clock_us += match timer {
                    Timer::Heartbeat => e.resend_interval_us.max(e.heartbeat_interval_us),
                    Timer::Election => 2 * e.election_timeout_us,
                };
                self.spent.timers += 1;
                self.step(setup, usize::from(i), Input::Tick, log)?;
            }
            Transition::Submit { host, command } => {
                self.submitted |= 1 << command;
                let input = Input::Command(setup.command(usize::from(command)));
                self.step(setup, usize::from(host), input, log)?;
            }
            Transition::Reconfigure { host, change } => {
                self.changes_asked = self.changes_asked.max(change + 1);
                self.spent.reconfigs += 1;
                let before = self.hosts[usize::from(host)].fingerprint;
                let input = Input::Reconfigure {
                    id: u64::from(change) + 1,
                    change: setup.change(usize::from(change)),
                };
                self.step(setup, usize::from(host), input, log)?;
                if self.hosts[usize::from(host)].fingerprint == before {
                    return Ok(Effect::Dominated);
                }
            }
            Transition::Crash(i) => {
                self.spent.crashes += 1;
                self.crash(setup, usize::from(i))?;
            }
        }
        Ok(Effect::Changed)
    }

    /// Host `i`'s oldest write in progress becomes durable.
    fn complete_write(
        &mut self,
        setup: &Setup,
        i: usize,
        log: EffectLog<'_>,
    ) -> Result<(), Failure> {
        let host = self.host_mut(i);
        let (pid, count) = host.writes.pop_front().expect("a write in progress");
        for record in &host.disk[host.durable..host.durable + count] {
            host.durable_hash = hash_of(&(host.durable_hash, record));
        }
        host.durable += count;
        self.step(setup, i, Input::Persisted { id: pid }, log)
    }

    /// What a step of host `i` changes if it changes anything: the node,
    /// what it saw, its disk, and the network (a step only adds messages).
    fn quiet_mark(&self, i: usize) -> (u64, u64, usize, usize) {
        let h = &self.hosts[i];
        (
            h.fingerprint,
            h.rounds_seen,
            h.disk.len(),
            self.in_flight.len(),
        )
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
        self.check_host(setup, i)
    }

    /// Steps host `i` and carries out the actions it returns.
    fn step(
        &mut self,
        setup: &Setup,
        i: usize,
        input: Input,
        mut log: EffectLog<'_>,
    ) -> Result<(), Failure> {
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
        self.check_host(setup, i)?;
        if !self.async_writes {
            while !self.hosts[i].writes.is_empty() {
                self.complete_write(setup, i, log.as_deref_mut())?;
            }
        }
        Ok(())
    }

    /// The memory this state adds to a search that keeps it, in bytes, as
    /// an estimate: the world itself, the history, and the hosts and
    /// messages no other state shares (a successor shares every host and
    /// message its transition did not touch). Checked against the
    /// process's peak: a breadth-first search that kept a million such
    /// states was estimated at 3.0 GiB and peaked at 3.8 GiB resident.
    pub fn bytes_estimate(&self) -> u64 {
        let mut bytes = size_of::<World>()
            + self.hosts.capacity() * size_of::<Rc<Host>>()
            + self.in_flight.capacity() * size_of::<Rc<Envelope>>()
            + (self.history.chosen.len() + self.history.applied.len()) * HISTORY_ENTRY_BYTES;
        for host in self.hosts.iter().filter(|h| Rc::strong_count(h) == 1) {
            bytes += host_bytes(host);
        }
        for env in self.in_flight.iter().filter(|e| Rc::strong_count(e) == 1) {
            bytes += ENVELOPE_BYTES + message_payload_bytes(&env.msg);
        }
        bytes as u64
    }
}

/// A map entry of the history (two `u64`s) with its share of the tree.
const HISTORY_ENTRY_BYTES: usize = 40;
/// A node's heap besides its log: the boxed leader state, configuration
/// sets, client table, queues (each map at least one tree node).
const NODE_HEAP_BYTES: usize = 2_048;
/// One log entry in the node's map, with its share of the tree.
const LOG_ENTRY_BYTES: usize = 96;
/// An envelope behind its `Rc`, with its allocation's overhead.
const ENVELOPE_BYTES: usize = size_of::<Envelope>() + 2 * size_of::<usize>();

fn host_bytes(host: &Host) -> usize {
    size_of::<Host>()
        + NODE_HEAP_BYTES
        + host.node.log_len() * LOG_ENTRY_BYTES
        + host.disk.capacity() * size_of::<Record>()
        + host.writes.capacity() * size_of::<(u64, usize)>()
}

/// Bytes a message holds on the heap beyond its own size.
fn message_payload_bytes(msg: &Message) -> usize {
    match msg {
        Message::Accept { entries, .. } => entries.len() * (LOG_ENTRY_BYTES / 2),
        Message::Promise { accepted, .. } => accepted.len() * LOG_ENTRY_BYTES,
        Message::Accepted { slots, .. } => slots.len() * size_of::<u64>(),
        _ => 0,
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

pub(crate) fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExploreConfig;
    use synod_paxos::{Ballot, ConfigChange};

    fn warm(cfg: &ExploreConfig) -> (Setup, World) {
        let setup = Setup::new(cfg);
        let mut world = World::new(&setup);
        world.warm_up(&setup).expect("the warm-up elects node 1");
        (setup, world)
    }

    #[test]
    fn a_membership_change_the_leader_refuses_is_not_a_state_of_its_own() {
        let cfg = ExploreConfig {
            learners: 1,
            changes: vec![ConfigChange::Promote(4)],
            reconfig_budget: 2,
            ..ExploreConfig::small()
        };
        let (setup, mut world) = warm(&cfg);
        let ask = Transition::Reconfigure { host: 0, change: 0 };
        assert!(world.enabled(&setup).contains(&ask));
        assert_eq!(world.apply(&setup, ask, None).unwrap(), Effect::Changed);
        // Asked again while the first is in progress: the leader answers
        // `Rejected` and changes nothing.
        assert!(world.enabled(&setup).contains(&ask));
        let mut again = world.clone();
        assert_eq!(again.apply(&setup, ask, None).unwrap(), Effect::Dominated);
        assert_eq!(again.hosts[0].fingerprint, world.hosts[0].fingerprint);
    }

    #[test]
    fn a_delivery_that_changes_nothing_is_not_a_state_of_its_own() {
        let (setup, mut world) = warm(&ExploreConfig::small());
        // An acknowledgement of a heartbeat in a ballot node 1 never led.
        let stale = Message::HeartbeatAck {
            ballot: Ballot::new(0, 1),
            seq: 1,
            commit: 0,
        };
        world.in_flight.push(Rc::new(Envelope::new(2, 1, stale)));
        let before = world.hosts[0].fingerprint;
        assert_eq!(
            world.apply(&setup, Transition::Deliver(0), None).unwrap(),
            Effect::Dominated
        );
        assert_eq!(world.hosts[0].fingerprint, before);
        // A message that does change its receiver is kept.
        let fresh = Message::HeartbeatAck {
            ballot: world.hosts[0].node.lease_until().expect("node 1 leads").0,
            seq: 1,
            commit: 1,
        };
        world.in_flight.push(Rc::new(Envelope::new(3, 1, fresh)));
        assert_eq!(
            world.apply(&setup, Transition::Deliver(0), None).unwrap(),
            Effect::Changed
        );
    }
}
