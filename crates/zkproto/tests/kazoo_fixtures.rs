//! Frames captured from kazoo 2.11's own serializers (regenerate with the
//! script described in fixtures/README.md). Each must decode to the request
//! kazoo meant, and our encoder must produce the same bytes.

mod common;

use common::world_acl;
use synod_zkproto::*;

const FIXTURES: &str = include_str!("fixtures/kazoo_requests.txt");

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The fixture frames by name, each split off by the frame decoder.
fn frames() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    FIXTURES
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, hex) = line.split_once(' ').expect("name hex");
            let frame = unhex(hex.trim());
            let mut decoder = FrameDecoder::default();
            decoder.push(&frame);
            let body = decoder.pop().unwrap().expect("one whole frame");
            assert!(
                decoder.buffered().is_empty(),
                "{name}: bytes after the frame"
            );
            (name.to_owned(), frame, body)
        })
        .collect()
}

fn expected(name: &str) -> (i32, Request) {
    let path = |p: &str| p.to_owned();
    match name {
        "create" => (
            1,
            Request::Create {
                kind: CreateKind::Create,
                path: path("/a"),
                data: Some(b"hello".to_vec()),
                acl: world_acl(),
                flags: create_mode::EPHEMERAL_SEQUENTIAL,
            },
        ),
        "create2" => (
            2,
            Request::Create {
                kind: CreateKind::Create2,
                path: path("/b"),
                data: Some(vec![]),
                acl: world_acl(),
                flags: create_mode::PERSISTENT,
            },
        ),
        "delete" => (
            3,
            Request::Delete {
                path: path("/a"),
                version: -1,
            },
        ),
        "exists" => (
            4,
            Request::Exists {
                path: path("/a"),
                watch: true,
            },
        ),
        "get_data" => (
            5,
            Request::GetData {
                path: path("/a"),
                watch: false,
            },
        ),
        "set_data" => (
            6,
            Request::SetData {
                path: path("/a"),
                data: Some(vec![0, 0xff]),
                version: 7,
            },
        ),
        "get_acl" => (7, Request::GetAcl { path: path("/a") }),
        "set_acl" => (
            8,
            Request::SetAcl {
                path: path("/a"),
                acl: world_acl(),
                version: 2,
            },
        ),
        "get_children" => (
            9,
            Request::GetChildren {
                path: path("/"),
                watch: true,
            },
        ),
        "sync" => (10, Request::Sync { path: path("/") }),
        "get_children2" => (
            11,
            Request::GetChildren2 {
                path: path("/"),
                watch: false,
            },
        ),
        "transaction" => (
            12,
            Request::Multi(vec![
                Request::Create {
                    kind: CreateKind::Create,
                    path: path("/t"),
                    data: Some(b"x".to_vec()),
                    acl: world_acl(),
                    flags: 0,
                },
                Request::Check {
                    path: path("/t"),
                    version: 0,
                },
                Request::SetData {
                    path: path("/t"),
                    data: Some(b"y".to_vec()),
                    version: -1,
                },
                Request::Delete {
                    path: path("/t"),
                    version: -1,
                },
            ]),
        ),
        "ping" => (xid::PING, Request::Ping),
        "auth" => (
            xid::AUTH,
            Request::Auth {
                auth_type: 0,
                scheme: "digest".into(),
                auth: b"user:pw".to_vec(),
            },
        ),
        "close" => (13, Request::CloseSession),
        other => panic!("fixture {other} has no expectation"),
    }
}

#[test]
fn kazoo_connect_request_decodes_and_reencodes_identically() {
    let (_, frame, body) = frames()
        .into_iter()
        .find(|(name, _, _)| name == "connect")
        .expect("connect fixture");
    let request = decode_connect_request(&body).unwrap();
    assert_eq!(
        request,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x42,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );
    assert_eq!(encode_connect_request(&request), frame);
}

#[test]
fn kazoo_requests_decode_and_reencode_identically() {
    let frames = frames();
    assert_eq!(frames.len(), 16, "fixture count");
    for (name, frame, body) in frames.into_iter().filter(|(n, _, _)| n != "connect") {
        let (xid, request) = expected(&name);
        let (header, decoded) = decode_request(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            header,
            RequestHeader {
                xid,
                op: request.op()
            },
            "{name}"
        );
        assert_eq!(decoded, request, "{name}");
        assert_eq!(
            encode_request(xid, &request),
            frame,
            "{name}: re-encoding differs"
        );
    }
}
