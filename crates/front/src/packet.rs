//! A request frame's body, as a connection's I/O hands it to the front
//! door. The server's connection code and the coordination simulator's
//! simulated connections both decode with this, so the simulator feeds the
//! node exactly what the server would.

use crate::front::Pending;
use synod_zkproto as wire;

/// Decodes one request frame body (the bytes after its length prefix) into
/// what `ZkFront::on_packet` takes: a reconfig becomes `Pending::Reconfig`,
/// every other opcode ZooKeeper 3.8 defines a `Pending::Request`; a body
/// that does not decode (an unknown opcode among them) is an error, and the
/// caller closes the connection, as ZooKeeper does.
pub fn decode_packet(body: &[u8]) -> Result<(wire::RequestHeader, Pending), wire::DecodeError> {
    if let Some(decoded) = decode_reconfig(body) {
        return decoded;
    }
    wire::decode_request(body).map(|(header, request)| (header, Pending::Request(request)))
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

        let mut reconfig = 9i32.to_be_bytes().to_vec();
        reconfig.extend_from_slice(&wire::op::RECONFIG.to_be_bytes());
        reconfig.extend_from_slice(&[0xde, 0xad]);
        assert!(
            decode_packet(&reconfig).is_err(),
            "a reconfig that does not decode"
        );

        assert!(decode_packet(&[0, 0, 0, 1, 0, 0, 0x7f, 0x7f]).is_err());
        assert!(decode_packet(&[1, 2]).is_err());
    }
}
