//! The byte formats this crate puts inside WAL records and snapshot files.
//!
//! Both are a versioned envelope: one format-version byte, then the bincode
//! encoding (fixed-width little-endian integers, no trailing bytes) of the
//! engine's type. The WAL and the snapshot store already frame and checksum
//! these bytes, so a decoding failure here means the bytes are intact but
//! this build cannot read them: a bug, or data written by another format.

use std::io::{self, Write};

use bincode::Options;
use synod_paxos::{DurableState, Record};

/// Format version of one engine [`Record`] inside a WAL record.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Format version of a whole [`DurableState`] inside a storage snapshot.
pub const STATE_FORMAT_VERSION: u8 = 1;

/// Why bytes that passed their checksum could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not even the version byte is there.
    #[error("empty, no format version byte")]
    Empty,
    /// The version byte names a format this build does not read.
    #[error("format version {found}, this build reads version {supported}")]
    UnknownVersion {
        /// The version byte found.
        found: u8,
        /// The version this build writes and reads.
        supported: u8,
    },
    /// The body does not decode as the expected type.
    #[error("body does not decode: {0}")]
    Body(String),
}

/// The one bincode configuration used for writing and reading, so the
/// two can never drift apart. The limit bounds what a decoder may consume
/// (and so allocate) by the bytes actually present.
fn bincode_options(limit_bytes: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .with_limit(limit_bytes)
}

fn encode<T: serde::Serialize>(version: u8, value: &T) -> Result<Vec<u8>, String> {
    let body_bytes = bincode_options(u64::MAX)
        .serialized_size(value)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(1 + body_bytes as usize);
    out.push(version);
    bincode_options(u64::MAX)
        .serialize_into(&mut out, value)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(version: u8, bytes: &[u8]) -> Result<T, DecodeError> {
    let (&found, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if found != version {
        return Err(DecodeError::UnknownVersion {
            found,
            supported: version,
        });
    }
    bincode_options(body.len() as u64)
        .deserialize(body)
        .map_err(|e| DecodeError::Body(e.to_string()))
}

/// Encodes one engine record as a WAL payload.
pub fn encode_record(record: &Record) -> Result<Vec<u8>, String> {
    encode(RECORD_FORMAT_VERSION, record)
}

/// Decodes a WAL payload written by [`encode_record`].
pub fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    decode(RECORD_FORMAT_VERSION, bytes)
}

/// Encodes a whole durable state as a storage snapshot's data.
pub fn encode_state(state: &DurableState) -> Result<Vec<u8>, String> {
    encode(STATE_FORMAT_VERSION, state)
}

/// The length of [`encode_state`]'s output, without encoding.
pub fn encoded_state_bytes(state: &DurableState) -> Result<u64, String> {
    let body_bytes = bincode_options(u64::MAX)
        .serialized_size(state)
        .map_err(|e| e.to_string())?;
    Ok(1 + body_bytes)
}

/// Writes exactly what [`encode_state`] returns into `out`, without
/// building it in memory: a durable state can hold a snapshot of hundreds
/// of megabytes.
pub fn encode_state_into(state: &DurableState, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(&[STATE_FORMAT_VERSION])?;
    bincode_options(u64::MAX)
        .serialize_into(out, state)
        .map_err(|e| match *e {
            bincode::ErrorKind::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
}

/// Decodes a storage snapshot's data written by [`encode_state`].
pub fn decode_state(bytes: &[u8]) -> Result<DurableState, DecodeError> {
    decode(STATE_FORMAT_VERSION, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::{Ballot, Config, Snapshot, Value};

    #[test]
    fn a_record_round_trips_behind_its_version_byte() {
        let record = Record::Accept {
            slot: 3,
            ballot: Ballot::new(2, 1),
            value: Value::Noop,
        };
        let bytes = encode_record(&record).unwrap();
        assert_eq!(bytes[0], RECORD_FORMAT_VERSION);
        assert_eq!(decode_record(&bytes), Ok(record));
    }

    /// Snapshot state is a byte string: its length, then the bytes as they
    /// are, the same encoding a `Vec<u8>` had, so a state of `n` bytes
    /// costs `n` bytes and data written before `Bytes` still decodes.
    #[test]
    fn snapshot_state_encodes_as_a_plain_byte_string() {
        let snapshot = |state: Vec<u8>| {
            Record::Snapshot(Box::new(Snapshot {
                last_slot: 4,
                config: Config::new([1, 2, 3]),
                clients: Default::default(),
                state: state.into(),
            }))
        };
        let state: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let empty = encode_record(&snapshot(Vec::new())).unwrap();
        let full = encode_record(&snapshot(state.clone())).unwrap();
        assert_eq!(full.len(), empty.len() + state.len());
        let at = full.len() - state.len();
        assert_eq!(&full[at..], &state[..]);
        assert_eq!(&full[at - 8..at], &(state.len() as u64).to_le_bytes());
        assert_eq!(decode_record(&full), Ok(snapshot(state)));
    }

    #[test]
    fn a_streamed_state_is_the_encoded_state() {
        let mut state = DurableState::default();
        state.apply(&Record::Promise(Ballot::new(3, 1)));
        state.apply(&Record::Snapshot(Box::new(Snapshot {
            last_slot: 2,
            config: Config::new([1]),
            clients: Default::default(),
            state: vec![7; 300].into(),
        })));
        let mut streamed = Vec::new();
        encode_state_into(&state, &mut streamed).unwrap();
        assert_eq!(streamed, encode_state(&state).unwrap());
        assert_eq!(encoded_state_bytes(&state).unwrap(), streamed.len() as u64);
    }

    #[test]
    fn another_version_is_refused_not_guessed() {
        let mut bytes = encode_record(&Record::Commit(9)).unwrap();
        bytes[0] = 2;
        assert_eq!(
            decode_record(&bytes),
            Err(DecodeError::UnknownVersion {
                found: 2,
                supported: RECORD_FORMAT_VERSION
            })
        );
        assert_eq!(decode_record(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode_record(&Record::Commit(9)).unwrap();
        bytes.push(0);
        assert!(matches!(decode_record(&bytes), Err(DecodeError::Body(_))));
    }

    #[test]
    fn random_bytes_are_an_error_never_a_panic_or_a_huge_allocation() {
        let mut x: u64 = 0x1234_5678;
        for len in 0..2000usize {
            let mut bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            if let Some(first) = bytes.first_mut() {
                *first = RECORD_FORMAT_VERSION;
            }
            let _ = decode_record(&bytes);
            let _ = decode_state(&bytes);
        }
    }
}
