//! The lock table itself, pure: grants, queues, lock-delay and the
//! indexes derived from them. The tree checks the znode, the session and
//! the ACL before it calls in (`lock::apply`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{
    Lock, LockError, LockGrant, LockMode, LockOutcome, LockStatus, Locks, Sequencer, Waiter,
    ENTRY_BYTES, HOLDERS_PER_LOCK_MAX, LOCKS_MAX, LOCK_BYTES, LOCK_DELAY_MAX_MS,
    LOCK_TABLE_BYTES_MAX, WAITERS_PER_LOCK_MAX,
};

/// What `Locks` implies, kept beside it and rebuilt on restore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct LockIndex {
    /// The locks each session holds or waits for.
    by_session: BTreeMap<i64, BTreeSet<String>>,
    /// Running lock-delays by the log time they end.
    delays: BTreeSet<(i64, String)>,
    /// The table's size as the limits count it.
    bytes: u64,
}

impl LockIndex {
    fn of(locks: &Locks) -> Self {
        let mut index = LockIndex::default();
        for (path, lock) in &locks.by_path {
            index.bytes += record_bytes(path, lock);
            let sessions = lock
                .holders
                .keys()
                .copied()
                .chain(lock.waiters.iter().map(|w| w.session));
            for s in sessions {
                index.by_session.entry(s).or_default().insert(path.clone());
            }
            if let Some(until) = lock.delayed_until_ms {
                index.delays.insert((until, path.clone()));
            }
        }
        index
    }

    fn add_session(&mut self, session: i64, path: &str) {
        self.by_session
            .entry(session)
            .or_default()
            .insert(path.to_string());
    }

    fn remove_session(&mut self, session: i64, path: &str) {
        if let Some(paths) = self.by_session.get_mut(&session) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_session.remove(&session);
            }
        }
    }
}

/// The bytes a record counts for against `LOCK_TABLE_BYTES_MAX`.
fn record_bytes(path: &str, lock: &Lock) -> u64 {
    let entries = (lock.holders.len() + lock.waiters.len()) as u64;
    LOCK_BYTES + path.len() as u64 + ENTRY_BYTES * entries
}

/// The replicated lock table, its derived indexes, and the grants made to
/// waiters since the front door last took them.
#[derive(Clone, Debug, Default)]
pub(crate) struct LockTable {
    locks: Locks,
    index: LockIndex,
    /// Grants not yet taken: at most one per acquire applied since the
    /// last `take_grants`, so the drive loop that takes them after every
    /// step bounds them by the step's commands and waiters.
    grants: Vec<LockGrant>,
    /// Locks left by sessions expiring in the Tick being applied, to be
    /// served at its end (`on_tick`); empty between applies.
    expired_on: BTreeSet<String>,
}

impl LockTable {
    /// The table a snapshot held, checked on its own (the tree checks the
    /// znodes and sessions it names, `check_restored`).
    pub(crate) fn from_replicated(locks: Locks) -> Result<Self, String> {
        let index = LockIndex::of(&locks);
        let table = LockTable {
            locks,
            index,
            grants: Vec::new(),
            expired_on: BTreeSet::new(),
        };
        table.check()?;
        Ok(table)
    }

    /// What the snapshot writes.
    pub(crate) fn replicated(&self) -> &Locks {
        &self.locks
    }

    /// Whether a record exists for `path`: holders, waiters or a delay.
    pub(crate) fn pins(&self, path: &str) -> bool {
        self.locks.by_path.contains_key(path)
    }

    pub(crate) fn len(&self) -> usize {
        self.locks.by_path.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.index.bytes
    }

    pub(crate) fn take_grants(&mut self) -> Vec<LockGrant> {
        std::mem::take(&mut self.grants)
    }

    pub(crate) fn pending_grants(&self) -> &[LockGrant] {
        &self.grants
    }

