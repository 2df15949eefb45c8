//! Key-value operations and their replies.
//!
//! Every operation touches exactly one key, which is what lets the
//! linearizability checker split a history by key.

use crate::codec::{put_bytes, put_option, DecodeError, Reader, ShowBytes, ShowOption};

/// One key-value operation, as carried in a Paxos slot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Reads the value of `key`. Replies [`KvReply::Value`].
    Get { key: Vec<u8> },
    /// Sets `key` to `value`. Replies [`KvReply::Ok`].
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Removes `key`. Replies [`KvReply::Ok`] whether or not the key
    /// existed, so a retried delete looks the same as a first one.
    Delete { key: Vec<u8> },
    /// Sets `key` to `new` only if its current value equals `expected`
    /// (`None`: the key must be absent). Replies [`KvReply::CasOk`] or
    /// [`KvReply::CasFailed`] with the current value.
    Cas {
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    },
    /// Appends `value` to the current value of `key`, creating it if
    /// absent. Replies [`KvReply::Ok`].
    Append { key: Vec<u8>, value: Vec<u8> },
}

/// The reply to one [`KvOp`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvReply {
    /// The value read by a `Get`; `None` if the key is absent.
    Value(Option<Vec<u8>>),
    /// A `Put`, `Delete` or `Append` took effect.
    Ok,
    /// A `Cas` found the expected value and stored the new one.
    CasOk,
    /// A `Cas` found `current` instead of the expected value and changed
    /// nothing.
    CasFailed { current: Option<Vec<u8>> },
    /// The operation could not be executed (it was undecodable, or a write
    /// was sent where only reads are allowed).
    Error(String),
}

const OP_GET: u8 = 1;
const OP_PUT: u8 = 2;
const OP_DELETE: u8 = 3;
const OP_CAS: u8 = 4;
const OP_APPEND: u8 = 5;

const REPLY_VALUE: u8 = 1;
const REPLY_OK: u8 = 2;
const REPLY_CAS_OK: u8 = 3;
const REPLY_CAS_FAILED: u8 = 4;
const REPLY_ERROR: u8 = 5;

impl KvOp {
    /// The single key this operation touches.
    pub fn key(&self) -> &[u8] {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Delete { key }
            | KvOp::Cas { key, .. }
            | KvOp::Append { key, .. } => key,
        }
    }

    /// True if the operation never changes state (only `Get`).
    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. })
    }

    /// Encodes as a tag byte followed by length-prefixed fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            KvOp::Get { key } => {
                out.push(OP_GET);
                put_bytes(&mut out, key);
            }
            KvOp::Put { key, value } => {
                out.push(OP_PUT);
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
            KvOp::Delete { key } => {
                out.push(OP_DELETE);
                put_bytes(&mut out, key);
            }
            KvOp::Cas { key, expected, new } => {
                out.push(OP_CAS);
                put_bytes(&mut out, key);
                put_option(&mut out, expected.as_deref());
                put_bytes(&mut out, new);
            }
            KvOp::Append { key, value } => {
                out.push(OP_APPEND);
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
        }
        out
    }

    /// Decodes exactly one operation; truncated input, trailing bytes and
    /// unknown tags are errors.
    pub fn decode(input: &[u8]) -> Result<KvOp, DecodeError> {
        let mut r = Reader::new(input);
        let op = match r.u8("operation tag")? {
            OP_GET => KvOp::Get {
                key: r.bytes("key")?,
            },
            OP_PUT => KvOp::Put {
                key: r.bytes("key")?,
                value: r.bytes("value")?,
            },
            OP_DELETE => KvOp::Delete {
                key: r.bytes("key")?,
            },
            OP_CAS => KvOp::Cas {
                key: r.bytes("key")?,
                expected: r.option("expected value")?,
                new: r.bytes("new value")?,
            },
            OP_APPEND => KvOp::Append {
                key: r.bytes("key")?,
                value: r.bytes("value")?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "operation",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(op)
    }
}

impl KvReply {
    /// Encodes as a tag byte followed by length-prefixed fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            KvReply::Value(value) => {
                out.push(REPLY_VALUE);
                put_option(&mut out, value.as_deref());
            }
            KvReply::Ok => out.push(REPLY_OK),
            KvReply::CasOk => out.push(REPLY_CAS_OK),
            KvReply::CasFailed { current } => {
                out.push(REPLY_CAS_FAILED);
                put_option(&mut out, current.as_deref());
            }
            KvReply::Error(message) => {
                out.push(REPLY_ERROR);
                put_bytes(&mut out, message.as_bytes());
            }
        }
        out
    }

    /// Decodes exactly one reply; truncated input, trailing bytes, unknown
    /// tags and non-UTF-8 error messages are errors.
    pub fn decode(input: &[u8]) -> Result<KvReply, DecodeError> {
        let mut r = Reader::new(input);
        let reply = match r.u8("reply tag")? {
            REPLY_VALUE => KvReply::Value(r.option("value")?),
            REPLY_OK => KvReply::Ok,
            REPLY_CAS_OK => KvReply::CasOk,
            REPLY_CAS_FAILED => KvReply::CasFailed {
                current: r.option("current value")?,
            },
            REPLY_ERROR => {
                let message = r.bytes("error message")?;
                KvReply::Error(String::from_utf8(message).map_err(|_| DecodeError::InvalidUtf8)?)
            }
            tag => return Err(DecodeError::UnknownTag { what: "reply", tag }),
        };
        r.finish()?;
        Ok(reply)
    }
}

