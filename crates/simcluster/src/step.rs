//! Stepping nodes, and carrying out what they ask: disk writes, peer
//! messages (through the durability oracle and the network's limits), and
//! engine events (through the cluster's oracles) before they go on to the
//! simulator.

use crate::cluster::{Cluster, Ev, Out, TICK_US};
use crate::disk::{BYTES_PER_US, DISK_LATENCY_US};
use crate::member::Held;
use crate::node::ClientInput;
use synod_node::{Clock as NodeClock, NodeInput, NodeOutput};
use synod_paxos::{Event, Message, NodeId, Record};

/// What a node is stepped with.
pub(crate) enum Step {
    Input(NodeInput),
    ZkOpen {
        token: u64,
        connect: synod_zkproto::ConnectRequest,
        passwd: Vec<u8>,
    },
}

impl<W> Cluster<W> {
    /// Hands `held` to `id`, or holds it while `id` is paused. Inputs for
    /// a node that is down (or restarted since) come back undelivered;
    /// peer messages to it are lost, as are those its link's queue
    /// dropped on the way.
    pub(crate) fn deliver_to(&mut self, id: NodeId, held: Held) {
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
        let step = match held {
            Held::Peer { from, msg, .. } => Step::Input(NodeInput::Peer { from, msg }),
            Held::DiskDone => return self.complete_write(id),
            Held::Input { input, .. } => match input {
                ClientInput::Node(input) => Step::Input(input),
                ClientInput::ZkOpen {
                    token,
                    connect,
                    passwd,
                } => Step::ZkOpen {
                    token,
                    connect,
                    passwd,
                },
            },
        };
        self.step_node(id, step);
    }

    fn undelivered(&mut self, node: NodeId, held: Held) {
        match held {
            Held::Input { input, .. } => self.outbox.push_back(Out::Undelivered { node, input }),
            Held::Peer { from, id, .. } => {
                self.net.arrive(from, node, id);
            }
            Held::DiskDone => {}
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
            self.step_node(id, Step::Input(NodeInput::Tick));
        }
        self.sched.after(
            TICK_US,
            Ev::Tick {
                node: id,
                incarnation,
            },
        );
    }

    /// The write in progress completes. A paused process learns it when
    /// it resumes.
    pub(crate) fn on_disk_done(&mut self, id: NodeId, incarnation: u32) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.incarnation != incarnation || !m.is_up() {
            return;
        }
        if m.paused {
            m.inbox.push(Held::DiskDone);
        } else {
            self.complete_write(id);
        }
    }

    /// The disk thread's `persist` of the write in progress, then
    /// `Persisted` for its last id, then the next write if persists waited.
    /// A failed persist stops the node, as it stops the server.
    fn complete_write(&mut self, id: NodeId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let Some(running) = m.node.as_mut() else {
            return;
        };
        let batch = std::mem::take(&mut m.disk.writing);
        if batch.is_empty() {
            return;
        }
        let slices: Vec<&[Record]> = batch.iter().map(|(_, r)| r.as_slice()).collect();
        if let Err(e) = running.storage.persist(&slices) {
            return self.stop_on_disk_error(id, e.to_string());
        }
        let last = m.disk.acknowledge(&batch).expect("a write holds a persist");
        if m.disk.start_next() {
            self.schedule_write(id);
        }
        self.step_node(id, Step::Input(NodeInput::Persisted { id: last }));
    }

    /// Schedules the completion of the write that just started on `id`.
    fn schedule_write(&mut self, id: NodeId) {
        let m = self.members.get(&id).expect("a writing node exists");
        let bytes = m.disk.writing_bytes();
        let incarnation = m.incarnation;
        let latency_us =
            self.rng.range(DISK_LATENCY_US.0, DISK_LATENCY_US.1) + bytes / BYTES_PER_US;
        self.sched.after(
            latency_us,
            Ev::DiskDone {
                node: id,
                incarnation,
            },
        );
    }

    /// One step of a running node, its invariants checked after it, and
    /// everything it asked for carried out in order.
    pub(crate) fn step_node(&mut self, id: NodeId, step: Step) {
        let now = self.sched.now();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let clock = NodeClock {
            now_us: m.clock.local_us(now),
            wall_ms: m.clock.wall_ms(now),
        };
        let Some(running) = m.node.as_mut() else {
            return;
        };
        let node = &mut running.node;
        // One buffer for every step of the run: steps never nest.
        let mut outputs = std::mem::take(&mut self.effects);
        match step {
            Step::Input(input) => node.step(clock, input, &mut outputs),
            Step::ZkOpen {
                token,
                connect,
                passwd,
            } => {
                let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
                let result = node.zk_open(clock, connect, peer, passwd, None, &mut outputs);
                self.outbox.push_back(Out::ZkOpened {
                    node: id,
                    token,
                    result,
                });
            }
        }
        let invariant = node.check_invariants(false).err();
        self.stats.max_commit = self.stats.max_commit.max(node.engine().commit());
        if let Some(v) = invariant {
            self.violation("invariant", format!("n{id}: {v}"));
        }
        for output in outputs.drain(..) {
            self.carry_out(id, output);
        }
        self.effects = outputs;
    }

    fn carry_out(&mut self, id: NodeId, output: NodeOutput) {
        match output {
            NodeOutput::Persist { id: pid, records } => {
                let m = self.members.get_mut(&id).expect("a stepped node exists");
                if m.disk.queue(pid, records) {
                    self.schedule_write(id);
                }
            }
            NodeOutput::Send { to, msg } => self.send(id, to, msg),
            NodeOutput::Event(event) => {
                self.observe(id, &event);
                self.outbox.push_back(Out::Event { node: id, event });
            }
            output => self.outbox.push_back(Out::Output { node: id, output }),
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