    /// `session` asks for `path` in `mode` at log time `now_ms`: granted
    /// at once if no one waits, no lock-delay runs and the holders allow
    /// it; otherwise a try fails and anything else waits its turn.
    pub(crate) fn acquire(
        &mut self,
        now_ms: i64,
        path: &str,
        session: i64,
        mode: LockMode,
        lock_delay_ms: i64,
        try_acquire: bool,
    ) -> Result<LockOutcome, LockError> {
        let lock_delay_ms = lock_delay_ms.clamp(0, LOCK_DELAY_MAX_MS);
        let mut added = ENTRY_BYTES;
        let grant_now = match self.locks.by_path.get(path) {
            None => {
                added += LOCK_BYTES + path.len() as u64;
                if self.locks.by_path.len() >= LOCKS_MAX {
                    return Err(LockError::TableFull);
                }
                true
            }
            Some(lock) => {
                if lock.holders.contains_key(&session) {
                    return Err(LockError::AlreadyHeld);
                }
                if lock.waiters.iter().any(|w| w.session == session) {
                    return Err(LockError::AlreadyWaiting);
                }
                let grant_now =
                    lock.waiters.is_empty() && !delayed(lock, now_ms) && grantable(lock, mode);
                if !grant_now && try_acquire {
                    return Err(LockError::Conflict);
                }
                if !grant_now && lock.waiters.len() >= WAITERS_PER_LOCK_MAX {
                    return Err(LockError::WaitersFull);
                }
                grant_now
            }
        };
        if self.index.bytes + added > LOCK_TABLE_BYTES_MAX {
            return Err(LockError::TableFull);
        }
        self.index.bytes += added;
        self.index.add_session(session, path);
        let lock = self
            .locks
            .by_path
            .entry(path.to_string())
            .or_insert_with(|| Lock {
                generation: 0,
                mode,
                holders: BTreeMap::new(),
                waiters: VecDeque::new(),
                delayed_until_ms: None,
            });
        if grant_now {
            grant(
                &mut self.locks.last_generation,
                lock,
                session,
                mode,
                lock_delay_ms,
            );
            let sequencer = Sequencer::new(path, mode, lock.generation, session);
            self.grants.push(LockGrant {
                sequencer: sequencer.clone(),
                waited: false,
            });
            return Ok(LockOutcome::Acquired(sequencer));
        }
        let ahead = u32::try_from(lock.waiters.len()).expect("waiters are bounded");
        lock.waiters.push_back(Waiter {
            session,
            mode,
            lock_delay_ms,
        });
        Ok(LockOutcome::Queued { ahead })
    }

    /// `session` lets go of `path`: as a holder (free at once) or as a
    /// waiter (its request withdrawn).
    pub(crate) fn release(
        &mut self,
        now_ms: i64,
        path: &str,
        session: i64,
    ) -> Result<LockOutcome, LockError> {
        let lock = self.locks.by_path.get_mut(path).ok_or(LockError::NotHeld)?;
        let outcome = if lock.holders.remove(&session).is_some() {
            LockOutcome::Released
        } else if let Some(i) = lock.waiters.iter().position(|w| w.session == session) {
            lock.waiters.remove(i);
            LockOutcome::Withdrawn
        } else {
            return Err(LockError::NotHeld);
        };
        self.index.bytes -= ENTRY_BYTES;
        self.index.remove_session(session, path);
        self.serve(now_ms, path);
        Ok(outcome)
    }

    /// `session` ended at log time `now_ms`: every lock it held is
    /// released, every wait dropped. After a close the queues are served at
    /// once. After an expiry (which only a Tick does) they are served by
    /// `on_tick`, once every session that expired at this log time has
    /// ended and started its lock-delay: the sessions of one Tick end
    /// together, whatever their ids.
    pub(crate) fn on_session_end(&mut self, now_ms: i64, session: i64, expired: bool) {
        let paths = self.index.by_session.remove(&session).unwrap_or_default();
        for path in &paths {
            let lock = self.locks.by_path.get_mut(path).expect("indexed lock");
            if let Some(lock_delay_ms) = lock.holders.remove(&session) {
                if expired && lock_delay_ms > 0 {
                    let until = now_ms.saturating_add(lock_delay_ms);
                    self.delay(path, until);
                }
            } else {
                let i = lock
                    .waiters
                    .iter()
                    .position(|w| w.session == session)
                    .expect("indexed session holds or waits");
                lock.waiters.remove(i);
            }
            self.index.bytes -= ENTRY_BYTES;
            if expired {
                self.expired_on.insert(path.clone());
            } else {
                self.serve(now_ms, path);
            }
        }
    }

