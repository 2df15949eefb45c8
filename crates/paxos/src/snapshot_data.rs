//! A snapshot's state as a sequence of buffers, never one.
//!
//! A state machine's snapshot can be gigabytes. Held as one contiguous
//! buffer it needs one allocation of that size (which the allocator may
//! refuse long before memory runs out), it is copied whole wherever a
//! snapshot is assembled (a transfer that arrived in chunks, a file read
//! back), and every length in it is one step from a 32-bit cliff.
//! [`SnapshotData`] is the same bytes in chunks of bounded size: the state
//! machine writes into a [`SnapshotWriter`] that cuts its output into
//! chunks, restores from a reader over the chunks, storage streams the
//! chunks to and from its file, and a transfer sends slices of them.
//!
//! Chunk boundaries carry no meaning: two values with the same bytes are
//! equal and hash alike however they were cut. Encoded (serde), a value is
//! a sequence of byte strings, one per chunk.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, Read};
use std::ops::Range;

use bytes::Bytes;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Chunk size of a [`SnapshotWriter`] when the caller has no reason to
/// choose one (the engine uses `EngineConfig::snapshot_chunk_bytes`).
pub const SNAPSHOT_CHUNK_BYTES_DEFAULT: usize = 4 << 20;

/// An immutable byte string held as a list of shared buffers. Cloning it
/// shares the buffers.
#[derive(Clone, Default)]
pub struct SnapshotData {
    /// No chunk is empty.
    chunks: Vec<Bytes>,
    len: u64,
}

impl SnapshotData {
    /// The empty state.
    pub fn new() -> Self {
        SnapshotData::default()
    }

    /// Total bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of its encoding: a chunk count, then each chunk's length
    /// and bytes.
    pub fn encoded_bytes(&self) -> u64 {
        8 + 8 * self.chunks.len() as u64 + self.len
    }

    /// The buffers, in order; none is empty.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// Reads the bytes from the start, chunk after chunk.
    pub fn reader(&self) -> SnapshotReader<'_> {
        SnapshotReader {
            chunks: &self.chunks,
            index: 0,
            offset: 0,
            remaining: self.len,
        }
    }

    /// The bytes in `range`, sharing the buffers (nothing is copied).
    ///
    /// # Panics
    /// If the range is not inside the data.
    pub fn slice(&self, range: Range<u64>) -> SnapshotData {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "slice {range:?} of snapshot data of {} bytes",
            self.len
        );
        let mut out = SnapshotData::new();
        let mut at = 0u64;
        for chunk in &self.chunks {
            let (start, end) = (at, at + chunk.len() as u64);
            at = end;
            if end <= range.start {
                continue;
            }
            if start >= range.end {
                break;
            }
            let from = range.start.saturating_sub(start) as usize;
            let to = (range.end.min(end) - start) as usize;
            out.push(chunk.slice(from..to));
        }
        out
    }

    /// At most `max` bytes from `offset` as one buffer: shared when they
    /// lie in one chunk, copied (at most `max` bytes) when they span
    /// several. Empty at or past the end.
    pub fn bytes_at(&self, offset: u64, max: usize) -> Bytes {
        let end = self.len.min(offset.saturating_add(max as u64));
        if offset >= end {
            return Bytes::new();
        }
        let part = self.slice(offset..end);
        match part.chunks.as_slice() {
            [one] => one.clone(),
            many => {
                let mut out = Vec::with_capacity((end - offset) as usize);
                for chunk in many {
                    out.extend_from_slice(chunk);
                }
                out.into()
            }
        }
    }

    /// All the bytes in one new buffer. Only for data known to be small
    /// (tests, a snapshot's head): the point of this type is not to.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len as usize);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// Appends `chunk` as one more chunk (shared, not copied), unless it
    /// is empty.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len() as u64;
            self.chunks.push(chunk);
        }
    }
}

impl From<Bytes> for SnapshotData {
    fn from(bytes: Bytes) -> Self {
        let mut data = SnapshotData::new();
        data.push(bytes);
        data
    }
}

impl From<Vec<u8>> for SnapshotData {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<&[u8]> for SnapshotData {
    fn from(bytes: &[u8]) -> Self {
        Bytes::copy_from_slice(bytes).into()
    }
}

impl fmt::Debug for SnapshotData {
    /// The length only: equal values print alike, however they are cut.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotData({} bytes)", self.len)
    }
}

