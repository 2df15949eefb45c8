//! The watch oracle: for each connection, what its watches must have
//! produced, derived from the committed change history alone (never from
//! the front door's watch table), compared with what the client received.
//!
//! A watch registered by a reply with zxid `z` sees exactly the changes
//! after `z`. From the registrations (read off the client's own replies)
//! and the history, the oracle builds the expected event sequence `E` and
//! requires of the received sequence `R`:
//! - `R` is a prefix of `E` (nothing lost, reordered or invented), and
//!   equals `E` when the connection ended cleanly (still open at the end,
//!   or closed by the server at a known point);
//! - every event arrives before any reply whose zxid is at or after the
//!   change that fired it (a client sees the event before it can read the
//!   data that triggered it); events fired by a SetWatches come before its
//!   own reply.

use crate::changes::Change;
use std::collections::BTreeMap;
use synod_coord::EventKind;

/// The kinds of watch a connection holds, as the protocol defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchKind {
    Data,
    Exist,
    Child,
    Persistent,
    Recursive,
}

/// What a successful reply registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reg {
    Watch {
        path: String,
        kind: WatchKind,
    },
    SetWatches {
        relative_zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        persistent: Vec<String>,
        recursive: Vec<String>,
    },
}

/// What a client received on one connection, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Event { kind: EventKind, path: String },
    Reply { xid: i32, zxid: i64, regs: Vec<Reg> },
}

/// How far the connection's expected events run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every change up to and including this zxid.
    Zxid(i64),
    /// Every change up to and including the end of this session (the
    /// server closed the connection because the session expired).
    SessionClosed(i64),
    /// The client stopped reading (it closed the socket, or the server
    /// died): what it received must only be a prefix.
    Partial,
}

#[derive(Clone, Debug)]
pub struct ConnRecord {
    pub serial: u64,
    pub client: u64,
    pub node: u64,
    pub session: i64,
    pub items: Vec<Item>,
    /// None while the connection is open.
    pub end: Option<End>,
    /// The paths of a SetWatches sent on this connection whose reply never
    /// arrived (empty once it did). Its events come before its reply, so
    /// a client that stops reading between them has events no recorded
    /// registration owes: on these paths they are not judged.
    pub unanswered_set_watches: Vec<String>,
}

/// One expected event and when it is due.
#[derive(Clone, Debug)]
struct Expected {
    kind: EventKind,
    path: String,
    /// Due before any reply with zxid >= this (a change's event).
    zxid: Option<i64>,
    /// Due before this reply and every later one (a SetWatches event).
    reply: Option<usize>,
}

/// The committed history indexed for the checks.
pub struct History {
    changes: Vec<(i64, Change)>,
    by_path: BTreeMap<String, Vec<(i64, EventKind)>>,
}

impl History {
    pub fn new(changes: Vec<(i64, Change)>) -> Self {
        let mut by_path: BTreeMap<String, Vec<(i64, EventKind)>> = BTreeMap::new();
        for (z, c) in &changes {
            if let Change::Node { path, kind } = c {
                by_path.entry(path.clone()).or_default().push((*z, *kind));
            }
        }
        History { changes, by_path }
    }

    fn exists_at(&self, path: &str, zxid: i64) -> bool {
        self.by_path.get(path).is_some_and(|list| {
            list.iter()
                .rev()
                .filter(|(z, _)| *z <= zxid)
                .find(|(_, k)| matches!(k, EventKind::Created | EventKind::Deleted))
                .is_some_and(|(_, k)| *k == EventKind::Created)
        })
    }

    fn any_between(&self, path: &str, after: i64, upto: i64, kinds: &[EventKind]) -> bool {
        self.by_path.get(path).is_some_and(|list| {
            list.iter()
                .any(|(z, k)| *z > after && *z <= upto && kinds.contains(k))
        })
    }

    /// How many changes a connection that ended at `end` was owed.
    fn limit(&self, end: &End) -> usize {
        match end {
            End::Zxid(z) => self.changes.partition_point(|(c, _)| c <= z),
            End::SessionClosed(s) => self
                .changes
                .iter()
                .position(|(_, c)| *c == Change::SessionClosed { session: *s })
                .map_or(self.changes.len(), |i| i + 1),
            End::Partial => self.changes.len(),
        }
    }
}

