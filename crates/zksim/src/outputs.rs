//! What the cluster hands the world: node outputs (connections accepted,
//! refused or released, frames for clients, applied changes, oracle
//! failures inside the node), engine events, inputs that found their node
//! down, and fault notices, which the session-expiry oracle tracks as
//! disturbances.

use crate::watch::End;
use crate::world::{Disturbance, World};
use crate::zk_node::{ZkIn, ZkOut, SNAPSHOT_CLOSE};
use synod_coord::Trigger;
use synod_front::Outgoing;
use synod_paxos::{Event, NodeId};
use synod_simcluster::{Notice, Out, Time};
use synod_zkproto as wire;

/// A restarted or resumed node, or a healed partition, is counted as
/// disturbed for this long after it is back.
const RECOVERY_GRACE_US: Time = 1_000_000;
/// A new leader is a disturbance for as long as the front doors take to
/// find it.
const NEW_LEADER_US: Time = 500_000;
/// How long a client takes to notice that its node crashed.
const DETECT_CRASH_US: (Time, Time) = (50_000, 2_000_000);

impl World {
    pub(crate) fn drain_outputs(&mut self) {
        while let Some(out) = self.cluster.next_output() {
            match out {
                Out::Output { node, output } => self.on_node_output(node, output),
                Out::Event { node, event } => self.on_event(node, event),
                Out::Undelivered { input, .. } => {
                    if let ZkIn::Open { serial, .. } = input {
                        self.refuse(serial);
                    }
                }
                Out::Notice(notice) => self.on_notice(notice),
            }
        }
    }

    fn on_node_output(&mut self, node: NodeId, output: ZkOut) {
        match output {
            ZkOut::Accepted { serial } => {
                self.wires
                    .get_mut(&serial)
                    .expect("wire exists")
                    .server_open = true;
            }
            ZkOut::Refused {
                serial,
                reason,
                behind,
            } => {
                if behind {
                    self.stats.refused_behind += 1;
                }
                self.note(|| format!("n{node} refuses connection #{serial}: {reason}"));
                self.refuse(serial);
            }
            ZkOut::Released { serial } => {
                self.wires
                    .get_mut(&serial)
                    .expect("wire exists")
                    .server_open = false;
            }
            ZkOut::ToClient { serial, item, zxid } => self.on_frame_out(node, serial, item, zxid),
            ZkOut::Applied { triggers, ends } => {
                self.stats.changes += triggers
                    .iter()
                    .filter(|t| matches!(t, Trigger::Node { .. }))
                    .count() as u64;
                let now = self.now();
                for d in self.changes.record(node, triggers, &ends, now) {
                    self.violation("replica-changes", d);
                }
            }
            ZkOut::Ephemerals(detail) => self.violation("ephemerals", detail),
            ZkOut::BadRequest(detail) => self.violation("client", detail),
        }
    }

    /// A frame leaves node `node` for connection `serial`.
    fn on_frame_out(&mut self, node: NodeId, serial: u64, item: Outgoing, zxid: i64) {
        let w = self.wires.get_mut(&serial).expect("wire exists");
        match &item {
            Outgoing::Close(reason) => {
                w.server_open = false;
                w.server_end = Some(if reason == "the session expired" {
                    End::SessionClosed(w.session)
                } else if reason == SNAPSHOT_CLOSE {
                    // What the snapshot skipped was never seen by the
                    // front door: the client must only have a prefix.
                    End::Partial
                } else {
                    End::Zxid(zxid)
                });
                let reason = reason.clone();
                self.note(|| format!("n{node} closes connection #{serial}: {reason}"));
            }
            Outgoing::Frame(bytes) if !w.saw_first_frame => {
                w.saw_first_frame = true;
                if let Ok(r) = wire::decode_connect_response(&bytes[4..]) {
                    if r.session_id != 0 {
                        w.session = r.session_id;
                    }
                }
            }
            _ => {}
        }
        self.send_to_client(serial, item);
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
                let (zxid, conns) = (n.tree().last_zxid(), n.conns.len());
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
            Notice::Crashed(id) => {
                self.settle(&format!("pause n{id}"), 0);
                self.disturb(format!("crash n{id}"));
                self.connections_lost(id);
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
        let now = self.now();
        for serial in serials {
            let detect = self
                .cluster
                .rng()
                .range(DETECT_CRASH_US.0, DETECT_CRASH_US.1);
            let w = self.wires.get_mut(&serial).expect("exists");
            w.server_open = false;
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
