//! What the cluster hands the world: the nodes' outputs (frames for
//! clients, what their apply taps saw), the answers to connection
//! requests, engine events, inputs that found their node down, and fault
//! notices, which the session-expiry oracle tracks as disturbances.

use crate::runtime::zk_frame;
use crate::world::{Disturbance, World};
use synod_coord::Trigger;
use synod_node::{Applied, NodeInput, NodeOutput};
use synod_paxos::{Event, NodeId};
use synod_simcluster::{ClientInput, Notice, Out, Time, ZkOpened};

/// A restarted or resumed node, or a healed partition, is counted as
/// disturbed for this long after it is back.
const RECOVERY_GRACE_US: Time = 1_000_000;
/// A new leader is a disturbance for as long as the front doors take to
/// find it.
const NEW_LEADER_US: Time = 500_000;
/// How long a client takes to notice that its node crashed.
const DETECT_CRASH_US: (Time, Time) = (50_000, 2_000_000);

impl World {
    /// Everything the cluster produced since the last call. The frames of
    /// one round go down their connections together (the output bugs see
    /// a step's frames in order); handing them over may step a node again
    /// (a closed connection), so this goes on until nothing is left.
    pub(crate) fn drain_outputs(&mut self) {
        loop {
            let mut frames = Vec::new();
            while let Some(out) = self.cluster.next_output() {
                match out {
                    Out::Output { node, output } => match zk_frame(output) {
                        Ok((conn, item)) => {
                            // What the node had applied when it emitted
                            // the frame (a resumed node runs many steps
                            // in one go).
                            let zxid = self.replicas.get(&node).map_or(0, |r| r.zxid);
                            frames.push((node, conn, item, zxid));
                        }
                        Err(output) => self.on_node_output(node, output),
                    },
                    Out::ZkOpened {
                        node,
                        token,
                        result,
                    } => self.on_opened(node, token, result),
                    Out::Event { node, event } => self.on_event(node, event),
                    Out::Undelivered { input, .. } => match input {
                        ClientInput::ZkOpen { token, .. } => self.refuse(token),
                        ClientInput::Node(NodeInput::Lock { id, .. })
                            if self.event_clients.owns(id) =>
                        {
                            self.event_undelivered(id)
                        }
                        ClientInput::Node(NodeInput::Lock { id, .. }) => self.lock_undelivered(id),
                        ClientInput::Node(_) => {}
                    },
                    Out::Notice(notice) => self.on_notice(notice),
                }
            }
            if frames.is_empty() {
                return;
            }
            self.send_frames(frames);
        }
    }

    fn on_opened(&mut self, node: NodeId, serial: u64, result: ZkOpened) {
        match result {
            Ok(conn) => {
                let w = self.wires.get_mut(&serial).expect("wire exists");
                w.server_open = true;
                w.conn = Some(conn);
                let gone = w.gone;
                self.conns.insert((node, conn), serial);
                if gone {
                    // The client hung up while a paused node held its
                    // ConnectRequest: the runtime tells the node at once.
                    self.release(serial);
                }
            }
            Err(refused) => {
                let applied = self.replicas.get(&node).map_or(0, |r| r.zxid);
                if self.wires[&serial].last_zxid_seen > applied {
                    self.stats.refused_behind += 1;
                }
                let reason = refused.reason;
                self.note(|| format!("n{node} refuses connection #{serial}: {reason}"));
                self.refuse(serial);
            }
        }
    }

    fn on_node_output(&mut self, node: NodeId, output: NodeOutput) {
        match output {
            NodeOutput::Applied(applied) => {
                self.event_clients.logs.on_applied(node, &applied);
                self.on_applied(node, *applied)
            }
            NodeOutput::LockReply { id, answer } if self.event_clients.owns(id) => {
                self.event_reply_out(node, id, answer)
            }
            NodeOutput::LockReply { id, answer } => self.lock_reply_out(id, answer),
            _ => {}
        }
    }

