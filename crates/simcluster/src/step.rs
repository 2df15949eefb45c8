//! Stepping nodes, and carrying out what they ask: disk writes, peer
//! messages (through the durability oracle and the network's limits), and
//! engine events (through the cluster's oracles) before they go on to the
//! simulator.

use crate::cluster::{Cluster, Ev, Out, TICK_US};
use crate::disk::DISK_LATENCY_US;
use crate::member::Held;
use crate::node::{Effect, NodeInput, NodeTime, SimNode};
use synod_paxos::{Event, Message, NodeId};

impl<N: SimNode, W> Cluster<N, W> {
    /// Hands `held` to `id`, or holds it while `id` is paused. Inputs for
    /// a node that is down (or restarted since) come back undelivered;
    /// peer messages to it are lost, as are those its link's queue
    /// dropped on the way.
    pub(crate) fn deliver_to(&mut self, id: NodeId, held: Held<N::Input>) {
        let Some(m) = self.members.get_mut(&id) else {
            return self.undelivered(id, held);
        };
        let stale = matches!(held, Held::Input { incarnation: Some(i), .. } if i != m.incarnation);
        if !m.is_up() || stale {
            return self.undelivered(id, held);
        }
        if m.paused {
            m.inbox.push(held);
            return;
        }
        if let Held::Peer { from, id: copy, .. } = held {
            if !self.net.arrive(from, id, copy) {
                return;
            }
        }
        let input = match held {
            Held::Peer { from, msg, .. } => NodeInput::Peer { from, msg },
            Held::Persisted { id } => NodeInput::Persisted { id },
            Held::Input { input, .. } => NodeInput::Client(input),
        };
        self.step_node(id, input);
    }

    fn undelivered(&mut self, node: NodeId, held: Held<N::Input>) {
        match held {
            Held::Input { input, .. } => self.outbox.push_back(Out::Undelivered { node, input }),
            Held::Peer { from, id, .. } => {
                self.net.arrive(from, node, id);
            }
            Held::Persisted { .. } => {}
        }
    }

    /// Drops what waited for a process that died: its peer messages leave
    /// their links' queues.
    pub(crate) fn discard_inbox(&mut self, node: NodeId) {
        let Some(m) = self.members.get_mut(&node) else {
            return;
        };
        for held in std::mem::take(&mut m.inbox) {
            if let Held::Peer { from, id, .. } = held {
                self.net.arrive(from, node, id);
            }
        }
    }

    pub(crate) fn on_tick(&mut self, id: NodeId, incarnation: u32) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if m.incarnation != incarnation || !m.is_up() {
            return;
        }
        if !m.paused {
            self.step_node(id, NodeInput::Tick);
        }
        self.sched.after(
            TICK_US,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
    }

