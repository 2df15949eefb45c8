//! Helpers shared by the integration tests: every op goes through the
//! encoded `StateMachine::apply`, as it does in a replica.
#![allow(dead_code)]

use synod_coord::acl::Rules;
use synod_coord::{
    perms, Acl, CoordOp, CoordReply, CreateMode, ErrorCode, Id, LockError, LockMode, LockOutcome,
    Sequencer, Stat, Tree, Write, WriteOutcome, WriteResult,
};
use synod_paxos::StateMachine;

pub const TIMEOUT_MS: i32 = 10_000;
pub const T0: i64 = 1_700_000_000_000;

pub fn apply(tree: &mut Tree, op: CoordOp) -> CoordReply {
    CoordReply::decode(&tree.apply(&op.encode())).expect("reply decodes")
}

/// A tree after a first Tick at T0 (term 1) and one session.
pub fn setup() -> (Tree, i64) {
    let mut tree = Tree::new();
    tick(&mut tree, T0, 1);
    let s = new_session(&mut tree);
    (tree, s)
}

pub fn new_session(tree: &mut Tree) -> i64 {
    match apply(
        tree,
        CoordOp::CreateSession {
            passwd: vec![7; 16],
            timeout_ms: TIMEOUT_MS,
            time_ms: T0,
        },
    ) {
        CoordReply::Session { id, .. } => id,
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn tick(tree: &mut Tree, time_ms: i64, term: u64) {
    assert_eq!(
        apply(tree, CoordOp::Tick { time_ms, term }),
        CoordReply::Done
    );
}

pub fn close(tree: &mut Tree, session: i64) -> i64 {
    match apply(tree, CoordOp::CloseSession { session }) {
        CoordReply::Closed { zxid } => zxid,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Applies writes as one Batch at `time_ms`.
pub fn batch_at(
    tree: &mut Tree,
    session: i64,
    auth: &[Id],
    time_ms: i64,
    writes: Vec<Write>,
) -> Vec<WriteOutcome> {
    batch_under(
        tree,
        Rules::CURRENT.number(),
        session,
        auth,
        time_ms,
        writes,
    )
}

/// A batch under the ACL rules numbered `rules` (1: the old `Batch`
/// command; otherwise a `RuledBatch`).
pub fn batch_under(
    tree: &mut Tree,
    rules: u16,
    session: i64,
    auth: &[Id],
    time_ms: i64,
    writes: Vec<Write>,
) -> Vec<WriteOutcome> {
    let n = writes.len();
    let auth = auth.to_vec();
    let op = if rules == 1 {
        CoordOp::Batch {
            session,
            auth,
            time_ms,
            writes,
        }
    } else {
        CoordOp::RuledBatch {
            rules,
            session,
            auth,
            time_ms,
            writes,
        }
    };
    match apply(tree, op) {
        CoordReply::Batch(out) => {
            assert_eq!(out.len(), n, "one outcome per write");
            out
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn run_as(tree: &mut Tree, session: i64, auth: &[Id], w: Write) -> WriteOutcome {
    batch_at(tree, session, auth, T0 + 5, vec![w]).remove(0)
}

pub fn run(tree: &mut Tree, session: i64, w: Write) -> WriteOutcome {
    run_as(tree, session, &[], w)
}

pub fn res(tree: &mut Tree, session: i64, w: Write) -> Result<WriteResult, ErrorCode> {
    run(tree, session, w).result
}

pub fn err(tree: &mut Tree, session: i64, w: Write) -> ErrorCode {
    res(tree, session, w).expect_err("expected the write to fail")
}

pub fn create_with(path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode, ttl_ms: i64) -> Write {
    Write::Create {
        path: path.into(),
        data: data.to_vec(),
        acl,
        mode,
        ttl_ms,
    }
}

pub fn create(path: &str, data: &[u8]) -> Write {
    create_with(path, data, Acl::open_unsafe(), CreateMode::Persistent, -1)
}

pub fn create_mode(path: &str, mode: CreateMode) -> Write {
    create_with(path, b"", Acl::open_unsafe(), mode, -1)
}

pub fn delete(path: &str, version: i32) -> Write {
    Write::Delete {
        path: path.into(),
        version,
    }
}

pub fn set_data(path: &str, data: &[u8], version: i32) -> Write {
    Write::SetData {
        path: path.into(),
        data: data.to_vec(),
        version,
    }
}

pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Write {
    Write::SetAcl {
        path: path.into(),
        acl,
        version,
    }
}

pub fn check(path: &str, version: i32) -> Write {
    Write::Check {
        path: path.into(),
        version,
    }
}

/// Creates and returns the created path, panicking on failure.
pub fn must_create(tree: &mut Tree, session: i64, w: Write) -> (String, Stat) {
    match res(tree, session, w) {
        Ok(WriteResult::Created { path, stat }) => (path, stat),
        other => panic!("create failed: {other:?}"),
    }
}

pub fn stat(tree: &Tree, path: &str) -> Stat {
    tree.exists(path).unwrap_or_else(|| panic!("{path} exists"))
}

pub fn world(perms: i32) -> Vec<Acl> {
    vec![Acl::new(perms, "world", "anyone")]
}

pub const ALL: i32 = perms::ALL;

/// An Acquire (a try if `try_acquire`) under the current ACL rules, with
/// no identities but `world:anyone`.
pub fn acquire_with(
    tree: &mut Tree,
    session: i64,
    path: &str,
    mode: LockMode,
    lock_delay_ms: i64,
    try_acquire: bool,
) -> Result<LockOutcome, LockError> {
    let op = CoordOp::Acquire {
        rules: Rules::CURRENT.number(),
        session,
        auth: vec![],
        path: path.into(),
        mode,
        lock_delay_ms,
        try_acquire,
    };
    match apply(tree, op) {
        CoordReply::Lock(r) => r,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A waiting Acquire with no lock-delay.
pub fn acquire(
    tree: &mut Tree,
    session: i64,
    path: &str,
    mode: LockMode,
) -> Result<LockOutcome, LockError> {
    acquire_with(tree, session, path, mode, 0, false)
}

/// An Acquire that must be granted at once; its sequencer.
pub fn must_hold(tree: &mut Tree, session: i64, path: &str, mode: LockMode) -> Sequencer {
    match acquire(tree, session, path, mode) {
        Ok(LockOutcome::Acquired(seq)) => seq,
        other => panic!("expected {path} granted to {session:#x}: {other:?}"),
    }
}

pub fn release(tree: &mut Tree, session: i64, path: &str) -> Result<LockOutcome, LockError> {
    match apply(
        tree,
        CoordOp::Release {
            session,
            path: path.into(),
        },
    ) {
        CoordReply::Lock(r) => r,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The sessions that waiters were granted since the last call, in order.
pub fn granted(tree: &mut Tree) -> Vec<Sequencer> {
    tree.take_lock_grants()
        .into_iter()
        .filter(|g| g.waited)
        .map(|g| g.sequencer)
        .collect()
}
