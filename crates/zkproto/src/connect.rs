//! The handshake: ConnectRequest and ConnectResponse travel framed but
//! without a request or reply header.

use crate::error::DecodeError;
use crate::jute::{Reader, Writer};
use crate::records::{ConnectRequest, ConnectResponse};

/// Decodes the first frame body of a connection. Trailing bytes after the
/// optional readOnly byte are ignored, as in [`crate::decode_request`].
pub fn decode_connect_request(body: &[u8]) -> Result<ConnectRequest, DecodeError> {
    Reader::new(body).read_record()
}

/// Encodes a ConnectRequest frame (length prefix included), as a client
/// sends it; the readOnly byte is written only when `read_only` is `Some`.
pub fn encode_connect_request(request: &ConnectRequest) -> Vec<u8> {
    let mut w = Writer::frame();
    w.write_record(request);
    w.finish()
}

/// Encodes a ConnectResponse frame (length prefix included); the readOnly
/// byte is written only when `read_only` is `Some`, which must mirror the
/// client's request.
pub fn encode_connect_response(response: &ConnectResponse) -> Vec<u8> {
    let mut w = Writer::frame();
    w.write_record(response);
    w.finish()
}

/// Decodes the server's answer to the handshake.
pub fn decode_connect_response(body: &[u8]) -> Result<ConnectResponse, DecodeError> {
    Reader::new(body).read_record()
}
