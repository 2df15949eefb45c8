//! Chubby's events (section 2.5) for lock sessions: what a session
//! subscribed to, the events queued for it, and the keepalive held for it.
//!
//! A session's keepalive carries its whole subscription list (path and
//! mask per handle), so the leader never holds a subscription the client
//! did not repeat: a new leader learns them from the first keepalive it
//! answers, and tells the session `MasterFailover` in that answer (events
//! between the old leader's last answer and then are lost; the client
//! must re-read what it cares about, as in Chubby).
//!
//! Events are queued in apply order, so per session they come in the order
//! of the changes, and only after the change is applied on the leader: a
//! linearizable read after an event sees the change or a newer state.
//!
//! A keepalive is held (its `Touch` already applied) until an event is
//! queued for its session or its hold time passes, then answered with the
//! queue: Chubby's KeepAlive that returns early with events.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use synod_coord::{EventKind, Trigger};
use synod_paxos::Micros;

/// Subscriptions one session may hold at most (more are ignored).
pub const SUBSCRIPTIONS_MAX: usize = 1_000;
/// Events queued for one session at most; past it the queue is replaced
/// by one `EventsLost`.
pub const QUEUED_MAX: usize = 1_000;
/// The longest a keepalive is held.
pub const HOLD_MAX_US: Micros = 60_000_000;

/// What a subscription asks to hear of its path (bits of a mask).
pub mod mask {
    /// The znode's data changed.
    pub const CONTENTS: u32 = 1;
    /// A child was added, removed or its data changed.
    pub const CHILDREN: u32 = 2;
    /// Someone acquired the lock (a primary was elected).
    pub const LOCK_ACQUIRED: u32 = 4;
    /// Someone else asked for the lock this session holds.
    pub const CONFLICT: u32 = 8;
    /// The znode was deleted: the handle is invalid.
    pub const INVALID: u32 = 16;
    /// Every bit above.
    pub const ALL: u32 = 31;
}

/// One event for a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockEvent {
    ContentsModified {
        path: String,
    },
    ChildAdded {
        path: String,
        child: String,
    },
    ChildRemoved {
        path: String,
        child: String,
    },
    ChildModified {
        path: String,
        child: String,
    },
    /// The znode was deleted.
    HandleInvalid {
        path: String,
    },
    /// `session` acquired the lock at `path` with `generation`.
    LockAcquired {
        path: String,
        session: i64,
        generation: u64,
    },
    /// Another session asked for the lock at `path`, which this one holds.
    ConflictingLockRequest {
        path: String,
    },
    /// This leader did not serve the session's last keepalive: events may
    /// have been lost; re-read what matters.
    MasterFailover,
    /// More events came than a queue holds; they are gone: re-read.
    EventsLost,
}

/// A keepalive held until an event or its time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub id: u64,
    pub until_us: Micros,
    pub timeout_ms: i32,
}

#[derive(Default)]
pub(crate) struct Events {
    /// Per session, its subscriptions as its last keepalive gave them.
    subs: HashMap<i64, Vec<(String, u32)>>,
    /// Per path, the sessions subscribed and their masks.
    by_path: BTreeMap<String, BTreeMap<i64, u32>>,
    /// Events waiting for a keepalive answer.
    queues: HashMap<i64, VecDeque<LockEvent>>,
    /// Sessions this node has answered a keepalive of while leading.
    known: HashSet<i64>,
    /// Keepalives held, by session.
    pub held: HashMap<i64, Held>,
    /// `NodeBug::DropEvents` (`bugs.rs`): every third event per session
    /// is dropped.
    #[cfg(feature = "broken")]
    pub(crate) drop_events: bool,
    /// Events queued per session while `drop_events`, to pick every third.
    #[cfg(feature = "broken")]
    dropped_count: HashMap<i64, u64>,
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(i) if i > 0 => Some(&path[..i]),
        _ => None,
    }
}

impl Events {
    /// A keepalive of `session` brought `subs`: they replace the old ones.
    /// A session this node has not served while leading hears
    /// `MasterFailover` first.
    pub fn on_keepalive(&mut self, session: i64, mut subs: Vec<(String, u32)>) {
        if self.known.insert(session) {
            self.push(session, LockEvent::MasterFailover);
        }
        subs.truncate(SUBSCRIPTIONS_MAX);
        subs.sort();
        subs.dedup();
        self.unsubscribe(session);
        for (path, bits) in &subs {
            *self
                .by_path
                .entry(path.clone())
                .or_default()
                .entry(session)
                .or_default() |= bits;
        }
        if !subs.is_empty() {
            self.subs.insert(session, subs);
        }
    }

