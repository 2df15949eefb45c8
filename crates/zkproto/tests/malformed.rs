//! Null strings and vectors, bad lengths, bad utf-8, unknown and
//! disallowed opcodes: each is either read as ZooKeeper reads it or
//! refused with an error naming the field.

use synod_zkproto::*;

struct Body(Vec<u8>);

impl Body {
    fn header(op: i32) -> Self {
        let mut body = Body(Vec::new());
        body.int(1).int(op);
        body
    }
    fn int(&mut self, v: i32) -> &mut Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn long(&mut self, v: i64) -> &mut Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn bool(&mut self, v: bool) -> &mut Self {
        self.0.push(u8::from(v));
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.int(s.len() as i32);
        self.0.extend(s.as_bytes());
        self
    }
}

/// Null data stays null (ZooKeeper stores it apart from empty); a null ACL
/// list reads as empty (refused as InvalidACL either way).
#[test]
fn null_data_stays_null_and_a_null_acl_reads_as_empty_in_create() {
    let mut body = Body::header(op::CREATE2);
    body.str("/n").int(-1).int(-1).int(create_mode::PERSISTENT);
    let (_, request) = decode_request(&body.0).unwrap();
    assert_eq!(
        request,
        Request::Create {
            kind: CreateKind::Create2,
            path: "/n".into(),
            data: None,
            acl: vec![],
            flags: 0,
        }
    );
}

#[test]
fn null_watch_lists_in_set_watches_read_as_empty() {
    let mut body = Body::header(op::SET_WATCHES);
    body.long(5).int(-1).int(-1).int(-1);
    let (_, request) = decode_request(&body.0).unwrap();
    assert_eq!(
        request,
        Request::SetWatches {
            relative_zxid: 5,
            data: vec![],
            exist: vec![],
            child: vec![],
        }
    );
}

#[test]
fn null_children_vector_in_a_reply_reads_as_empty() {
    let mut body = Body(Vec::new());
    body.int(3).long(9).int(0).int(-1);
    let (_, response) = decode_reply(&body.0, ReplyKind::GetChildren).unwrap();
    assert_eq!(response, Response::GetChildren { children: vec![] });
}

#[test]
fn null_path_is_refused_naming_the_field() {
    let mut body = Body::header(op::GET_DATA);
    body.int(-1).bool(false);
    assert_eq!(
        decode_request(&body.0),
        Err(DecodeError::UnexpectedNull {
            field: "GetDataRequest.path"
        })
    );
}

#[test]
fn null_string_in_a_watch_list_is_refused() {
    let mut body = Body::header(op::SET_WATCHES);
    body.long(0).int(1).int(-1).int(0).int(0);
    assert!(matches!(
        decode_request(&body.0),
        Err(DecodeError::UnexpectedNull { .. })
    ));
}

#[test]
fn lengths_below_minus_one_are_refused() {
    let mut body = Body::header(op::SYNC);
    body.int(-2);
    assert_eq!(
        decode_request(&body.0),
        Err(DecodeError::NegativeLength {
            field: "SyncRequest.path",
            len: -2
        })
    );
}

#[test]
fn lengths_above_the_reader_limit_are_refused() {
    let mut body = Body(Vec::new());
    body.str("/long-path");
    let mut r = Reader::with_limit(&body.0, 4);
    assert_eq!(
        r.read_string("path"),
        Err(DecodeError::LengthAboveLimit {
            field: "path",
            len: 10,
            limit: 4
        })
    );
}

#[test]
fn lengths_beyond_the_input_are_truncation() {
    let mut body = Body::header(op::SYNC);
    body.int(100).str("/");
    assert!(matches!(
        decode_request(&body.0),
        Err(DecodeError::Truncated {
            field: "SyncRequest.path",
            needed: 100,
            ..
        })
    ));
}

#[test]
fn invalid_utf8_path_is_refused() {
    let mut body = Body::header(op::SYNC);
    body.int(2);
    body.0.extend([0xc3, 0x28]);
    assert_eq!(
        decode_request(&body.0),
        Err(DecodeError::InvalidUtf8 {
            field: "SyncRequest.path"
        })
    );
}

#[test]
fn unknown_and_unsupported_opcodes_are_refused() {
    for opcode in [10, 99, op::RECONFIG, op::CREATE_SESSION, 0] {
        let body = Body::header(opcode);
        assert!(
            matches!(decode_request(&body.0), Err(DecodeError::UnknownOpcode { op, .. }) if op == opcode),
            "opcode {opcode}"
        );
    }
}

#[test]
fn multi_refuses_reads_and_multi_read_refuses_writes() {
    let read_in_multi = Request::Multi(vec![Request::GetData {
        path: "/a".into(),
        watch: false,
    }]);
    let frame = encode_request(1, &read_in_multi);
    assert_eq!(
        decode_request(&frame[4..]),
        Err(DecodeError::OpNotAllowedIn {
            op: op::GET_DATA,
            name: "getData",
            container: "multi"
        })
    );

    let write_in_multi_read = Request::MultiRead(vec![Request::Delete {
        path: "/a".into(),
        version: -1,
    }]);
    let frame = encode_request(1, &write_in_multi_read);
    assert!(matches!(
        decode_request(&frame[4..]),
        Err(DecodeError::OpNotAllowedIn {
            op: op::DELETE,
            container: "multiRead",
            ..
        })
    ));

    let nested = Request::Multi(vec![Request::Multi(vec![])]);
    let frame = encode_request(1, &nested);
    assert!(decode_request(&frame[4..]).is_err());
}

#[test]
fn multi_without_an_end_marker_is_truncated() {
    let mut body = Body::header(op::MULTI);
    body.int(op::CHECK).bool(false).int(-1).str("/a").int(1);
    assert!(matches!(
        decode_request(&body.0),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn trailing_bytes_after_a_request_are_accepted() {
    let mut frame = encode_request(4, &Request::Sync { path: "/".into() });
    frame.extend([1, 2, 3]);
    let (_, request) = decode_request(&frame[4..]).unwrap();
    assert_eq!(request, Request::Sync { path: "/".into() });
}

#[test]
fn errors_explain_themselves() {
    let text = DecodeError::FrameTooLarge {
        len: 2_000_000,
        limit: DEFAULT_MAX_BUFFER,
    }
    .to_string();
    assert!(
        text.contains("2000000") && text.contains("jute.maxbuffer"),
        "{text}"
    );
    let text = DecodeError::OpNotAllowedIn {
        op: 4,
        name: "getData",
        container: "multi",
    }
    .to_string();
    assert!(text.contains("getData") && text.contains("multi"), "{text}");
}

#[test]
fn a_null_id_in_an_acl_reads_as_empty_as_kazoo_sends_the_auth_scheme() {
    use synod_zkproto::{Reader, Record};
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&4i32.to_be_bytes());
    bytes.extend_from_slice(b"auth");
    bytes.extend_from_slice(&(-1i32).to_be_bytes());
    let id = synod_zkproto::Id::read(&mut Reader::new(&bytes)).unwrap();
    assert_eq!((id.scheme.as_str(), id.id.as_str()), ("auth", ""));
}
