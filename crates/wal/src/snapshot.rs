//! Durable snapshots of the state machine: `snap-<index>.snap` files.
//!
//! A snapshot is written to `snap-<index>.snap.tmp`, fsynced, renamed into
//! place and the directory fsynced, so a snapshot file either exists whole
//! or not at all; only then may the log be truncated below its index.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::SnapshotError;
use crate::fs::{ensure_dir, Fs, OpenMode, RealFs};
use crate::fsutil::{indexed_name, list_indexed};

const MAGIC: [u8; 8] = *b"SYNODSNP";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 32;
const PREFIX: &str = "snap-";
const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";

/// Limits of a [`SnapshotStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// How many snapshots to keep; older ones are removed after each save.
    pub keep_count: usize,
    /// Largest snapshot accepted on save and on load (loaded whole into memory).
    pub snapshot_bytes_max: u64,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            keep_count: 2,
            snapshot_bytes_max: 4 << 30,
        }
    }
}

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Last log index the snapshot covers.
    pub index: u64,
    /// The state machine's serialized state.
    pub data: Vec<u8>,
    /// The file it came from.
    pub path: PathBuf,
}

/// The snapshot files of one data directory, each laid out as:
///
/// ```text
/// offset  size  field
///      0     8  magic    b"SYNODSNP"
///      8     4  version  u32 LE, currently 1
///     12     4  crc      u32 LE: CRC32C over version, index, length and data
///     16     8  index    u64 LE: last log index the snapshot covers
///     24     8  length   u64 LE: bytes of data that follow
///     32   len  data     opaque bytes
/// ```
///
/// A save goes to a temp file that is fsynced, renamed into place and the
/// directory fsynced, so a snapshot file exists whole or not at all.
#[derive(Debug)]
pub struct SnapshotStore {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    options: SnapshotOptions,
    removed_temp_files: Vec<PathBuf>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { op, path, source }
}

/// The CRC32C of version, index and length: the part of a snapshot's
/// checksum that precedes its data.
fn checksum_start(index: u64, len: u64) -> u32 {
    let crc = crc32c::crc32c(&VERSION.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &index.to_le_bytes());
    crc32c::crc32c_append(crc, &len.to_le_bytes())
}

fn header(index: u64, len: u64, crc: u32) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header[16..24].copy_from_slice(&index.to_le_bytes());
    header[24..32].copy_from_slice(&len.to_le_bytes());
    header
}