impl PartialEq for SnapshotData {
    /// Equal bytes, however they are cut into chunks.
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        let (mut a, mut b) = (self.reader(), other.reader());
        loop {
            let (x, y) = match (a.fill_buf(), b.fill_buf()) {
                (Ok(x), Ok(y)) => (x, y),
                _ => unreachable!("reading memory cannot fail"),
            };
            let n = x.len().min(y.len());
            if n == 0 {
                return x.is_empty() && y.is_empty();
            }
            if x[..n] != y[..n] {
                return false;
            }
            a.consume(n);
            b.consume(n);
        }
    }
}

impl Eq for SnapshotData {}

impl Hash for SnapshotData {
    /// The length, then the bytes in blocks of a fixed size, so the chunks
    /// do not show (`Hasher::write` need not treat two writes as one).
    fn hash<H: Hasher>(&self, state: &mut H) {
        const BLOCK: usize = 256;
        self.len.hash(state);
        let mut block = [0u8; BLOCK];
        let mut reader = self.reader();
        loop {
            let n = read_up_to(&mut reader, &mut block);
            if n == 0 {
                break;
            }
            state.write(&block[..n]);
        }
    }
}

/// Fills `buf` as far as the reader goes; the bytes read.
fn read_up_to(reader: &mut SnapshotReader<'_>, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).expect("reading memory");
        if n == 0 {
            break;
        }
        filled += n;
    }
    filled
}

impl Serialize for SnapshotData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.chunks.iter())
    }
}

impl<'de> Deserialize<'de> for SnapshotData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ChunksVisitor)
    }
}

struct ChunksVisitor;

impl<'de> Visitor<'de> for ChunksVisitor {
    type Value = SnapshotData;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of byte strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SnapshotData, A::Error> {
        // The count comes from the input: reserve only a little up front,
        // so a corrupt count cannot ask for a huge allocation.
        let mut data = SnapshotData {
            chunks: Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024)),
            len: 0,
        };
        while let Some(chunk) = seq.next_element::<Bytes>()? {
            data.push(chunk);
        }
        Ok(data)
    }
}

/// Reads a [`SnapshotData`] from its start.
pub struct SnapshotReader<'a> {
    chunks: &'a [Bytes],
    /// The chunk being read, and the next byte in it.
    index: usize,
    offset: usize,
    /// Bytes not yet read (kept, so asking is O(1) however many chunks).
    remaining: u64,
}

impl SnapshotReader<'_> {
    /// Bytes not yet read.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Read for SnapshotReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for SnapshotReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.chunks.get(self.index) {
            Some(chunk) => Ok(&chunk[self.offset..]),
            None => Ok(&[]),
        }
    }

    fn consume(&mut self, amt: usize) {
        let Some(chunk) = self.chunks.get(self.index) else {
            assert_eq!(amt, 0, "consumed past the end");
            return;
        };
        self.offset += amt;
        self.remaining -= amt as u64;
        match self.offset.cmp(&chunk.len()) {
            Ordering::Less => {}
            Ordering::Equal => {
                self.index += 1;
                self.offset = 0;
            }
            Ordering::Greater => panic!("consumed past the end of a chunk"),
        }
    }
}

/// Collects written bytes into a [`SnapshotData`] of chunks of at most
/// `chunk_bytes` each. Writing never fails (it is memory).
#[derive(Debug)]
pub struct SnapshotWriter {
    chunk_bytes: usize,
    done: SnapshotData,
    /// The chunk being filled; grows by doubling up to `chunk_bytes`, so
    /// a small state does not reserve a whole chunk.
    current: Vec<u8>,
}

impl SnapshotWriter {
    /// A writer that cuts chunks of `chunk_bytes` (at least 1).
    pub fn new(chunk_bytes: usize) -> Self {
        SnapshotWriter {
            chunk_bytes: chunk_bytes.max(1),
            done: SnapshotData::new(),
            current: Vec::new(),
        }
    }

    /// The largest chunk it cuts.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk_bytes
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.done.len + self.current.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `data`'s chunks as they are, after what was written (no
    /// copy).
    pub fn append(&mut self, data: &SnapshotData) {
        self.cut();
        for chunk in data.chunks() {
            self.done.push(chunk.clone());
        }
    }

    /// The bytes written.
    pub fn finish(mut self) -> SnapshotData {
        self.cut();
        self.done
    }

    fn cut(&mut self) {
        if !self.current.is_empty() {
            let chunk = std::mem::take(&mut self.current);
            self.done.push(chunk.into());
        }
    }
}

