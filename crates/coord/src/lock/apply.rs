//! The tree's side of the lock operations: the session, the znode and its
//! ACL are checked here, in that order, before the lock table is asked;
//! and the reads (`lock_status`, `check_sequencer`).

use super::{Invalid, LockError, LockGrant, LockMode, LockOutcome, LockStatus, Sequencer};
use crate::acl::{self, Rules};
use crate::node::OwnerKind;
use crate::path;
use crate::tree::{State, Tree};
use crate::types::{perms, ErrorCode, Id};

/// An `Acquire` as the log carries it.
pub(crate) struct AcquireArgs<'a> {
    pub rules: u16,
    pub session: i64,
    pub auth: &'a [Id],
    pub path: &'a str,
    pub mode: LockMode,
    pub lock_delay_ms: i64,
    pub try_acquire: bool,
}

impl Tree {
    /// `CoordOp::Acquire`. Refreshes the session, as any command of it does.
    pub(crate) fn on_acquire(&mut self, a: &AcquireArgs) -> Result<LockOutcome, LockError> {
        let rules = Rules::from_number(a.rules).ok_or(LockError::Unimplemented)?;
        if !self.refresh(a.session) {
            return Err(LockError::SessionExpired);
        }
        path::validate_path(a.path).map_err(|_| LockError::BadPath)?;
        let n = self.node(a.path).ok_or(LockError::NoNode)?;
        if n.owner_kind() != OwnerKind::Void {
            return Err(LockError::NotLockable);
        }
        acl::check_under(rules, self.acl_of(&n), perms::WRITE, a.auth)
            .map_err(|_| LockError::NoAuth)?;
        let now_ms = self.state.now_ms;
        self.state.locks.acquire(
            now_ms,
            a.path,
            a.session,
            a.mode,
            a.lock_delay_ms,
            a.try_acquire,
        )
    }

    /// `CoordOp::Release`. Refreshes the session, as any command of it does.
    pub(crate) fn on_release(
        &mut self,
        session: i64,
        path: &str,
    ) -> Result<LockOutcome, LockError> {
        if !self.refresh(session) {
            return Err(LockError::SessionExpired);
        }
        let now_ms = self.state.now_ms;
        self.state.locks.release(now_ms, path, session)
    }

    /// `synod lock status PATH`: holders, mode, generation, waiters and a
    /// running lock-delay. Needs READ on the znode, as getData does.
    pub fn lock_status(&self, path: &str, auth: &[Id]) -> Result<LockStatus, ErrorCode> {
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check(self.acl_of(&n), perms::READ, auth)?;
        Ok(self.state.locks.status(path))
    }

    /// Chubby's CheckSequencer: `Ok` iff `seq`'s generation is its lock's
    /// current one and its session holds the lock in its mode. A read of
    /// the applied tree: as fresh as the replica that answers.
    pub fn check_sequencer(&self, seq: &Sequencer) -> Result<(), Invalid> {
        self.state.locks.check_sequencer(seq)
    }

    /// The grants made since the last call (at once and to waiters), in
    /// apply order.
    /// Whoever proposes lock commands must take them after every step
    /// (as the drive loop takes watch triggers), or they pile up.
    pub fn take_lock_grants(&mut self) -> Vec<LockGrant> {
        self.state.locks.take_grants()
    }

    /// The grants made and not yet taken, in apply order (what
    /// `take_lock_grants` would return), for an observer of single applies.
    pub fn pending_lock_grants(&self) -> &[LockGrant] {
        self.state.locks.pending_grants()
    }

    /// Lock records the table holds (a lock with holders, waiters or a
    /// lock-delay running).
    pub fn lock_count(&self) -> usize {
        self.state.locks.len()
    }

    /// The lock table's size as its byte limit counts it.
    pub fn lock_bytes(&self) -> u64 {
        self.state.locks.bytes()
    }

    /// The lock table's invariants (`LockTable::check`) and its ties to the
    /// tree: every lock on a persistent znode, every session in it live.
    pub fn check_lock_invariants(&self) -> Result<(), String> {
        self.state.locks.check()?;
        check_ties(&self.state)
    }
}

/// Every locked path names a persistent znode, every session the table
/// names is live, and every lock-delay ends after log time (the Tick that
/// reaches its end serves it).
pub(crate) fn check_ties(state: &State) -> Result<(), String> {
    if let Some(until) = state.locks.first_delay_end_ms() {
        if until <= state.now_ms {
            return Err(format!(
                "a lock-delay ended at {until}, log time is {}",
                state.now_ms
            ));
        }
    }
    for p in state.locks.paths() {
        match state.nodes.get(p.as_bytes()) {
            Some(n) if n.owner_kind() == OwnerKind::Void => {}
            _ => return Err(format!("lock {p} has no persistent znode")),
        }
    }
    for s in state.locks.sessions() {
        if !state.sessions.contains_key(&s) {
            return Err(format!(
                "lock table names session {s:#x}, which is not live"
            ));
        }
    }
    Ok(())
}
