//! The on-disk encoding of one log record.
//!
//! ```text
//! offset  size  field
//!      0     4  length   u32 little-endian: payload bytes that follow the header
//!      4     4  crc      u32 little-endian: CRC32C over bytes 0..4, 8..16 and the payload
//!      8     8  index    u64 little-endian: the record's log index
//!     16   len  payload  opaque bytes
//! ```
//!
//! Little-endian because every machine synod targets is; the format is fixed
//! regardless of the host. The index is stored (and covered by the checksum)
//! although the position implies it: it lets recovery reject a record that
//! was moved, a segment that was renamed, and, when it looks for valid records
//! after a damaged one, skip nearly all garbage without computing a CRC.

use crate::error::CorruptReason;

/// Bytes of a record header.
pub const HEADER_BYTES: usize = 16;

/// CRC32C over the length, the index and the payload, in that order.
pub(crate) fn checksum(len: u32, index: u64, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &index.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends the encoding of one record to `buf`. The caller has checked the
/// payload against `record_bytes_max`, which is at most `u32::MAX`.
pub(crate) fn encode_into(buf: &mut Vec<u8>, index: u64, payload: &[u8]) {
    assert!(
        payload.len() <= u32::MAX as usize,
        "record length checked by the caller against record_bytes_max"
    );
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(len, index, payload).to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// A parsed header; nothing in it is trusted until [`Header::check`] passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub len: u32,
    pub crc: u32,
    pub index: u64,
}

impl Header {
    pub(crate) fn parse(bytes: &[u8; HEADER_BYTES]) -> Header {
        let [l0, l1, l2, l3, c0, c1, c2, c3, i0, i1, i2, i3, i4, i5, i6, i7] = *bytes;
        Header {
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
            index: u64::from_le_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
        }
    }

    /// Validates the payload against this header. The checksum is checked
    /// before the index so that a torn or zeroed record is reported as a
    /// checksum failure, and an index mismatch always means a complete,
    /// checksum-valid record in the wrong place.
    pub(crate) fn check(&self, payload: &[u8], expected_index: u64) -> Result<(), CorruptReason> {
        let computed = checksum(self.len, self.index, payload);
        if computed != self.crc {
            return Err(CorruptReason::ChecksumMismatch {
                stored: self.crc,
                computed,
            });
        }
        if self.index != expected_index {
            return Err(CorruptReason::IndexMismatch {
                stored: self.index,
                expected: expected_index,
            });
        }
        Ok(())
    }
}

/// Decodes the record at `offset` of an in-memory segment image.
/// Returns the payload range and the offset just past the record.
pub(crate) fn decode_at(
    bytes: &[u8],
    offset: usize,
    expected_index: u64,
    record_bytes_max: u32,
) -> Result<(std::ops::Range<usize>, usize), CorruptReason> {
    let rest = bytes.get(offset..).unwrap_or(&[]);
    let Some(header_bytes) = rest.first_chunk::<HEADER_BYTES>() else {
        return Err(CorruptReason::TruncatedHeader {
            available: rest.len() as u64,
            needed: HEADER_BYTES as u64,
        });
    };
    let header = Header::parse(header_bytes);
    if header.len > record_bytes_max {
        return Err(CorruptReason::TooLarge {
            len: u64::from(header.len),
            max: u64::from(record_bytes_max),
        });
    }
    let available = rest.len() - HEADER_BYTES;
    let len = header.len as usize;
    if len > available {
        return Err(CorruptReason::TruncatedPayload {
            len: u64::from(header.len),
            available: available as u64,
        });
    }
    let start = offset + HEADER_BYTES;
    header.check(&bytes[start..start + len], expected_index)?;
    Ok((start..start + len, start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 7, b"hello");
        assert_eq!(buf.len(), HEADER_BYTES + 5);
        let (payload, end) = decode_at(&buf, 0, 7, 1024).expect("valid record");
        assert_eq!(&buf[payload], b"hello");
        assert_eq!(end, buf.len());
    }

    #[test]
    fn zeros_fail_the_checksum_not_the_index_check() {
        let zeros = [0u8; 64];
        assert!(matches!(
            decode_at(&zeros, 0, 1, 1024),
            Err(CorruptReason::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn a_record_in_the_wrong_place_is_an_index_mismatch() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 7, b"x");
        assert_eq!(
            decode_at(&buf, 0, 8, 1024),
            Err(CorruptReason::IndexMismatch {
                stored: 7,
                expected: 8
            })
        );
    }
}
