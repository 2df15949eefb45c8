//! SASL DIGEST-MD5 through the front door: a client that proves a user's
//! password is `sasl:<user>` for ACLs; one that fails is answered
//! AuthFailed a delay later and closed, taking nothing else meanwhile.

mod common;

use common::{reply, Bench};
use std::sync::Arc;
use synod_front::sasl::{
    challenge_nonce, client_response, SaslUsers, DIGEST_URI, FAILURE_DELAY_MS,
};
use synod_front::Outgoing;
use synod_zkproto::{self as wire, err, Acl, Id, ReplyKind, Request, Response};

fn bench() -> Bench {
    let mut limits = common::limits();
    limits.sasl_users = Some(Arc::new(SaslUsers {
        passwords: [("jaasuser".to_string(), "jaas_password".to_string())].into(),
        nonce_key: [3; 16],
    }));
    Bench::with_limits(limits)
}

/// Connects and runs the exchange's first step; returns the connection
/// and the nonce of its challenge.
fn challenged(b: &mut Bench) -> (u64, String) {
    let conn = b.connect(0, vec![], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, Request::Sasl { token: vec![] });
    let frames = b.frames(conn);
    let (header, body) = reply(&frames[0], ReplyKind::Sasl);
    assert_eq!(header.err, 0);
    let Response::Sasl { token } = body else {
        panic!("not a challenge: {body:?}")
    };
    (conn, challenge_nonce(&token).expect("a nonce"))
}

fn sasl_only(user: &str) -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "sasl".into(),
            id: user.into(),
        },
    }]
}

#[test]
fn a_proven_password_makes_the_connection_its_sasl_user() {
    let mut b = bench();
    let (conn, nonce) = challenged(&mut b);
    let (response, rspauth) = client_response("jaasuser", "jaas_password", &nonce, "c", DIGEST_URI);
    b.send(conn, 2, Request::Sasl { token: response });
    let frames = b.frames(conn);
    let (header, body) = reply(&frames[0], ReplyKind::Sasl);
    assert_eq!((header.err, body), (0, Response::Sasl { token: rspauth }));

    let mut create = common::create("/s", 0);
    if let Request::Create { acl, .. } = &mut create {
        *acl = sasl_only("jaasuser");
    }
    b.send(conn, 3, create);
    b.commit();
    let (header, _) = reply(&b.frames(conn)[0], ReplyKind::Create);
    assert_eq!(header.err, 0);
    let get = || Request::GetData {
        path: "/s".into(),
        watch: false,
    };
    b.send(conn, 4, get());
    assert_eq!(reply(&b.frames(conn)[0], ReplyKind::GetData).0.err, 0);
    let stranger = b.connect(0, vec![], 0).unwrap();
    b.frames(stranger);
    b.send(stranger, 1, get());
    assert_eq!(
        reply(&b.frames(stranger)[0], ReplyKind::GetData).0.err,
        err::NO_AUTH
    );
}

#[test]
fn a_failed_exchange_is_answered_auth_failed_after_the_delay_and_closes() {
    let mut b = bench();
    let (conn, nonce) = challenged(&mut b);
    let (guess, _) = client_response("jaasuser", "guess", &nonce, "c", DIGEST_URI);
    b.send(conn, 2, Request::Sasl { token: guess });
    // A request behind the failed step waits with it, and is never served.
    b.send(
        conn,
        3,
        Request::Exists {
            path: "/".into(),
            watch: false,
        },
    );
    assert!(b.frames(conn).is_empty(), "answered before the delay");
    let timer = |b: &mut Bench, now: u64| {
        b.front.set_clock(now, 1_000_000 + now as i64);
        b.front.on_timer(&b.tree, Some(1), true);
        b.sent.extend(b.front.take_output());
    };
    timer(&mut b, FAILURE_DELAY_MS - 1);
    assert!(b.frames(conn).is_empty(), "answered before the delay");
    timer(&mut b, FAILURE_DELAY_MS);
    let frames = b.frames(conn);
    assert_eq!(frames.len(), 2, "{frames:?}");
    let (header, _) = reply(&frames[0], ReplyKind::Sasl);
    assert_eq!((header.xid, header.err), (2, err::AUTH_FAILED));
    assert!(
        matches!(&frames[1], Outgoing::Close(r) if r.contains("wrong password")),
        "{frames:?}"
    );
}

#[test]
fn sasl_on_a_server_without_users_fails_as_a_wrong_password_does() {
    let mut b = Bench::new();
    let conn = b.connect(0, vec![], 0).unwrap();
    b.frames(conn);
    b.send(conn, 1, Request::Sasl { token: vec![] });
    assert!(b.frames(conn).is_empty());
    b.front.set_clock(FAILURE_DELAY_MS, 1_000_000);
    b.front.on_timer(&b.tree, Some(1), true);
    b.sent.extend(b.front.take_output());
    let frames = b.frames(conn);
    assert_eq!(
        reply(&frames[0], ReplyKind::Sasl).0.err,
        wire::err::AUTH_FAILED
    );
    assert!(matches!(&frames[1], Outgoing::Close(r) if r.contains("not configured")));
}
