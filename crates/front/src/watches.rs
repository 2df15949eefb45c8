//! Watches: per-connection interest in znodes, kept by each server for its
//! own connections and never replicated (as in ZooKeeper). The state
//! machine reports what changed (`Trigger`s, in apply order); this table
//! turns each change into the events its watchers must receive.
//!
//! The table mirrors ZooKeeper 3.8's two watch managers exactly, because
//! clients can tell the difference: a *data* table (getData, exists) and a
//! *child* table (getChildren), each holding one mode per (connection,
//! path): standard (one-shot), persistent or persistent-recursive. addWatch
//! puts its mode in both tables. Setting a watch replaces the mode the
//! connection had on that path in that table, so a one-shot watch set on a
//! path under a persistent one turns it one-shot (ZooKeeper 3.8's
//! behaviour; 3.9 keeps both, ZOOKEEPER-4466). A recursive watch fires for
//! changes at or below its path except child-list changes. A connection is
//! told once per change even when several of its watches match.

use std::collections::{BTreeMap, BTreeSet};
use synod_coord::EventKind;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// The kinds of watch a connection can set on a path.
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
}

/// How a connection watches one path in one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Standard,
    Persistent,
    Recursive,
}

/// The event a connection must be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub conn: ConnId,
    pub kind: EventKind,
    pub path: String,
}

/// One of ZooKeeper's two watch managers.
#[derive(Default)]
struct Table {
    by_path: BTreeMap<String, BTreeMap<ConnId, Mode>>,
    by_conn: BTreeMap<ConnId, BTreeSet<String>>,
    /// How many recursive watches each path has, to find the ones above a
    /// changed node without walking every ancestor when there are none.
    recursive: BTreeMap<String, usize>,
}

impl Table {
    fn set(&mut self, conn: ConnId, path: &str, mode: Mode) {
        let old = self
            .by_path
            .entry(path.to_string())
            .or_default()
            .insert(conn, mode);
        if old == Some(Mode::Recursive) {
            self.uncount(path);
        }
        if mode == Mode::Recursive {
            *self.recursive.entry(path.to_string()).or_default() += 1;
        }
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_string());
    }

    fn uncount(&mut self, path: &str) {
        if let Some(n) = self.recursive.get_mut(path) {
            *n -= 1;
            if *n == 0 {
                self.recursive.remove(path);
            }
        }
    }

    fn mode(&self, conn: ConnId, path: &str) -> Option<Mode> {
        self.by_path.get(path).and_then(|m| m.get(&conn)).copied()
    }

    fn remove(&mut self, conn: ConnId, path: &str) -> bool {
        let Some(conns) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(mode) = conns.remove(&conn) else {
            return false;
        };
        if conns.is_empty() {
            self.by_path.remove(path);
        }
        if mode == Mode::Recursive {
            self.uncount(path);
        }
        if let Some(paths) = self.by_conn.get_mut(&conn) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        true
    }

    fn drop_conn(&mut self, conn: ConnId) {
        for path in self.by_conn.get(&conn).cloned().unwrap_or_default() {
            self.remove(conn, &path);
        }
    }

    /// WatchManager.triggerWatch: the connections told of `kind` at `path`;
    /// one-shot watches at the path are spent.
    fn trigger(&mut self, path: &str, kind: EventKind) -> BTreeSet<ConnId> {
        let mut told = BTreeSet::new();
        let mut spent = Vec::new();
        if let Some(conns) = self.by_path.get(path) {
            for (conn, mode) in conns {
                match mode {
                    Mode::Recursive => {
                        if kind != EventKind::ChildrenChanged {
                            told.insert(*conn);
                        }
                    }
                    Mode::Persistent => {
                        told.insert(*conn);
                    }
                    Mode::Standard => {
                        told.insert(*conn);
                        spent.push(*conn);
                    }
                }
            }
        }
        for conn in spent {
            self.remove(conn, path);
        }
        if kind != EventKind::ChildrenChanged && !self.recursive.is_empty() {
            for ancestor in ancestors(path) {
                if !self.recursive.contains_key(ancestor) {
                    continue;
                }
                if let Some(conns) = self.by_path.get(ancestor) {
                    told.extend(
                        conns
                            .iter()
                            .filter(|(_, m)| **m == Mode::Recursive)
                            .map(|(c, _)| *c),
                    );
                }
            }
        }
        told
    }
}

