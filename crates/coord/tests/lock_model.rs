//! Seeded random schedules of lock operations, session ends and ticks,
//! checked against an oracle that keeps its own account of holders and
//! queues from the replies and grants alone: at most one exclusive holder
//! and never a writer beside readers, waiters served first come first,
//! generations moving forward, lock-delay respected, sequencers valid
//! exactly while their holding lasts; and a replica restored from a
//! snapshot half way ends with the same digest. The oracle has its own
//! catch tests: fed a bad history, it must object.

mod common;
use std::collections::{BTreeMap, VecDeque};

use common::*;
use synod_coord::lock::LOCK_DELAY_MAX_MS;
use synod_coord::{CoordOp, LockMode, LockOutcome, Sequencer, Tree};
use synod_paxos::{Rng, StateMachine};

const PATHS: [&str; 3] = ["/a", "/b", "/c"];

/// What the oracle believes about one lock.
#[derive(Default)]
struct Belief {
    /// Holder sessions: their mode, generation and lock-delay.
    holders: BTreeMap<i64, (LockMode, u64, i64)>,
    /// Waiters, first come first, with the delay each asked for.
    queue: VecDeque<(i64, LockMode, i64)>,
    /// The highest generation granted on this lock.
    newest: u64,
    /// No grant before this log time (a holder expired).
    blocked_until_ms: i64,
}

/// The oracle: fed what the tree answered, it objects to what no correct
/// lock service could have answered.
#[derive(Default)]
struct Oracle {
    locks: BTreeMap<String, Belief>,
}

impl Oracle {
    fn lock(&mut self, path: &str) -> &mut Belief {
        self.locks.entry(path.to_string()).or_default()
    }

    /// `seq` was granted at log time `now_ms`; `delay_ms` is what its
    /// session asked for; `queued` if it came from the queue.
    fn on_grant(
        &mut self,
        seq: &Sequencer,
        delay_ms: i64,
        now_ms: i64,
        queued: bool,
    ) -> Result<(), String> {
        let b = self.lock(&seq.path);
        if now_ms < b.blocked_until_ms {
            return Err(format!(
                "{seq} granted at {now_ms}, in a lock-delay until {}",
                b.blocked_until_ms
            ));
        }
        if queued {
            match b.queue.pop_front() {
                Some((s, mode, _)) if s == seq.session && mode == seq.mode => {}
                head => return Err(format!("{seq} granted out of turn (head {head:?})")),
            }
        } else if let Some(head) = b.queue.front() {
            return Err(format!("{seq} granted past waiter {head:?}"));
        }
        let writer = seq.mode == LockMode::Exclusive;
        if !b.holders.is_empty()
            && (writer || b.holders.values().any(|h| h.0 == LockMode::Exclusive))
        {
            return Err(format!("{seq} granted beside holders {:?}", b.holders));
        }
        let fresh = b.holders.is_empty();
        if (fresh && seq.generation <= b.newest) || (!fresh && seq.generation != b.newest) {
            return Err(format!("{seq}: generation after {}", b.newest));
        }
        b.newest = seq.generation;
        b.holders
            .insert(seq.session, (seq.mode, seq.generation, delay_ms));
        Ok(())
    }

    fn on_queued(
        &mut self,
        path: &str,
        session: i64,
        mode: LockMode,
        delay_ms: i64,
        ahead: u32,
    ) -> Result<(), String> {
        let b = self.lock(path);
        if b.queue.len() != ahead as usize {
            return Err(format!(
                "{session:#x} queued behind {ahead}, oracle has {}",
                b.queue.len()
            ));
        }
        b.queue.push_back((session, mode, delay_ms));
        Ok(())
    }

    fn on_release(&mut self, path: &str, session: i64) {
        let b = self.lock(path);
        if b.holders.remove(&session).is_none() {
            b.queue.retain(|w| w.0 != session);
        }
    }

    /// `session` ended at `now_ms`, by expiry or by a close.
    fn on_session_end(&mut self, session: i64, now_ms: i64, expired: bool) {
        for b in self.locks.values_mut() {
            b.queue.retain(|w| w.0 != session);
            if let Some((_, _, delay)) = b.holders.remove(&session) {
                if expired {
                    let until = now_ms + delay.clamp(0, LOCK_DELAY_MAX_MS);
                    b.blocked_until_ms = b.blocked_until_ms.max(until);
                }
            }
        }
    }