/// Data goes to the file through this buffer, so a streamed save makes
/// few system calls without holding the data in memory.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Counts and checksums the data of a snapshot on its way to the file.
struct ChecksumWriter<W> {
    inner: W,
    crc: u32,
    written: u64,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl SnapshotStore {
    /// Opens (or creates) the store in `dir`, deletes temp files left by a
    /// crash during a save, and fsyncs the directory so every snapshot it
    /// lists is durable.
    pub fn open(
        dir: impl AsRef<Path>,
        options: SnapshotOptions,
    ) -> Result<SnapshotStore, SnapshotError> {
        SnapshotStore::open_with_fs(RealFs::shared(), dir, options)
    }

    /// Like [`SnapshotStore::open`], on the file system `fs`.
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        options: SnapshotOptions,
    ) -> Result<SnapshotStore, SnapshotError> {
        if options.keep_count == 0 {
            return Err(SnapshotError::InvalidOptions(
                "keep_count must be at least 1".into(),
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&*fs, &dir)?;
        let mut removed_temp_files = Vec::new();
        for name in fs.list_dir(&dir).map_err(io_err("list", &dir))? {
            if name.starts_with(PREFIX) && name.ends_with(TEMP_SUFFIX) {
                let path = dir.join(&name);
                fs.remove_file(&path).map_err(io_err("remove", &path))?;
                removed_temp_files.push(path);
            }
        }
        removed_temp_files.sort();
        // Always, not only after removing temp files: a previous process
        // may have died between renaming a snapshot into place and the
        // directory fsync. The caller is about to rely on that snapshot
        // (and truncate the log below it), so its name must be durable.
        fs.sync_dir(&dir).map_err(io_err("fsync directory", &dir))?;
        Ok(SnapshotStore {
            fs,
            dir,
            options,
            removed_temp_files,
        })
    }

    /// Temp files of interrupted saves that `open` deleted.
    pub fn removed_temp_files(&self) -> &[PathBuf] {
        &self.removed_temp_files
    }

    /// Writes a snapshot covering the log up to `index` and makes it
    /// durable, then removes snapshots beyond the newest `keep_count`.
    /// Returns the snapshot's path. Truncate the log only after this returned.
    pub fn save(&mut self, index: u64, data: &[u8]) -> Result<PathBuf, SnapshotError> {
        self.save_with(index, data.len() as u64, |out| out.write_all(data))
    }

    /// Like [`SnapshotStore::save`], for data too large to hold twice in
    /// memory: `write` streams exactly `len` bytes of data into the file
    /// (buffered; the checksum is computed as they pass). Writing more or
    /// fewer bytes than `len` fails the save and leaves no snapshot.
    pub fn save_with(
        &mut self,
        index: u64,
        len: u64,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<PathBuf, SnapshotError> {
        if len > self.options.snapshot_bytes_max {
            return Err(SnapshotError::TooLarge {
                len,
                max: self.options.snapshot_bytes_max,
            });
        }
        let path = self.dir.join(indexed_name(PREFIX, index, SUFFIX));
        let temp = self.dir.join(indexed_name(PREFIX, index, TEMP_SUFFIX));
        let file = self
            .fs
            .open_write(&temp, OpenMode::CreateTruncate)
            .map_err(io_err("create", &temp))?;
        // The header holds the checksum of the data, known only once the
        // data went through: write a placeholder, then the data, then the
        // real header over the placeholder. The rename below publishes the
        // file only after all of it is durable.
        let mut out = ChecksumWriter {
            inner: io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            crc: checksum_start(index, len),
            written: 0,
        };
        out.inner
            .write_all(&[0; HEADER_BYTES])
            .map_err(io_err("write", &temp))?;
        write(&mut out).map_err(io_err("write", &temp))?;
        if out.written != len {
            let _ = self.fs.remove_file(&temp);
            return Err(SnapshotError::Io {
                op: "write",
                path: temp,
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} data bytes written, {len} announced", out.written),
                ),
            });
        }
        let crc = out.crc;
        let mut file = out
            .inner
            .into_inner()
            .map_err(|e| io_err("write", &temp)(e.into_error()))?;
        file.seek_to(0).map_err(io_err("seek", &temp))?;
        file.write_all(&header(index, len, crc))
            .map_err(io_err("write", &temp))?;
        file.sync_all().map_err(io_err("fsync", &temp))?;
        drop(file);
        self.fs
            .rename(&temp, &path)
            .map_err(io_err("rename", &temp))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_err("fsync directory", &self.dir))?;
        self.prune()?;
        Ok(path)
    }

    /// Indices of the snapshot files present, oldest first.
    pub fn indices(&self) -> Result<Vec<u64>, SnapshotError> {
        Ok(self.list()?.into_iter().map(|(index, _)| index).collect())
    }

    /// Loads the newest snapshot, or `None` if there is none, whole into
    /// memory (see [`SnapshotStore::latest_with`] to stream it). A newest
    /// snapshot that fails validation is an error naming the file: the
    /// node refuses to start rather than fall back to an older snapshot the
    /// log may no longer cover.
    pub fn latest(&self) -> Result<Option<Snapshot>, SnapshotError> {
        let loaded = self.latest_with(|data, len| {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            data.read_to_end(&mut bytes).map(|_| bytes)
        })?;
        let Some(loaded) = loaded else {
            return Ok(None);
        };
        let data = loaded.value.map_err(io_err("read", &loaded.path))?;
        Ok(Some(Snapshot {
            index: loaded.index,
            data,
            path: loaded.path,
        }))
    }

