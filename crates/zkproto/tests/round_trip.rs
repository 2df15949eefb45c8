//! Encode then decode gives back the same value, for every request and
//! reply kind, in both directions.

mod common;

use common::{body_of, every_request, every_response, sample_stat};
use synod_zkproto::*;

#[test]
fn every_request_kind_round_trips() {
    let requests = every_request();
    // Every opcode the crate decodes appears at least once.
    let mut ops: Vec<i32> = requests.iter().map(|(_, r)| r.op()).collect();
    ops.sort();
    ops.dedup();
    assert_eq!(ops.len(), 29, "opcodes covered: {ops:?}");

    for (xid, request) in requests {
        let frame = encode_request(xid, &request);
        let (header, decoded) = decode_request(body_of(&frame))
            .unwrap_or_else(|e| panic!("{request:?} failed to decode: {e}"));
        assert_eq!(
            header,
            RequestHeader {
                xid,
                op: request.op()
            }
        );
        assert_eq!(decoded, request);
    }
}

#[test]
fn every_request_kind_has_a_reply_kind() {
    for (_, request) in every_request() {
        assert_eq!(ReplyKind::for_op(request.op()), Some(request.reply_kind()));
    }
}

#[test]
fn create_variants_keep_their_opcode() {
    for (kind, opcode) in [
        (CreateKind::Create, op::CREATE),
        (CreateKind::Create2, op::CREATE2),
        (CreateKind::Container, op::CREATE_CONTAINER),
    ] {
        let request = Request::Create {
            kind,
            path: "/x".into(),
            data: Some(vec![]),
            acl: vec![],
            flags: 0,
        };
        let frame = encode_request(1, &request);
        let (header, decoded) = decode_request(body_of(&frame)).unwrap();
        assert_eq!(header.op, opcode);
        assert_eq!(decoded, request);
    }
    assert_eq!(ReplyKind::for_op(op::CREATE), Some(ReplyKind::Create));
    assert_eq!(ReplyKind::for_op(op::CREATE2), Some(ReplyKind::Create2));
    assert_eq!(
        ReplyKind::for_op(op::CREATE_CONTAINER),
        Some(ReplyKind::Create2)
    );
    assert_eq!(ReplyKind::for_op(op::CREATE_TTL), Some(ReplyKind::Create2));
}

#[test]
fn every_response_kind_round_trips() {
    for (i, (kind, response)) in every_response().into_iter().enumerate() {
        let header = ReplyHeader {
            xid: i as i32 + 1,
            zxid: 0x5_0000_0000 + i as i64,
            err: err::OK,
        };
        let frame = encode_reply(&header, Some(&response));
        let (decoded_header, decoded) = decode_reply(body_of(&frame), kind)
            .unwrap_or_else(|e| panic!("{response:?} failed to decode: {e}"));
        assert_eq!(decoded_header, header);
        assert_eq!(decoded, response);
    }
}

#[test]
fn watch_event_round_trips() {
    let event = WatcherEvent {
        event_type: event_type::NODE_CHILDREN_CHANGED,
        state: keeper_state::SYNC_CONNECTED,
        path: "/parent".into(),
    };
    let frame = encode_watch_event(&event);
    let (header, decoded) = decode_reply(body_of(&frame), ReplyKind::Empty).unwrap();
    assert_eq!((header.xid, header.zxid, header.err), (-1, -1, 0));
    assert_eq!(decoded, Response::WatchEvent(event));
}

#[test]
fn connect_request_and_response_round_trip() {
    for read_only in [None, Some(false), Some(true)] {
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x1234,
            timeout_ms: 30_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: (0..16).collect(),
            read_only,
        };
        let frame = encode_connect_request(&request);
        assert_eq!(decode_connect_request(body_of(&frame)).unwrap(), request);

        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 20_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: (16..32).collect(),
            read_only,
        };
        let frame = encode_connect_response(&response);
        assert_eq!(decode_connect_response(body_of(&frame)).unwrap(), response);
    }
}

#[test]
fn records_round_trip_through_reader_and_writer() {
    let stat = sample_stat(1);
    let header = MultiHeader {
        op: op::SET_DATA,
        done: false,
        err: 0,
    };
    let info = ClientInfo {
        auth_scheme: "digest".into(),
        user: "bob".into(),
    };
    let mut w = Writer::new();
    w.write_record(&stat);
    w.write_record(&header);
    w.write_record(&MultiHeader::END);
    w.write_record(&info);
    let bytes = w.finish();
    let mut r = Reader::new(&bytes);
    assert_eq!(r.read_record::<Stat>().unwrap(), stat);
    assert_eq!(r.read_record::<MultiHeader>().unwrap(), header);
    assert_eq!(r.read_record::<MultiHeader>().unwrap(), MultiHeader::END);
    assert_eq!(r.read_record::<ClientInfo>().unwrap(), info);
    assert_eq!(r.remaining(), 0);
}
