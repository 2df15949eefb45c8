//! A znode's data is a nullable jute buffer: null travels as length -1 and
//! empty as length 0, and the two stay apart through decode and encode, in
//! every request that carries data (multi included) and in getData
//! replies (multiRead included).

mod common;

use common::{body_of, sample_stat, world_acl};
use synod_zkproto::*;

/// The data field's length prefix in a request encoded for `data`: the
/// four bytes right after `xid, op, path "/n"`.
fn data_length_on_the_wire(request: &Request) -> i32 {
    let frame = encode_request(1, request);
    let body = body_of(&frame);
    let at = 8 + 4 + 2;
    i32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"))
}

fn requests_carrying(data: Option<Vec<u8>>) -> Vec<Request> {
    let create = |kind| Request::Create {
        kind,
        path: "/n".into(),
        data: data.clone(),
        acl: world_acl(),
        flags: create_mode::PERSISTENT,
    };
    vec![
        create(CreateKind::Create),
        create(CreateKind::Create2),
        create(CreateKind::Container),
        Request::CreateTtl {
            path: "/n".into(),
            data: data.clone(),
            acl: world_acl(),
            flags: create_mode::PERSISTENT_WITH_TTL,
            ttl_ms: 1000,
        },
        Request::SetData {
            path: "/n".into(),
            data,
            version: -1,
        },
    ]
}

#[test]
fn null_data_travels_as_length_minus_one_and_empty_as_zero() {
    for (data, length) in [(None, -1), (Some(vec![]), 0), (Some(vec![9, 9]), 2)] {
        for request in requests_carrying(data.clone()) {
            assert_eq!(data_length_on_the_wire(&request), length, "{request:?}");
            let frame = encode_request(1, &request);
            let (_, decoded) = decode_request(body_of(&frame)).expect("decodes");
            assert_eq!(decoded, request, "{data:?}");
        }
    }
}

#[test]
fn a_multi_keeps_each_ops_null_apart_from_empty() {
    let mut ops = requests_carrying(None);
    ops.extend(requests_carrying(Some(vec![])));
    let request = Request::Multi(ops);
    let frame = encode_request(3, &request);
    let (_, decoded) = decode_request(body_of(&frame)).expect("decodes");
    assert_eq!(decoded, request);
}

#[test]
fn a_get_data_reply_keeps_null_apart_from_empty() {
    for (data, length) in [(None, -1i32), (Some(vec![]), 0)] {
        let response = Response::GetData {
            data: data.clone(),
            stat: sample_stat(1),
        };
        let header = ReplyHeader {
            xid: 5,
            zxid: 9,
            err: 0,
        };
        let frame = encode_reply(&header, Some(&response));
        let body = body_of(&frame);
        // After the reply header (xid, zxid, err: 16 bytes).
        assert_eq!(body[16..20], length.to_be_bytes(), "{data:?}");
        let (_, decoded) = decode_reply(body, ReplyKind::GetData).expect("decodes");
        assert_eq!(decoded, response);

        let multi = Response::MultiRead(vec![
            MultiReadResult::GetData {
                data: data.clone(),
                stat: sample_stat(2),
            },
            MultiReadResult::GetData {
                data: Some(b"x".to_vec()),
                stat: sample_stat(3),
            },
        ]);
        let frame = encode_reply(&header, Some(&multi));
        let (_, decoded) = decode_reply(body_of(&frame), ReplyKind::MultiRead).expect("decodes");
        assert_eq!(decoded, multi);
    }
}