    /// A session opened on this node starts known: no failover for it.
    pub fn on_opened(&mut self, session: i64) {
        self.known.insert(session);
    }

    /// Whether anyone listens (so the drive loop can skip the work).
    pub fn any_subscribed(&self) -> bool {
        !self.by_path.is_empty()
    }

    fn push(&mut self, session: i64, event: LockEvent) {
        #[cfg(feature = "broken")]
        if self.drop_events && !matches!(event, LockEvent::MasterFailover | LockEvent::EventsLost) {
            let n = self.dropped_count.entry(session).or_default();
            *n += 1;
            if n.is_multiple_of(3) {
                return;
            }
        }
        let q = self.queues.entry(session).or_default();
        if q.len() >= QUEUED_MAX {
            q.clear();
            q.push_back(LockEvent::EventsLost);
        }
        q.push_back(event);
    }

    /// Queues `event` for every session subscribed to `path` with a bit
    /// of `bits`.
    fn notify(&mut self, path: &str, bits: u32, event: LockEvent) {
        let Some(subscribers) = self.by_path.get(path) else {
            return;
        };
        let to: Vec<i64> = subscribers
            .iter()
            .filter(|(_, m)| **m & bits != 0)
            .map(|(s, _)| *s)
            .collect();
        for s in to {
            self.push(s, event.clone());
        }
    }

    /// The tree's triggers of one engine step, in apply order.
    pub fn on_triggers(&mut self, triggers: &[Trigger]) {
        for t in triggers {
            match t {
                Trigger::Node { .. } if self.by_path.is_empty() => {}
                Trigger::Node { path, kind, .. } => {
                    let p = path.clone();
                    match kind {
                        EventKind::DataChanged => {
                            self.notify(
                                path,
                                mask::CONTENTS,
                                LockEvent::ContentsModified { path: p },
                            );
                        }
                        EventKind::Deleted => {
                            self.notify(path, mask::INVALID, LockEvent::HandleInvalid { path: p });
                        }
                        EventKind::Created | EventKind::ChildrenChanged => {}
                    }
                    let Some(dir) = parent(path) else { continue };
                    let event = match kind {
                        EventKind::Created => LockEvent::ChildAdded {
                            path: dir.to_string(),
                            child: path.clone(),
                        },
                        EventKind::Deleted => LockEvent::ChildRemoved {
                            path: dir.to_string(),
                            child: path.clone(),
                        },
                        EventKind::DataChanged => LockEvent::ChildModified {
                            path: dir.to_string(),
                            child: path.clone(),
                        },
                        EventKind::ChildrenChanged => continue,
                    };
                    let dir = dir.to_string();
                    self.notify(&dir, mask::CHILDREN, event);
                }
                Trigger::SessionClosed { session, .. } => self.forget(*session),
            }
        }
    }

    /// `session` acquired the lock at `path`.
    pub fn on_acquired(&mut self, path: &str, session: i64, generation: u64) {
        let event = LockEvent::LockAcquired {
            path: path.to_string(),
            session,
            generation,
        };
        self.notify(path, mask::LOCK_ACQUIRED, event);
    }

    /// Someone asked for the lock at `path` held by `holders`.
    pub fn on_conflict(&mut self, path: &str, holders: &[i64]) {
        let Some(subscribers) = self.by_path.get(path) else {
            return;
        };
        let to: Vec<i64> = holders
            .iter()
            .copied()
            .filter(|h| subscribers.get(h).is_some_and(|m| m & mask::CONFLICT != 0))
            .collect();
        for s in to {
            self.push(
                s,
                LockEvent::ConflictingLockRequest {
                    path: path.to_string(),
                },
            );
        }
    }

