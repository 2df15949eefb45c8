//! Watches: per-connection interest in znodes, kept by each server for its
//! own connections and never replicated (as in ZooKeeper). The state
//! machine reports what changed (`Trigger`s, in apply order); this table
//! turns each change into the events its watchers must receive.
//!
//! One-shot watches (getData/exists, getChildren) fire once and are gone;
//! persistent watches fire for every change of their node, and recursive
//! ones for every change at or below their node except child-list changes
//! (ZooKeeper's addWatch modes). A connection receives at most one event per
//! change even when several of its watches match.

use std::collections::{BTreeMap, BTreeSet};
use synod_coord::EventKind;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// The kinds of watch a connection can hold on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData, or exists on a node that exists.
    Data,
    /// exists on a node that does not exist (yet).
    Exist,
    /// getChildren.
    Child,
    /// addWatch mode 0.
    Persistent,
    /// addWatch mode 1.
    PersistentRecursive,
}

/// ZooKeeper's WatcherType numbers, used by checkWatches/removeWatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl WatcherType {
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            _ => return None,
        })
    }

    fn covers(self, kind: WatchKind) -> bool {
        match self {
            WatcherType::Children => kind == WatchKind::Child,
            WatcherType::Data => matches!(kind, WatchKind::Data | WatchKind::Exist),
            WatcherType::Any => true,
            WatcherType::Persistent => kind == WatchKind::Persistent,
            WatcherType::PersistentRecursive => kind == WatchKind::PersistentRecursive,
        }
    }
}

/// The event a connection must be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub conn: ConnId,
    pub kind: EventKind,
    pub path: String,
}

#[derive(Default)]
pub struct Watches {
    /// path -> kind -> connections.
    by_path: BTreeMap<String, BTreeMap<WatchKind, BTreeSet<ConnId>>>,
    /// connection -> (path, kind), to drop a closed connection's watches.
    by_conn: BTreeMap<ConnId, BTreeSet<(String, WatchKind)>>,
    /// Paths with a recursive watch, to find the ones above a changed node.
    recursive: BTreeMap<String, usize>,
}

impl Watches {
    pub fn add(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        let set = self
            .by_path
            .entry(path.to_string())
            .or_default()
            .entry(kind)
            .or_default();
        if set.insert(conn) {
            self.by_conn
                .entry(conn)
                .or_default()
                .insert((path.to_string(), kind));
            if kind == WatchKind::PersistentRecursive {
                *self.recursive.entry(path.to_string()).or_default() += 1;
            }
        }
    }

    fn remove_one(&mut self, conn: ConnId, path: &str, kind: WatchKind) -> bool {
        let Some(kinds) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(set) = kinds.get_mut(&kind) else {
            return false;
        };
        if !set.remove(&conn) {
            return false;
        }
        if set.is_empty() {
            kinds.remove(&kind);
        }
        if kinds.is_empty() {
            self.by_path.remove(path);
        }
        if let Some(mine) = self.by_conn.get_mut(&conn) {
            mine.remove(&(path.to_string(), kind));
            if mine.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        if kind == WatchKind::PersistentRecursive {
            if let Some(n) = self.recursive.get_mut(path) {
                *n -= 1;
                if *n == 0 {
                    self.recursive.remove(path);
                }
            }
        }
        true
    }

    /// Whether `conn` holds a watch of `which` type on `path`.
    pub fn has(&self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        self.by_path.get(path).is_some_and(|kinds| {
            kinds
                .iter()
                .any(|(kind, conns)| which.covers(*kind) && conns.contains(&conn))
        })
    }

    /// Removes `conn`'s watches of `which` type on `path`; false if it had
    /// none (ZooKeeper answers NoWatcher).
    pub fn remove(&mut self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        let kinds: Vec<WatchKind> = self
            .by_path
            .get(path)
            .map(|k| {
                k.iter()
                    .filter(|(kind, conns)| which.covers(**kind) && conns.contains(&conn))
                    .map(|(kind, _)| *kind)
                    .collect()
            })
            .unwrap_or_default();
        for kind in &kinds {
            self.remove_one(conn, path, *kind);
        }
        !kinds.is_empty()
    }

    /// Drops every watch of a closed connection.
    pub fn drop_conn(&mut self, conn: ConnId) {
        let Some(mine) = self.by_conn.remove(&conn) else {
            return;
        };
        for (path, kind) in mine {
            self.remove_one(conn, &path, kind);
        }
    }

    /// How many watches `conn` holds.
    pub fn count_for(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, |s| s.len())
    }

    pub fn total(&self) -> usize {
        self.by_conn.values().map(|s| s.len()).sum()
    }

    pub fn paths(&self) -> usize {
        self.by_path.len()
    }