    /// Log time is `now_ms`, and the sessions that expired at it have
    /// ended: the locks they left serve their queues, and so does every
    /// lock whose lock-delay ended.
    pub(crate) fn on_tick(&mut self, now_ms: i64) {
        for path in std::mem::take(&mut self.expired_on) {
            self.serve(now_ms, &path);
        }
        while let Some((until, path)) = self.index.delays.first().cloned() {
            if until > now_ms {
                break;
            }
            self.index.delays.remove(&(until, path.clone()));
            let lock = self.locks.by_path.get_mut(&path).expect("indexed delay");
            lock.delayed_until_ms = None;
            self.serve(now_ms, &path);
        }
    }

    /// Starts (or lengthens) a lock-delay on an existing record.
    fn delay(&mut self, path: &str, until_ms: i64) {
        let lock = self.locks.by_path.get_mut(path).expect("delay of a lock");
        if let Some(old) = lock.delayed_until_ms {
            if old >= until_ms {
                return;
            }
            self.index.delays.remove(&(old, path.to_string()));
        }
        lock.delayed_until_ms = Some(until_ms);
        self.index.delays.insert((until_ms, path.to_string()));
    }

    /// Grants from the head of `path`'s queue while the head can hold the
    /// lock, then forgets the record if nothing is left in it.
    fn serve(&mut self, now_ms: i64, path: &str) {
        let mut last_generation = self.locks.last_generation;
        let Some(lock) = self.locks.by_path.get_mut(path) else {
            return;
        };
        if !delayed(lock, now_ms) {
            while let Some(w) = lock.waiters.front() {
                if !grantable(lock, w.mode) {
                    break;
                }
                let w = lock.waiters.pop_front().expect("front exists");
                grant(
                    &mut last_generation,
                    lock,
                    w.session,
                    w.mode,
                    w.lock_delay_ms,
                );
                let sequencer = Sequencer::new(path, w.mode, lock.generation, w.session);
                self.grants.push(LockGrant {
                    sequencer,
                    waited: true,
                });
            }
        }
        self.locks.last_generation = last_generation;
        if lock.holders.is_empty() && lock.waiters.is_empty() && lock.delayed_until_ms.is_none() {
            self.locks.by_path.remove(path);
            self.index.bytes -= LOCK_BYTES + path.len() as u64;
        }
    }

    /// The lock at `path` as `synod lock status` shows it (a free lock
    /// with no record: everything empty).
    pub(crate) fn status(&self, path: &str) -> LockStatus {
        let Some(lock) = self.locks.by_path.get(path) else {
            return LockStatus::default();
        };
        LockStatus {
            mode: (!lock.holders.is_empty()).then_some(lock.mode),
            generation: lock.generation,
            holders: lock.holders.keys().copied().collect(),
            waiters: lock.waiters.iter().map(|w| (w.session, w.mode)).collect(),
            delayed_until_ms: lock.delayed_until_ms,
        }
    }

    /// The record at `path`, for checking a sequencer.
    pub(crate) fn get(&self, path: &str) -> Option<&Lock> {
        self.locks.by_path.get(path)
    }

