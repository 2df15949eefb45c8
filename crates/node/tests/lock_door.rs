//! The lock door (`synod_node::locks`) on a three-node cluster driven by
//! hand: sessions, acquires that park and wake, keepalives that answer
//! from the tree, linearizable checks, and a follower that sends callers
//! to the leader.

mod harness;

use harness::Cluster;
use synod_coord::lock::Invalid;
use synod_coord::{LockError, LockMode, Sequencer};
use synod_node::locks::mask;
use synod_node::{LockAnswer, LockEvent, LockRequest, NodeOutput};
use synod_paxos::{EngineConfig, NodeId, Outcome};

use harness::{lock_answers as answers, lock_call as call};

/// The `Alive` answers (with the 10 s timeout) among `answers`: their
/// events.
fn alive_events(answers: &[(u64, LockAnswer)]) -> Vec<(u64, Vec<LockEvent>)> {
    answers
        .iter()
        .filter_map(|(id, a)| match a {
            LockAnswer::Alive {
                timeout_ms: 10_000,
                events,
                ..
            } => Some((*id, events.clone())),
            _ => None,
        })
        .collect()
}

fn harness_answers(outputs: Vec<(NodeId, NodeOutput)>) -> Vec<(u64, LockAnswer)> {
    answers(outputs.into_iter().map(|(_, o)| o))
}

fn open(c: &mut Cluster, at: NodeId, client: u64) -> i64 {
    let a = call(
        c,
        at,
        client,
        LockRequest::OpenSession {
            client,
            seq: 1,
            timeout_ms: 10_000,
            passwd: vec![7; 16],
        },
    );
    match a.as_slice() {
        [(_, LockAnswer::Session { id, timeout_ms })] => {
            assert_eq!(*timeout_ms, 10_000);
            *id
        }
        other => panic!("expected a session, got {other:?}"),
    }
}

fn acquire(client: u64, seq: u64, session: i64, mode: LockMode, try_acquire: bool) -> LockRequest {
    LockRequest::Acquire {
        client,
        seq,
        session,
        auth: vec![],
        path: "/l".into(),
        mode,
        lock_delay_ms: 1_000,
        try_acquire,
    }
}

#[test]
fn an_acquire_parks_until_the_release_and_then_holds_a_newer_generation() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let (a, b) = (open(&mut c, leader, 100), open(&mut c, leader, 200));
    let created = call(
        &mut c,
        leader,
        1,
        LockRequest::Create {
            client: 100,
            seq: 2,
            session: a,
            auth: vec![],
            path: "/l".into(),
        },
    );
    assert_eq!(created, vec![(1, LockAnswer::Created)]);

    let got = call(
        &mut c,
        leader,
        2,
        acquire(100, 3, a, LockMode::Exclusive, false),
    );
    let [(2, LockAnswer::Acquired(seq_a))] = got.as_slice() else {
        panic!("a acquires at once: {got:?}")
    };
    let seq_a = seq_a.clone();
    // A try by b fails at once; a wait by b parks (no answer yet).
    let tried = call(
        &mut c,
        leader,
        3,
        acquire(200, 2, b, LockMode::Exclusive, true),
    );
    assert_eq!(tried, vec![(3, LockAnswer::Failed(LockError::Conflict))]);
    let parked = call(
        &mut c,
        leader,
        4,
        acquire(200, 3, b, LockMode::Exclusive, false),
    );
    assert_eq!(parked, vec![], "b waits");
    assert_eq!(c.node(leader).lock_door().parked(), 1);

    // a releases: in the same steps, b's parked call is answered.
    let released = call(
        &mut c,
        leader,
        5,
        LockRequest::Release {
            client: 100,
            seq: 4,
            session: a,
            path: "/l".into(),
        },
    );
    let woken: Vec<_> = released.iter().filter(|(id, _)| *id == 4).collect();
    let [(4, LockAnswer::Acquired(seq_b))] = woken.as_slice() else {
        panic!("b is woken by the release: {released:?}")
    };
    assert!(released.contains(&(5, LockAnswer::Released)));
    assert!(seq_b.generation > seq_a.generation);
    assert_eq!(seq_b.session, b);
    assert_eq!(c.node(leader).lock_door().parked(), 0);

    // The checks go through the leader's read path.
    let check = |c: &mut Cluster, id: u64, s: &Sequencer| {
        call(c, leader, id, LockRequest::Check(s.clone()))
    };
    assert_eq!(
        check(&mut c, 6, &seq_a),
        vec![(
            6,
            LockAnswer::Check(Err(Invalid::Superseded {
                current: seq_b.generation
            }))
        )]
    );
    assert_eq!(
        check(&mut c, 7, seq_b),
        vec![(7, LockAnswer::Check(Ok(())))]
    );

    // A retried command (same client, same seq) is answered from the
    // engine's table: b still holds, nothing is applied twice.
    let again = call(
        &mut c,
        leader,
        8,
        acquire(200, 3, b, LockMode::Exclusive, false),
    );
    assert_eq!(again, vec![(8, LockAnswer::Acquired(seq_b.clone()))]);
}