/// The proper ancestors of `path`, nearest first, ending with "/".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut p = path;
    std::iter::from_fn(move || {
        if p == "/" {
            return None;
        }
        p = match p.rfind('/') {
            Some(0) => "/",
            Some(i) => &p[..i],
            None => return None,
        };
        Some(p)
    })
}

#[derive(Default)]
pub struct Watches {
    data: Table,
    child: Table,
}

impl Watches {
    pub fn add(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        match kind {
            WatchKind::Data | WatchKind::Exist => self.data.set(conn, path, Mode::Standard),
            WatchKind::Child => self.child.set(conn, path, Mode::Standard),
            WatchKind::Persistent => {
                self.data.set(conn, path, Mode::Persistent);
                self.child.set(conn, path, Mode::Persistent);
            }
            WatchKind::PersistentRecursive => {
                self.data.set(conn, path, Mode::Recursive);
                self.child.set(conn, path, Mode::Recursive);
            }
        }
    }

    fn tables(&mut self, which: WatcherType) -> Vec<(&mut Table, Option<Mode>)> {
        match which {
            WatcherType::Children => vec![(&mut self.child, None)],
            WatcherType::Data => vec![(&mut self.data, None)],
            WatcherType::Any => vec![(&mut self.data, None), (&mut self.child, None)],
            WatcherType::Persistent => vec![
                (&mut self.data, Some(Mode::Persistent)),
                (&mut self.child, Some(Mode::Persistent)),
            ],
            WatcherType::PersistentRecursive => vec![
                (&mut self.data, Some(Mode::Recursive)),
                (&mut self.child, Some(Mode::Recursive)),
            ],
        }
    }

    /// Whether `conn` holds a watch of `which` type on `path`.
    pub fn has(&mut self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        self.tables(which).into_iter().any(|(t, mode)| {
            t.mode(conn, path)
                .is_some_and(|m| mode.is_none_or(|want| want == m))
        })
    }

    /// Removes `conn`'s watches of `which` type on `path`; false if it had
    /// none (ZooKeeper answers NoWatcher).
    pub fn remove(&mut self, conn: ConnId, path: &str, which: WatcherType) -> bool {
        let mut had = false;
        for (t, mode) in self.tables(which) {
            if t.mode(conn, path)
                .is_some_and(|m| mode.is_none_or(|want| want == m))
            {
                had |= t.remove(conn, path);
            }
        }
        had
    }

    /// Drops every watch of a closed connection.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.data.drop_conn(conn);
        self.child.drop_conn(conn);
    }

    pub fn total(&self) -> usize {
        self.data.by_conn.values().map(|s| s.len()).sum::<usize>()
            + self.child.by_conn.values().map(|s| s.len()).sum::<usize>()
    }

    pub fn paths(&self) -> usize {
        let mut paths: BTreeSet<&String> = self.data.by_path.keys().collect();
        paths.extend(self.child.by_path.keys());
        paths.len()
    }

    pub fn connections(&self) -> usize {
        let mut conns: BTreeSet<&ConnId> = self.data.by_conn.keys().collect();
        conns.extend(self.child.by_conn.keys());
        conns.len()
    }

    /// The events one change of `path` sends, as ZooKeeper's DataTree
    /// triggers them: created and data changes through the data table,
    /// deletes through both (a connection told by the first is not told
    /// again), child-list changes through the child table.
    pub fn trigger(&mut self, path: &str, kind: EventKind) -> Vec<Fired> {
        let told = match kind {
            EventKind::Created | EventKind::DataChanged => self.data.trigger(path, kind),
            EventKind::Deleted => {
                let mut told = self.data.trigger(path, kind);
                told.extend(self.child.trigger(path, kind));
                told
            }
            EventKind::ChildrenChanged => self.child.trigger(path, kind),
        };
        told.into_iter()
            .map(|conn| Fired {
                conn,
                kind,
                path: path.to_string(),
            })
            .collect()
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
    fn a_one_shot_watch_set_on_a_persistent_path_replaces_it_as_in_zookeeper_3_8() {
        let mut w = Watches::default();
        w.add(1, "/b", WatchKind::PersistentRecursive);
        w.add(1, "/b", WatchKind::Child);
        w.add(1, "/b", WatchKind::Data);
        assert_eq!(w.trigger("/b", EventKind::DataChanged).len(), 1);
        // Both tables now hold one-shot watches: the recursive one is gone.
        assert!(w.trigger("/b/x", EventKind::Created).is_empty());
        assert_eq!(w.trigger("/b", EventKind::ChildrenChanged).len(), 1);
        assert_eq!(w.total(), 0);
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
