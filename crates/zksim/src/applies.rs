//! The oracles checked after every single apply on every replica, from the
//! node's apply tap (`synod_node::tap`): each record holds the operation,
//! its triggers and the tree's session table right after it.
//!
//! Ephemerals live exactly as long as their session:
//! - after each apply, every ephemeral's owner is a live session, and the
//!   tree holds no ephemeral its changes do not account for;
//! - once a closeSession or an expiry is applied, the session is gone and
//!   none of its ephemerals remain; no ended session comes back;
//! - an ephemeral of a live session disappears only through a client's
//!   delete (a `Batch` holding a delete of that path).
//!
//! And a write over the front door's `max_buffer_bytes` never reaches the
//! log (its frame is too long for the node's connection to read).
//!
//! One [`Replica`] per running process: a restarted node starts a new one,
//! from the state its first record describes.

use std::collections::{BTreeMap, BTreeSet};
use synod_coord::{CoordOp, EventKind, Trigger, Write};
use synod_node::Applied;
use synod_paxos::NodeId;

/// What the oracles remember of one replica's applies.
#[derive(Debug, Default)]
pub(crate) struct Replica {
    /// The tree's last zxid after the latest record: what the node had
    /// applied when it emitted the outputs that follow the record.
    pub(crate) zxid: i64,
    /// Ephemeral path -> owning session, kept from the triggers.
    ephemerals: BTreeMap<String, i64>,
    /// Sessions this process saw end; none may come back.
    ended: BTreeSet<i64>,
}

type Problems = Vec<(&'static str, String)>;

impl Replica {
    /// Checks one record of `node`'s apply tap.
    pub(crate) fn on_applied(
        &mut self,
        node: NodeId,
        a: &Applied,
        max_buffer_bytes: usize,
    ) -> Problems {
        let mut problems = Vec::new();
        self.zxid = a.zxid;
        let Some(op) = &a.op else {
            // A snapshot replaced the state (or the process started): the
            // view starts again from what the tree holds.
            self.rebuild(a);
            return problems;
        };
        for t in &a.triggers {
            match t {
                Trigger::Node {
                    path,
                    kind: EventKind::Created,
                    ..
                } => {
                    if let Some(owner) = owner_of(a, path) {
                        self.ephemerals.insert(path.clone(), owner);
                    }
                }
                Trigger::Node {
                    path,
                    kind: EventKind::Deleted,
                    zxid,
                    ..
                } => {
                    if let Some(owner) = self.ephemerals.remove(path) {
                        if a.sessions.contains_key(&owner) && !deletes(op, path) {
                            problems.push((
                                "ephemerals",
                                format!(
                                    "n{node}: ephemeral {path} of live session {owner:#x} deleted at zxid {zxid:#x} by {}, not by a client's delete",
                                    op_name(op)
                                ),
                            ));
                        }
                    }
                }
                Trigger::SessionClosed { session, .. } => {
                    self.ended.insert(*session);
                }
                Trigger::Node { .. } => {}
            }
        }
        if let CoordOp::CloseSession { session } = op {
            if let Some(left) = a.sessions.get(session) {
                problems.push((
                    "ephemerals",
                    format!(
                        "n{node}: closeSession of {session:#x} applied at zxid {:#x} but the session is still live and {} of its ephemerals remain {left:?}",
                        a.zxid,
                        left.len()
                    ),
                ));
            }
        }
        if let Some(len) = oversized(op, max_buffer_bytes) {
            problems.push((
                "oversized",
                format!(
                    "n{node}: a write of {len} bytes of data, over max_buffer_bytes {max_buffer_bytes}, was applied at zxid {:#x}",
                    a.zxid
                ),
            ));
        }
        self.check_owners_live(node, a, &mut problems);
        problems
    }

    fn check_owners_live(&mut self, node: NodeId, a: &Applied, problems: &mut Problems) {
        for (path, owner) in &self.ephemerals {
            if !a.sessions.contains_key(owner) || self.ended.contains(owner) {
                problems.push((
                    "ephemerals",
                    format!(
                        "n{node}: ephemeral {path} outlives its session {owner:#x} (zxid {:#x})",
                        a.zxid
                    ),
                ));
            }
        }
        for s in &self.ended {
            if a.sessions.contains_key(s) {
                problems.push((
                    "ephemerals",
                    format!("n{node}: session {s:#x} is live again after it ended"),
                ));
            }
        }
        if a.ephemeral_count != self.ephemerals.len() {
            problems.push((
                "ephemerals",
                format!(
                    "n{node}: the tree holds {} ephemerals but its changes account for {} (zxid {:#x})",
                    a.ephemeral_count,
                    self.ephemerals.len(),
                    a.zxid
                ),
            ));
            self.rebuild(a);
        }
    }

    /// The ephemerals view from the tree's own session table.
    fn rebuild(&mut self, a: &Applied) {
        self.ephemerals = a
            .sessions
            .iter()
            .flat_map(|(s, paths)| paths.iter().map(move |p| (p.clone(), *s)))
            .collect();
    }
}

/// The live session that owns ephemeral `path` after the apply.
fn owner_of(a: &Applied, path: &String) -> Option<i64> {
    a.sessions
        .iter()
        .find(|(_, paths)| paths.binary_search(path).is_ok())
        .map(|(s, _)| *s)
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
    op.batch_writes().is_some_and(|writes| any(writes, path))
}

/// The data length of a write in `op` over `max_buffer_bytes`, if any.
fn oversized(op: &CoordOp, max_buffer_bytes: usize) -> Option<usize> {
    fn largest(writes: &[Write]) -> usize {
        writes
            .iter()
            .map(|w| match w {
                Write::Multi(inner) => largest(inner),
                w => w.data_bytes(),
            })
            .max()
            .unwrap_or(0)
    }
    op.batch_writes()
        .map(largest)
        .filter(|len| *len > max_buffer_bytes)
}

fn op_name(op: &CoordOp) -> &'static str {
    match op {
        CoordOp::CreateSession { .. } => "createSession",
        CoordOp::CloseSession { .. } => "closeSession",
        CoordOp::Touch { .. } => "a touch",
        CoordOp::Tick { .. } => "a tick",
        CoordOp::Batch { .. } | CoordOp::RuledBatch { .. } => "a batch",
        CoordOp::ServerLines { .. } => "server lines",
        CoordOp::Acquire { .. } => "a lock acquire",
        CoordOp::Release { .. } => "a lock release",
        CoordOp::CacheSession { .. } => "a caching session",
        CoordOp::Fenced { .. } => "a fenced batch",
    }
}