    /// The tree's own view and its sequencer checks agree with the oracle.
    fn compare(&self, tree: &Tree) -> Result<(), String> {
        for (path, b) in &self.locks {
            let status = tree.lock_status(path, &[]).map_err(|e| e.to_string())?;
            let holders: Vec<i64> = b.holders.keys().copied().collect();
            let queue: Vec<(i64, LockMode)> = b.queue.iter().map(|w| (w.0, w.1)).collect();
            if status.holders != holders || status.waiters != queue {
                return Err(format!(
                    "{path}: tree {status:?}, oracle {holders:?} {queue:?}"
                ));
            }
            for (&s, &(mode, generation, _)) in &b.holders {
                let seq = Sequencer::new(path, mode, generation, s);
                tree.check_sequencer(&seq)
                    .map_err(|e| format!("{seq}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// One replica and the test's picture of the live sessions.
struct Run {
    tree: Tree,
    oracle: Oracle,
    live: Vec<i64>,
    /// Delays asked for by pending acquires, to credit the grant.
    delays: BTreeMap<(String, i64), i64>,
    log: Vec<CoordOp>,
    seen: Seen,
}

/// What the schedules exercised, so a generator that stopped reaching a
/// rule shows up as a failing test rather than as a quiet pass.
#[derive(Default, Debug)]
struct Seen {
    queued_grants: usize,
    conflicts: usize,
    expired_holders: usize,
    grants_after_a_delay: usize,
}

impl Run {
    fn step(&mut self, rng: &mut Rng) -> Result<(), String> {
        let now = self.tree.now_ms();
        let pick = |rng: &mut Rng, n: usize| rng.range(0, n as u64) as usize;
        match rng.range(0, 10) {
            0..=4 if !self.live.is_empty() => {
                let s = self.live[pick(rng, self.live.len())];
                let path = PATHS[pick(rng, PATHS.len())];
                let mode = if rng.chance(0.5) {
                    LockMode::Shared
                } else {
                    LockMode::Exclusive
                };
                let delay = [0, 1_000, 3_000, 90_000][pick(rng, 4)];
                let try_acquire = rng.chance(0.2);
                let op = CoordOp::Acquire {
                    rules: 3,
                    session: s,
                    auth: vec![],
                    path: path.into(),
                    mode,
                    lock_delay_ms: delay,
                    try_acquire,
                };
                match self.apply(op) {
                    synod_coord::CoordReply::Lock(Ok(LockOutcome::Acquired(seq))) => {
                        self.oracle.on_grant(&seq, delay, now, false)?
                    }
                    synod_coord::CoordReply::Lock(Ok(LockOutcome::Queued { ahead })) => {
                        self.delays.insert((path.into(), s), delay);
                        self.oracle.on_queued(path, s, mode, delay, ahead)?
                    }
                    synod_coord::CoordReply::Lock(Err(synod_coord::LockError::Conflict)) => {
                        self.seen.conflicts += 1
                    }
                    _ => {}
                }
            }
            5 | 6 if !self.live.is_empty() => {
                let s = self.live[pick(rng, self.live.len())];
                let path = PATHS[pick(rng, PATHS.len())];
                let op = CoordOp::Release {
                    session: s,
                    path: path.into(),
                };
                if let synod_coord::CoordReply::Lock(Ok(_)) = self.apply(op) {
                    self.oracle.on_release(path, s);
                }
            }
            7 if self.live.len() > 1 => {
                let s = self.live.remove(pick(rng, self.live.len()));
                self.apply(CoordOp::CloseSession { session: s });
                self.oracle.on_session_end(s, now, false);
            }
            8 if self.live.len() < 5 => {
                let op = CoordOp::CreateSession {
                    passwd: vec![1],
                    timeout_ms: TIMEOUT_MS,
                    time_ms: T0,
                };
                if let synod_coord::CoordReply::Session { id, .. } = self.apply(op) {
                    self.live.push(id);
                }
            }
            _ => {
                let touched: Vec<i64> = self
                    .live
                    .iter()
                    .copied()
                    .filter(|_| rng.chance(0.3))
                    .collect();
                self.apply(CoordOp::Touch { sessions: touched });
                let now = now + [100, 1_000, 6_000][pick(rng, 3)] as i64;
                self.apply(CoordOp::Tick {
                    time_ms: now,
                    term: 1,
                });
                let (gone, live): (Vec<i64>, Vec<i64>) = self
                    .live
                    .iter()
                    .partition(|&&s| self.tree.session(s).is_none());
                self.live = live;
                for s in gone {
                    let held = self
                        .oracle
                        .locks
                        .values()
                        .any(|b| b.holders.contains_key(&s));
                    self.seen.expired_holders += usize::from(held);
                    self.oracle.on_session_end(s, now, true);
                }
            }
        }
        let now = self.tree.now_ms();
        for g in self
            .tree
            .take_lock_grants()
            .into_iter()
            .filter(|g| g.waited)
        {
            let delay = self
                .delays
                .remove(&(g.sequencer.path.clone(), g.sequencer.session))
                .unwrap_or(0);
            let b = self.oracle.lock(&g.sequencer.path);
            self.seen.grants_after_a_delay += usize::from(b.blocked_until_ms > 0);
            self.seen.queued_grants += 1;
            self.oracle.on_grant(&g.sequencer, delay, now, true)?;
        }
        self.tree.check_lock_invariants()?;
        self.oracle.compare(&self.tree)
    }

    fn apply(&mut self, op: CoordOp) -> synod_coord::CoordReply {
        self.log.push(op.clone());
        apply(&mut self.tree, op)
    }
}

fn run(seed: u64, steps: usize, seen: &mut Seen) -> Result<(), String> {
    let (mut tree, s) = setup();
    for p in PATHS {
        must_create(&mut tree, s, create(p, b""));
    }
    let mut run = Run {
        tree,
        oracle: Oracle::default(),
        live: vec![s],
        delays: BTreeMap::new(),
        log: Vec::new(),
        seen: Seen::default(),
    };
    let mut rng = Rng::new(seed);
    let mut replica = None;
    for i in 0..steps {
        run.step(&mut rng)
            .map_err(|e| format!("seed {seed} step {i}: {e}"))?;
        if i == steps / 2 {
            let mut r = Tree::new();
            r.restore(&run.tree.snapshot_data()).map_err(|e| e.0)?;
            replica = Some((r, run.log.len()));
        }
    }
    let (mut r, from) = replica.expect("restored half way");
    for op in &run.log[from..] {
        apply(&mut r, op.clone());
    }
    if r.digest() != run.tree.digest() {
        return Err(format!("seed {seed}: the restored replica diverged"));
    }
    seen.queued_grants += run.seen.queued_grants;
    seen.conflicts += run.seen.conflicts;
    seen.expired_holders += run.seen.expired_holders;
    seen.grants_after_a_delay += run.seen.grants_after_a_delay;
    Ok(())
}

#[test]
fn random_schedules_keep_every_lock_rule() {
    let mut seen = Seen::default();
    for seed in 0..300 {
        run(seed, 400, &mut seen).unwrap_or_else(|e| panic!("{e}"));
    }
    println!("{seen:?}");
    assert!(seen.queued_grants > 1_000, "{seen:?}");
    assert!(seen.conflicts > 100, "{seen:?}");
    assert!(seen.expired_holders > 100, "{seen:?}");
    assert!(seen.grants_after_a_delay > 100, "{seen:?}");
}

fn seq(path: &str, mode: LockMode, generation: u64, session: i64) -> Sequencer {
    Sequencer::new(path, mode, generation, session)
}

#[test]
fn the_oracle_objects_to_two_writers() {
    let mut o = Oracle::default();
    o.on_grant(&seq("/a", LockMode::Exclusive, 1, 1), 0, 0, false)
        .expect("first");
    assert!(o
        .on_grant(&seq("/a", LockMode::Exclusive, 2, 2), 0, 0, false)
        .is_err());
    assert!(o
        .on_grant(&seq("/a", LockMode::Shared, 2, 2), 0, 0, false)
        .is_err());
}

#[test]
fn the_oracle_objects_to_a_grant_out_of_turn_or_in_a_lock_delay() {
    let mut o = Oracle::default();
    o.on_grant(&seq("/a", LockMode::Exclusive, 1, 1), 5_000, 0, false)
        .expect("first");
    o.on_queued("/a", 2, LockMode::Exclusive, 0, 0)
        .expect("second waits");
    o.on_queued("/a", 3, LockMode::Exclusive, 0, 1)
        .expect("third waits");
    o.on_release("/a", 1);
    assert!(
        o.on_grant(&seq("/a", LockMode::Exclusive, 2, 3), 0, 10, true)
            .is_err(),
        "3 before 2"
    );

    let mut o = Oracle::default();
    o.on_grant(&seq("/a", LockMode::Exclusive, 1, 1), 5_000, 0, false)
        .expect("first");
    o.on_session_end(1, 100, true);
    assert!(o
        .on_grant(&seq("/a", LockMode::Exclusive, 2, 2), 0, 5_099, false)
        .is_err());
    o.on_grant(&seq("/a", LockMode::Exclusive, 2, 2), 0, 5_100, false)
        .expect("after the delay");
}

#[test]
fn the_oracle_objects_to_a_generation_that_does_not_move_forward() {
    let mut o = Oracle::default();
    o.on_grant(&seq("/a", LockMode::Exclusive, 4, 1), 0, 0, false)
        .expect("first");
    o.on_release("/a", 1);
    assert!(o
        .on_grant(&seq("/a", LockMode::Exclusive, 4, 2), 0, 0, false)
        .is_err());
}
