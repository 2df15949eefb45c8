//! The write-ahead log: segment files in one directory, through an [`Fs`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bugs::{self, WalBug};
use crate::error::{CorruptReason, WalError};
use crate::fs::{ensure_dir, Fs, OpenMode, ReadFile, RealFs, WriteFile};
use crate::fsutil::{indexed_name, list_indexed};
use crate::record::{encode_into, Header, HEADER_BYTES};
use crate::scan::scan_segment;
use crate::storage::{check_read_range, LogStorage, Records, Recovery, TornTail};

const SEGMENT_PREFIX: &str = "wal-";
const SEGMENT_SUFFIX: &str = ".log";

/// Limits of a [`FileWal`]. Reopen a log with the same or larger limits:
/// records above `record_bytes_max` read back as corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed (fsynced) and a new one started when the next
    /// record would take it past this size. A record bigger than this gets
    /// a segment of its own.
    pub segment_bytes_max: u64,
    /// Largest payload accepted by `append` and when reading back.
    pub record_bytes_max: u32,
    /// Encoded records are kept in memory until `sync`, or until this many
    /// bytes are buffered, when they are handed to the OS (not fsynced).
    pub write_buffer_bytes_max: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 64 << 20,
            write_buffer_bytes_max: 1 << 20,
        }
    }
}

