//! A request frame's body, as a connection's I/O hands it to the front
//! door. The server's connection code and the coordination simulator's
//! simulated connections both decode with this, so the simulator feeds the
//! node exactly what the server would.

use crate::front::Pending;
use synod_zkproto as wire;

/// Decodes one request frame body (the bytes after its length prefix) into
/// what `ZkFront::on_packet` takes. A well-formed request of an opcode
/// synod does not serve (SASL) becomes `Pending::Refuse`, answered
/// Unimplemented in its turn while the connection goes on; a reconfig
/// becomes `Pending::Reconfig`; any other body
/// that does not decode is an error, and the caller closes the connection.
pub fn decode_packet(body: &[u8]) -> Result<(wire::RequestHeader, Pending), wire::DecodeError> {
    if let Some(decoded) = decode_reconfig(body) {
        return decoded;
    }
    match wire::decode_request(body) {
        Ok((header, request)) => Ok((header, Pending::Request(request))),
        Err(e) => match unserved(body) {
            Some(header) => Ok((header, Pending::Refuse(wire::err::UNIMPLEMENTED))),
            None => Err(e),
        },
    }
}

/// A reconfig (opcode 16), which the wire crate does not decode: its
/// request is the front door's own (`zkconfig`). `None` for other opcodes.
fn decode_reconfig(
    body: &[u8],
) -> Option<Result<(wire::RequestHeader, Pending), wire::DecodeError>> {
    use wire::Record;
    let mut r = wire::Reader::new(body);
    let header = wire::RequestHeader::read(&mut r).ok()?;
    if header.op != wire::op::RECONFIG {
        return None;
    }
    Some(
        crate::zkconfig::ReconfigRequest::decode(&mut r)
            .map(|req| (header, Pending::Reconfig(req))),
    )
}

/// The header of a well-formed request for an opcode synod does not serve.
fn unserved(body: &[u8]) -> Option<wire::RequestHeader> {
    let xid = i32::from_be_bytes(body.get(0..4)?.try_into().ok()?);
    let op = i32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
    matches!(op, wire::op::SASL).then_some(wire::RequestHeader { xid, op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_decodes_an_unserved_opcode_is_refused_and_garbage_is_an_error() {
        let frame = wire::encode_request(
            7,
            &wire::Request::Exists {
                path: "/a".into(),
                watch: true,
            },
        );
        let (header, pending) = decode_packet(&frame[4..]).expect("decodes");
        assert_eq!((header.xid, header.op), (7, wire::op::EXISTS));
        assert!(matches!(
            pending,
            Pending::Request(wire::Request::Exists { .. })
        ));

        let mut sasl = 9i32.to_be_bytes().to_vec();
        sasl.extend_from_slice(&wire::op::SASL.to_be_bytes());
        sasl.extend_from_slice(&[0xde, 0xad]);
        let (header, pending) = decode_packet(&sasl).expect("refused, not an error");
        assert_eq!(header.xid, 9);
        assert!(matches!(pending, Pending::Refuse(c) if c == wire::err::UNIMPLEMENTED));

        assert!(decode_packet(&[0, 0, 0, 1, 0, 0, 0x7f, 0x7f]).is_err());
        assert!(decode_packet(&[1, 2]).is_err());
    }
}