    /// Streams the newest snapshot's data through `read` (given the data
    /// and its length), or returns `None` if there is none. The data is
    /// read from the file as `read` asks for it, 1 MiB at a time, and its
    /// checksum computed on the way; what `read` leaves unread is read
    /// after it. Only if the checksum then matches is `read`'s result
    /// returned: a damaged file is [`SnapshotError::Corrupt`], whatever
    /// `read` made of it. Validation as in [`SnapshotStore::latest`].
    pub fn latest_with<T>(
        &self,
        read: impl FnOnce(&mut dyn io::BufRead, u64) -> T,
    ) -> Result<Option<Streamed<T>>, SnapshotError> {
        let Some((name_index, path)) = self.list()?.pop() else {
            return Ok(None);
        };
        let corrupt = |reason| SnapshotError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file_len = self.fs.len(&path).map_err(io_err("stat", &path))?;
        if file_len > self.options.snapshot_bytes_max + HEADER_BYTES as u64 {
            return Err(SnapshotError::TooLarge {
                len: file_len,
                max: self.options.snapshot_bytes_max,
            });
        }
        if file_len < HEADER_BYTES as u64 {
            return Err(corrupt(format!(
                "{file_len} bytes, shorter than the {HEADER_BYTES}-byte header"
            )));
        }
        let mut file = self.fs.open_read(&path).map_err(io_err("open", &path))?;
        let mut header = [0u8; HEADER_BYTES];
        file.read_exact_at(0, &mut header)
            .map_err(io_err("read", &path))?;
        let head =
            parse_header(&header, name_index, file_len - HEADER_BYTES as u64).map_err(corrupt)?;
        let mut data = io::BufReader::with_capacity(
            READ_BUFFER_BYTES,
            ChecksumReader {
                file,
                offset: HEADER_BYTES as u64,
                remaining: head.len,
                crc: checksum_start(head.index, head.len),
            },
        );
        let value = read(&mut data, head.len);
        // Whatever `read` left (it stopped early, or failed) still counts
        // toward the checksum; what sits in the buffer was counted already.
        let mut rest = data.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(io_err("read", &path))?;
        if rest.crc != head.crc {
            return Err(corrupt(format!(
                "checksum mismatch: stored {:#010x}, computed {:#010x}",
                head.crc, rest.crc
            )));
        }
        Ok(Some(Streamed {
            index: head.index,
            len: head.len,
            path,
            value,
        }))
    }

    fn list(&self) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
        let listing = list_indexed(&*self.fs, &self.dir, PREFIX, SUFFIX)
            .map_err(io_err("list", &self.dir))?;
        if let Some(path) = listing.malformed.into_iter().next() {
            return Err(SnapshotError::BadName { path });
        }
        Ok(listing.found)
    }

    fn prune(&self) -> Result<(), SnapshotError> {
        let found = self.list()?;
        let excess = found.len().saturating_sub(self.options.keep_count);
        for (_, path) in &found[..excess] {
            self.fs.remove_file(path).map_err(io_err("remove", path))?;
        }
        if excess > 0 {
            self.fs
                .sync_dir(&self.dir)
                .map_err(io_err("fsync directory", &self.dir))?;
        }
        Ok(())
    }
}

/// Data is read from the file through this buffer.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// A snapshot's data as [`SnapshotStore::latest_with`] streams it.
#[derive(Debug)]
pub struct Streamed<T> {
    /// Last log index the snapshot covers.
    pub index: u64,
    /// Bytes of data.
    pub len: u64,
    /// The file it came from.
    pub path: PathBuf,
    /// What the reader made of the data.
    pub value: T,
}

/// What a snapshot file's header says.
struct Header {
    index: u64,
    len: u64,
    crc: u32,
}

/// Reads a snapshot's data from its file, no further than its length,
/// computing the checksum as the bytes pass.
struct ChecksumReader {
    file: Box<dyn crate::fs::ReadFile>,
    offset: u64,
    remaining: u64,
    crc: u32,
}

impl io::Read for ChecksumReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        if n == 0 {
            return Ok(0);
        }
        self.file.read_exact_at(self.offset, &mut buf[..n])?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Validates a snapshot file's header against its name's index and the
/// bytes of data the file holds after the header.
fn parse_header(
    header: &[u8; HEADER_BYTES],
    name_index: u64,
    data_bytes: u64,
) -> Result<Header, String> {
    let field = |range: std::ops::Range<usize>| -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..range.len()].copy_from_slice(&header[range]);
        out
    };
    if header[..8] != MAGIC {
        return Err("bad magic: not a synod snapshot".into());
    }
    let version = u64::from_le_bytes(field(8..12));
    if version != u64::from(VERSION) {
        return Err(format!(
            "unsupported version {version}, this build reads {VERSION}"
        ));
    }
    let stored_crc = u64::from_le_bytes(field(12..16)) as u32;
    let index = u64::from_le_bytes(field(16..24));
    let len = u64::from_le_bytes(field(24..32));
    if index != name_index {
        return Err(format!(
            "header index {index} differs from the index {name_index} in the file name"
        ));
    }
    if len != data_bytes {
        return Err(format!(
            "header length {len} but {data_bytes} data bytes in the file"
        ));
    }
    Ok(Header {
        index,
        len,
        crc: stored_crc,
    })
}