impl WalOptions {
    fn validate(&self) -> Result<(), WalError> {
        if self.segment_bytes_max < HEADER_BYTES as u64 {
            return Err(WalError::InvalidOptions(format!(
                "segment_bytes_max {} is below the {HEADER_BYTES}-byte record header",
                self.segment_bytes_max
            )));
        }
        if self.record_bytes_max == 0 || self.write_buffer_bytes_max == 0 {
            return Err(WalError::InvalidOptions(
                "record_bytes_max and write_buffer_bytes_max must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// One segment file: `wal-<first index>.log`.
#[derive(Debug)]
struct Segment {
    first_index: u64,
    path: PathBuf,
    /// Byte offset of each record; record `first_index + i` is at `offsets[i]`.
    offsets: Vec<u64>,
}

impl Segment {
    fn next_index(&self) -> u64 {
        self.first_index + self.offsets.len() as u64
    }
}

/// The durable write-ahead log: segment files `wal-<first index>.log` in one
/// directory, written by one process.
///
/// Only the last (active) segment is ever written. Every record before
/// `durable_index()` is on disk; the records after it live in the active
/// segment, partly in `pending` (not yet handed to the OS). A segment is
/// fsynced before the next one is created, so closed segments are always
/// whole and durable.
#[derive(Debug)]
pub struct FileWal {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    options: WalOptions,
    /// Never empty; the last one is active.
    segments: Vec<Segment>,
    active: Box<dyn WriteFile>,
    /// Bytes of the active segment handed to the OS.
    active_written_len: u64,
    /// Bytes of the active segment known to be on disk.
    active_durable_len: u64,
    /// Encoded records not yet written; they start at `active_written_len`.
    pending: Vec<u8>,
    next_index: u64,
    durable_index: u64,
    poisoned: bool,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError {
    let path = path.to_path_buf();
    move |source| WalError::Io { op, path, source }
}

impl FileWal {
    /// Opens (or creates) the log in `dir` and recovers it: validates every
    /// record, cuts a torn tail off the last segment, and fsyncs the last
    /// segment and the directory so everything it returns is durable even
    /// if the previous process died before its fsync.
    pub fn open(
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<(FileWal, Recovery), WalError> {
        FileWal::open_with_fs(RealFs::shared(), dir, options)
    }

    /// Like [`FileWal::open`], on the file system `fs` (a [`crate::SimFs`],
    /// say).
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<(FileWal, Recovery), WalError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&*fs, &dir)?;
        let found = list_segments(&*fs, &dir)?;
        let (segments, active_len, torn_tail) = recover_segments(&*fs, found, &options)?;
        let active_path = &segments.last().expect("at least one segment").path;
        let mut active = fs
            .open_write(active_path, OpenMode::Existing)
            .map_err(io_err("open", active_path))?;
        if !bugs::has(WalBug::SkipRecoveryFsync) {
            active.sync_all().map_err(io_err("fsync", active_path))?;
        }
        active
            .seek_to(active_len)
            .map_err(io_err("seek", active_path))?;
        fs.sync_dir(&dir).map_err(io_err("fsync directory", &dir))?;
        let next_index = segments.last().map_or(1, Segment::next_index);
        let wal = FileWal {
            fs,
            dir,
            options,
            segments,
            active,
            active_written_len: active_len,
            active_durable_len: active_len,
            pending: Vec::new(),
            next_index,
            durable_index: next_index - 1,
            poisoned: false,
        };
        let recovery = Recovery {
            first_index: wal.first_index(),
            last_index: wal.last_index(),
            segments: wal.segments.len(),
            torn_tail,
        };
        Ok((wal, recovery))
    }

    /// The directory this log owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Paths of the segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Syncs and closes the log.
    pub fn close(mut self) -> Result<u64, WalError> {
        self.sync()
    }

    /// Test hook: simulates power loss. Everything after the durable point
    /// is lost except the first `torn_bytes` bytes of the first non-durable
    /// record (capped so that record stays incomplete), which recovery must
    /// then cut. Consumes the log like a crash would.
    #[doc(hidden)]
    pub fn simulate_crash(mut self, torn_bytes: usize) -> Result<(), WalError> {
        let path = self.active_path().to_path_buf();
        let first_lost = self.durable_index + 1;
        let active = self.segments.last().expect("at least one segment");
        let mut keep = 0;
        if first_lost < self.next_index {
            let i = (first_lost - active.first_index) as usize;
            let start = active.offsets[i];
            let end = active
                .offsets
                .get(i + 1)
                .copied()
                .unwrap_or(self.active_written_len + self.pending.len() as u64);
            assert_eq!(
                start, self.active_durable_len,
                "unsynced records start at the durable end"
            );
            keep = (torn_bytes as u64).min(end - start - 1);
        }
        self.write_pending()?;
        self.active
            .set_len(self.active_durable_len + keep)
            .map_err(io_err("truncate", &path))?;
        Ok(())
    }

    fn active_path(&self) -> &Path {
        &self.segments.last().expect("at least one segment").path
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        Ok(())
    }

    /// Runs a write-path operation; any failure poisons the log because the
    /// disk state after a failed write or fsync is unknown.
    fn poison_on_error<T>(&mut self, result: Result<T, WalError>) -> Result<T, WalError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Hands the buffered records to the OS (no fsync).
    fn write_pending(&mut self) -> Result<(), WalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.active_path().to_path_buf();
        let result = self
            .active
            .write_all(&self.pending)
            .map_err(io_err("write", &path));
        self.poison_on_error(result)?;
        self.active_written_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn sync_active(&mut self) -> Result<(), WalError> {
        self.write_pending()?;
        let path = self.active_path().to_path_buf();
        let result = self.active.sync_data().map_err(io_err("fsync", &path));
        self.poison_on_error(result)?;
        self.active_durable_len = self.active_written_len;
        self.durable_index = self.next_index - 1;
        Ok(())
    }

    /// Closes the active segment (fsynced whole) and starts the next one.
    fn roll_segment(&mut self) -> Result<(), WalError> {
        self.sync_active()?;
        let path = self.dir.join(indexed_name(
            SEGMENT_PREFIX,
            self.next_index,
            SEGMENT_SUFFIX,
        ));
        let result = create_segment_file(&*self.fs, &self.dir, &path);
        let file = self.poison_on_error(result)?;
        self.active = file;
        self.active_written_len = 0;
        self.active_durable_len = 0;
        self.segments.push(Segment {
            first_index: self.next_index,
            path,
            offsets: Vec::new(),
        });
        Ok(())
    }

    fn segment_of(&self, index: u64) -> usize {
        self.segments
            .partition_point(|s| s.first_index <= index)
            .saturating_sub(1)
    }

    /// Reads one record, validating it again: the disk may have changed
    /// under us since recovery.
    fn read_record(
        &self,
        index: u64,
        open: &mut Option<(usize, Box<dyn ReadFile>)>,
    ) -> Result<Vec<u8>, WalError> {
        let s = self.segment_of(index);
        let segment = &self.segments[s];
        let offset = segment.offsets[(index - segment.first_index) as usize];
        let is_active = s + 1 == self.segments.len();
        if is_active && offset >= self.active_written_len {
            return Ok(self.read_pending(offset, index));
        }
        if open.as_ref().is_none_or(|(open_s, _)| *open_s != s) {
            let file = self
                .fs
                .open_read(&segment.path)
                .map_err(io_err("open", &segment.path))?;
            *open = Some((s, file));
        }
        let (_, file) = open.as_mut().expect("opened above");
        read_record_at(
            &mut **file,
            &segment.path,
            offset,
            index,
            self.options.record_bytes_max,
        )
    }

    fn read_pending(&self, offset: u64, index: u64) -> Vec<u8> {
        let start = (offset - self.active_written_len) as usize;
        let header_bytes = self.pending[start..]
            .first_chunk::<HEADER_BYTES>()
            .expect("pending holds whole records");
        let header = Header::parse(header_bytes);
        assert_eq!(header.index, index, "pending record index");
        let payload_start = start + HEADER_BYTES;
        self.pending[payload_start..payload_start + header.len as usize].to_vec()
    }
}

/// The segment files of `dir`, oldest first; creates the first segment of
/// a new log.
fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let listing =
        list_indexed(fs, dir, SEGMENT_PREFIX, SEGMENT_SUFFIX).map_err(io_err("list", dir))?;
    if let Some(path) = listing.malformed.into_iter().next() {
        return Err(WalError::BadSegmentName { path });
    }
    if let Some((_, path)) = listing.found.iter().find(|(index, _)| *index == 0) {
        return Err(WalError::BadSegmentName { path: path.clone() });
    }
    if !listing.found.is_empty() {
        return Ok(listing.found);
    }
    let path = dir.join(indexed_name(SEGMENT_PREFIX, 1, SEGMENT_SUFFIX));
    create_segment_file(fs, dir, &path)?;
    Ok(vec![(1, path)])
}

/// Creates an empty segment file and fsyncs the directory so its name is
/// durable before any record in it is reported durable.
fn create_segment_file(
    fs: &dyn Fs,
    dir: &Path,
    path: &Path,
) -> Result<Box<dyn WriteFile>, WalError> {
    let file = fs
        .open_write(path, OpenMode::CreateNew)
        .map_err(io_err("create", path))?;
    fs.sync_dir(dir).map_err(io_err("fsync directory", dir))?;
    Ok(file)
}

/// Validates every segment in order and checks they follow each other
/// without a hole. Returns the segments, the active segment's valid length
/// and the torn tail cut from it.
fn recover_segments(
    fs: &dyn Fs,
    found: Vec<(u64, PathBuf)>,
    options: &WalOptions,
) -> Result<(Vec<Segment>, u64, Option<TornTail>), WalError> {
    let mut segments: Vec<Segment> = Vec::with_capacity(found.len());
    let mut torn_tail = None;
    let mut active_len = 0;
    let segment_count = found.len();
    for (i, (first_index, path)) in found.into_iter().enumerate() {
        if let Some(previous) = segments.last() {
            if previous.next_index() != first_index {
                return Err(WalError::Gap {
                    path,
                    previous_last: previous.next_index() - 1,
                    found: first_index,
                });
            }
        }
        let is_last = i + 1 == segment_count;
        let (offsets, valid_len, torn) = recover_segment(fs, &path, first_index, is_last, options)?;
        torn_tail = torn_tail.or(torn);
        active_len = valid_len;
        segments.push(Segment {
            first_index,
            path,
            offsets,
        });
    }
    Ok((segments, active_len, torn_tail))
}

/// Validates one segment, cutting a torn tail if it is the last one.
/// Returns the record offsets, the valid length and the torn tail cut.
fn recover_segment(
    fs: &dyn Fs,
    path: &Path,
    first_index: u64,
    is_last: bool,
    options: &WalOptions,
) -> Result<(Vec<u64>, u64, Option<TornTail>), WalError> {
    let bytes = fs.read(path).map_err(io_err("read", path))?;
    let scan = scan_segment(&bytes, first_index, options.record_bytes_max);
    let Some(bad) = scan.bad else {
        return Ok((scan.offsets, scan.valid_len, None));
    };
    if !is_last || !bad.may_be_torn() {
        // A closed segment that ends in a partial record is reported as
        // trailing bytes: it was fsynced whole, so no crash explains it.
        let reason = if !is_last && bad.valid_record_after.is_none() && bad.may_be_torn() {
            CorruptReason::TrailingBytes {
                len: bytes.len() as u64 - bad.offset,
            }
        } else {
            bad.reason
        };
        return Err(WalError::Corrupt {
            path: path.to_path_buf(),
            offset: bad.offset,
            index: bad.index,
            reason,
            valid_record_after: bad.valid_record_after,
        });
    }
    if bugs::has(WalBug::KeepTornTail) {
        return Ok((scan.offsets, bytes.len() as u64, None));
    }
    let mut file = fs
        .open_write(path, OpenMode::Existing)
        .map_err(io_err("open", path))?;
    file.set_len(scan.valid_len)
        .map_err(io_err("truncate", path))?;
    if !bugs::has(WalBug::SkipRecoveryFsync) {
        file.sync_all().map_err(io_err("fsync", path))?;
    }
    let torn = TornTail {
        path: path.to_path_buf(),
        offset: scan.valid_len,
        bytes_cut: bytes.len() as u64 - scan.valid_len,
        reason: bad.reason.to_string(),
    };
    Ok((scan.offsets, scan.valid_len, Some(torn)))
}

fn read_record_at(
    file: &mut dyn ReadFile,
    path: &Path,
    offset: u64,
    index: u64,
    record_bytes_max: u32,
) -> Result<Vec<u8>, WalError> {
    let corrupt = |reason| WalError::Corrupt {
        path: path.to_path_buf(),
        offset,
        index,
        reason,
        valid_record_after: None,
    };
    let mut header_bytes = [0u8; HEADER_BYTES];
    read_exact_or_corrupt(file, path, offset, &mut header_bytes, corrupt)?;
    let header = Header::parse(&header_bytes);
    if header.len > record_bytes_max {
        return Err(corrupt(CorruptReason::TooLarge {
            len: u64::from(header.len),
            max: u64::from(record_bytes_max),
        }));
    }
    let mut payload = vec![0u8; header.len as usize];
    let payload_offset = offset + HEADER_BYTES as u64;
    read_exact_or_corrupt(file, path, payload_offset, &mut payload, corrupt)?;
    header.check(&payload, index).map_err(corrupt)?;
    Ok(payload)
}

fn read_exact_or_corrupt(
    file: &mut dyn ReadFile,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
    corrupt: impl Fn(CorruptReason) -> WalError,
) -> Result<(), WalError> {
    match file.read_exact_at(offset, buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(corrupt(CorruptReason::TruncatedPayload {
                len: buf.len() as u64,
                available: 0,
            }))
        }
        Err(e) => Err(io_err("read", path)(e)),
    }
}

impl LogStorage for FileWal {
    fn append(&mut self, payload: &[u8]) -> Result<u64, WalError> {
        self.check_usable()?;
        if payload.len() > self.options.record_bytes_max as usize {
            return Err(WalError::RecordTooLarge {
                len: payload.len(),
                max: self.options.record_bytes_max,
            });
        }
        let record_bytes = (HEADER_BYTES + payload.len()) as u64;
        let active_has_records = !self.segments.last().expect("segment").offsets.is_empty();
        let active_len = self.active_written_len + self.pending.len() as u64;
        if active_has_records && active_len + record_bytes > self.options.segment_bytes_max {
            self.roll_segment()?;
        }
        let index = self.next_index;
        let offset = self.active_written_len + self.pending.len() as u64;
        encode_into(&mut self.pending, index, payload);
        self.segments
            .last_mut()
            .expect("segment")
            .offsets
            .push(offset);
        self.next_index += 1;
        if self.pending.len() >= self.options.write_buffer_bytes_max {
            self.write_pending()?;
        }
        Ok(index)
    }

    fn sync(&mut self) -> Result<u64, WalError> {
        self.check_usable()?;
        if self.durable_index + 1 < self.next_index {
            self.sync_active()?;
        }
        Ok(self.durable_index)
    }

    fn first_index(&self) -> u64 {
        self.segments.first().map_or(1, |s| s.first_index)
    }

    fn last_index(&self) -> u64 {
        self.next_index - 1
    }

    fn durable_index(&self) -> u64 {
        self.durable_index
    }

    fn read_from(&self, from: u64) -> Result<Records<'_>, WalError> {
        check_read_range(from, self.first_index(), self.last_index())?;
        let mut open = None;
        Ok(Box::new((from..self.next_index).map(move |index| {
            Ok((index, self.read_record(index, &mut open)?))
        })))
    }

    fn truncate_prefix(&mut self, below: u64) -> Result<u64, WalError> {
        self.check_usable()?;
        if below > self.durable_index + 1 {
            return Err(WalError::TruncateBeyondDurable {
                below,
                durable_index: self.durable_index,
            });
        }
        // Oldest first, each removal made durable before the next, so a
        // crash part-way leaves a contiguous log: a directory's changes
        // need not reach the disk in the order they were made, and a crash
        // that kept a later removal but undid an earlier one would leave a
        // hole. (One directory fsync per removed segment; truncation
        // removes few segments and runs once per compaction.)
        let removable = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index <= below)
            .count();
        let mut removed = 0;
        let mut result = Ok(());
        for segment in &self.segments[..removable] {
            if let Err(e) = self.fs.remove_file(&segment.path) {
                result = Err(io_err("remove", &segment.path)(e));
                break;
            }
            removed += 1;
            if let Err(e) = self.fs.sync_dir(&self.dir) {
                result = Err(io_err("fsync directory", &self.dir)(e));
                self.poisoned = true;
                break;
            }
        }
        self.segments.drain(..removed);
        result?;
        Ok(self.first_index())
    }
}