#[test]
fn keepalives_answer_from_the_tree_and_followers_send_callers_to_the_leader() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let follower = if leader == 1 { 2 } else { 1 };
    let refused = call(
        &mut c,
        follower,
        1,
        LockRequest::OpenSession {
            client: 9,
            seq: 1,
            timeout_ms: 10_000,
            passwd: vec![1; 16],
        },
    );
    assert_eq!(
        refused,
        vec![(
            1,
            LockAnswer::Refused(Outcome::NotLeader {
                leader: Some(leader)
            })
        )]
    );
    let s = open(&mut c, leader, 9);
    let alive = call(
        &mut c,
        leader,
        2,
        LockRequest::KeepAlive {
            client: 10,
            seq: 1,
            session: s,
            subscriptions: vec![],
            hold_ms: 0,
            cache_term: 0,
            acked: 0,
        },
    );
    assert_eq!(alive_events(&alive), vec![(2, vec![])]);
    let closed = call(
        &mut c,
        leader,
        3,
        LockRequest::CloseSession {
            client: 9,
            seq: 2,
            session: s,
        },
    );
    assert_eq!(closed, vec![(3, LockAnswer::Closed)]);
    let gone = call(
        &mut c,
        leader,
        4,
        LockRequest::KeepAlive {
            client: 10,
            seq: 2,
            session: s,
            subscriptions: vec![],
            hold_ms: 0,
            cache_term: 0,
            acked: 0,
        },
    );
    assert_eq!(gone, vec![(4, LockAnswer::Expired)]);
}

#[test]
fn a_held_keepalive_returns_early_with_the_events_in_order() {
    let mut c = Cluster::new(EngineConfig::default());
    let leader = c.elect();
    let (a, b) = (open(&mut c, leader, 100), open(&mut c, leader, 200));
    let created = call(
        &mut c,
        leader,
        1,
        LockRequest::Create {
            client: 100,
            seq: 2,
            session: a,
            auth: vec![],
            path: "/l".into(),
        },
    );
    assert_eq!(created, vec![(1, LockAnswer::Created)]);
    // a subscribes and its keepalive is held: nothing has happened yet.
    let keepalive = |seq: u64, hold_ms: u32| LockRequest::KeepAlive {
        client: 101,
        seq,
        session: a,
        subscriptions: vec![("/l".into(), mask::ALL)],
        hold_ms,
        cache_term: 0,
        acked: 0,
    };
    assert_eq!(call(&mut c, leader, 2, keepalive(1, 30_000)), vec![]);
    // b takes the lock: a's held keepalive is answered with it.
    let got = call(
        &mut c,
        leader,
        3,
        acquire(200, 2, b, LockMode::Exclusive, false),
    );
    let held: Vec<_> = got.iter().filter(|(id, _)| *id == 2).cloned().collect();
    let [(_, LockAnswer::Alive { events, .. })] = held.as_slice() else {
        panic!("the held keepalive is answered: {got:?}")
    };
    let [LockEvent::LockAcquired {
        path,
        session,
        generation,
    }] = events.as_slice()
    else {
        panic!("one lock-acquired event: {events:?}")
    };
    assert_eq!((path.as_str(), *session, *generation), ("/l", b, 1));

    // b listens for conflicts; a asks for the lock b holds: b's held
    // keepalive is answered with the conflict, a's call parks.
    let b_keepalive = LockRequest::KeepAlive {
        client: 201,
        seq: 1,
        session: b,
        subscriptions: vec![("/l".into(), mask::CONFLICT)],
        hold_ms: 30_000,
        cache_term: 0,
        acked: 0,
    };
    assert_eq!(call(&mut c, leader, 4, b_keepalive), vec![]);
    let got = call(
        &mut c,
        leader,
        5,
        acquire(100, 3, a, LockMode::Exclusive, false),
    );
    assert_eq!(
        alive_events(&got),
        vec![(
            4,
            vec![LockEvent::ConflictingLockRequest { path: "/l".into() }]
        )],
        "b hears of the conflict; a waits"
    );
    // A held keepalive with nothing to say is answered when its time is up.
    let keepalive_b2 = LockRequest::KeepAlive {
        client: 201,
        seq: 2,
        session: b,
        subscriptions: vec![("/l".into(), mask::CONFLICT)],
        hold_ms: 1,
        cache_term: 0,
        acked: 0,
    };
    assert_eq!(call(&mut c, leader, 6, keepalive_b2), vec![]);
    let answered = harness_answers(c.tick());
    assert!(
        alive_events(&answered).contains(&(6, vec![])),
        "{answered:?}"
    );
}
