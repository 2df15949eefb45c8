//! Length-prefixed framing: a big-endian int32 length, then the body.

use crate::consts::DEFAULT_MAX_BUFFER;
use crate::error::DecodeError;

/// Splits a byte stream into frame bodies, incrementally.
///
/// A length below 0 or above `body_bytes_max` is an error, after which the
/// decoder is unusable: the connection must be closed, since there is no
/// way to find the next frame boundary. The decoder buffers whatever is
/// pushed; the caller bounds memory by popping before pushing more (one
/// partial frame is at most `4 + body_bytes_max` bytes).
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    body_bytes_max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BUFFER)
    }
}

impl FrameDecoder {
    /// A decoder refusing bodies longer than `body_bytes_max` (the
    /// server's jute.maxbuffer; ZooKeeper's server refuses a length
    /// above it, and its client one at or above it).
    pub fn new(body_bytes_max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            body_bytes_max,
        }
    }

    /// The largest body this decoder accepts.
    pub fn body_bytes_max(&self) -> usize {
        self.body_bytes_max
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        // Drop consumed bytes before growing, so the buffer holds at most
        // one partial frame plus what was just pushed.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as part of a frame.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next complete frame body, `Ok(None)` if more bytes are needed,
    /// or an error if the length prefix is invalid (checked as soon as the
    /// four length bytes arrive, before waiting for the body).
    pub fn pop(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        let pending = self.buffered();
        let Some(prefix) = pending.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = i32::from_be_bytes(*prefix);
        let body_len = check_frame_len(len, self.body_bytes_max)?;
        if pending.len() < 4 + body_len {
            return Ok(None);
        }
        let body = pending[4..4 + body_len].to_vec();
        self.start += 4 + body_len;
        Ok(Some(body))
    }
}

/// Validates a frame length prefix against `body_bytes_max`.
pub fn check_frame_len(len: i32, body_bytes_max: usize) -> Result<usize, DecodeError> {
    let body_len = usize::try_from(len).map_err(|_| DecodeError::NegativeFrameLength { len })?;
    if body_len > body_bytes_max {
        return Err(DecodeError::FrameTooLarge {
            len: body_len,
            limit: body_bytes_max,
        });
    }
    Ok(body_len)
}