    /// What every table that applies produce keeps: no empty records,
    /// modes and counts within bounds, generations handed out, no head
    /// waiter that could hold the lock, the index equal to a rebuilt one.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.locks.by_path.len() > LOCKS_MAX || self.index.bytes > LOCK_TABLE_BYTES_MAX {
            return Err("lock table over its limits".into());
        }
        if !self.expired_on.is_empty() {
            return Err("locks of expired sessions left unserved".into());
        }
        for (path, lock) in &self.locks.by_path {
            let bad = |what: &str| Err(format!("lock {path}: {what}"));
            if lock.holders.is_empty() && lock.waiters.is_empty() && lock.delayed_until_ms.is_none()
            {
                return bad("an empty record");
            }
            if lock.generation == 0 || lock.generation > self.locks.last_generation {
                return bad("a generation never handed out");
            }
            if lock.mode == LockMode::Exclusive && lock.holders.len() > 1 {
                return bad("two exclusive holders");
            }
            if lock.holders.len() > HOLDERS_PER_LOCK_MAX
                || lock.waiters.len() > WAITERS_PER_LOCK_MAX
            {
                return bad("over its limits");
            }
            let mut seen: BTreeSet<i64> = lock.holders.keys().copied().collect();
            if !lock.waiters.iter().all(|w| seen.insert(w.session)) {
                return bad("a session twice");
            }
            let delays = lock
                .holders
                .values()
                .chain(lock.waiters.iter().map(|w| &w.lock_delay_ms));
            if delays
                .into_iter()
                .any(|d| !(0..=LOCK_DELAY_MAX_MS).contains(d))
            {
                return bad("a lock-delay out of range");
            }
            let head_waits = lock.waiters.front().map(|w| grantable(lock, w.mode));
            if lock.delayed_until_ms.is_none() && head_waits == Some(true) {
                return bad("a waiter that could hold the lock");
            }
        }
        if self.index != LockIndex::of(&self.locks) {
            return Err("lock index differs from the table".into());
        }
        Ok(())
    }

    /// Every session the table names, for the tree to check they live.
    pub(crate) fn sessions(&self) -> impl Iterator<Item = i64> + '_ {
        self.index.by_session.keys().copied()
    }

    /// The log time the first running lock-delay ends, if one runs.
    pub(crate) fn first_delay_end_ms(&self) -> Option<i64> {
        self.index.delays.first().map(|(until, _)| *until)
    }

    /// Every locked path, for the tree to check its znode.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.locks.by_path.keys().map(String::as_str)
    }
}

/// Makes `session` a holder of `lock` in `mode`, which `grantable` allows:
/// the next generation if no one held it, the shared epoch's if it joins.
fn grant(last_generation: &mut u64, lock: &mut Lock, session: i64, mode: LockMode, delay_ms: i64) {
    assert!(grantable(lock, mode), "granted a lock its holders exclude");
    if lock.holders.is_empty() {
        *last_generation = last_generation
            .checked_add(1)
            .expect("lock generations are 64-bit and never roll over");
        lock.generation = *last_generation;
        lock.mode = mode;
    }
    lock.holders.insert(session, delay_ms);
}

/// Whether a lock-delay keeps `lock` from granting at `now_ms`.
fn delayed(lock: &Lock, now_ms: i64) -> bool {
    lock.delayed_until_ms.is_some_and(|until| now_ms < until)
}

