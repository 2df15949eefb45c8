//! Byte layouts written out by hand from zookeeper.jute, checked against
//! what the encoders produce and what the decoders read.

mod common;

use common::{body_of, world_acl};
use synod_zkproto::*;

fn be32(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

fn be64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

#[test]
fn stat_is_68_bytes_in_jute_field_order() {
    let stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };
    let mut w = Writer::new();
    w.write_record(&stat);
    let bytes = w.finish();

    let mut expected = Vec::new();
    for long in [1i64, 2, 3, 4] {
        expected.extend(be64(long));
    }
    for int in [5, 6, 7] {
        expected.extend(be32(int));
    }
    expected.extend(be64(8));
    expected.extend(be32(9));
    expected.extend(be32(10));
    expected.extend(be64(11));
    assert_eq!(bytes.len(), Stat::WIRE_BYTES);
    assert_eq!(bytes.len(), 68);
    assert_eq!(bytes, expected);
    assert_eq!(Reader::new(&bytes).read_record::<Stat>().unwrap(), stat);
}

#[test]
fn expired_session_connect_response_is_zero_timeout_zero_session_zero_password() {
    let frame = encode_connect_response(&ConnectResponse::expired(Some(false)));
    let mut expected = vec![0, 0, 0, 37]; // 4 + 4 + 8 + (4 + 16) + 1
    expected.extend([0; 4]); // protocolVersion
    expected.extend([0; 4]); // timeOut
    expected.extend([0; 8]); // sessionId
    expected.extend(be32(16)); // passwd length
    expected.extend([0; 16]); // passwd
    expected.push(0); // readOnly
    assert_eq!(frame, expected);

    let decoded = decode_connect_response(body_of(&frame)).unwrap();
    assert_eq!(decoded.timeout_ms, 0);
    assert_eq!(decoded.session_id, 0);
    assert_eq!(decoded.passwd, vec![0; 16]);
    assert_eq!(decoded.read_only, Some(false));
}

#[test]
fn expired_reply_to_an_old_client_omits_the_read_only_byte() {
    let frame = encode_connect_response(&ConnectResponse::expired(None));
    assert_eq!(frame.len(), 4 + 36);
    assert_eq!(&frame[..4], &be32(36));
    let decoded = decode_connect_response(body_of(&frame)).unwrap();
    assert_eq!(decoded.read_only, None);
}

#[test]
fn connect_request_remembers_whether_the_read_only_byte_was_sent() {
    let mut body = Vec::new();
    body.extend(be32(0)); // protocolVersion
    body.extend(be64(0x42)); // lastZxidSeen
    body.extend(be32(10_000)); // timeOut
    body.extend(be64(0)); // sessionId
    body.extend(be32(16));
    body.extend([7; 16]);

    let old = decode_connect_request(&body).unwrap();
    assert_eq!(
        old,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x42,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![7; 16],
            read_only: None,
        }
    );

    body.push(1);
    let new = decode_connect_request(&body).unwrap();
    assert_eq!(new.read_only, Some(true));
    assert_eq!(body_of(&encode_connect_request(&new)), &body[..]);
}

#[test]
fn create_request_layout_matches_jute() {
    let frame = encode_request(
        1,
        &Request::Create {
            kind: CreateKind::Create,
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: world_acl(),
            flags: create_mode::PERSISTENT,
        },
    );
    let mut body = Vec::new();
    body.extend(be32(1)); // xid
    body.extend(be32(op::CREATE));
    body.extend(be32(2));
    body.extend(b"/a");
    body.extend(be32(1));
    body.extend(b"x");
    body.extend(be32(1)); // one ACL
    body.extend(be32(perms::ALL));
    body.extend(be32(5));
    body.extend(b"world");
    body.extend(be32(6));
    body.extend(b"anyone");
    body.extend(be32(0)); // flags
    assert_eq!(body_of(&frame), &body[..]);
}