impl io::Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.chunk_bytes - self.current.len();
        let n = room.min(buf.len());
        self.current.extend_from_slice(&buf[..n]);
        if self.current.len() == self.chunk_bytes {
            self.cut();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::io::Write;

    fn written(bytes: &[u8], chunk_bytes: usize) -> SnapshotData {
        let mut w = SnapshotWriter::new(chunk_bytes);
        w.write_all(bytes).unwrap();
        w.finish()
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn hash_of(data: &SnapshotData) -> u64 {
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        h.finish()
    }

    #[test]
    fn no_chunk_is_larger_than_the_writer_cuts_and_none_is_empty() {
        let data = written(&pattern(1000), 64);
        assert_eq!(data.len(), 1000);
        assert_eq!(data.chunks().len(), 16);
        assert!(data.chunks().iter().all(|c| !c.is_empty() && c.len() <= 64));
        assert_eq!(data.to_vec(), pattern(1000));
    }

    #[test]
    fn equal_bytes_are_equal_and_hash_alike_however_they_are_cut() {
        let bytes = pattern(5000);
        let a = written(&bytes, 7);
        let b = written(&bytes, 4096);
        let c = SnapshotData::from(bytes.clone());
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&b), hash_of(&c));
        let mut other = bytes.clone();
        other[4321] ^= 1;
        assert_ne!(a, SnapshotData::from(other));
        assert_ne!(a, SnapshotData::from(&bytes[..4999]));
    }

    #[test]
    fn the_reader_reads_every_byte_in_order_across_chunks() {
        let data = written(&pattern(777), 10);
        let mut reader = data.reader();
        assert_eq!(reader.remaining(), 777);
        let mut first = [0u8; 15];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(reader.remaining(), 762);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!([&first[..], &rest[..]].concat(), pattern(777));
        assert_eq!(reader.remaining(), 0);
    }

    #[test]
    fn a_slice_shares_and_holds_exactly_its_range() {
        let bytes = pattern(300);
        let data = written(&bytes, 32);
        for (from, to) in [(0, 0), (0, 300), (5, 37), (32, 64), (31, 33), (299, 300)] {
            let part = data.slice(from..to);
            assert_eq!(part.len(), to - from);
            assert_eq!(part.to_vec(), &bytes[from as usize..to as usize]);
            assert!(part.chunks().iter().all(|c| !c.is_empty()));
        }
    }

    #[test]
    fn bytes_at_shares_inside_a_chunk_and_copies_across() {
        let bytes = pattern(100);
        let data = written(&bytes, 10);
        let inside = data.bytes_at(12, 5);
        assert_eq!(&inside[..], &bytes[12..17]);
        assert_eq!(
            inside.as_ptr(),
            data.chunks()[1][2..].as_ptr(),
            "shared, not copied"
        );
        assert_eq!(&data.bytes_at(8, 25)[..], &bytes[8..33]);
        assert_eq!(&data.bytes_at(95, 25)[..], &bytes[95..]);
        assert!(data.bytes_at(100, 25).is_empty());
    }

    #[test]
    fn append_keeps_the_chunks_and_the_order() {
        let mut w = SnapshotWriter::new(8);
        w.write_all(b"head").unwrap();
        w.append(&written(&pattern(20), 8));
        w.write_all(b"tail").unwrap();
        let data = w.finish();
        assert_eq!(
            data.to_vec(),
            [&b"head"[..], &pattern(20), b"tail"].concat()
        );
    }

    #[test]
    fn it_encodes_as_one_byte_string_per_chunk_and_decodes_back() {
        let data = written(&pattern(50), 20);
        let encoded = bincode::serialize(&data).unwrap();
        // Count, then each chunk as length and bytes (bincode's defaults).
        assert_eq!(encoded.len(), 8 + 3 * 8 + 50);
        assert_eq!(encoded.len() as u64, data.encoded_bytes());
        assert_eq!(&encoded[..8], &3u64.to_le_bytes());
        let back: SnapshotData = bincode::deserialize(&encoded).unwrap();
        assert_eq!(back, data);
        assert_eq!(back.chunks().len(), 3);
    }

    #[test]
    fn a_corrupt_chunk_count_is_an_error_not_a_huge_allocation() {
        let mut encoded = u64::MAX.to_le_bytes().to_vec();
        encoded.extend_from_slice(&1u64.to_le_bytes());
        encoded.push(9);
        assert!(bincode::deserialize::<SnapshotData>(&encoded).is_err());
    }
}
