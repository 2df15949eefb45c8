//! The byte formats this crate puts inside WAL records and snapshot files.
//!
//! Both are a versioned envelope: one format-version byte, then the bincode
//! encoding (fixed-width little-endian integers, no trailing bytes) of the
//! engine's type. The WAL and the snapshot store already frame and checksum
//! these bytes, so a decoding failure here means the bytes are intact but
//! this build cannot read them: a bug, or data written by another format.
//!
//! Versions: a storage snapshot is state format 2 (an engine snapshot's
//! state as a sequence of chunks) and still reads 1 (the state as one byte
//! string; `synod_paxos::durable::v1`). WAL records are format 1 for good:
//! the one record whose encoding changed, an engine snapshot, is never
//! written to the WAL (see the crate docs) and reads back in its old form.

use std::io::{self, BufRead, Write};

use bincode::Options;
use synod_paxos::durable::v1;
use synod_paxos::{DurableState, Record};

/// Format version of one engine [`Record`] inside a WAL record.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Format version of a whole [`DurableState`] inside a storage snapshot.
pub const STATE_FORMAT_VERSION: u8 = 2;

/// The storage snapshot format before engine snapshots were chunked; read,
/// never written.
pub const STATE_FORMAT_VERSION_V1: u8 = 1;

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

/// Encodes one engine record as a WAL payload. An engine snapshot is
/// refused: it goes into a storage snapshot, never the WAL.
pub fn encode_record(record: &Record) -> Result<Vec<u8>, String> {
    if matches!(record, Record::Snapshot(_)) {
        return Err("an engine snapshot never goes to the WAL".into());
    }
    encode(RECORD_FORMAT_VERSION, record)
}

/// Decodes a WAL payload written by [`encode_record`], or an engine
/// snapshot an older version put in the WAL.
pub fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    decode::<v1::Record>(RECORD_FORMAT_VERSION, bytes).map(Record::from)
}

/// Encodes a whole durable state as a storage snapshot's data. For tests
/// and small states: storage streams it with [`encode_state_into`].
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

/// Decodes a storage snapshot's data written by [`encode_state`] (or by
/// an older version, format 1).
pub fn decode_state(mut bytes: &[u8]) -> Result<DurableState, DecodeError> {
    let len = bytes.len() as u64;
    decode_state_from(&mut bytes, len)
}

/// Decodes a storage snapshot's data of `len` bytes from `input` as it
/// streams in: an engine snapshot's state is read chunk by chunk, never
/// into one buffer. What it may allocate is bounded by `len`. The input
/// must hold exactly the state: trailing bytes are refused.
pub fn decode_state_from(input: &mut dyn BufRead, len: u64) -> Result<DurableState, DecodeError> {
    let mut version = [0u8; 1];
    if len == 0 || input.read_exact(&mut version).is_err() {
        return Err(DecodeError::Empty);
    }
    let body = len - 1;
    // Not `reject_trailing_bytes`: bincode checks that only on slices.
    let options = || {
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_little_endian()
            .with_limit(body)
    };
    let body_error = |e: bincode::Error| DecodeError::Body(e.to_string());
    let state = match version[0] {
        STATE_FORMAT_VERSION => options()
            .deserialize_from(&mut *input)
            .map_err(body_error)?,
        STATE_FORMAT_VERSION_V1 => options()
            .deserialize_from::<_, v1::DurableState>(&mut *input)
            .map_err(body_error)?
            .into(),
        found => {
            return Err(DecodeError::UnknownVersion {
                found,
                supported: STATE_FORMAT_VERSION,
            })
        }
    };
    match input.fill_buf() {
        Ok([]) => Ok(state),
        Ok(rest) => Err(DecodeError::Body(format!(
            "at least {} trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(DecodeError::Body(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_paxos::{Ballot, Bytes, Config, Snapshot, SnapshotData, SnapshotWriter, Value};

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

    fn engine_snapshot(state: SnapshotData) -> Snapshot {
        Snapshot {
            last_slot: 4,
            config: Config::new([1, 2, 3]),
            clients: Default::default(),
            state,
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// `bytes` in chunks of `chunk_bytes`.
    fn chunked(bytes: &[u8], chunk_bytes: usize) -> SnapshotData {
        let mut out = SnapshotWriter::new(chunk_bytes);
        out.write_all(bytes).unwrap();
        out.finish()
    }

    /// The bytes an older version wrote: `value` in bincode after the
    /// version byte (tuples and structs encode alike, field after field).
    fn v1_bytes(version: u8, value: &impl serde::Serialize) -> Vec<u8> {
        let mut out = vec![version];
        bincode_options(u64::MAX)
            .serialize_into(&mut out, value)
            .unwrap();
        out
    }

    #[test]
    fn an_engine_snapshot_never_goes_to_the_wal() {
        let record = Record::Snapshot(Box::new(engine_snapshot(pattern(10).into())));
        assert!(encode_record(&record).is_err());
    }

    /// An engine snapshot an older version logged (record format 1, the
    /// state as one byte string) still replays.
    #[test]
    fn an_engine_snapshot_in_an_old_wal_still_decodes() {
        let state = pattern(1000);
        let config = Config::new([1, 2, 3]);
        let clients = std::collections::BTreeMap::<u64, synod_paxos::ClientRecord>::new();
        // Variant 4 of `Record`, then the old snapshot's fields.
        let old = (4u32, 4u64, &config, &clients, Bytes::from(state.clone()));
        let bytes = v1_bytes(RECORD_FORMAT_VERSION, &old);
        assert_eq!(
            decode_record(&bytes),
            Ok(Record::Snapshot(Box::new(engine_snapshot(state.into()))))
        );
    }

    /// A storage snapshot an older version wrote (state format 1) still
    /// loads; this build writes format 2.
    #[test]
    fn a_state_of_format_1_still_decodes() {
        let state = pattern(700);
        let config = Config::new([1, 2, 3]);
        let clients = std::collections::BTreeMap::<u64, synod_paxos::ClientRecord>::new();
        let log = std::collections::BTreeMap::<u64, synod_paxos::durable::DurableEntry>::new();
        let snapshot = Some((4u64, &config, &clients, Bytes::from(state.clone())));
        let old = (Ballot::new(3, 1), snapshot, &log, 4u64);
        let decoded = decode_state(&v1_bytes(STATE_FORMAT_VERSION_V1, &old)).unwrap();
        let mut expected = DurableState::default();
        expected.apply(&Record::Promise(Ballot::new(3, 1)));
        expected.apply(&Record::Snapshot(Box::new(engine_snapshot(state.into()))));
        assert_eq!(decoded, expected);
        assert_eq!(encode_state(&decoded).unwrap()[0], 2);
    }

    /// Format 2 keeps an engine snapshot's state in its chunks, each a byte
    /// string, and a streamed decode gives them back as chunks.
    #[test]
    fn a_chunked_state_round_trips_streamed_in_chunks() {
        let mut state = DurableState::default();
        state.apply(&Record::Snapshot(Box::new(engine_snapshot(chunked(
            &pattern(1000),
            300,
        )))));
        let bytes = encode_state(&state).unwrap();
        let mut input = std::io::BufReader::with_capacity(7, &bytes[..]);
        let back = decode_state_from(&mut input, bytes.len() as u64).unwrap();
        assert_eq!(back, state);
        let chunks = back.snapshot.unwrap().state.chunks().len();
        assert_eq!(chunks, 4, "read back as the chunks it was written in");
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_state(&trailing).is_err());
        assert!(decode_state(&bytes[..bytes.len() - 1]).is_err());
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
