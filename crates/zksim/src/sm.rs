//! The replicated state machine each simulated node runs: the coordination
//! tree behind the server's `COORD_TAG` dispatch (the key-value half of
//! the server's `ServiceState` is left out: nothing here writes to it), and
//! the ephemerals oracle, checked after every single apply on every
//! replica rather than only at step boundaries.
//!
//! Ephemerals live exactly as long as their session:
//! - after each apply, every ephemeral's owner is in the session table;
//! - once a closeSession or an expiry is applied, the session is gone and
//!   none of its ephemerals remain;
//! - an ephemeral of a live session disappears only through a client's
//!   delete (a `Batch` holding a delete of that path).

use crate::bugs::{Bug, Bugs};
use std::collections::{BTreeMap, BTreeSet};
use synod_coord::{CoordOp, CoordReply, EventKind, Id, Tree, Trigger, Write};
use synod_front::front::COORD_TAG;
use synod_paxos::{NodeId, RestoreError, StateMachine};

/// Where and how a session ended, as one replica applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub session: i64,
    pub zxid: i64,
    /// True for an expiry (a `Tick`), false for a client's closeSession.
    pub expired: bool,
}

pub struct CoordSm {
    pub tree: Tree,
    node: NodeId,
    bugs: Bugs,
    /// Triggers of applies since the last `take_triggers`, in apply order:
    /// what the server runtime drains from the tree after each step.
    triggers: Vec<Trigger>,
    ends: Vec<SessionEnd>,
    /// Ephemeral path -> owning session, kept from the triggers.
    ephemerals: BTreeMap<String, i64>,
    /// Sessions this replica saw end; none may come back.
    ended: BTreeSet<i64>,
    violations: Vec<String>,
}

fn super_auth() -> Vec<Id> {
    vec![Id {
        scheme: "super".into(),
        id: String::new(),
    }]
}

impl CoordSm {
    pub fn new(node: NodeId, bugs: Bugs) -> Self {
        CoordSm {
            tree: Tree::new(),
            node,
            bugs,
            triggers: Vec::new(),
            ends: Vec::new(),
            ephemerals: BTreeMap::new(),
            ended: BTreeSet::new(),
            violations: Vec::new(),
        }
    }

    /// What the applies since the last call changed, in apply order.
    pub fn take_triggers(&mut self) -> Vec<Trigger> {
        std::mem::take(&mut self.triggers)
    }

    pub fn take_ends(&mut self) -> Vec<SessionEnd> {
        std::mem::take(&mut self.ends)
    }

    /// Ephemerals-oracle violations found since the last call.
    pub fn take_violations(&mut self) -> Vec<String> {
        std::mem::take(&mut self.violations)
    }

    fn apply_coord(&mut self, bytes: &[u8]) -> Vec<u8> {
        let Ok(mut op) = CoordOp::decode(bytes) else {
            return self.tree.apply(bytes);
        };
        if let Some(reply) = self.injected(&mut op) {
            return reply;
        }
        let reply = self.tree.apply_op(&op);
        let triggers = self.tree.take_triggers();
        self.check_apply(&op, &triggers);
        self.triggers.extend(triggers);
        reply.encode()
    }