// Debug shows keys and values as byte-string literals so that a checker's
// explanation of a failed history reads as text, not as lists of numbers.
impl std::fmt::Debug for KvOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvOp::Get { key } => f.debug_struct("Get").field("key", &ShowBytes(key)).finish(),
            KvOp::Put { key, value } => f
                .debug_struct("Put")
                .field("key", &ShowBytes(key))
                .field("value", &ShowBytes(value))
                .finish(),
            KvOp::Delete { key } => f
                .debug_struct("Delete")
                .field("key", &ShowBytes(key))
                .finish(),
            KvOp::Cas { key, expected, new } => f
                .debug_struct("Cas")
                .field("key", &ShowBytes(key))
                .field("expected", &ShowOption(expected.as_deref()))
                .field("new", &ShowBytes(new))
                .finish(),
            KvOp::Append { key, value } => f
                .debug_struct("Append")
                .field("key", &ShowBytes(key))
                .field("value", &ShowBytes(value))
                .finish(),
        }
    }
}

impl std::fmt::Debug for KvReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvReply::Value(value) => f
                .debug_tuple("Value")
                .field(&ShowOption(value.as_deref()))
                .finish(),
            KvReply::Ok => f.write_str("Ok"),
            KvReply::CasOk => f.write_str("CasOk"),
            KvReply::CasFailed { current } => f
                .debug_struct("CasFailed")
                .field("current", &ShowOption(current.as_deref()))
                .finish(),
            KvReply::Error(message) => f.debug_tuple("Error").field(message).finish(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// SplitMix64: a tiny seeded PRNG, so tests are reproducible.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed)
        }

        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        pub(crate) fn bytes(&mut self, len_max: u64) -> Vec<u8> {
            let len = self.below(len_max + 1);
            (0..len).map(|_| self.next_u64() as u8).collect()
        }
    }

    fn sample_ops() -> Vec<KvOp> {
        vec![
            KvOp::Get { key: b"k".to_vec() },
            KvOp::Get { key: Vec::new() },
            KvOp::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            KvOp::Delete { key: b"k".to_vec() },
            KvOp::Cas {
                key: b"k".to_vec(),
                expected: None,
                new: b"n".to_vec(),
            },
            KvOp::Cas {
                key: b"k".to_vec(),
                expected: Some(Vec::new()),
                new: Vec::new(),
            },
            KvOp::Append {
                key: vec![0, 255],
                value: vec![1; 300],
            },
        ]
    }

    fn sample_replies() -> Vec<KvReply> {
        vec![
            KvReply::Value(None),
            KvReply::Value(Some(b"v".to_vec())),
            KvReply::Ok,
            KvReply::CasOk,
            KvReply::CasFailed { current: None },
            KvReply::CasFailed {
                current: Some(b"x".to_vec()),
            },
            KvReply::Error("bad op".to_string()),
        ]
    }

    #[test]
    fn op_encode_decode_round_trips() {
        for op in sample_ops() {
            assert_eq!(KvOp::decode(&op.encode()), Ok(op));
        }
    }

    #[test]
    fn reply_encode_decode_round_trips() {
        for reply in sample_replies() {
            assert_eq!(KvReply::decode(&reply.encode()), Ok(reply));
        }
    }

    #[test]
    fn decode_rejects_every_truncation() {
        for op in sample_ops() {
            let bytes = op.encode();
            for len in 0..bytes.len() {
                let err = KvOp::decode(&bytes[..len]).unwrap_err();
                assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
            }
        }
        for reply in sample_replies() {
            let bytes = reply.encode();
            for len in 0..bytes.len() {
                assert!(KvReply::decode(&bytes[..len]).is_err());
            }
        }
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        let mut bytes = KvOp::Delete { key: b"k".to_vec() }.encode();
        bytes.push(0);
        assert_eq!(
            KvOp::decode(&bytes),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        let mut bytes = KvReply::Ok.encode();
        bytes.extend_from_slice(b"xy");
        assert_eq!(
            KvReply::decode(&bytes),
            Err(DecodeError::TrailingBytes { count: 2 })
        );
    }

    #[test]
    fn decode_rejects_unknown_tags_and_bad_presence_bytes() {
        assert_eq!(
            KvOp::decode(&[9]),
            Err(DecodeError::UnknownTag {
                what: "operation",
                tag: 9
            })
        );
        assert_eq!(
            KvReply::decode(&[0]),
            Err(DecodeError::UnknownTag {
                what: "reply",
                tag: 0
            })
        );
        assert_eq!(
            KvReply::decode(&[REPLY_VALUE, 2]),
            Err(DecodeError::InvalidPresence { byte: 2 })
        );
        assert_eq!(
            KvReply::decode(&[REPLY_ERROR, 0, 0, 0, 1, 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn decode_of_random_bytes_never_panics_and_round_trips_when_accepted() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..20_000 {
            let mut bytes = rng.bytes(24);
            // Bias the first byte towards valid tags so the search reaches
            // the field decoders, not only the tag check.
            if let Some(first) = bytes.first_mut() {
                *first %= 7;
            }
            if let Ok(op) = KvOp::decode(&bytes) {
                assert_eq!(op.encode(), bytes);
            }
            if let Ok(reply) = KvReply::decode(&bytes) {
                assert_eq!(reply.encode(), bytes);
            }
        }
    }

    #[test]
    fn only_get_is_a_read() {
        for op in sample_ops() {
            assert_eq!(op.is_read(), matches!(op, KvOp::Get { .. }));
        }
    }

    #[test]
    fn debug_shows_bytes_as_text() {
        let op = KvOp::Cas {
            key: b"k".to_vec(),
            expected: Some(b"a\n".to_vec()),
            new: vec![0xff],
        };
        assert_eq!(
            format!("{op:?}"),
            r#"Cas { key: b"k", expected: Some(b"a\n"), new: b"\xff" }"#
        );
        let reply = KvReply::Value(None);
        assert_eq!(format!("{reply:?}"), "Value(None)");
    }
}
