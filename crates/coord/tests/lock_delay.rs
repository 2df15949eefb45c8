//! Lock-delay and the end of sessions (Chubby, section 2.4): a lock whose
//! holder's session expires stays unavailable for the holder's lock-delay;
//! a release or a close frees it at once.

mod common;
use common::*;
use synod_coord::lock::{Invalid, LOCK_DELAY_MAX_MS};
use synod_coord::{CoordOp, ErrorCode, LockError, LockMode, LockOutcome, Tree};

use LockMode::{Exclusive, Shared};

/// Log time at which sessions created by `setup` expire if never touched.
const EXPIRY: i64 = T0 + TIMEOUT_MS as i64;

fn touch(tree: &mut Tree, sessions: &[i64]) {
    apply(
        tree,
        CoordOp::Touch {
            sessions: sessions.to_vec(),
        },
    );
}

/// `a` holds `/l` exclusively with `delay_ms` and `b` waits for it; then
/// `a` expires at `EXPIRY` while `b` is kept alive.
fn holder_expires(delay_ms: i64) -> (Tree, i64, i64) {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    assert!(matches!(
        acquire_with(&mut tree, a, "/l", Exclusive, delay_ms, false),
        Ok(LockOutcome::Acquired(_))
    ));
    assert_eq!(
        acquire(&mut tree, b, "/l", Exclusive),
        Ok(LockOutcome::Queued { ahead: 0 })
    );
    tick(&mut tree, T0 + 5_000, 1);
    touch(&mut tree, &[b]);
    tick(&mut tree, EXPIRY, 1);
    assert!(tree.session(a).is_none(), "a expired");
    assert!(tree.session(b).is_some(), "b lives");
    (tree, a, b)
}

#[test]
fn an_expired_holders_lock_stays_unavailable_for_its_lock_delay() {
    let (mut tree, _, b) = holder_expires(5_000);
    let status = tree.lock_status("/l", &[]).expect("exists");
    assert!(
        status.holders.is_empty(),
        "the expired session holds nothing"
    );
    assert_eq!(status.delayed_until_ms, Some(EXPIRY + 5_000));
    assert_eq!(status.waiters, [(b, Exclusive)]);
    assert!(granted(&mut tree).is_empty(), "b waits out the delay");

    let c = new_session(&mut tree);
    assert_eq!(
        acquire_with(&mut tree, c, "/l", Shared, 0, true),
        Err(LockError::Conflict),
        "no one gets it during the delay"
    );
    assert_eq!(
        err(&mut tree, c, delete("/l", -1)),
        ErrorCode::NotEmpty,
        "nor can it be deleted and made again"
    );
    tick(&mut tree, EXPIRY + 4_999, 1);
    assert!(granted(&mut tree).is_empty(), "one millisecond early");
    touch(&mut tree, &[b]);
    tick(&mut tree, EXPIRY + 5_000, 1);
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].session, b);
    assert_eq!(tree.check_sequencer(&woken[0]), Ok(()));
    assert_eq!(
        tree.lock_status("/l", &[])
            .expect("exists")
            .delayed_until_ms,
        None
    );
    tree.check_lock_invariants().expect("invariants");
}

#[test]
fn a_lock_delay_with_no_one_waiting_ends_and_forgets_the_lock() {
    let (mut tree, _, b) = holder_expires(2_000);
    release(&mut tree, b, "/l").expect("b withdraws");
    assert_eq!(tree.lock_count(), 1, "the delay keeps the record");
    tick(&mut tree, EXPIRY + 2_000, 1);
    assert_eq!(tree.lock_count(), 0);
    assert_eq!(tree.lock_bytes(), 0);
    must_hold(&mut tree, b, "/l", Exclusive);
}

#[test]
fn a_zero_lock_delay_frees_the_lock_at_expiry() {
    let (mut tree, _, b) = holder_expires(0);
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].session, b);
}

#[test]
fn the_lock_delay_is_at_most_a_minute() {
    let (tree, _, _) = holder_expires(10 * 60_000);
    assert_eq!(
        tree.lock_status("/l", &[])
            .expect("exists")
            .delayed_until_ms,
        Some(EXPIRY + LOCK_DELAY_MAX_MS)
    );
    let (tree, _, _) = holder_expires(-5);
    assert_eq!(
        tree.lock_status("/l", &[])
            .expect("exists")
            .delayed_until_ms,
        None,
        "a negative delay is none"
    );
}

