//! The compact binary encoding shared by operations, replies and snapshots.
//!
//! A value is a tag byte followed by fields; a byte string is a `u32`
//! big-endian length followed by that many bytes; an optional byte string
//! is a presence byte (0 absent, 1 present) followed by the string when
//! present. Decoding checks every length against the input that remains, so
//! corrupt or hostile input yields a [`DecodeError`], never a panic or a
//! huge allocation.

/// Input could not be decoded as a key-value operation, reply or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the field being read was complete.
    #[error("truncated input: {field} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// The input continued after a complete value.
    #[error("{count} trailing bytes after a complete value")]
    TrailingBytes { count: usize },
    /// The tag byte names no known variant.
    #[error("unknown {what} tag {tag:#04x}")]
    UnknownTag { what: &'static str, tag: u8 },
    /// A presence byte of an optional field was neither 0 nor 1.
    #[error("invalid presence byte {byte:#04x} (expected 0 or 1)")]
    InvalidPresence { byte: u8 },
    /// An error message was not valid UTF-8.
    #[error("error message is not valid UTF-8")]
    InvalidUtf8,
}

/// Appends a `u32` big-endian length and the bytes.
///
/// Panics if `bytes` is longer than `u32::MAX`: such a key or value can
/// never be encoded and is a caller bug, not a runtime condition.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("byte string longer than u32::MAX");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a presence byte and, when present, the bytes.
pub(crate) fn put_option(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            put_bytes(out, bytes);
        }
    }
}

/// A cursor over input being decoded.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < needed {
            return Err(DecodeError::Truncated {
                field,
                needed,
                remaining: self.input.len(),
            });
        }
        let (head, rest) = self.input.split_at(needed);
        self.input = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len_bytes = self.take(field, 4)?;
        let len = u32::from_be_bytes(len_bytes.try_into().expect("took 4 bytes"));
        // A u32 always fits in usize on the 32- and 64-bit targets synod
        // supports; saturating keeps the length check meaningful otherwise.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(self.take(field, len)?.to_vec())
    }

    pub(crate) fn option(&mut self, field: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => self.bytes(field).map(Some),
            byte => Err(DecodeError::InvalidPresence { byte }),
        }
    }

    /// Succeeds only if all input was consumed.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.input.len(),
            })
        }
    }
}

/// Formats bytes as a Rust byte-string literal, `b"..."`, for people.
pub(crate) struct ShowBytes<'a>(pub(crate) &'a [u8]);

impl std::fmt::Debug for ShowBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// Formats an optional byte string as `None` or `Some(b"...")`.
pub(crate) struct ShowOption<'a>(pub(crate) Option<&'a [u8]>);

impl std::fmt::Debug for ShowOption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(bytes) => f.debug_tuple("Some").field(&ShowBytes(bytes)).finish(),
        }
    }
}
