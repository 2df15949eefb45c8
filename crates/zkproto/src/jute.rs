//! Jute, ZooKeeper's serialization: big-endian ints (4 bytes), longs (8),
//! bools (1), and length-prefixed strings, buffers and vectors where a
//! length of -1 means null. Records are their fields in order, no tags.

use crate::consts::{DEFAULT_JUTE_EXTRA_MAX_BUFFER, DEFAULT_MAX_BUFFER};
use crate::error::DecodeError;

/// A jute record: something with a fixed field order on the wire.
pub trait Record: Sized {
    /// Reads the record's fields in wire order.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Appends the record's fields in wire order.
    fn write(&self, w: &mut Writer);
}

/// A cursor over a byte slice that decodes jute primitives.
///
/// Every length-prefixed field is checked against `field_bytes_max` before
/// anything is allocated, and every vector count against the bytes that
/// remain, so hostile input cannot make us allocate more than it sent.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    field_bytes_max: usize,
}

impl<'a> Reader<'a> {
    /// A reader with jute's default field limit: jute.maxbuffer plus
    /// `zookeeper.jute.maxbuffer.extrasize`, both at their defaults.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limit(buf, DEFAULT_MAX_BUFFER + DEFAULT_JUTE_EXTRA_MAX_BUFFER)
    }

    /// A reader refusing any string, buffer or vector longer than
    /// `field_bytes_max` bytes (or items).
    pub fn with_limit(buf: &'a [u8], field_bytes_max: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            field_bytes_max,
        }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, needed: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if needed > remaining {
            return Err(DecodeError::Truncated {
                field,
                needed,
                remaining,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + needed];
        self.pos += needed;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    pub fn read_int(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array(field)?))
    }

    pub fn read_long(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array(field)?))
    }

    /// Any non-zero byte is true, as Java's `DataInput.readBoolean` reads it.
    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let [byte] = self.take_array(field)?;
        Ok(byte != 0)
    }

    /// Reads a length prefix: `None` for null (-1), checked against the limit.
    fn read_len(&mut self, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let len = self.read_int(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { field, len })?;
        if len > self.field_bytes_max {
            return Err(DecodeError::LengthAboveLimit {
                field,
                len,
                limit: self.field_bytes_max,
            });
        }
        Ok(Some(len))
    }

    /// A buffer; `None` when sent as null.
    pub fn read_buffer(&mut self, field: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len(field)? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len, field)?.to_vec())),
        }
    }

    /// A buffer where null and empty mean the same thing to us (never a
    /// znode's data: see `read_buffer`).
    pub fn read_bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_buffer(field)?.unwrap_or_default())
    }

    /// A utf-8 string; `None` when sent as null.
    pub fn read_ustring(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.read_len(field)? {
            None => Ok(None),
            Some(len) => {
                let bytes = self.take(len, field)?;
                let text =
                    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })?;
                Ok(Some(text.to_owned()))
            }
        }
    }

    /// A utf-8 string that must not be null (paths, schemes, ids).
    pub fn read_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.read_ustring(field)?
            .ok_or(DecodeError::UnexpectedNull { field })
    }

    /// A vector; `None` when sent as null. `item_bytes_min` is the smallest
    /// wire size of one item, used to refuse counts the input cannot hold
    /// before allocating.
    pub fn read_vec<T>(
        &mut self,
        field: &'static str,
        item_bytes_min: usize,
        mut read_item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let Some(count) = self.read_len(field)? else {
            return Ok(None);
        };
        let remaining = self.remaining();
        if count.saturating_mul(item_bytes_min.max(1)) > remaining {
            return Err(DecodeError::CountAboveRemaining {
                field,
                count,
                remaining,
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(read_item(self)?);
        }
        Ok(Some(items))
    }

    /// A vector of non-null strings; a null vector reads as empty.
    pub fn read_string_vec(&mut self, field: &'static str) -> Result<Vec<String>, DecodeError> {
        let items = self.read_vec(field, 4, |r| r.read_string(field))?;
        Ok(items.unwrap_or_default())
    }

    /// A vector of records; a null vector reads as empty.
    pub fn read_record_vec<R: Record>(
        &mut self,
        field: &'static str,
        item_bytes_min: usize,
    ) -> Result<Vec<R>, DecodeError> {
        let items = self.read_vec(field, item_bytes_min, R::read)?;
        Ok(items.unwrap_or_default())
    }

    pub fn read_record<R: Record>(&mut self) -> Result<R, DecodeError> {
        R::read(self)
    }
}

/// Appends jute primitives to a growing buffer.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    framed: bool,
}

impl Writer {
    /// A writer producing a bare record (no length prefix).
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer producing a whole frame: it reserves the 4-byte length
    /// prefix, which [`Writer::finish`] fills in.
    pub fn frame() -> Self {
        Writer {
            buf: vec![0; 4],
            framed: true,
        }
    }

    /// The bytes written, with the length prefix patched in for a frame.
    pub fn finish(mut self) -> Vec<u8> {
        if self.framed {
            let body_len = self.buf.len() - 4;
            let len = i32::try_from(body_len).expect("a frame body must fit in an i32 length");
            self.buf[..4].copy_from_slice(&len.to_be_bytes());
        }
        self.buf
    }

    pub fn write_int(&mut self, value: i32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn write_long(&mut self, value: i64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn write_bool(&mut self, value: bool) {
        self.buf.push(u8::from(value));
    }

    fn write_len(&mut self, len: usize) {
        let len = i32::try_from(len).expect("a jute length must fit in an i32");
        self.write_int(len);
    }

    pub fn write_buffer(&mut self, bytes: &[u8]) {
        self.write_len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// A buffer that may be null (written as length -1).
    pub fn write_buffer_or_null(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            None => self.write_int(-1),
            Some(bytes) => self.write_buffer(bytes),
        }
    }

    pub fn write_string(&mut self, text: &str) {
        self.write_buffer(text.as_bytes());
    }

    /// A string that may be null (written as length -1).
    pub fn write_ustring(&mut self, text: Option<&str>) {
        match text {
            None => self.write_int(-1),
            Some(text) => self.write_string(text),
        }
    }

    pub fn write_vec<T>(&mut self, items: &[T], mut write_item: impl FnMut(&mut Self, &T)) {
        self.write_len(items.len());
        for item in items {
            write_item(self, item);
        }
    }

    pub fn write_string_vec(&mut self, items: &[String]) {
        self.write_vec(items, |w, s| w.write_string(s));
    }

    pub fn write_record_vec<R: Record>(&mut self, items: &[R]) {
        self.write_vec(items, |w, r| r.write(w));
    }

    pub fn write_record<R: Record>(&mut self, record: &R) {
        record.write(self);
    }
}
