//! Durable snapshots of the state machine: `snap-<index>.snap` files.
//!
//! A snapshot is written to `snap-<index>.snap.tmp`, fsynced, renamed into
//! place and the directory fsynced, so a snapshot file either exists whole
//! or not at all; only then may the log be truncated below its index.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::SnapshotError;
use crate::fsutil::{ensure_dir, indexed_name, list_indexed, sync_dir};

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
            snapshot_bytes_max: 1 << 30,
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
    dir: PathBuf,
    options: SnapshotOptions,
    removed_temp_files: Vec<PathBuf>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { op, path, source }
}

fn checksum(index: u64, data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&VERSION.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &index.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &(data.len() as u64).to_le_bytes());
    crc32c::crc32c_append(crc, data)
}

impl SnapshotStore {
    /// Opens (or creates) the store in `dir` and deletes temp files left
    /// by a crash during a save.
    pub fn open(
        dir: impl AsRef<Path>,
        options: SnapshotOptions,
    ) -> Result<SnapshotStore, SnapshotError> {
        if options.keep_count == 0 {
            return Err(SnapshotError::InvalidOptions(
                "keep_count must be at least 1".into(),
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&dir).map_err(io_err("create directory", &dir))?;
        let mut removed_temp_files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            let name = entry.file_name();
            let is_temp = name
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TEMP_SUFFIX));
            if is_temp {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
                removed_temp_files.push(path);
            }
        }
        if !removed_temp_files.is_empty() {
            sync_dir(&dir).map_err(io_err("fsync directory", &dir))?;
        }
        Ok(SnapshotStore {
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
        if data.len() as u64 > self.options.snapshot_bytes_max {
            return Err(SnapshotError::TooLarge {
                len: data.len() as u64,
                max: self.options.snapshot_bytes_max,
            });
        }
        let path = self.dir.join(indexed_name(PREFIX, index, SUFFIX));
        let temp = self.dir.join(indexed_name(PREFIX, index, TEMP_SUFFIX));
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&checksum(index, data).to_le_bytes());
        header.extend_from_slice(&index.to_le_bytes());
        header.extend_from_slice(&(data.len() as u64).to_le_bytes());
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        file.write_all(&header).map_err(io_err("write", &temp))?;
        file.write_all(data).map_err(io_err("write", &temp))?;
        file.sync_all().map_err(io_err("fsync", &temp))?;
        drop(file);
        std::fs::rename(&temp, &path).map_err(io_err("rename", &temp))?;
        sync_dir(&self.dir).map_err(io_err("fsync directory", &self.dir))?;
        self.prune()?;
        Ok(path)
    }

    /// Indices of the snapshot files present, oldest first.
    pub fn indices(&self) -> Result<Vec<u64>, SnapshotError> {
        Ok(self.list()?.into_iter().map(|(index, _)| index).collect())
    }

    /// Loads the newest snapshot, or `None` if there is none. A newest
    /// snapshot that fails validation is an error naming the file: the
    /// node refuses to start rather than fall back to an older snapshot the
    /// log may no longer cover.
    pub fn latest(&self) -> Result<Option<Snapshot>, SnapshotError> {
        let Some((index, path)) = self.list()?.pop() else {
            return Ok(None);
        };
        let bytes = read_bounded(&path, self.options.snapshot_bytes_max)?;
        let data = decode(&bytes, index).map_err(|reason| SnapshotError::Corrupt {
            path: path.clone(),
            reason,
        })?;
        Ok(Some(Snapshot { index, data, path }))
    }

    fn list(&self) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
        let listing = list_indexed(&self.dir, PREFIX, SUFFIX).map_err(io_err("list", &self.dir))?;
        if let Some(path) = listing.malformed.into_iter().next() {
            return Err(SnapshotError::BadName { path });
        }
        Ok(listing.found)
    }

    fn prune(&self) -> Result<(), SnapshotError> {
        let found = self.list()?;
        let excess = found.len().saturating_sub(self.options.keep_count);
        for (_, path) in &found[..excess] {
            std::fs::remove_file(path).map_err(io_err("remove", path))?;
        }
        if excess > 0 {
            sync_dir(&self.dir).map_err(io_err("fsync directory", &self.dir))?;
        }
        Ok(())
    }
}

/// Reads a snapshot file, refusing one larger than the limit before
/// allocating for it.
fn read_bounded(path: &Path, snapshot_bytes_max: u64) -> Result<Vec<u8>, SnapshotError> {
    let len = File::open(path)
        .and_then(|f| f.metadata())
        .map_err(io_err("stat", path))?
        .len();
    if len > snapshot_bytes_max + HEADER_BYTES as u64 {
        return Err(SnapshotError::TooLarge {
            len,
            max: snapshot_bytes_max,
        });
    }
    std::fs::read(path).map_err(io_err("read", path))
}

/// Validates a snapshot image named for `name_index` and returns its data.
fn decode(bytes: &[u8], name_index: u64) -> Result<Vec<u8>, String> {
    let Some((header, data)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    };
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
    if len != data.len() as u64 {
        return Err(format!(
            "header length {len} but {} data bytes in the file",
            data.len()
        ));
    }
    let computed = checksum(index, data);
    if computed != stored_crc {
        return Err(format!(
            "checksum mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"
        ));
    }
    Ok(data.to_vec())
}