    /// The deliberate tree bugs. Returns a reply when the op is not to be
    /// applied at all.
    fn injected(&mut self, op: &mut CoordOp) -> Option<Vec<u8>> {
        match op {
            CoordOp::CloseSession { session }
                if self.bugs.has(Bug::CloseKeepsEphemerals)
                    && !self.tree.ephemerals(*session, "/").is_empty() =>
            {
                let s = *session;
                self.check_close_applied(s);
                return Some(
                    CoordReply::Closed {
                        zxid: self.tree.last_zxid(),
                    }
                    .encode(),
                );
            }
            CoordOp::Touch { .. } if self.bugs.has(Bug::DeleteLiveEphemeral) => {
                let victim = self
                    .ephemerals
                    .iter()
                    .find(|(_, owner)| self.tree.session(**owner).is_some())
                    .map(|(p, o)| (p.clone(), *o));
                if let Some((path, owner)) = victim {
                    let delete = CoordOp::Batch {
                        session: owner,
                        auth: super_auth(),
                        time_ms: self.tree.now_ms(),
                        writes: vec![Write::Delete { path, version: -1 }],
                    };
                    self.tree.apply_op(&delete);
                    let triggers = self.tree.take_triggers();
                    // Judged as part of the keepalive that did it.
                    self.check_apply(op, &triggers);
                    self.triggers.extend(triggers);
                }
            }
            CoordOp::Batch { writes, .. }
                if self.node == 3 && self.bugs.has(Bug::DivergentReplica) =>
            {
                for w in writes.iter_mut() {
                    if let Write::SetData { data, .. } = w {
                        data.push(0xff);
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn check_apply(&mut self, op: &CoordOp, triggers: &[Trigger]) {
        for t in triggers {
            match t {
                Trigger::Node {
                    path,
                    kind: EventKind::Created,
                    ..
                } => {
                    if let Some(stat) = self.tree.exists(path) {
                        let owner = stat.ephemeral_owner;
                        if owner != 0 && self.tree.ephemerals(owner, "/").contains(path) {
                            self.ephemerals.insert(path.clone(), owner);
                        }
                    }
                }
                Trigger::Node {
                    path,
                    kind: EventKind::Deleted,
                    zxid,
                    ..
                } => {
                    if let Some(owner) = self.ephemerals.remove(path) {
                        if self.tree.session(owner).is_some() && !deletes(op, path) {
                            self.violations.push(format!(
                                "n{}: ephemeral {path} of live session {owner:#x} deleted at zxid {zxid:#x} by {}, not by a client's delete",
                                self.node,
                                op_name(op)
                            ));
                        }
                    }
                }
                Trigger::SessionClosed { session, zxid } => {
                    self.ended.insert(*session);
                    self.ends.push(SessionEnd {
                        session: *session,
                        zxid: *zxid,
                        expired: matches!(op, CoordOp::Tick { .. }),
                    });
                }
                Trigger::Node { .. } => {}
            }
        }
        if let CoordOp::CloseSession { session } = op {
            self.check_close_applied(*session);
        }
        self.check_owners_live();
    }

    /// After a closeSession is applied the session is gone with all its
    /// ephemerals (closing an unknown session changes nothing).
    fn check_close_applied(&mut self, session: i64) {
        let left = self.tree.ephemerals(session, "/");
        if self.tree.session(session).is_some() || !left.is_empty() {
            self.violations.push(format!(
                "n{}: closeSession of {session:#x} applied at zxid {:#x} but the session is {} and {} of its ephemerals remain {left:?}",
                self.node,
                self.tree.last_zxid(),
                if self.tree.session(session).is_some() { "still live" } else { "gone" },
                left.len()
            ));
        }
    }

    fn check_owners_live(&mut self) {
        for (path, owner) in &self.ephemerals {
            if self.tree.session(*owner).is_none() || self.ended.contains(owner) {
                self.violations.push(format!(
                    "n{}: ephemeral {path} outlives its session {owner:#x} (zxid {:#x})",
                    self.node,
                    self.tree.last_zxid()
                ));
            }
        }
        for s in &self.ended {
            if self.tree.session(*s).is_some() {
                self.violations.push(format!(
                    "n{}: session {s:#x} is live again after it ended",
                    self.node
                ));
            }
        }
        let counted = self.tree.ephemeral_count();
        if counted != self.ephemerals.len() {
            self.violations.push(format!(
                "n{}: the tree holds {counted} ephemerals but its changes account for {} (zxid {:#x})",
                self.node,
                self.ephemerals.len(),
                self.tree.last_zxid()
            ));
            self.rebuild_view();
        }
    }

    /// The ephemerals view from the tree itself (after a snapshot).
    fn rebuild_view(&mut self) {
        let mut view = BTreeMap::new();
        for (session, _) in self.tree.sessions() {
            for p in self.tree.ephemerals(session, "/") {
                view.insert(p, session);
            }
        }
        self.ephemerals = view;
    }
}

/// Whether `op` is a client's batch deleting `path` (alone or in a multi).
fn deletes(op: &CoordOp, path: &str) -> bool {
    fn any(writes: &[Write], path: &str) -> bool {
        writes.iter().any(|w| match w {
            Write::Delete { path: p, .. } => p == path,
            Write::Multi(inner) => any(inner, path),
            _ => false,
        })
    }
    match op {
        CoordOp::Batch { writes, .. } => any(writes, path),
        _ => false,
    }
}

fn op_name(op: &CoordOp) -> &'static str {
    match op {
        CoordOp::CreateSession { .. } => "createSession",
        CoordOp::CloseSession { .. } => "closeSession",
        CoordOp::Touch { .. } => "a touch",
        CoordOp::Tick { .. } => "a tick",
        CoordOp::Batch { .. } => "a batch",
    }
}

impl StateMachine for CoordSm {
    fn apply(&mut self, op: &[u8]) -> Vec<u8> {
        match op.split_first() {
            Some((&COORD_TAG, rest)) => self.apply_coord(rest),
            // The key-value half: nothing in this simulation writes to it.
            _ => Vec::new(),
        }
    }

    fn query(&self, _op: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.tree.snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError> {
        self.tree.restore(snapshot)?;
        // As in the server: the tree's undrained triggers are gone.
        self.triggers.clear();
        self.rebuild_view();
        Ok(())
    }

    fn digest(&self) -> u64 {
        self.tree.digest()
    }
}
