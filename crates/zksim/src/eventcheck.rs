//! The events oracle (Chubby's events, issue 12): for each session of an
//! event client (`eventclients.rs`), the events it received are in order,
//! never lost while it lives, and never early.
//!
//! # What it knows
//!
//! Every node's apply tap (`NodeOutput::Applied`), in order, numbered per
//! node: a node's *position* is how many applies it has made (across its
//! restarts). Of each apply it keeps the node triggers on watched paths
//! (a subscribed path or its child) and the lock grants. Every answer of
//! the lock door to an event client's keepalive is stamped, when the node
//! emits it, with the node, its position then (`emit_pos`), its order
//! among that node's outputs, and the node's position when the client
//! sent the keepalive it answers (`sent_pos`). The node's outputs of one
//! step come in order: its applies, then the door's answers, so every
//! event an answer holds was queued at or before `emit_pos`.
//!
//! # The rule
//!
//! From a node `L`'s applies and the session's (fixed) subscriptions the
//! oracle derives the stream of node events `L` owes the session, as the
//! door documents them: `ContentsModified` and `HandleInvalid` for a
//! subscribed path (mask CONTENTS, INVALID), `ChildAdded`, `ChildRemoved`
//! and `ChildModified` for a child of one (mask CHILDREN), in apply order.
//! The answers `L` sent the session, in emission order, form *runs*: a run
//! starts at `L`'s first answer to the session and at every
//! `MasterFailover` (the door tells a session it has not served while
//! leading), and restarts after an `EventsLost` (its queue overflowed).
//! Within a run the node events received must be
//!
//! - (c) *after the change*: each matches an event of the stream at a
//!   position no later than its answer's `emit_pos`;
//! - (a) *in order* and (b) *never lost*: consecutive node events of a
//!   run match consecutive events of the stream: none skipped, none
//!   repeated, none swapped;
//! - and the first one of a run skips no event that `L` applied after the
//!   run's opening answer was emitted (the keepalive carrying the
//!   subscriptions was taken by then). Events `L` applied between the
//!   opening keepalive's sending (`sent_pos`) and that answer may or may
//!   not be owed: the door installs subscriptions when the keepalive's
//!   `Touch` reply reaches it, after the triggers of its engine step.
//!
//! Conservative where the protocol allows loss: nothing is owed across a
//! `MasterFailover` or an `EventsLost`, nor at the tail of a run (a
//! leader that steps down answers its held keepalive with its queue
//! forgotten, and the session hears `MasterFailover` from the next one),
//! nor across a state that replaced a node's tree (a snapshot or a
//! restart: the tap's `op: None`), nor after the session ended. Only the
//! session's own answers are judged, each once, whoever it reached.
//!
//! `LockAcquired` events are a stream of their own (the grants `L`
//! applied on a path subscribed with LOCK_ACQUIRED), judged by the same
//! rule (checks "grant-events-order", "grant-events-lost", and
//! "events-early" as for node events). The door queues them from the tree's grants, in
//! apply order; it once queued an immediate grant's event when the
//! `Acquire`'s reply reached it, so an acquire retried with the same seq
//! and answered from the engine's client table announced its grant again,
//! late and out of order (found by this oracle; `tests/event_oracles.rs`
//! keeps the seeds that showed it). Their order among node events is
//! never judged: the door queues them after the node triggers of their
//! engine step. `ConflictingLockRequest` is counted, not judged.

use std::collections::{BTreeMap, BTreeSet};
use synod_coord::{EventKind, Trigger};
use synod_node::locks::mask;
use synod_node::{Applied, LockEvent};
use synod_paxos::NodeId;

/// Violations one session may report at most (the first tells the story).
const PROBLEMS_MAX: usize = 5;

