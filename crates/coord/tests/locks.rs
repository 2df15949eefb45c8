//! Chubby's locks on the tree (Burrows, OSDI'06, section 2.4), each test
//! named after the rule it checks. Every op goes through the encoded
//! `StateMachine::apply`, and the lock table's invariants are checked
//! after each test's steps.

mod common;
use common::*;
use synod_coord::lock::{Invalid, WAITERS_PER_LOCK_MAX};
use synod_coord::{Acl, CreateMode, ErrorCode, LockError, LockMode, LockOutcome, Tree};

use LockMode::{Exclusive, Shared};

/// A tree with one session, a second one, and the persistent node `/l`.
fn two_sessions() -> (Tree, i64, i64) {
    let (mut tree, a) = setup();
    let b = new_session(&mut tree);
    must_create(&mut tree, a, create("/l", b""));
    (tree, a, b)
}

fn ok(tree: &Tree) {
    tree.check_lock_invariants().expect("lock invariants hold");
}

#[test]
fn an_exclusive_lock_has_one_holder_at_a_time() {
    let (mut tree, a, b) = two_sessions();
    let seq = must_hold(&mut tree, a, "/l", Exclusive);
    assert_eq!(
        acquire_with(&mut tree, b, "/l", Exclusive, 0, true),
        Err(LockError::Conflict)
    );
    assert_eq!(
        acquire_with(&mut tree, b, "/l", Shared, 0, true),
        Err(LockError::Conflict),
        "a reader is excluded too"
    );
    assert_eq!(
        acquire(&mut tree, b, "/l", Exclusive),
        Ok(LockOutcome::Queued { ahead: 0 })
    );
    let status = tree.lock_status("/l", &[]).expect("exists");
    assert_eq!(status.holders, [a]);
    assert_eq!(status.mode, Some(Exclusive));
    assert_eq!(status.waiters, [(b, Exclusive)]);
    assert_eq!(status.generation, seq.generation);
    assert_eq!(
        acquire(&mut tree, a, "/l", Exclusive),
        Err(LockError::AlreadyHeld)
    );
    assert_eq!(
        acquire(&mut tree, b, "/l", Exclusive),
        Err(LockError::AlreadyWaiting)
    );
    assert!(granted(&mut tree).is_empty(), "no one was woken");
    ok(&tree);
}

#[test]
fn shared_holders_share_a_generation_and_exclude_a_writer() {
    let (mut tree, a, b) = two_sessions();
    let c = new_session(&mut tree);
    let d = new_session(&mut tree);
    let ra = must_hold(&mut tree, a, "/l", Shared);
    let rb = must_hold(&mut tree, b, "/l", Shared);
    assert_eq!(ra.generation, rb.generation, "one shared epoch");
    assert_eq!(
        acquire(&mut tree, c, "/l", Exclusive),
        Ok(LockOutcome::Queued { ahead: 0 })
    );
    // A reader that comes after a waiting writer waits behind it, so
    // readers cannot starve the writer.
    assert_eq!(
        acquire(&mut tree, d, "/l", Shared),
        Ok(LockOutcome::Queued { ahead: 1 })
    );
    assert_eq!(release(&mut tree, a, "/l"), Ok(LockOutcome::Released));
    assert!(granted(&mut tree).is_empty(), "b still reads");
    assert_eq!(release(&mut tree, b, "/l"), Ok(LockOutcome::Released));
    let w = granted(&mut tree);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].session, w[0].mode), (c, Exclusive));
    assert!(w[0].generation > ra.generation);
    assert_eq!(release(&mut tree, c, "/l"), Ok(LockOutcome::Released));
    let r = granted(&mut tree);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].session, r[0].mode), (d, Shared));
    assert!(r[0].generation > w[0].generation);
    ok(&tree);
}