#[test]
fn a_release_frees_the_lock_at_once_whatever_its_delay() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    acquire_with(&mut tree, a, "/l", Exclusive, LOCK_DELAY_MAX_MS, false).expect("granted");
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    release(&mut tree, a, "/l").expect("held");
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].session, b);
}

#[test]
fn a_closed_session_releases_its_locks_at_once() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    must_create(&mut tree, a, create("/m", b""));
    let held = match acquire_with(&mut tree, a, "/l", Exclusive, LOCK_DELAY_MAX_MS, false) {
        Ok(LockOutcome::Acquired(seq)) => seq,
        other => panic!("{other:?}"),
    };
    must_hold(&mut tree, b, "/m", Exclusive);
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    acquire(&mut tree, a, "/m", Shared).expect("queues");
    close(&mut tree, a);
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!((woken[0].path.as_str(), woken[0].session), ("/l", b));
    assert_eq!(
        tree.check_sequencer(&held),
        Err(Invalid::Superseded {
            current: woken[0].generation
        })
    );
    let m = tree.lock_status("/m", &[]).expect("exists");
    assert!(m.waiters.is_empty(), "a's wait ended with its session");
    assert_eq!(m.delayed_until_ms, None);
    tree.check_lock_invariants().expect("invariants");
}

#[test]
fn an_expired_shared_holder_delays_new_holders_but_not_the_others() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    let c = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    acquire_with(&mut tree, a, "/l", Shared, 3_000, false).expect("granted");
    let rb = must_hold(&mut tree, b, "/l", Shared);
    tick(&mut tree, T0 + 5_000, 1);
    touch(&mut tree, &[b, c]);
    tick(&mut tree, EXPIRY, 1);
    assert_eq!(tree.check_sequencer(&rb), Ok(()), "b still reads");
    assert_eq!(
        acquire(&mut tree, c, "/l", Shared),
        Ok(LockOutcome::Queued { ahead: 0 })
    );
    tick(&mut tree, EXPIRY + 3_000, 1);
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].session, c);
    assert_eq!(woken[0].generation, rb.generation, "c joins b's epoch");
    tree.check_lock_invariants().expect("invariants");
}

#[test]
fn an_expired_waiter_leaves_the_queue() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    let c = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    must_hold(&mut tree, a, "/l", Exclusive);
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    acquire(&mut tree, c, "/l", Exclusive).expect("queues");
    tick(&mut tree, T0 + 5_000, 1);
    touch(&mut tree, &[a, c]);
    tick(&mut tree, EXPIRY, 1);
    assert!(tree.session(b).is_none());
    assert_eq!(
        tree.lock_status("/l", &[]).expect("exists").waiters,
        [(c, Exclusive)]
    );
    release(&mut tree, a, "/l").expect("held");
    assert_eq!(granted(&mut tree)[0].session, c);
}

/// Found by `lock_model`: a waiter and a holder expiring at one Tick.
/// Ended one by one in id order, the waiter's leaving let the reader
/// behind it join the holder that was about to expire, escaping its
/// lock-delay.
#[test]
fn sessions_that_expire_at_one_tick_end_together() {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    let c = new_session(&mut tree);
    assert!(a < b, "a ends first if ended in id order");
    must_create(&mut tree, c, create("/l", b""));
    let rb = match acquire_with(&mut tree, b, "/l", Shared, 3_000, false) {
        Ok(LockOutcome::Acquired(seq)) => seq,
        other => panic!("{other:?}"),
    };
    acquire(&mut tree, a, "/l", Exclusive).expect("queues");
    acquire(&mut tree, c, "/l", Shared).expect("queues behind a");
    tick(&mut tree, T0 + 5_000, 1);
    touch(&mut tree, &[c]);
    tick(&mut tree, EXPIRY, 1);
    assert!(tree.session(a).is_none() && tree.session(b).is_none());
    assert!(granted(&mut tree).is_empty(), "c waits out b's lock-delay");
    tick(&mut tree, EXPIRY + 3_000, 1);
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0].session, c);
    assert!(woken[0].generation > rb.generation, "a new shared epoch");
    tree.check_lock_invariants().expect("invariants");
}