    pub fn connections(&self) -> usize {
        self.by_conn.len()
    }

    /// The events one change of `path` sends, removing the one-shot watches
    /// it fires. A connection is told once per change.
    pub fn trigger(&mut self, path: &str, kind: EventKind) -> Vec<Fired> {
        let one_shot: &[WatchKind] = match kind {
            EventKind::Created | EventKind::DataChanged => &[WatchKind::Data, WatchKind::Exist],
            EventKind::Deleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
            EventKind::ChildrenChanged => &[WatchKind::Child],
        };
        let mut told = BTreeSet::new();
        for w in one_shot {
            let conns: Vec<ConnId> = self
                .by_path
                .get(path)
                .and_then(|k| k.get(w))
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for conn in conns {
                self.remove_one(conn, path, *w);
                told.insert(conn);
            }
        }
        if let Some(conns) = self
            .by_path
            .get(path)
            .and_then(|k| k.get(&WatchKind::Persistent))
        {
            told.extend(conns.iter().copied());
        }
        if kind != EventKind::ChildrenChanged {
            for ancestor in self.recursive_ancestors(path) {
                if let Some(conns) = self
                    .by_path
                    .get(&ancestor)
                    .and_then(|k| k.get(&WatchKind::PersistentRecursive))
                {
                    told.extend(conns.iter().copied());
                }
            }
        }
        told.into_iter()
            .map(|conn| Fired {
                conn,
                kind,
                path: path.to_string(),
            })
            .collect()
    }

    /// The paths at or above `path` that hold a recursive watch.
    fn recursive_ancestors(&self, path: &str) -> Vec<String> {
        if self.recursive.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut p = path;
        loop {
            if self.recursive.contains_key(p) {
                out.push(p.to_string());
            }
            if p == "/" {
                break;
            }
            p = match p.rfind('/') {
                Some(0) => "/",
                Some(i) => &p[..i],
                None => break,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_shot_data_watch_fires_once() {
        let mut w = Watches::default();
        w.add(1, "/a", WatchKind::Data);
        assert_eq!(w.trigger("/a", EventKind::DataChanged).len(), 1);
        assert!(w.trigger("/a", EventKind::DataChanged).is_empty());
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn delete_tells_data_and_child_watchers_once_each_connection() {
        let mut w = Watches::default();
        w.add(1, "/a", WatchKind::Data);
        w.add(1, "/a", WatchKind::Child);
        w.add(2, "/a", WatchKind::Child);
        let fired = w.trigger("/a", EventKind::Deleted);
        assert_eq!(fired.iter().map(|f| f.conn).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn child_changes_do_not_fire_data_watches() {
        let mut w = Watches::default();
        w.add(1, "/a", WatchKind::Data);
        assert!(w.trigger("/a", EventKind::ChildrenChanged).is_empty());
        assert_eq!(w.total(), 1);
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_skip_child_changes() {
        let mut w = Watches::default();
        w.add(1, "/a", WatchKind::Persistent);
        w.add(2, "/a", WatchKind::PersistentRecursive);
        assert_eq!(w.trigger("/a", EventKind::DataChanged).len(), 2);
        assert_eq!(w.trigger("/a", EventKind::DataChanged).len(), 2);
        let child = w.trigger("/a", EventKind::ChildrenChanged);
        assert_eq!(child.iter().map(|f| f.conn).collect::<Vec<_>>(), vec![1]);
        let below = w.trigger("/a/b/c", EventKind::Created);
        assert_eq!(below.iter().map(|f| f.conn).collect::<Vec<_>>(), vec![2]);
        assert!(w.trigger("/ab", EventKind::Created).is_empty());
    }

    #[test]
    fn a_recursive_watch_on_the_root_sees_everything_but_child_lists() {
        let mut w = Watches::default();
        w.add(7, "/", WatchKind::PersistentRecursive);
        assert_eq!(w.trigger("/x/y", EventKind::Deleted).len(), 1);
        assert!(w.trigger("/x", EventKind::ChildrenChanged).is_empty());
    }

    #[test]
    fn remove_and_drop_conn_forget_watches() {
        let mut w = Watches::default();
        w.add(1, "/a", WatchKind::Data);
        w.add(1, "/a", WatchKind::Child);
        w.add(1, "/b", WatchKind::PersistentRecursive);
        assert!(w.has(1, "/a", WatcherType::Children));
        assert!(w.remove(1, "/a", WatcherType::Children));
        assert!(!w.remove(1, "/a", WatcherType::Children));
        assert!(w.has(1, "/a", WatcherType::Data));
        w.drop_conn(1);
        assert_eq!(w.total(), 0);
        assert!(w.trigger("/b/c", EventKind::Created).is_empty());
    }
}
