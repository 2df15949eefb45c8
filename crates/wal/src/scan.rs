//! Validation of one segment image, and the rule that tells a torn tail from
//! corruption.
//!
//! # The torn-tail rule
//!
//! Let R be the first record of a segment that fails validation, at byte
//! offset `o`, where index `e` was expected. R is a **torn tail** — the
//! unfinished last write of a crashed process, which recovery cuts off — only
//! if all of these hold:
//!
//! 1. R is in the last segment (closed segments were fsynced whole before the
//!    next one was created, so they never end in a torn write);
//! 2. R failed as an unfinished write can fail: truncated header, truncated
//!    payload, a length above `record_bytes_max`, or a checksum mismatch. A
//!    complete record whose checksum is valid but whose index is wrong is a
//!    misplaced record, never a torn one;
//! 3. no *valid record* starts at any byte offset `p > o` of the segment,
//!    where valid means: a complete header, length within
//!    `record_bytes_max`, the payload fits in the file, the stored index lies
//!    in `e ..= e + (bytes after o) / 16` (indices the records after R could
//!    carry), and the CRC32C matches.
//!
//! Why this is sound: a sync makes every byte written before it durable. If R
//! was never completely written, no sync covering R returned, so neither R
//! nor anything after it was ever reported durable, and cutting at `o` loses
//! nothing that was promised. If instead R is a durable record that rotted,
//! the records after it were written by the same sequential appends and are
//! still valid, so condition 3 fails and we refuse to start rather than
//! silently drop durable records.
//!
//! What the rule cannot tell apart: (a) if the filesystem writes back the
//! pages of an unsynced batch out of order and the machine loses power, a
//! later page can be on disk while an earlier one is not; that looks like
//! corruption followed by valid data, and the node refuses to start although
//! nothing durable was lost (safe, at the cost of a restore from a peer).
//! (b) if the last durable record rots and nothing follows it, it is cut as
//! a torn tail; no local rule can see that, only the peers can. (c) an opaque
//! payload may itself contain bytes that form a valid record; if such a
//! payload sits after a torn write, recovery refuses to start (safe).

use crate::error::CorruptReason;
use crate::record::{decode_at, Header, HEADER_BYTES};

/// The valid records of a segment and the first bad one, if any.
#[derive(Debug)]
pub(crate) struct SegmentScan {
    /// Byte offset of every valid record, in index order.
    pub offsets: Vec<u64>,
    /// Bytes covered by the valid records.
    pub valid_len: u64,
    /// The first record that failed, if the valid records do not reach EOF.
    pub bad: Option<BadRecord>,
}

/// The first record of a segment that failed validation.
#[derive(Debug)]
pub(crate) struct BadRecord {
    pub offset: u64,
    pub index: u64,
    pub reason: CorruptReason,
    /// Offset of the first valid record after it (rule condition 3).
    pub valid_record_after: Option<u64>,
}

impl BadRecord {
    /// Conditions 2 and 3 of the torn-tail rule; condition 1 is the caller's.
    pub(crate) fn may_be_torn(&self) -> bool {
        let torn_shape = !matches!(
            self.reason,
            CorruptReason::IndexMismatch { .. } | CorruptReason::TrailingBytes { .. }
        );
        torn_shape && self.valid_record_after.is_none()
    }
}

/// Validates every record of a segment image whose first index is
/// `first_index`, stopping at the first failure.
pub(crate) fn scan_segment(bytes: &[u8], first_index: u64, record_bytes_max: u32) -> SegmentScan {
    let mut offsets = Vec::new();
    let mut offset = 0usize;
    let mut index = first_index;
    while offset < bytes.len() {
        match decode_at(bytes, offset, index, record_bytes_max) {
            Ok((_payload, end)) => {
                offsets.push(offset as u64);
                offset = end;
                index += 1;
            }
            Err(reason) => {
                let valid_record_after =
                    find_valid_record_after(bytes, offset, index, record_bytes_max);
                return SegmentScan {
                    offsets,
                    valid_len: offset as u64,
                    bad: Some(BadRecord {
                        offset: offset as u64,
                        index,
                        reason,
                        valid_record_after: valid_record_after.map(|o| o as u64),
                    }),
                };
            }
        }
    }
    SegmentScan {
        offsets,
        valid_len: offset as u64,
        bad: None,
    }
}

/// Condition 3 of the torn-tail rule: the first offset after `bad_offset`
/// where a valid record with a plausible index starts. The index window is
/// checked before the CRC, so scanning garbage or zeros costs a few compares
/// per byte and stays linear in practice.
fn find_valid_record_after(
    bytes: &[u8],
    bad_offset: usize,
    expected_index: u64,
    record_bytes_max: u32,
) -> Option<usize> {
    let rest_bytes = (bytes.len() - bad_offset) as u64;
    let index_max = expected_index.saturating_add(rest_bytes / HEADER_BYTES as u64);
    (bad_offset + 1..bytes.len()).find(|&p| {
        let Some(header_bytes) = bytes[p..].first_chunk::<HEADER_BYTES>() else {
            return false;
        };
        let header = Header::parse(header_bytes);
        if header.index < expected_index || header.index > index_max {
            return false;
        }
        if header.len > record_bytes_max {
            return false;
        }
        let start = p + HEADER_BYTES;
        let Some(payload) = bytes.get(start..start + header.len as usize) else {
            return false;
        };
        header.check(payload, header.index).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode_into;

    fn segment(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            encode_into(&mut buf, first + i as u64, p);
        }
        buf
    }

    #[test]
    fn a_clean_segment_has_no_bad_record() {
        let buf = segment(5, &[b"a", b"bb", b""]);
        let scan = scan_segment(&buf, 5, 1024);
        assert_eq!(scan.offsets, vec![0, 17, 35]);
        assert_eq!(scan.valid_len, buf.len() as u64);
        assert!(scan.bad.is_none());
    }

    #[test]
    fn a_cut_last_record_is_torn() {
        let mut buf = segment(1, &[b"aaaa", b"bbbb"]);
        buf.truncate(buf.len() - 2);
        let bad = scan_segment(&buf, 1, 1024).bad.expect("bad record");
        assert_eq!(bad.offset, 20);
        assert!(bad.may_be_torn());
    }

    #[test]
    fn zeros_after_the_last_record_are_torn() {
        let mut buf = segment(1, &[b"aaaa"]);
        buf.extend_from_slice(&[0; 100]);
        let scan = scan_segment(&buf, 1, 1024);
        assert_eq!(scan.valid_len, 20);
        assert!(scan.bad.expect("bad").may_be_torn());
    }

    #[test]
    fn a_flipped_byte_followed_by_valid_records_is_corruption() {
        let mut buf = segment(1, &[b"aaaa", b"bbbb", b"cccc"]);
        buf[HEADER_BYTES + 1] ^= 0x40;
        let bad = scan_segment(&buf, 1, 1024).bad.expect("bad record");
        assert_eq!(bad.offset, 0);
        assert_eq!(bad.valid_record_after, Some(20));
        assert!(!bad.may_be_torn());
    }

    #[test]
    fn a_misplaced_valid_record_is_never_torn() {
        let buf = segment(2, &[b"aaaa"]);
        let bad = scan_segment(&buf, 1, 1024).bad.expect("bad record");
        assert!(!bad.may_be_torn());
    }
}