/// How a connection watches one path in one of ZooKeeper's two tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Standard,
    Persistent,
    Recursive,
}

/// A connection's watches as ZooKeeper 3.8 says they behave: a data table
/// (getData, exists) and a child table (getChildren), one mode per path in
/// each; setting a watch replaces the mode the path had in that table;
/// addWatch sets its mode in both.
#[derive(Default)]
struct Model {
    data: BTreeMap<String, Mode>,
    child: BTreeMap<String, Mode>,
}

/// One table's answer to a change: whether it tells the connection; a
/// one-shot watch at the path is spent.
fn fire_table(table: &mut BTreeMap<String, Mode>, path: &str, kind: EventKind) -> bool {
    let mut told = false;
    match table.get(path).copied() {
        Some(Mode::Standard) => {
            table.remove(path);
            told = true;
        }
        Some(Mode::Persistent) => told = true,
        Some(Mode::Recursive) => told = kind != EventKind::ChildrenChanged,
        None => {}
    }
    if kind != EventKind::ChildrenChanged {
        told |= table.iter().any(|(r, m)| {
            *m == Mode::Recursive && r != path && (r == "/" || path.starts_with(&format!("{r}/")))
        });
    }
    told
}

impl Model {
    fn add(&mut self, path: &str, kind: WatchKind) {
        let path = path.to_string();
        match kind {
            WatchKind::Data | WatchKind::Exist => {
                self.data.insert(path, Mode::Standard);
            }
            WatchKind::Child => {
                self.child.insert(path, Mode::Standard);
            }
            WatchKind::Persistent => {
                self.data.insert(path.clone(), Mode::Persistent);
                self.child.insert(path, Mode::Persistent);
            }
            WatchKind::Recursive => {
                self.data.insert(path.clone(), Mode::Recursive);
                self.child.insert(path, Mode::Recursive);
            }
        }
    }

    /// Whether a change of `path` tells this connection (once at most).
    fn fire(&mut self, path: &str, kind: EventKind) -> bool {
        match kind {
            EventKind::Created | EventKind::DataChanged => fire_table(&mut self.data, path, kind),
            EventKind::Deleted => {
                let by_data = fire_table(&mut self.data, path, kind);
                let by_child = fire_table(&mut self.child, path, kind);
                by_data || by_child
            }
            EventKind::ChildrenChanged => fire_table(&mut self.child, path, kind),
        }
    }
}

/// The outcome of checking one connection.
pub struct ConnCheck {
    pub expected: usize,
    pub received: usize,
    pub complete: bool,
    pub problems: Vec<(&'static str, String)>,
}

pub fn check_conn(rec: &ConnRecord, history: &History) -> ConnCheck {
    let end = rec.end.clone().unwrap_or(End::Partial);
    let complete = end != End::Partial;
    let limit = history.limit(&end);
    let expected = expected_events(rec, history, limit);
    let received: Vec<(EventKind, &str)> = rec
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Event { kind, path } => Some((*kind, path.as_str())),
            Item::Reply { .. } => None,
        })
        .collect();
    let mut problems = Vec::new();
    let who = format!(
        "connection #{} (client {}, session {:#x}, n{})",
        rec.serial, rec.client, rec.session, rec.node
    );
    // `i`: the next expected event. A received event that is not it is
    // wrong, unless an unanswered SetWatches (see `ConnRecord`) names its
    // path.
    let mut i = 0;
    for (kind, path) in received.iter() {
        let owed = expected.get(i);
        if owed.is_some_and(|e| e.kind == *kind && e.path == *path) {
            i += 1;
            continue;
        }
        if rec.unanswered_set_watches.iter().any(|p| p == path) {
            continue;
        }
        let detail = match owed {
            None => format!(
                "{who}: event #{i} {kind:?} {path} was never owed (only {} were)",
                expected.len()
            ),
            Some(e) => format!(
                "{who}: event #{i} is {kind:?} {path} but {:?} {} (from {}) was owed first",
                e.kind,
                e.path,
                describe_due(e)
            ),
        };
        problems.push(("watches", detail));
        break;
    }
    if problems.is_empty() && complete && i < expected.len() {
        let e = &expected[i];
        problems.push((
            "watches",
            format!(
                "{who}: {} of {} owed events never arrived, first {:?} {} ({}); the connection ended at {end:?}",
                expected.len() - i,
                expected.len(),
                e.kind,
                e.path,
                describe_due(e)
            ),
        ));
    }
    if problems.is_empty() {
        if let Some(p) = check_order(rec, &expected) {
            problems.push(("watch-order", format!("{who}: {p}")));
        }
    }
    ConnCheck {
        expected: expected.len(),
        received: received.len(),
        complete,
        problems,
    }
}