    /// One apply on `node`: the apply oracles, then the change history.
    fn on_applied(&mut self, node: NodeId, applied: Applied) {
        let max_buffer = self.spec.zk.max_buffer_bytes;
        let problems = self
            .replicas
            .entry(node)
            .or_default()
            .on_applied(node, &applied, max_buffer);
        for (check, detail) in problems {
            self.violation(check, detail);
        }
        let model = self.delay_models.entry(node).or_default();
        let requested = &self.lock_history.requested_delay;
        let mut judged = 0;
        for detail in model.on_applied(&applied, requested, &mut judged) {
            self.violation("lock-delay", format!("n{node}: {detail}"));
        }
        self.stats.lock_delays_judged += judged;
        if applied.op.is_none() {
            return;
        }
        self.stats.changes += applied
            .triggers
            .iter()
            .filter(|t| matches!(t, Trigger::Node { .. }))
            .count() as u64;
        let now = self.now();
        for d in self
            .changes
            .record(node, applied.triggers, &applied.ends, now)
        {
            self.violation("replica-changes", d);
        }
    }

    fn on_event(&mut self, id: NodeId, event: Event) {
        match event {
            Event::Applied { slot, state, .. } => self.digest_applied(id, slot, state),
            Event::BecameLeader { .. } => {
                let now = self.now();
                self.disturbances.push(Disturbance {
                    from: now,
                    to: now + NEW_LEADER_US,
                });
            }
            Event::SnapshotInstalled { slot } => {
                let Some(n) = self.cluster.node(id) else {
                    return;
                };
                let zxid = n.engine().state_machine().tree.last_zxid();
                let conns = n.front().connection_count();
                self.note(|| {
                    format!("n{id}: installed a snapshot at slot {slot} (zxid now {zxid:#x}) with {conns} client connections open")
                });
            }
            _ => {}
        }
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Partitioned => self.disturb("partition".into()),
            Notice::PartitionHealed => self.settle("partition", RECOVERY_GRACE_US),
            Notice::Paused(id) => self.disturb(format!("pause n{id}")),
            Notice::Resumed(id) => self.settle(&format!("pause n{id}"), RECOVERY_GRACE_US),
            // The process is gone either way: a power loss, or a failed
            // disk that stopped it.
            Notice::Crashed(id) | Notice::DiskFailed(id) => {
                self.settle(&format!("pause n{id}"), 0);
                self.disturb(format!("crash n{id}"));
                self.connections_lost(id);
                // The next process starts its own apply history.
                self.replicas.remove(&id);
                self.delay_models.remove(&id);
            }
            Notice::Restarted(id) => self.settle(&format!("crash n{id}"), RECOVERY_GRACE_US),
            Notice::Healed => self.settle("lossy network", RECOVERY_GRACE_US),
        }
    }

    /// Node `id` crashed: its open connections break, and each client
    /// notices after a while.
    fn connections_lost(&mut self, id: NodeId) {
        let serials: Vec<u64> = self
            .wires
            .iter()
            .filter(|(_, w)| w.node == id && w.server_open)
            .map(|(s, _)| *s)
            .collect();
        self.conns.retain(|(node, _), _| *node != id);
        self.held.retain(|(node, _), _| *node != id);
        let now = self.now();
        for serial in serials {
            let detect = self
                .cluster
                .rng()
                .range(DETECT_CRASH_US.0, DETECT_CRASH_US.1);
            let w = self.wires.get_mut(&serial).expect("exists");
            w.server_open = false;
            w.conn = None;
            let at = w.down_at.max(now) + detect;
            self.cluster
                .schedule(at, crate::world::Ev::ServerGone { serial });
        }
    }

    fn disturb(&mut self, cause: String) {
        let now = self.now();
        self.open_disturbances.entry(cause).or_insert(now);
    }

    fn settle(&mut self, cause: &str, grace: Time) {
        if let Some(from) = self.open_disturbances.remove(cause) {
            let to = self.now() + grace;
            self.disturbances.push(Disturbance { from, to });
        }
    }

    /// Whether any fault was active in `[from, to]`.
    pub(crate) fn disturbed(&self, from: Time, to: Time) -> bool {
        self.open_disturbances.values().any(|start| *start <= to)
            || self
                .disturbances
                .iter()
                .any(|d| d.from <= to && d.to >= from)
    }
}
