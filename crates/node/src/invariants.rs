//! The node's invariants, stated as code. `ServiceNode::check_invariants`
//! checks the engine's (`Node::check_invariants`) and the drive loop's own:
//!
//! - `clock-monotonic`: the local clock a step is given never goes back.
//! - `persist-ids-consecutive`: the `Persist` outputs' ids are 1, 2, 3, …
//!   for the node's life (the runtime's "durable up to" counts on it).
//! - `zk-conn-ids-fresh`: the front door never hands out the id of a
//!   connection that is still open.
//! - `zk-output-after-close`: nothing is output for a connection after its
//!   close (the node's own `Close`, or the runtime's `ZkClosed`), nor for
//!   one never opened. Such an item is dropped, and the rule stays broken.
//! - `zk-connections-match`: the connections the front door holds are
//!   exactly as many as the node opened and did not close.
//!
//! - `lock-table`: the coordination tree's lock table keeps its own rules
//!   and names only live sessions and persistent znodes
//!   (`Tree::check_lock_invariants`).
//!
//! The first four are observed while a step runs, and the first one
//! broken is kept; the other two are checked on the state. Each of those
//! costs O(1) (a set lookup per frame) but the lock table's, which walks
//! the table: `cheap_only` leaves out that walk and the engine's log
//! walk.

use crate::node::ServiceNode;
use std::collections::BTreeSet;
use synod_front::{ConnId, Outgoing};
use synod_paxos::{InvariantViolation, Micros};

/// A broken invariant: the engine's, or the drive loop's own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeInvariantViolation {
    #[error(transparent)]
    Engine(#[from] InvariantViolation),
    #[error("node invariant {rule} broken: {detail}")]
    Drive { rule: &'static str, detail: String },
}

impl NodeInvariantViolation {
    /// The broken rule's short name.
    pub fn rule(&self) -> &'static str {
        match self {
            NodeInvariantViolation::Engine(v) => v.rule,
            NodeInvariantViolation::Drive { rule, .. } => rule,
        }
    }
}

/// What the drive loop observes for its rules while steps run.
pub(crate) struct Audit {
    /// Connections opened and not yet closed.
    open: BTreeSet<ConnId>,
    last_persist_id: u64,
    now_us: Micros,
    /// The first rule seen broken during a step.
    broken: Option<NodeInvariantViolation>,
}

impl Audit {
    pub(crate) fn new(now_us: Micros) -> Self {
        Audit {
            open: BTreeSet::new(),
            last_persist_id: 0,
            now_us,
            broken: None,
        }
    }

    fn record(&mut self, rule: &'static str, detail: impl FnOnce() -> String) {
        if self.broken.is_none() {
            self.broken = Some(NodeInvariantViolation::Drive {
                rule,
                detail: detail(),
            });
        }
    }

    pub(crate) fn on_clock(&mut self, now_us: Micros) {
        if now_us < self.now_us {
            let was = self.now_us;
            self.record("clock-monotonic", || {
                format!("local time went back from {was} us to {now_us} us")
            });
        }
        self.now_us = self.now_us.max(now_us);
    }

    pub(crate) fn on_persist(&mut self, id: u64) {
        let expected = self.last_persist_id + 1;
        if id != expected {
            self.record("persist-ids-consecutive", || {
                format!("persist id {id} where {expected} was next")
            });
        }
        self.last_persist_id = id;
    }

    pub(crate) fn on_opened(&mut self, conn: ConnId) {
        if !self.open.insert(conn) {
            self.record("zk-conn-ids-fresh", || {
                format!("connection {conn} opened while already open")
            });
        }
    }

    pub(crate) fn on_closed(&mut self, conn: ConnId) {
        self.open.remove(&conn);
    }

    /// Whether `item` may go out to `conn`; a close ends the connection.
    pub(crate) fn on_zk_output(&mut self, conn: ConnId, item: &Outgoing) -> bool {
        if !self.open.contains(&conn) {
            self.record("zk-output-after-close", || {
                format!("{item:?} for connection {conn}, which is not open")
            });
            return false;
        }
        if matches!(item, Outgoing::Close(_)) {
            self.open.remove(&conn);
        }
        true
    }

    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }
}

