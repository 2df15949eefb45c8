//! Decoding hostile input returns an error, never panics: random bytes,
//! every truncation of valid frames, and valid frames with bytes flipped.
//! Deterministic (fixed seeds) so any failure reproduces.

mod common;

use common::{body_of, every_request, every_response, Rng};
use synod_zkproto::*;

/// Runs every decoder on `bytes`; results are ignored, only panics count.
fn decode_everything(bytes: &[u8]) {
    let _ = decode_request(bytes);
    let _ = decode_connect_request(bytes);
    let _ = decode_connect_response(bytes);
    for kind in [
        ReplyKind::Empty,
        ReplyKind::Create,
        ReplyKind::Create2,
        ReplyKind::Stat,
        ReplyKind::GetData,
        ReplyKind::GetAcl,
        ReplyKind::GetChildren,
        ReplyKind::GetChildren2,
        ReplyKind::Sync,
        ReplyKind::Multi,
        ReplyKind::MultiRead,
        ReplyKind::GetEphemerals,
        ReplyKind::AllChildrenNumber,
        ReplyKind::WhoAmI,
        ReplyKind::Sasl,
    ] {
        let _ = decode_reply(bytes, kind);
    }
    let mut frames = FrameDecoder::new(4096);
    frames.push(bytes);
    while let Ok(Some(body)) = frames.pop() {
        let _ = decode_request(&body);
    }
    if let Some(first4) = bytes.first_chunk::<4>() {
        let _ = four_letter_word(*first4);
    }
}

/// Valid frame bodies of every kind, to truncate and mutate.
fn valid_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = every_request()
        .iter()
        .map(|(xid, r)| body_of(&encode_request(*xid, r)).to_vec())
        .collect();
    for (i, (_, response)) in every_response().iter().enumerate() {
        let header = ReplyHeader {
            xid: i as i32,
            zxid: 1,
            err: 0,
        };
        bodies.push(body_of(&encode_reply(&header, Some(response))).to_vec());
    }
    let connect = ConnectRequest {
        passwd: vec![0; 16],
        read_only: Some(false),
        ..ConnectRequest::default()
    };
    bodies.push(body_of(&encode_connect_request(&connect)).to_vec());
    bodies
}

#[test]
fn decoding_random_bytes_never_panics() {
    let mut rng = Rng::new(0x5eed);
    for _ in 0..20_000 {
        let len = rng.below(96);
        decode_everything(&rng.bytes(len));
    }
}

#[test]
fn decoding_every_truncation_of_valid_frames_never_panics_and_fails() {
    for body in valid_bodies() {
        for cut in 0..body.len() {
            decode_everything(&body[..cut]);
        }
        decode_everything(&body);
    }
    // A truncated request is an error, not a shorter request.
    for (xid, request) in every_request() {
        let frame = encode_request(xid, &request);
        let body = body_of(&frame);
        let has_body = body.len() > 8;
        if has_body {
            assert!(
                decode_request(&body[..body.len() - 1]).is_err(),
                "{request:?} decoded after losing its last byte"
            );
        }
    }
}

#[test]
fn decoding_mutated_valid_frames_never_panics() {
    let mut rng = Rng::new(42);
    let bodies = valid_bodies();
    for _ in 0..30_000 {
        let mut body = bodies[rng.below(bodies.len())].clone();
        let flips = 1 + rng.below(4);
        for _ in 0..flips {
            if body.is_empty() {
                break;
            }
            let at = rng.below(body.len());
            // Favour the values that hit edge cases in lengths and counts.
            body[at] = match rng.below(4) {
                0 => 0xff,
                1 => 0x00,
                2 => 0x7f,
                _ => rng.next_u64() as u8,
            };
        }
        decode_everything(&body);
    }
}

#[test]
fn huge_vector_counts_are_refused_before_allocating() {
    let mut body = Vec::new();
    body.extend(1i32.to_be_bytes());
    body.extend(op::SET_WATCHES.to_be_bytes());
    body.extend(0i64.to_be_bytes());
    body.extend(0x000f_ffffi32.to_be_bytes()); // a million paths...
    body.extend(0i32.to_be_bytes()); // ...in four bytes
    assert!(matches!(
        decode_request(&body),
        Err(DecodeError::CountAboveRemaining {
            field: "SetWatches.dataWatches",
            ..
        })
    ));
}