    /// The oldest write in progress is on disk. A paused process learns it
    /// when it resumes.
    pub(crate) fn on_disk_done(&mut self, id: NodeId, incarnation: u32) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.incarnation != incarnation || !m.is_up() {
            return;
        }
        let Some(pid) = m.disk.complete() else {
            return;
        };
        if m.paused {
            m.inbox.push(Held::Persisted { id: pid });
        } else {
            self.step_node(id, NodeInput::Persisted { id: pid });
        }
    }

    /// One step of a running node, its invariants checked after it, and
    /// everything it asked for carried out in order.
    pub(crate) fn step_node(&mut self, id: NodeId, input: NodeInput<N::Input>) {
        let now = self.sched.now();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let at = NodeTime {
            now,
            local_us: m.clock.local_us(now),
            wall_ms: m.clock.wall_ms(now),
        };
        let Some(node) = m.node.as_mut() else {
            return;
        };
        // One buffer for every step of the run: steps never nest.
        let mut effects = std::mem::take(&mut self.effects);
        node.step(at, input, &mut effects);
        let engine = node.engine();
        let invariant = engine.check_invariants(false).err();
        self.stats.max_commit = self.stats.max_commit.max(engine.commit());
        if let Some(v) = invariant {
            self.violation("invariant", format!("n{id}: {v}"));
        }
        for effect in effects.drain(..) {
            self.carry_out(id, effect);
        }
        self.effects = effects;
    }

    fn carry_out(&mut self, id: NodeId, effect: Effect<N::Output>) {
        match effect {
            Effect::Persist { id: pid, records } => {
                let latency_us = self.rng.range(DISK_LATENCY_US.0, DISK_LATENCY_US.1);
                let now = self.sched.now();
                let m = self.members.get_mut(&id).expect("a stepped node exists");
                let at = m.disk.write(now, latency_us, pid, records);
                let incarnation = m.incarnation;
                self.sched.at(
                    at,
                    Ev::DiskDone {
                        node: id,
                        incarnation,
                    },
                );
            }
            Effect::Send { to, msg } => self.send(id, to, msg),
            Effect::Event(event) => {
                self.observe(id, &event);
                self.outbox.push_back(Out::Event { node: id, event });
            }
            Effect::Output(output) => self.outbox.push_back(Out::Output { node: id, output }),
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.check_durable_before_send(from, &msg);
        if let Message::Forward { .. } = msg {
            self.stats.forwards += 1;
        }
        let heartbeat = matches!(
            msg,
            Message::Heartbeat { .. } | Message::HeartbeatAck { .. }
        );
        if !heartbeat || self.cfg.trace_heartbeats {
            self.note(|| format!("n{from} -> n{to}: {}", msg.describe()));
        }
        let now = self.sched.now();
        let mut copies = Vec::new();
        if let Err(e) = self
            .net
            .send(now, &mut self.rng, from, to, &msg, &mut copies)
        {
            self.violation("frame-limit", e.to_string());
            return;
        }
        let mut msg = Some(msg);
        let last = copies.len().saturating_sub(1);
        for (i, copy) in copies.into_iter().enumerate() {
            let msg = if i == last {
                msg.take().expect("moved once, at the last copy")
            } else {
                msg.clone().expect("still here before the last copy")
            };
            self.sched.at(
                copy.at,
                Ev::Deliver {
                    from,
                    to,
                    id: copy.id,
                    msg,
                },
            );
        }
    }

    /// The cluster's oracles and counters on one engine event.
    fn observe(&mut self, id: NodeId, event: &Event) {
        match *event {
            Event::Chosen {
                slot,
                ballot,
                value,
            } => {
                self.check_chosen(id, slot, value);
                let what = self.describe_slot(id, slot);
                self.note(|| format!("n{id}: slot {slot} chosen in ballot {ballot}: {what}"));
            }
            Event::Applied { slot, value, state } => {
                self.check_chosen(id, slot, value);
                self.check_applied(id, slot, state);
            }
            Event::BecameLeader { ballot, from_slot } => {
                self.stats.elections += 1;
                self.check_no_other_lease(id, ballot);
                self.note(|| {
                    format!("n{id}: LEADER in ballot {ballot} (phase 1 from slot {from_slot} done)")
                });
            }
            Event::PreVoteStarted { ballot } => self.note(|| {
                format!("n{id}: election timeout, asks for pre-votes for ballot {ballot}")
            }),
            Event::ElectionStarted { ballot } => {
                self.note(|| format!("n{id}: pre-vote won, prepares ballot {ballot}"))
            }
            Event::SteppedDown { ballot, reason } => {
                self.note(|| format!("n{id}: steps down from ballot {ballot}: {reason}"))
            }
            Event::SnapshotTaken { slot } => {
                self.stats.snapshots += 1;
                self.note(|| format!("n{id}: snapshot at slot {slot}"));
            }
            Event::SnapshotInstalled { slot } => {
                self.stats.snapshots_installed += 1;
                self.note(|| format!("n{id}: installed a snapshot at slot {slot} from a peer"));
            }
            Event::LeaseRead { .. } => self.stats.lease_reads += 1,
            Event::SnapshotChunkReceived {
                slot,
                offset,
                bytes,
            } => {
                self.stats.snapshot_chunks += 1;
                self.note(|| {
                    format!(
                        "n{id}: snapshot at slot {slot}: received bytes {offset}..{}",
                        offset + bytes
                    )
                });
            }
        }
    }

    fn describe_slot(&self, id: NodeId, slot: u64) -> String {
        if !self.tracing() {
            return String::new();
        }
        self.node(id)
            .and_then(|n| n.engine().log_entry(slot).map(|(_, v, _)| v.describe()))
            .unwrap_or_else(|| "?".into())
    }
}
