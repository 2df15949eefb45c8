//! A state machine's snapshot in one frame: a version byte, the state in
//! bincode (varint integers), and the FNV-1a 64 hash of that bincode,
//! little-endian. Written into the snapshot's chunks and read back through
//! them, never as one buffer. For state machines whose whole state is one
//! serde value (the shard controller, a shard group).

use std::io::{Read, Write};

use bincode::Options as _;
use serde::{de::DeserializeOwned, Serialize};

use crate::hash::FnvIo;
use crate::snapshot_data::{SnapshotData, SnapshotWriter};

/// Why a framed snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramedError {
    #[error("empty")]
    Empty,
    #[error("unknown version {found} (expected {expected})")]
    Version { found: u8, expected: u8 },
    #[error("malformed body: {0}")]
    Body(String),
    #[error("no hash after the body")]
    NoHash,
    #[error("{0} trailing bytes")]
    Trailing(u64),
    #[error("hash mismatch: snapshot says {stored:#018x}, body hashes to {computed:#018x}")]
    HashMismatch { stored: u64, computed: u64 },
}

/// Writes `value` framed with `version`.
pub fn write_framed<T: Serialize + ?Sized>(out: &mut SnapshotWriter, version: u8, value: &T) {
    out.write_all(&[version]).expect("writing to memory");
    let mut body = FnvIo::new(&mut *out);
    bincode::DefaultOptions::new()
        .serialize_into(&mut body, value)
        .expect("writing to memory");
    let hash = body.hash();
    out.write_all(&hash.to_le_bytes())
        .expect("writing to memory");
}

/// Reads what `write_framed` wrote with `version`. A corrupt length reads,
/// and so allocates, no more than the snapshot holds.
pub fn read_framed<T: DeserializeOwned>(
    snapshot: &SnapshotData,
    version: u8,
) -> Result<T, FramedError> {
    let mut reader = snapshot.reader();
    let mut found = [0u8];
    reader
        .read_exact(&mut found)
        .map_err(|_| FramedError::Empty)?;
    if found[0] != version {
        return Err(FramedError::Version {
            found: found[0],
            expected: version,
        });
    }
    let mut body = FnvIo::new(&mut reader);
    let value: T = bincode::DefaultOptions::new()
        .with_limit(snapshot.len())
        .deserialize_from(&mut body)
        .map_err(|e| FramedError::Body(e.to_string()))?;
    let computed = body.hash();
    let mut trailer = [0u8; 8];
    reader
        .read_exact(&mut trailer)
        .map_err(|_| FramedError::NoHash)?;
    if reader.remaining() != 0 {
        return Err(FramedError::Trailing(reader.remaining()));
    }
    let stored = u64::from_le_bytes(trailer);
    if stored != computed {
        return Err(FramedError::HashMismatch { stored, computed });
    }
    Ok(value)
}