#[test]
fn waiters_are_served_in_order_one_per_release() {
    let (mut tree, a, _) = two_sessions();
    let waiting: Vec<i64> = (0..4).map(|_| new_session(&mut tree)).collect();
    must_hold(&mut tree, a, "/l", Exclusive);
    for (ahead, &s) in (0u32..).zip(&waiting) {
        assert_eq!(
            acquire(&mut tree, s, "/l", Exclusive),
            Ok(LockOutcome::Queued { ahead })
        );
    }
    let mut holder = a;
    for (i, &next) in waiting.iter().enumerate() {
        assert_eq!(release(&mut tree, holder, "/l"), Ok(LockOutcome::Released));
        let woken = granted(&mut tree);
        assert_eq!(woken.len(), 1, "one wake-up per release");
        assert_eq!(woken[0].session, next, "first come, first served");
        let status = tree.lock_status("/l", &[]).expect("exists");
        assert_eq!(status.holders, [next]);
        let rest: Vec<(i64, LockMode)> = waiting[i + 1..].iter().map(|&s| (s, Exclusive)).collect();
        assert_eq!(status.waiters, rest);
        holder = next;
        ok(&tree);
    }
    assert_eq!(release(&mut tree, holder, "/l"), Ok(LockOutcome::Released));
    assert!(granted(&mut tree).is_empty());
    assert_eq!(tree.lock_count(), 0, "a free lock leaves no record");
    assert_eq!(tree.lock_bytes(), 0);
}

#[test]
fn a_run_of_shared_waiters_is_granted_together_and_stops_at_a_writer() {
    let (mut tree, a, b) = two_sessions();
    let c = new_session(&mut tree);
    let d = new_session(&mut tree);
    let e = new_session(&mut tree);
    must_hold(&mut tree, a, "/l", Exclusive);
    for (s, mode) in [(b, Shared), (c, Shared), (d, Exclusive), (e, Shared)] {
        assert!(matches!(
            acquire(&mut tree, s, "/l", mode),
            Ok(LockOutcome::Queued { .. })
        ));
    }
    release(&mut tree, a, "/l").expect("held");
    let woken = granted(&mut tree);
    let sessions: Vec<i64> = woken.iter().map(|g| g.session).collect();
    assert_eq!(sessions, [b, c]);
    assert_eq!(woken[0].generation, woken[1].generation);
    assert_eq!(
        tree.lock_status("/l", &[]).expect("exists").waiters,
        [(d, Exclusive), (e, Shared)]
    );
    ok(&tree);
}

#[test]
fn a_waiter_that_releases_withdraws_and_unblocks_those_behind_it() {
    let (mut tree, a, b) = two_sessions();
    let c = new_session(&mut tree);
    must_hold(&mut tree, a, "/l", Shared);
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    acquire(&mut tree, c, "/l", Shared).expect("queues");
    assert_eq!(release(&mut tree, b, "/l"), Ok(LockOutcome::Withdrawn));
    let woken = granted(&mut tree);
    assert_eq!(woken.len(), 1);
    assert_eq!((woken[0].session, woken[0].mode), (c, Shared));
    assert_eq!(release(&mut tree, b, "/l"), Err(LockError::NotHeld));
    ok(&tree);
}

#[test]
fn the_generation_increases_every_time_the_lock_changes_hands() {
    let (mut tree, a, b) = two_sessions();
    must_create(&mut tree, a, create("/m", b""));
    let mut last = 0;
    for (s, path, mode) in [
        (a, "/l", Exclusive),
        (b, "/l", Exclusive),
        (a, "/l", Shared),
        (a, "/m", Exclusive),
        (b, "/l", Exclusive),
        (a, "/l", Exclusive),
    ] {
        let seq = must_hold(&mut tree, s, path, mode);
        assert!(seq.generation > last, "{seq} after generation {last}");
        last = seq.generation;
        release(&mut tree, s, path).expect("held");
    }
    // Handed from a holder to a waiter, too.
    must_hold(&mut tree, a, "/l", Exclusive);
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    release(&mut tree, a, "/l").expect("held");
    assert!(granted(&mut tree)[0].generation > last);
    ok(&tree);
}