/// What one node applied that an event could report.
#[derive(Default)]
pub(crate) struct NodeLog {
    /// Applies so far.
    pub(crate) pos: u64,
    /// Node triggers on watched paths: position, path, kind.
    triggers: Vec<(u64, String, EventKind)>,
    /// Lock grants: position, path, session, generation.
    grants: Vec<(u64, String, i64, u64)>,
    /// Positions at which a state replaced the tree.
    cuts: Vec<u64>,
}

/// Every node's log, and the paths worth logging.
#[derive(Default)]
pub(crate) struct EventLogs {
    pub(crate) nodes: BTreeMap<NodeId, NodeLog>,
    /// Subscribed paths (a trigger on one or on a child of one is kept).
    pub(crate) watched: BTreeSet<String>,
}

/// One `Alive` answer an event client received.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) node: NodeId,
    /// The node's output order: answers are judged in it.
    pub(crate) emit_seq: u64,
    pub(crate) emit_pos: u64,
    /// The node's position when the answered keepalive was sent.
    pub(crate) sent_pos: u64,
    /// The client's local time when it arrived.
    pub(crate) received_at: u64,
    pub(crate) events: Vec<LockEvent>,
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(i) if i > 0 => Some(&path[..i]),
        _ => None,
    }
}

impl EventLogs {
    /// One apply on `node`.
    pub(crate) fn on_applied(&mut self, node: NodeId, applied: &Applied) {
        let log = self.nodes.entry(node).or_default();
        log.pos += 1;
        let pos = log.pos;
        if applied.op.is_none() {
            log.cuts.push(pos);
            return;
        }
        for t in &applied.triggers {
            if let Trigger::Node { path, kind, .. } = t {
                let watched = self.watched.contains(path)
                    || parent(path).is_some_and(|p| self.watched.contains(p));
                if watched {
                    log.triggers.push((pos, path.clone(), *kind));
                }
            }
        }
        for g in &applied.grants {
            log.grants
                .push((pos, g.path.clone(), g.session, g.generation));
        }
    }

    /// `node`'s position now.
    pub(crate) fn pos(&self, node: NodeId) -> u64 {
        self.nodes.get(&node).map_or(0, |l| l.pos)
    }
}

/// The node events `log` owes a session subscribed with `subs`, in order,
/// with their positions: the door's rule (crates/node `locks/events.rs`).
fn owed(log: &NodeLog, subs: &[(String, u32)]) -> Vec<(u64, LockEvent)> {
    let mut masks: BTreeMap<&str, u32> = BTreeMap::new();
    for (p, m) in subs {
        *masks.entry(p.as_str()).or_default() |= m;
    }
    let has = |p: &str, bit: u32| masks.get(p).is_some_and(|m| m & bit != 0);
    let mut out = Vec::new();
    for (pos, path, kind) in &log.triggers {
        let p = path.clone();
        match kind {
            EventKind::DataChanged if has(path, mask::CONTENTS) => {
                out.push((*pos, LockEvent::ContentsModified { path: p }))
            }
            EventKind::Deleted if has(path, mask::INVALID) => {
                out.push((*pos, LockEvent::HandleInvalid { path: p }))
            }
            _ => {}
        }
        let Some(dir) = parent(path).filter(|d| has(d, mask::CHILDREN)) else {
            continue;
        };
        let (path, child) = (dir.to_string(), path.clone());
        let event = match kind {
            EventKind::Created => LockEvent::ChildAdded { path, child },
            EventKind::Deleted => LockEvent::ChildRemoved { path, child },
            EventKind::DataChanged => LockEvent::ChildModified { path, child },
            EventKind::ChildrenChanged => continue,
        };
        out.push((*pos, event));
    }
    out
}

/// What judging one session found.
#[derive(Default, Debug)]
pub(crate) struct Verdict {
    /// Events judged (node events and `LockAcquired`).
    pub(crate) judged: u64,
    pub(crate) problems: Vec<(&'static str, String)>,
}

impl Verdict {
    fn problem(&mut self, check: &'static str, detail: String) {
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push((check, detail));
        }
    }
}