    /// The session's queued events, taken.
    pub fn take(&mut self, session: i64) -> Vec<LockEvent> {
        self.queues
            .remove(&session)
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Whether events wait for `session`.
    pub fn pending(&self, session: i64) -> bool {
        self.queues.get(&session).is_some_and(|q| !q.is_empty())
    }

    /// Sessions with events waiting and a keepalive held, in session
    /// order (not the map's: the node's outputs must not depend on its
    /// hasher, or a simulated seed does not replay).
    pub fn ready(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .held
            .keys()
            .copied()
            .filter(|s| self.pending(*s))
            .collect();
        out.sort_unstable();
        out
    }

    /// A session ended: everything of it goes.
    pub fn forget(&mut self, session: i64) {
        self.unsubscribe(session);
        self.queues.remove(&session);
        self.known.remove(&session);
    }

    fn unsubscribe(&mut self, session: i64) {
        if let Some(old) = self.subs.remove(&session) {
            for (path, _) in old {
                if let Some(m) = self.by_path.get_mut(&path) {
                    m.remove(&session);
                    if m.is_empty() {
                        self.by_path.remove(&path);
                    }
                }
            }
        }
    }

    /// This node no longer leads: what it knew of sessions is stale.
    pub fn step_down(&mut self) {
        self.subs.clear();
        self.by_path.clear();
        self.queues.clear();
        self.known.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn node(path: &str, kind: EventKind) -> Trigger {
        Trigger::Node {
            path: path.into(),
            kind,
            zxid: 1,
            acl: Arc::from(Vec::new()),
        }
    }

    #[test]
    fn subscribers_hear_what_they_asked_for_in_order() {
        let mut e = Events::default();
        e.on_opened(1);
        e.on_keepalive(1, vec![("/a".into(), mask::CONTENTS | mask::CHILDREN)]);
        e.on_keepalive(2, vec![("/a".into(), mask::INVALID)]);
        e.on_triggers(&[
            node("/a", EventKind::DataChanged),
            node("/a/x", EventKind::Created),
            node("/a", EventKind::ChildrenChanged),
            node("/b", EventKind::DataChanged),
            node("/a", EventKind::Deleted),
        ]);
        assert_eq!(
            e.take(1),
            vec![
                LockEvent::ContentsModified { path: "/a".into() },
                LockEvent::ChildAdded {
                    path: "/a".into(),
                    child: "/a/x".into()
                },
            ]
        );
        assert_eq!(
            e.take(2),
            vec![
                LockEvent::MasterFailover,
                LockEvent::HandleInvalid { path: "/a".into() }
            ],
            "a session new to this leader hears of the failover first"
        );
        assert!(e.take(1).is_empty());
    }

    #[test]
    fn a_full_queue_becomes_one_events_lost_and_a_closed_session_is_forgotten() {
        let mut e = Events::default();
        e.on_opened(1);
        e.on_keepalive(1, vec![("/a".into(), mask::ALL)]);
        for _ in 0..QUEUED_MAX + 5 {
            e.on_triggers(&[node("/a", EventKind::DataChanged)]);
        }
        let got = e.take(1);
        assert_eq!(got[0], LockEvent::EventsLost);
        assert_eq!(got.len(), 6);
        e.on_triggers(&[Trigger::SessionClosed {
            session: 1,
            zxid: 9,
        }]);
        e.on_triggers(&[node("/a", EventKind::DataChanged)]);
        assert!(e.take(1).is_empty());
        assert!(!e.any_subscribed());
    }

    /// Held keepalives are answered in session order, whatever the
    /// map's hasher: a simulated seed must replay the same run.
    #[test]
    fn ready_sessions_come_in_session_order() {
        let mut e = Events::default();
        for s in (1..=64).rev() {
            e.on_opened(s);
            e.on_keepalive(s, vec![("/a".into(), mask::ALL)]);
            let held = Held {
                id: s as u64,
                until_us: 1,
                timeout_ms: 1,
            };
            e.held.insert(s, held);
        }
        e.on_triggers(&[node("/a", EventKind::DataChanged)]);
        let ready = e.ready();
        assert_eq!(ready, (1..=64).collect::<Vec<i64>>());
    }

    #[test]
    fn a_session_that_ends_unsubscribed_is_forgotten_too() {
        let mut e = Events::default();
        e.on_keepalive(7, vec![]);
        assert!(e.known.contains(&7));
        e.on_triggers(&[Trigger::SessionClosed {
            session: 7,
            zxid: 1,
        }]);
        assert!(e.known.is_empty() && e.queues.is_empty());
    }
}
