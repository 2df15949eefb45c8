//! The committed history of tree changes, in zxid order, as the replicas
//! applied it: every replica's triggers are recorded against the first
//! replica that applied the same zxid, and must be identical. The watch
//! oracle derives what each connection must be told from this history,
//! independently of the front door's watch table.

use std::collections::BTreeMap;
use synod_coord::{EventKind, Trigger};
use synod_node::SessionEnd;
use synod_paxos::NodeId;

/// One change: a node event or a session's end, at a zxid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Node { path: String, kind: EventKind },
    SessionClosed { session: i64 },
}

#[derive(Clone, Debug)]
struct AtZxid {
    changes: Vec<Change>,
    node: NodeId,
    /// Simulated time at which a replica first applied it.
    at_us: u64,
    /// Set when the zxid ended a session by expiry.
    expired: Option<i64>,
}

#[derive(Default)]
pub struct ChangeLog {
    by_zxid: BTreeMap<i64, AtZxid>,
}

fn split(t: Trigger) -> (i64, Change) {
    match t {
        Trigger::Node {
            path, kind, zxid, ..
        } => (zxid, Change::Node { path, kind }),
        Trigger::SessionClosed { session, zxid } => (zxid, Change::SessionClosed { session }),
    }
}

impl ChangeLog {
    /// Records what `node` applied in one step; returns disagreements.
    pub fn record(
        &mut self,
        node: NodeId,
        triggers: Vec<Trigger>,
        ends: &[SessionEnd],
        at_us: u64,
    ) -> Vec<String> {
        let mut groups: Vec<(i64, Vec<Change>)> = Vec::new();
        for t in triggers {
            let (zxid, change) = split(t);
            match groups.last_mut() {
                Some((z, list)) if *z == zxid => list.push(change),
                _ => groups.push((zxid, vec![change])),
            }
        }
        let mut problems = Vec::new();
        for (zxid, changes) in groups {
            let expired = ends
                .iter()
                .find(|e| e.zxid == zxid && e.expired)
                .map(|e| e.session);
            match self.by_zxid.get(&zxid) {
                Some(seen) if seen.changes != changes => problems.push(format!(
                    "zxid {zxid:#x}: n{node} applied {changes:?} but n{} applied {:?}",
                    seen.node, seen.changes
                )),
                Some(_) => {}
                None => {
                    self.by_zxid.insert(
                        zxid,
                        AtZxid {
                            changes,
                            node,
                            at_us,
                            expired,
                        },
                    );
                }
            }
        }
        problems
    }

    /// Every change in zxid order (apply order within a zxid).
    pub fn ordered(&self) -> Vec<(i64, Change)> {
        self.by_zxid
            .iter()
            .flat_map(|(z, a)| a.changes.iter().map(move |c| (*z, c.clone())))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_zxid.values().map(|a| a.changes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_zxid.is_empty()
    }

    /// When and how `session` ended: (zxid, first applied at, expired).
    pub fn session_end(&self, session: i64) -> Option<(i64, u64, bool)> {
        self.by_zxid.iter().find_map(|(z, a)| {
            a.changes
                .contains(&Change::SessionClosed { session })
                .then_some((*z, a.at_us, a.expired == Some(session)))
        })
    }

    /// Sessions that expired, with the zxid and time of the expiry.
    pub fn expiries(&self) -> Vec<(i64, i64, u64)> {
        self.by_zxid
            .iter()
            .filter_map(|(z, a)| a.expired.map(|s| (s, *z, a.at_us)))
            .collect()
    }
}