/// Whether a waiter for `mode` can hold `lock` beside its holders.
fn grantable(lock: &Lock, mode: LockMode) -> bool {
    lock.holders.is_empty()
        || (mode == LockMode::Shared
            && lock.mode == LockMode::Shared
            && lock.holders.len() < HOLDERS_PER_LOCK_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockMode::{Exclusive, Shared};

    fn granted(r: Result<LockOutcome, LockError>) -> bool {
        matches!(r, Ok(LockOutcome::Acquired(_)))
    }

    #[test]
    fn the_table_holds_at_most_locks_max_records() {
        let mut t = LockTable::default();
        for i in 0..LOCKS_MAX {
            let path = format!("/{i}");
            assert!(granted(t.acquire(0, &path, 1, Exclusive, 0, false)));
        }
        let before = t.bytes();
        assert_eq!(
            t.acquire(0, "/one-more", 1, Exclusive, 0, false),
            Err(LockError::TableFull)
        );
        assert_eq!((t.len(), t.bytes()), (LOCKS_MAX, before));
        // An existing lock still takes holders and waiters.
        assert_eq!(
            t.acquire(0, "/0", 2, Exclusive, 0, true),
            Err(LockError::Conflict)
        );
        assert_eq!(
            t.acquire(0, "/0", 2, Exclusive, 0, false),
            Ok(LockOutcome::Queued { ahead: 0 })
        );
        t.check().expect("invariants");
    }

    #[test]
    fn the_table_holds_at_most_its_bytes() {
        let mut t = LockTable::default();
        let long = |i: usize| format!("/{i}-{}", "p".repeat(1 << 20));
        let mut i = 0;
        while t.bytes() + LOCK_BYTES + long(i).len() as u64 + ENTRY_BYTES <= LOCK_TABLE_BYTES_MAX {
            assert!(granted(t.acquire(0, &long(i), 1, Exclusive, 0, false)));
            i += 1;
        }
        assert!(i > 30, "{i} long paths fit");
        assert_eq!(
            t.acquire(0, &long(i), 1, Exclusive, 0, false),
            Err(LockError::TableFull)
        );
        assert!(t.bytes() <= LOCK_TABLE_BYTES_MAX);
        t.check().expect("invariants");
    }

    #[test]
    fn shared_holders_beyond_the_limit_wait() {
        let mut t = LockTable::default();
        for s in 0..HOLDERS_PER_LOCK_MAX as i64 {
            assert!(granted(t.acquire(0, "/l", s, Shared, 0, false)));
        }
        let at_once = t.take_grants();
        assert_eq!(at_once.len(), HOLDERS_PER_LOCK_MAX);
        assert!(at_once.iter().all(|g| !g.waited), "{at_once:?}");
        let late = HOLDERS_PER_LOCK_MAX as i64;
        assert_eq!(
            t.acquire(0, "/l", late, Shared, 0, true),
            Err(LockError::Conflict)
        );
        assert_eq!(
            t.acquire(0, "/l", late, Shared, 0, false),
            Ok(LockOutcome::Queued { ahead: 0 })
        );
        t.release(0, "/l", 0).expect("held");
        let grants = t.take_grants();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].sequencer.session, late);
        assert!(grants[0].waited);
        t.check().expect("invariants");
    }

    fn record(generation: u64, mode: LockMode, holders: &[i64], waiters: &[Waiter]) -> Lock {
        Lock {
            generation,
            mode,
            holders: holders.iter().map(|&s| (s, 0)).collect(),
            waiters: waiters.iter().cloned().collect(),
            delayed_until_ms: None,
        }
    }

    #[test]
    fn a_restore_refuses_a_table_applies_cannot_produce() {
        let waiter = |session, mode| Waiter {
            session,
            mode,
            lock_delay_ms: 0,
        };
        let bad = [
            ("an empty record", record(1, Exclusive, &[], &[])),
            (
                "a generation never handed out",
                record(9, Exclusive, &[1], &[]),
            ),
            ("two exclusive holders", record(1, Exclusive, &[1, 2], &[])),
            (
                "a session twice",
                record(1, Exclusive, &[1], &[waiter(1, Shared)]),
            ),
            (
                "a waiter that could hold the lock",
                record(1, Shared, &[1], &[waiter(2, Shared)]),
            ),
        ];
        for (what, lock) in bad {
            let locks = Locks {
                last_generation: 1,
                by_path: BTreeMap::from([("/l".to_string(), lock)]),
            };
            let err = LockTable::from_replicated(locks).expect_err(what);
            assert!(err.contains(what), "{err}");
        }
        let good = Locks {
            last_generation: 1,
            by_path: BTreeMap::from([(
                "/l".to_string(),
                record(1, Shared, &[1], &[waiter(2, Exclusive)]),
            )]),
        };
        let table = LockTable::from_replicated(good).expect("applies make this");
        assert_eq!(table.bytes(), LOCK_BYTES + 2 + 2 * ENTRY_BYTES);
    }
}