#[test]
fn a_sequencer_is_valid_while_its_holding_lasts() {
    let (mut tree, a, b) = two_sessions();
    let seq = must_hold(&mut tree, a, "/l", Exclusive);
    assert_eq!(tree.check_sequencer(&seq), Ok(()));
    let text = seq.to_string();
    assert_eq!(tree.check_sequencer(&text.parse().expect("parses")), Ok(()));

    let mut other_mode = seq.clone();
    other_mode.mode = Shared;
    assert_eq!(tree.check_sequencer(&other_mode), Err(Invalid::WrongMode));
    let mut other_session = seq.clone();
    other_session.session = b;
    assert_eq!(
        tree.check_sequencer(&other_session),
        Err(Invalid::NotHolder)
    );

    release(&mut tree, a, "/l").expect("held");
    assert_eq!(tree.check_sequencer(&seq), Err(Invalid::Free));
    let newer = must_hold(&mut tree, b, "/l", Exclusive);
    assert_eq!(
        tree.check_sequencer(&seq),
        Err(Invalid::Superseded {
            current: newer.generation
        })
    );
    close(&mut tree, b);
    assert_eq!(tree.check_sequencer(&newer), Err(Invalid::Free));
    ok(&tree);
}

#[test]
fn a_shared_sequencer_names_its_holder_in_the_epoch() {
    let (mut tree, a, b) = two_sessions();
    let ra = must_hold(&mut tree, a, "/l", Shared);
    let rb = must_hold(&mut tree, b, "/l", Shared);
    release(&mut tree, a, "/l").expect("held");
    assert_eq!(tree.check_sequencer(&ra), Err(Invalid::NotHolder));
    assert_eq!(tree.check_sequencer(&rb), Ok(()));
}

#[test]
fn a_locked_znode_cannot_be_deleted_until_released() {
    let (mut tree, a, b) = two_sessions();
    must_create(&mut tree, a, create("/w", b""));
    must_hold(&mut tree, a, "/l", Exclusive);
    assert_eq!(err(&mut tree, b, delete("/l", -1)), ErrorCode::NotEmpty);
    // A waiter pins it as well.
    acquire(&mut tree, b, "/w", Exclusive).expect("granted");
    acquire(&mut tree, a, "/w", Exclusive).expect("queues");
    release(&mut tree, b, "/w").expect("held");
    release(&mut tree, a, "/w").expect("granted to a, now released");
    granted(&mut tree);
    let multi = synod_coord::Write::Multi(vec![delete("/w", -1), delete("/l", -1)]);
    assert!(res(&mut tree, b, multi).is_ok_and(|r| matches!(
        r,
        synod_coord::WriteResult::Multi(Err((1, ErrorCode::NotEmpty)))
    )));
    assert!(
        tree.exists("/w").is_some(),
        "the failed multi deleted nothing"
    );
    release(&mut tree, a, "/l").expect("held");
    res(&mut tree, b, delete("/l", -1)).expect("free locks do not pin");
    ok(&tree);
}

#[test]
fn locks_live_on_persistent_znodes_and_need_write_permission() {
    let (mut tree, a, b) = two_sessions();
    assert_eq!(
        acquire(&mut tree, a, "/none", Exclusive),
        Err(LockError::NoNode)
    );
    assert_eq!(
        acquire(&mut tree, a, "/l/", Exclusive),
        Err(LockError::BadPath)
    );
    must_create(&mut tree, a, create_mode("/eph", CreateMode::Ephemeral));
    must_create(&mut tree, a, create_mode("/box", CreateMode::Container));
    for p in ["/eph", "/box"] {
        assert_eq!(
            acquire(&mut tree, b, p, Exclusive),
            Err(LockError::NotLockable),
            "{p}"
        );
    }
    must_create(
        &mut tree,
        a,
        create_with("/ro", b"", Acl::read_unsafe(), CreateMode::Persistent, -1),
    );
    for mode in [Exclusive, Shared] {
        assert_eq!(
            acquire(&mut tree, b, "/ro", mode),
            Err(LockError::NoAuth),
            "a reader must not block a writer"
        );
    }
    let (seq_path, _) = must_create(
        &mut tree,
        a,
        create_mode("/seq-", CreateMode::PersistentSequential),
    );
    must_hold(&mut tree, a, &seq_path, Exclusive);
    assert_eq!(tree.lock_count(), 1, "only the granted lock has a record");
    ok(&tree);
}