/// The checks one stream reports under.
struct Names {
    /// The stream of `LockAcquired` events (else of node events).
    grants: bool,
    lost: &'static str,
    order: &'static str,
    early: &'static str,
}

/// Node events (the tree's triggers).
const NODE_EVENTS: Names = Names {
    grants: false,
    lost: "events-lost",
    order: "events-order",
    early: "events-early",
};

/// `LockAcquired` events (the tree's grants).
const GRANT_EVENTS: Names = Names {
    grants: true,
    lost: "grant-events-lost",
    order: "grant-events-order",
    early: "events-early",
};

/// One node's stream of events owed to one session, and how to report.
struct Ctx<'a> {
    who: &'a str,
    log: &'a NodeLog,
    stream: &'a [(u64, LockEvent)],
    names: &'a Names,
}

/// Where a run stands on one node's stream.
struct Run {
    /// Index in the stream of the last event matched; `None` before the
    /// run's first.
    at: Option<usize>,
    /// Events at positions after this may open the run.
    floor: u64,
    /// Events at positions after this must not be skipped before the
    /// run's first (`None`: nothing is owed before it).
    owed_from: Option<u64>,
    /// The stream index the run's first event is matched at, once chosen.
    opens_at: Option<usize>,
}

/// The `LockAcquired` events `log` owes a session subscribed with
/// `subs`, in order, with their positions.
fn owed_grants(log: &NodeLog, subs: &[(String, u32)]) -> Vec<(u64, LockEvent)> {
    let wants = |p: &str| {
        subs.iter()
            .any(|(s, m)| s == p && m & mask::LOCK_ACQUIRED != 0)
    };
    log.grants
        .iter()
        .filter(|(_, p, _, _)| wants(p))
        .map(|(pos, path, session, generation)| {
            let event = LockEvent::LockAcquired {
                path: path.clone(),
                session: *session,
                generation: *generation,
            };
            (*pos, event)
        })
        .collect()
}

/// Judges the answers `session` (subscribed with `subs`) received.
pub(crate) fn judge(
    session: i64,
    subs: &[(String, u32)],
    answers: &[Answer],
    logs: &EventLogs,
) -> Verdict {
    let mut verdict = Verdict::default();
    let mut by_node: BTreeMap<NodeId, Vec<&Answer>> = BTreeMap::new();
    for a in answers {
        by_node.entry(a.node).or_default().push(a);
    }
    let empty = NodeLog::default();
    for (node, mut list) in by_node {
        list.sort_by_key(|a| a.emit_seq);
        let log = logs.nodes.get(&node).unwrap_or(&empty);
        let who = format!("session {session:#x} from n{node}");
        let streams = [
            (owed(log, subs), NODE_EVENTS),
            (owed_grants(log, subs), GRANT_EVENTS),
        ];
        for (stream, names) in &streams {
            let ctx = Ctx {
                who: &who,
                log,
                stream,
                names,
            };
            judge_node(&ctx, &list, &mut verdict);
        }
    }
    verdict
}

fn judge_node(ctx: &Ctx, answers: &[&Answer], verdict: &mut Verdict) {
    let (stream, grants) = (ctx.stream, ctx.names.grants);
    let first = answers[0];
    let mut run = Run {
        at: None,
        floor: first.sent_pos,
        owed_from: Some(first.emit_pos),
        opens_at: None,
    };
    // The node events of the run under way, to judge when it ends.
    let mut pending: Vec<(&Answer, &LockEvent)> = Vec::new();
    for a in answers {
        for event in &a.events {
            match event {
                LockEvent::MasterFailover => {
                    judge_run(ctx, &pending, &mut run, verdict);
                    pending.clear();
                    run = Run {
                        at: None,
                        floor: a.sent_pos,
                        owed_from: Some(a.emit_pos),
                        opens_at: None,
                    };
                }
                LockEvent::EventsLost => {
                    judge_run(ctx, &pending, &mut run, verdict);
                    pending.clear();
                    let floor = run.at.map_or(run.floor, |i| stream[i].0);
                    run = Run {
                        at: None,
                        floor,
                        owed_from: None,
                        opens_at: None,
                    };
                }
                LockEvent::LockAcquired { .. } if grants => pending.push((a, event)),
                LockEvent::LockAcquired { .. } => {}
                LockEvent::ConflictingLockRequest { .. } => {}
                _ if grants => {}
                node_event => pending.push((a, node_event)),
            }
        }
    }
    judge_run(ctx, &pending, &mut run, verdict);
}

