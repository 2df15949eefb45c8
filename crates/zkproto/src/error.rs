//! The one error type of the crate: why a byte sequence is not a valid
//! ZooKeeper message.

use thiserror::Error;

/// Why decoding failed. Every variant names the field or record involved so
/// the caller can log a reason a person can act on before closing the
/// connection.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the field was complete.
    #[error("truncated input reading {field}: needed {needed} bytes, {remaining} left")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A length or count below -1 (only -1 means null).
    #[error("negative length {len} for {field}")]
    NegativeLength { field: &'static str, len: i32 },
    /// A length-prefixed field longer than the configured limit.
    #[error("length {len} for {field} exceeds the limit of {limit} bytes (jute.maxbuffer)")]
    LengthAboveLimit {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    /// A vector count that could not fit in the bytes that remain.
    #[error("vector {field} claims {count} items but only {remaining} bytes remain")]
    CountAboveRemaining {
        field: &'static str,
        count: usize,
        remaining: usize,
    },
    /// A field that may not be null was sent as null (-1).
    #[error("{field} is null but must be present")]
    UnexpectedNull { field: &'static str },
    /// A string field that is not UTF-8.
    #[error("{field} is not valid utf-8")]
    InvalidUtf8 { field: &'static str },
    /// A frame whose length prefix is negative.
    #[error("frame length {len} is negative")]
    NegativeFrameLength { len: i32 },
    /// A frame whose length prefix exceeds jute.maxbuffer.
    #[error("frame length {len} exceeds the limit of {limit} bytes (jute.maxbuffer); raise it on both sides if intended")]
    FrameTooLarge { len: usize, limit: usize },
    /// A request header with an opcode this crate does not decode.
    #[error("unknown or unsupported opcode {op} ({name})")]
    UnknownOpcode { op: i32, name: &'static str },
    /// A sub-operation that the enclosing multi or multiRead does not allow.
    #[error("opcode {op} ({name}) is not allowed inside {container}")]
    OpNotAllowedIn {
        op: i32,
        name: &'static str,
        container: &'static str,
    },
    /// Four bytes that are not a known four-letter word.
    #[error("unknown four-letter word {word:?}")]
    UnknownFourLetterWord { word: [u8; 4] },
}