#[test]
fn ping_frame_is_header_only_with_xid_minus_two() {
    let frame = encode_request(xid::PING, &Request::Ping);
    assert_eq!(frame, [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
}

#[test]
fn watch_event_frame_has_xid_minus_one_zxid_minus_one_err_zero() {
    let event = WatcherEvent {
        event_type: event_type::NODE_DATA_CHANGED,
        state: keeper_state::SYNC_CONNECTED,
        path: "/a".into(),
    };
    let frame = encode_watch_event(&event);
    let mut body = Vec::new();
    body.extend(be32(-1));
    body.extend(be64(-1));
    body.extend(be32(0));
    body.extend(be32(3));
    body.extend(be32(3));
    body.extend(be32(2));
    body.extend(b"/a");
    assert_eq!(body_of(&frame), &body[..]);

    // A watch event is recognised whatever reply the client was waiting for.
    let (header, response) = decode_reply(body_of(&frame), ReplyKind::GetData).unwrap();
    assert_eq!(header.xid, xid::WATCH_EVENT);
    assert_eq!(response, Response::WatchEvent(event));
}

#[test]
fn failed_request_reply_is_the_header_alone() {
    let header = ReplyHeader {
        xid: 5,
        zxid: 0x99,
        err: err::NO_NODE,
    };
    let stat = Response::Stat {
        stat: Stat::default(),
    };
    let frame = encode_reply(&header, Some(&stat));
    assert_eq!(frame.len(), 4 + 16);
    let (decoded, response) = decode_reply(body_of(&frame), ReplyKind::Stat).unwrap();
    assert_eq!(decoded, header);
    assert_eq!(response, Response::Empty);
}

fn multi_error(err: i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(be32(-1)); // type error
    bytes.push(0); // done = false
    bytes.extend(be32(err));
    bytes.extend(be32(err)); // ErrorResponse {err}
    bytes
}

#[test]
fn multi_reply_with_a_failing_middle_op_marks_earlier_ok_and_later_runtime_inconsistency() {
    let results = MultiResult::aborted(3, 1, err::NODE_EXISTS);
    assert_eq!(
        results,
        vec![
            MultiResult::Error { err: err::OK },
            MultiResult::Error {
                err: err::NODE_EXISTS
            },
            MultiResult::Error {
                err: err::RUNTIME_INCONSISTENCY
            },
        ]
    );
    let header = ReplyHeader {
        xid: 7,
        zxid: 0x10,
        err: err::OK,
    };
    let frame = encode_reply(&header, Some(&Response::Multi(results.clone())));

    let mut body = Vec::new();
    body.extend(be32(7));
    body.extend(be64(0x10));
    body.extend(be32(0));
    body.extend(multi_error(0));
    body.extend(multi_error(-110));
    body.extend(multi_error(-2));
    body.extend(be32(-1)); // end marker {-1, true, -1}
    body.push(1);
    body.extend(be32(-1));
    assert_eq!(body_of(&frame), &body[..]);

    let (_, decoded) = decode_reply(&body, ReplyKind::Multi).unwrap();
    assert_eq!(decoded, Response::Multi(results));
}

#[test]
fn multi_reply_labels_create_ttl_and_container_results_as_create2() {
    let result = MultiResult::Create2 {
        path: "/c".into(),
        stat: Stat::default(),
    };
    assert_eq!(result.op(), op::CREATE2);
    let header = ReplyHeader::default();
    let frame = encode_reply(&header, Some(&Response::Multi(vec![result])));
    let body = body_of(&frame);
    assert_eq!(&body[16..20], &be32(op::CREATE2));
    assert_eq!(body[20], 0);
    assert_eq!(&body[21..25], &be32(0));
}

#[test]
fn multi_reply_with_a_type_zookeeper_never_sends_is_refused() {
    let mut body = Vec::new();
    body.extend(be32(1));
    body.extend(be64(0));
    body.extend(be32(0));
    body.extend(be32(op::CREATE_CONTAINER));
    body.push(0);
    body.extend(be32(0));
    assert!(matches!(
        decode_reply(&body, ReplyKind::Multi),
        Err(DecodeError::OpNotAllowedIn { op: 19, .. })
    ));
}

#[test]
fn multi_request_layout_is_headers_with_err_minus_one_and_an_end_marker() {
    let frame = encode_request(
        3,
        &Request::Multi(vec![Request::Check {
            path: "/a".into(),
            version: 4,
        }]),
    );
    let mut body = Vec::new();
    body.extend(be32(3));
    body.extend(be32(op::MULTI));
    body.extend(be32(op::CHECK));
    body.push(0);
    body.extend(be32(-1));
    body.extend(be32(2));
    body.extend(b"/a");
    body.extend(be32(4));
    body.extend(be32(-1));
    body.push(1);
    body.extend(be32(-1));
    assert_eq!(body_of(&frame), &body[..]);
}

#[test]
fn every_error_code_has_a_name_and_the_ref_values() {
    assert_eq!(err::ALL.len(), 31);
    for code in err::ALL {
        assert_ne!(err::name(code), "UNKNOWN", "code {code}");
    }
    assert_eq!(err::NO_NODE, -101);
    assert_eq!(err::THROTTLED_OP, -127);
    assert_eq!(op::CREATE_SESSION, -10);
    assert_eq!(op::CLOSE_SESSION, -11);
    assert_eq!(op::WHO_AM_I, 107);
    assert_eq!(perms::ALL, 31);
    assert_eq!(DEFAULT_MAX_BUFFER, 0xfffff);
}

#[test]
fn add_watch_reply_carries_an_error_response_body_as_zookeepers_does() {
    use synod_zkproto::{encode_reply, op, ReplyHeader, ReplyKind, Response};
    assert_eq!(ReplyKind::for_op(op::ADD_WATCH), Some(ReplyKind::AddWatch));
    let header = ReplyHeader {
        xid: 5,
        zxid: 9,
        err: 0,
    };
    let frame = encode_reply(&header, Some(&Response::AddWatch { err: 0 }));
    // length, xid, zxid, err, then the 4-byte ErrorResponse.
    assert_eq!(frame.len(), 4 + 4 + 8 + 4 + 4);
    assert_eq!(&frame[20..], &[0, 0, 0, 0]);
}