/// Judges the node events of one run, in order.
fn judge_run(ctx: &Ctx, events: &[(&Answer, &LockEvent)], run: &mut Run, verdict: &mut Verdict) {
    let stream = ctx.stream;
    if events.is_empty() {
        return;
    }
    // Where the run opens is known only within a window (see the module
    // doc): of the stream's events that could be its first, take the one
    // from which most of the run matches, so that equal events (two
    // `ContentsModified` of one path) do not throw the match off.
    let from = stream.partition_point(|(pos, _)| *pos <= run.floor);
    let last = match run.owed_from {
        Some(owed) => stream.partition_point(|(pos, _)| *pos <= owed),
        None => stream.len().saturating_sub(1),
    };
    let fits = |k: usize| {
        events
            .iter()
            .zip(&stream[k..])
            .take_while(|((a, e), (pos, s))| *pos <= a.emit_pos && s == *e)
            .count()
    };
    let best = (from..=last.min(stream.len().saturating_sub(1)))
        .filter(|k| *k < stream.len())
        .map(|k| (fits(k), k))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, k)| (*n, std::cmp::Reverse(*k)));
    run.opens_at = best.map(|(_, k)| k);
    for (a, event) in events {
        verdict.judged += 1;
        match_one(ctx, a, event, run, verdict);
    }
}