fn describe_due(e: &Expected) -> String {
    match (e.zxid, e.reply) {
        (Some(z), _) => format!("the change at zxid {z:#x}"),
        (_, Some(r)) => format!("the SetWatches answered by reply #{r}"),
        _ => "?".into(),
    }
}

fn expected_events(rec: &ConnRecord, history: &History, limit: usize) -> Vec<Expected> {
    // Registrations in reply order, with the reply's index and zxid.
    let mut regs: Vec<(usize, i64, &Reg)> = Vec::new();
    let mut reply_idx = 0;
    for item in &rec.items {
        if let Item::Reply { zxid, regs: r, .. } = item {
            for reg in r {
                regs.push((reply_idx, *zxid, reg));
            }
            reply_idx += 1;
        }
    }
    let mut model = Model::default();
    let mut out = Vec::new();
    let mut r = 0;
    for (zxid, change) in &history.changes[..limit] {
        while r < regs.len() && regs[r].1 < *zxid {
            register(&mut model, regs[r], history, &mut out);
            r += 1;
        }
        if let Change::Node { path, kind } = change {
            if model.fire(path, *kind) {
                out.push(Expected {
                    kind: *kind,
                    path: path.clone(),
                    zxid: Some(*zxid),
                    reply: None,
                });
            }
        }
    }
    while r < regs.len() {
        register(&mut model, regs[r], history, &mut out);
        r += 1;
    }
    out
}

fn register(
    model: &mut Model,
    (reply, zxid, reg): (usize, i64, &Reg),
    history: &History,
    out: &mut Vec<Expected>,
) {
    match reg {
        Reg::Watch { path, kind } => model.add(path, *kind),
        Reg::SetWatches {
            relative_zxid: rel,
            data,
            exist,
            child,
            persistent,
            recursive,
        } => {
            let mut fire = |kind, path: &str| {
                out.push(Expected {
                    kind,
                    path: path.to_string(),
                    zxid: None,
                    reply: Some(reply),
                })
            };
            use EventKind as E;
            for p in data {
                if !history.exists_at(p, zxid) {
                    fire(E::Deleted, p);
                } else if history.any_between(p, *rel, zxid, &[E::Created, E::DataChanged]) {
                    fire(E::DataChanged, p);
                } else {
                    model.add(p, WatchKind::Data);
                }
            }
            for p in exist {
                if history.exists_at(p, zxid) {
                    fire(E::Created, p);
                } else {
                    model.add(p, WatchKind::Exist);
                }
            }
            for p in child {
                if !history.exists_at(p, zxid) {
                    fire(E::Deleted, p);
                } else if history.any_between(p, *rel, zxid, &[E::Created, E::ChildrenChanged]) {
                    fire(E::ChildrenChanged, p);
                } else {
                    model.add(p, WatchKind::Child);
                }
            }
            for p in persistent {
                model.add(p, WatchKind::Persistent);
            }
            for p in recursive {
                model.add(p, WatchKind::Recursive);
            }
        }
    }
}

/// Every reply must come after the events due before it.
fn check_order(rec: &ConnRecord, expected: &[Expected]) -> Option<String> {
    let mut seen = 0;
    let mut reply_idx = 0;
    for item in &rec.items {
        match item {
            Item::Event { .. } => seen += 1,
            Item::Reply { xid, zxid, .. } => {
                let due = expected
                    .iter()
                    .rposition(|e| {
                        e.zxid.is_some_and(|z| z <= *zxid)
                            || e.reply.is_some_and(|r| r <= reply_idx)
                    })
                    .map_or(0, |i| i + 1);
                if seen < due {
                    let e = &expected[seen];
                    return Some(format!(
                        "reply #{reply_idx} (xid {xid}, zxid {zxid:#x}) arrived before the event {:?} {} owed by {}",
                        e.kind,
                        e.path,
                        describe_due(e)
                    ));
                }
                reply_idx += 1;
            }
        }
    }
    None
}