impl ServiceNode {
    /// Checks every invariant of the engine and of the drive loop;
    /// `cheap_only` leaves out those that walk the log (for release builds,
    /// after every step). Call it between steps.
    pub fn check_invariants(&self, cheap_only: bool) -> Result<(), NodeInvariantViolation> {
        if let Some(broken) = &self.audit.broken {
            return Err(broken.clone());
        }
        self.engine.check_invariants(cheap_only)?;
        if !cheap_only {
            let tree = &self.engine.state_machine().tree;
            tree.check_lock_invariants()
                .map_err(|detail| NodeInvariantViolation::Drive {
                    rule: "lock-table",
                    detail,
                })?;
        }
        let held = self.front.connection_count();
        let open = self.audit.open_count();
        if held != open {
            return Err(NodeInvariantViolation::Drive {
                rule: "zk-connections-match",
                detail: format!(
                    "the front door holds {held} connections, the node opened {open} not closed"
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_for_a_closed_connection_is_dropped_and_breaks_the_rule() {
        let mut audit = Audit::new(0);
        audit.on_opened(7);
        assert!(audit.on_zk_output(7, &Outgoing::Frame(vec![1])));
        assert!(audit.on_zk_output(7, &Outgoing::Close("bye".into())));
        assert!(audit.broken.is_none());
        assert!(!audit.on_zk_output(7, &Outgoing::Reply(vec![2])));
        assert_eq!(
            audit.broken.as_ref().map(|b| b.rule()),
            Some("zk-output-after-close")
        );
    }

    #[test]
    fn output_for_a_connection_the_runtime_closed_breaks_the_rule() {
        let mut audit = Audit::new(0);
        audit.on_opened(3);
        audit.on_closed(3);
        assert!(!audit.on_zk_output(3, &Outgoing::Frame(vec![1])));
        assert_eq!(
            audit.broken.as_ref().map(|b| b.rule()),
            Some("zk-output-after-close")
        );
    }

    #[test]
    fn persist_ids_must_be_consecutive() {
        let mut audit = Audit::new(0);
        audit.on_persist(1);
        audit.on_persist(2);
        assert!(audit.broken.is_none());
        audit.on_persist(4);
        assert_eq!(
            audit.broken.as_ref().map(|b| b.rule()),
            Some("persist-ids-consecutive")
        );
    }

    #[test]
    fn a_connection_id_is_not_reused_while_open() {
        let mut audit = Audit::new(0);
        audit.on_opened(1);
        audit.on_opened(1);
        assert_eq!(
            audit.broken.as_ref().map(|b| b.rule()),
            Some("zk-conn-ids-fresh")
        );
    }

    #[test]
    fn the_front_door_must_hold_exactly_the_connections_the_node_opened() {
        let opts = crate::NodeOptions {
            id: 1,
            engine: synod_paxos::EngineConfig::default(),
            initial: synod_paxos::Config::new([1]),
            zk: synod_front::ZkLimits {
                min_session_timeout_ms: 4_000,
                max_session_timeout_ms: 40_000,
                super_digest: None,
                x509_super_user: None,
                sasl_users: None,
                sasl_super_user: None,
                max_buffer_bytes: 1 << 20,
                connections_max: 10,
                command_bytes_max: 0,
                znodes_max: synod_front::ZkLimits::ZNODES_MAX_DEFAULT,
                data_bytes_max: synod_front::ZkLimits::DATA_BYTES_MAX_DEFAULT,
                read_only_mode: false,
            },
            seed: 1,
        };
        let clock = crate::Clock {
            now_us: 0,
            wall_ms: 0,
        };
        let mut node = ServiceNode::new(opts, synod_paxos::DurableState::default(), clock);
        assert_eq!(node.check_invariants(false), Ok(()));
        // Corrupted on purpose: a connection the front door never opened.
        node.audit.on_opened(99);
        assert_eq!(
            node.check_invariants(false).map_err(|b| b.rule()),
            Err("zk-connections-match")
        );
    }

    #[test]
    fn the_first_broken_rule_is_the_one_kept() {
        let mut audit = Audit::new(10);
        audit.on_clock(5);
        audit.on_persist(9);
        assert_eq!(
            audit.broken.as_ref().map(|b| b.rule()),
            Some("clock-monotonic")
        );
    }
}