/// Matches one node event of answer `a` against the stream.
fn match_one(ctx: &Ctx, a: &Answer, event: &LockEvent, run: &mut Run, verdict: &mut Verdict) {
    let Ctx {
        who,
        log,
        stream,
        names,
    } = ctx;
    let from = match run.at {
        Some(i) => i + 1,
        None => stream.partition_point(|(pos, _)| *pos <= run.floor),
    };
    let search = match run.at {
        Some(_) => from,
        None => run.opens_at.unwrap_or(from).max(from),
    };
    let found = stream[search..]
        .iter()
        .position(|(pos, e)| *pos <= a.emit_pos && e == event)
        .map(|k| search + k);
    let Some(k) = found else {
        let (check, why) = if stream[from..].iter().any(|(_, e)| e == event) {
            (
                names.early,
                format!("before n{} applied its change", a.node),
            )
        } else if stream[..from].iter().any(|(_, e)| e == event) {
            (
                names.order,
                "after a later change's event (out of order, or twice)".to_string(),
            )
        } else {
            (
                names.early,
                format!("but n{} applied no such change", a.node),
            )
        };
        verdict.problem(
            check,
            format!(
                "{who}: {event:?} received at {:.6}s in an answer at position {}, {why}",
                a.received_at as f64 / 1e6,
                a.emit_pos
            ),
        );
        return;
    };
    let cut = |lo: u64, hi: u64| log.cuts.iter().any(|c| *c > lo && *c <= hi);
    // The events skipped between the last match (or the run's floor)
    // and this one that were owed.
    let skipped: Vec<&(u64, LockEvent)> = match run.at {
        Some(i) if cut(stream[i].0, stream[k].0) => Vec::new(),
        Some(_) => stream[from..k].iter().collect(),
        None => match run.owed_from {
            Some(owed) if !cut(owed, stream[k].0) => stream[from..k]
                .iter()
                .filter(|(pos, _)| *pos > owed)
                .collect(),
            _ => Vec::new(),
        },
    };
    if let Some((pos, first)) = skipped.first() {
        verdict.problem(
            names.lost,
            format!(
                "{who}: {event:?} (position {}) received at {:.6}s, but {} earlier owed event(s) never came, the first {first:?} at position {pos}",
                stream[k].0,
                a.received_at as f64 / 1e6,
                skipped.len()
            ),
        );
    }
    run.at = Some(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(triggers: &[(u64, &str, EventKind)]) -> NodeLog {
        NodeLog {
            pos: triggers.last().map_or(0, |t| t.0),
            triggers: triggers
                .iter()
                .map(|(p, s, k)| (*p, s.to_string(), *k))
                .collect(),
            grants: Vec::new(),
            cuts: Vec::new(),
        }
    }

    fn answer(emit_seq: u64, sent_pos: u64, emit_pos: u64, events: Vec<LockEvent>) -> Answer {
        Answer {
            node: 1,
            emit_seq,
            emit_pos,
            sent_pos,
            received_at: 0,
            events,
        }
    }

    fn contents(p: &str) -> LockEvent {
        LockEvent::ContentsModified { path: p.into() }
    }

    fn verdict(log: NodeLog, answers: &[Answer]) -> Verdict {
        let mut logs = EventLogs::default();
        logs.nodes.insert(1, log);
        judge(7, &[("/a".into(), mask::ALL)], answers, &logs)
    }

    #[test]
    fn events_in_apply_order_pass_and_a_skipped_one_is_lost() {
        let l = || {
            log(&[
                (3, "/a", EventKind::DataChanged),
                (4, "/b", EventKind::DataChanged),
                (5, "/a", EventKind::DataChanged),
                (6, "/a/x", EventKind::Created),
            ])
        };
        let child = LockEvent::ChildAdded {
            path: "/a".into(),
            child: "/a/x".into(),
        };
        let good = [
            answer(1, 0, 2, vec![LockEvent::MasterFailover]),
            answer(2, 2, 3, vec![contents("/a")]),
            answer(3, 3, 6, vec![contents("/a"), child.clone()]),
        ];
        let v = verdict(l(), &good);
        assert!(v.problems.is_empty(), "{v:?}");
        assert_eq!(v.judged, 3);
        let lost = [
            answer(1, 0, 2, vec![LockEvent::MasterFailover]),
            answer(2, 2, 6, vec![contents("/a"), child.clone()]),
        ];
        assert_eq!(verdict(l(), &lost).problems[0].0, "events-lost");
        let swapped = [
            answer(1, 0, 2, vec![LockEvent::MasterFailover]),
            answer(2, 2, 6, vec![contents("/a"), child, contents("/a")]),
        ];
        // A swap reads as a skip, then the skipped event out of order.
        let checks: Vec<&str> = verdict(l(), &swapped)
            .problems
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(checks, ["events-lost", "events-order"]);
        let early = [
            answer(1, 0, 2, vec![LockEvent::MasterFailover]),
            answer(2, 2, 4, vec![contents("/a"), contents("/a")]),
        ];
        assert_eq!(verdict(l(), &early).problems[0].0, "events-early");
    }

    #[test]
    fn nothing_is_owed_across_a_failover_or_before_the_subscription() {
        let l = log(&[
            (3, "/a", EventKind::DataChanged),
            (5, "/a", EventKind::DataChanged),
            (8, "/a", EventKind::DataChanged),
        ]);
        // The keepalive sent at 2 and answered at 4: the change at 3 may
        // or may not be delivered; after a failover at 6 the one at 5 is
        // lost with notice.
        let answers = [
            answer(1, 2, 4, vec![LockEvent::MasterFailover]),
            answer(2, 4, 5, vec![contents("/a")]),
            answer(3, 6, 7, vec![LockEvent::MasterFailover]),
            answer(4, 7, 8, vec![contents("/a")]),
        ];
        let v = verdict(l, &answers);
        assert!(v.problems.is_empty(), "{v:?}");
    }
}