#[test]
fn an_ended_session_cannot_lock_or_release() {
    let (mut tree, a, b) = two_sessions();
    close(&mut tree, b);
    assert_eq!(
        acquire(&mut tree, b, "/l", Exclusive),
        Err(LockError::SessionExpired)
    );
    assert_eq!(release(&mut tree, b, "/l"), Err(LockError::SessionExpired));
    must_hold(&mut tree, a, "/l", Exclusive);
}

#[test]
fn a_lock_queue_is_bounded() {
    let (mut tree, a, _) = two_sessions();
    must_hold(&mut tree, a, "/l", Exclusive);
    for _ in 0..WAITERS_PER_LOCK_MAX {
        let s = new_session(&mut tree);
        acquire(&mut tree, s, "/l", Exclusive).expect("queues");
    }
    let late = new_session(&mut tree);
    let before = tree.lock_bytes();
    assert_eq!(
        acquire(&mut tree, late, "/l", Shared),
        Err(LockError::WaitersFull)
    );
    assert_eq!(
        tree.lock_bytes(),
        before,
        "a refused acquire changes nothing"
    );
    assert_eq!(
        acquire_with(&mut tree, late, "/l", Shared, 0, true),
        Err(LockError::Conflict),
        "a try never waits, so it is not refused for the queue"
    );
    ok(&tree);
}

#[test]
fn lock_operations_consume_no_zxid() {
    let (mut tree, a, b) = two_sessions();
    let zxid = tree.last_zxid();
    must_hold(&mut tree, a, "/l", Exclusive);
    acquire(&mut tree, b, "/l", Exclusive).expect("queues");
    release(&mut tree, a, "/l").expect("held");
    assert_eq!(tree.last_zxid(), zxid);
}

/// SetSequencer: a fenced op applies only while its sequencer is valid;
/// once the lock changed hands it changes nothing and consumes no zxid.
#[test]
fn a_fenced_write_applies_only_while_its_sequencer_is_valid() {
    use synod_coord::{CoordOp, CoordReply};
    let (mut tree, a, b) = two_sessions();
    must_create(&mut tree, a, create("/d", b"0"));
    let seq_a = must_hold(&mut tree, a, "/l", Exclusive);
    let fenced = |tree: &Tree, data: &[u8], seq| CoordOp::Fenced {
        sequencer: seq,
        op: Box::new(CoordOp::RuledBatch {
            rules: synod_coord::acl::Rules::CURRENT.number(),
            session: a,
            auth: vec![],
            time_ms: tree.now_ms(),
            writes: vec![set_data("/d", data, -1)],
        }),
    };
    let op = fenced(&tree, b"1", seq_a.clone());
    assert!(matches!(apply(&mut tree, op), CoordReply::Batch(_)));
    assert_eq!(tree.get_data("/d", &[]).unwrap().0.unwrap(), b"1");

    release(&mut tree, a, "/l").expect("held");
    let seq_b = must_hold(&mut tree, b, "/l", Exclusive);
    let zxid = tree.last_zxid();
    let op = fenced(&tree, b"stale", seq_a.clone());
    assert_eq!(
        apply(&mut tree, op),
        CoordReply::Fenced(Invalid::Superseded {
            current: seq_b.generation
        })
    );
    assert_eq!(tree.get_data("/d", &[]).unwrap().0.unwrap(), b"1");
    assert_eq!(tree.last_zxid(), zxid, "no zxid consumed");
    // The holder's own sequencer passes; a closed session's fails.
    let op = fenced(&tree, b"2", seq_b.clone());
    assert!(matches!(apply(&mut tree, op), CoordReply::Batch(_)));
    close(&mut tree, b);
    let op = fenced(&tree, b"3", seq_b);
    assert!(matches!(apply(&mut tree, op), CoordReply::Fenced(_)));
    assert_eq!(tree.get_data("/d", &[]).unwrap().0.unwrap(), b"2");
}
