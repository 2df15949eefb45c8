//! [`NodeStorage`]: the engine's records in a [`FileWal`], whole-state
//! snapshots in a [`SnapshotStore`], and the compaction that ties them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use synod_paxos::{DurableState, Record};
use synod_wal::record::HEADER_BYTES;
use synod_wal::{
    FileWal, Fs, LogStorage, RealFs, SnapshotOptions, SnapshotStore, TornTail, WalError, WalOptions,
};

use crate::codec::{
    decode_record, decode_state_from, encode_record, encode_state_into, encoded_state_bytes,
};
use crate::error::StorageError;

/// Subdirectory of the data directory that holds the WAL segments.
pub const WAL_DIR: &str = "wal";
/// Subdirectory of the data directory that holds the storage snapshots.
pub const SNAPSHOT_DIR: &str = "snap";

/// Limits and the compaction policy of a [`NodeStorage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOptions {
    /// Options of the write-ahead log. `record_bytes_max` bounds one encoded
    /// engine record; engine snapshots never go to the WAL (see the crate
    /// docs), so it does not bound them.
    pub wal: WalOptions,
    /// Options of the snapshot store. `snapshot_bytes_max` bounds the whole
    /// encoded durable state, the engine's snapshot included (4 GiB by
    /// default); a larger state fails the persist and stops the node.
    pub snapshots: SnapshotOptions,
    /// Compact once the WAL took in at least this many bytes (record headers
    /// included) since the last storage snapshot, and at least as many as
    /// that snapshot's size. A snapshot is at most the previous one plus
    /// what the WAL took in since, so compaction writes at most about twice
    /// the bytes the WAL took in (plus one rewrite per engine snapshot).
    pub compact_wal_bytes_min: u64,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            wal: WalOptions::default(),
            snapshots: SnapshotOptions::default(),
            compact_wal_bytes_min: 64 << 20,
        }
    }
}

/// The storage snapshot recovery started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot {
    /// The snapshot file.
    pub path: PathBuf,
    /// Last WAL index it covers.
    pub wal_index: u64,
    /// Bytes of encoded state it holds.
    pub bytes: u64,
}

/// What [`NodeStorage::open`] found and did, for the node's startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The storage snapshot the state was loaded from, if any.
    pub snapshot: Option<LoadedSnapshot>,
    /// WAL records replayed on top of the snapshot.
    pub records_replayed: u64,
    /// Bytes of those records, headers included.
    pub wal_bytes_replayed: u64,
    /// The unfinished last write the WAL cut off, if there was one.
    pub torn_tail: Option<TornTail>,
    /// First WAL index held after recovery.
    pub wal_first_index: u64,
    /// Last WAL index held after recovery; all of it is durable.
    pub wal_last_index: u64,
    /// WAL segment files after recovery.
    pub wal_segments: usize,
    /// Temp files of interrupted snapshot saves that were deleted.
    pub removed_snapshot_temp_files: Vec<PathBuf>,
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.snapshot {
            Some(s) => write!(
                f,
                "loaded snapshot {} (WAL index {}, {} bytes)",
                s.path.display(),
                s.wal_index,
                s.bytes
            )?,
            None => write!(f, "no snapshot")?,
        }
        write!(
            f,
            ", replayed {} WAL records ({} bytes); WAL holds indices {}..={} in {} segments",
            self.records_replayed,
            self.wal_bytes_replayed,
            self.wal_first_index,
            self.wal_last_index,
            self.wal_segments
        )?;
        if let Some(t) = &self.torn_tail {
            write!(
                f,
                "; cut a torn tail of {} bytes at byte offset {} of {} ({})",
                t.bytes_cut,
                t.offset,
                t.path.display(),
                t.reason
            )?;
        }
        for path in &self.removed_snapshot_temp_files {
            write!(f, "; removed interrupted snapshot {}", path.display())?;
        }
        Ok(())
    }
}

/// One node's durable storage for the Paxos engine, on an [`Fs`].
///
/// Invariants, between calls:
/// - every record appended to the WAL is durable (`persist` syncs before it
///   returns Ok), and `state` equals the newest storage snapshot's state
///   with every WAL record after `snapshot_index` applied;
/// - the WAL holds every index after `snapshot_index` (truncation happens
///   only after the snapshot covering the removed records was saved);
/// - after any error `poisoned` is set and nothing more is written.
#[derive(Debug)]
pub struct NodeStorage {
    dir: PathBuf,
    options: StorageOptions,
    wal: FileWal,
    snapshots: SnapshotStore,
    /// The durable state as of the WAL's last index. It mirrors the
    /// engine's durable state so a compaction needs no read from disk.
    state: DurableState,
    /// Last WAL index the newest storage snapshot covers; 0 without one.
    snapshot_index: u64,
    /// Encoded size of the newest storage snapshot; 0 without one.
    snapshot_bytes: u64,
    /// WAL bytes (headers included) appended after `snapshot_index`.
    wal_bytes_since_snapshot: u64,
    /// Storage snapshots saved since open (for monitoring).
    snapshots_saved: u64,
    poisoned: bool,
}

impl NodeStorage {
    /// Opens (creating if needed) the data directory `dir`, recovers it and
    /// returns the storage, the durable state to hand to `Node::recover`,
    /// and a report of what recovery did.
    ///
    /// Recovery loads the newest storage snapshot, lets the WAL cut a torn
    /// tail off its last segment, replays the WAL records after the
    /// snapshot, and finishes a truncation a crash interrupted. Damage the
    /// crash rule cannot explain is an error naming the file: the node must
    /// not start from this data.
    pub fn open(
        dir: impl AsRef<Path>,
        options: StorageOptions,
    ) -> Result<(NodeStorage, DurableState, OpenReport), StorageError> {
        NodeStorage::open_with_fs(RealFs::shared(), dir, options)
    }

    /// Like [`NodeStorage::open`], on the file system `fs`: a
    /// [`synod_wal::SimFs`] lets a simulator run this storage on a disk it
    /// can crash and fail.
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        options: StorageOptions,
    ) -> Result<(NodeStorage, DurableState, OpenReport), StorageError> {
        if options.compact_wal_bytes_min == 0 {
            return Err(StorageError::InvalidOptions(
                "compact_wal_bytes_min must be positive".into(),
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        synod_wal::fs::ensure_dir(&*fs, &dir).map_err(|failure| StorageError::Io {
            op: failure.op,
            path: failure.path,
            source: failure.source,
        })?;
        let snapshots = SnapshotStore::open_with_fs(
            Arc::clone(&fs),
            dir.join(SNAPSHOT_DIR),
            options.snapshots.clone(),
        )?;
        let (mut state, loaded) = load_snapshot(&snapshots)?;
        let snapshot_index = loaded.as_ref().map_or(0, |s| s.wal_index);
        let (mut wal, recovery) =
            FileWal::open_with_fs(fs, dir.join(WAL_DIR), options.wal.clone())?;
        check_wal_covers(&wal, loaded.as_ref(), snapshot_index)?;
        let (records_replayed, wal_bytes_replayed) = replay(&wal, snapshot_index, &mut state)?;
        // A crash between saving a snapshot and truncating the WAL leaves
        // segments the snapshot already covers; remove them now.
        if snapshot_index >= wal.first_index() {
            wal.truncate_prefix(snapshot_index + 1)?;
        }
        let report = OpenReport {
            snapshot: loaded.clone(),
            records_replayed,
            wal_bytes_replayed,
            torn_tail: recovery.torn_tail,
            wal_first_index: wal.first_index(),
            wal_last_index: wal.last_index(),
            wal_segments: wal.segment_paths().len(),
            removed_snapshot_temp_files: snapshots.removed_temp_files().to_vec(),
        };
        let storage = NodeStorage {
            dir,
            options,
            wal,
            snapshots,
            state: state.clone(),
            snapshot_index,
            snapshot_bytes: loaded.map_or(0, |s| s.bytes),
            wal_bytes_since_snapshot: wal_bytes_replayed,
            snapshots_saved: 0,
            poisoned: false,
        };
        Ok((storage, state, report))
    }

    /// Appends every record of `batches` (the records of one or more engine
    /// `Persist` actions, in order) and makes them durable with one fsync.
    /// Returns Ok only after that fsync; the runtime may then step
    /// `Persisted` for the highest id among them.
    ///
    /// Afterwards it compacts if a batch held an engine snapshot or the WAL
    /// grew past the threshold (see [`StorageOptions`]). Any error poisons
    /// the storage: which records reached the disk is unknown, so the node
    /// must restart and recover.
    pub fn persist(&mut self, batches: &[&[Record]]) -> Result<(), StorageError> {
        self.check_usable()?;
        let result = self.persist_unpoisoned(batches);
        self.poison_on_error(result)
    }

    /// Writes a storage snapshot of the whole durable state now and
    /// truncates the WAL below it. The runtime need not call this; `persist`
    /// compacts by itself. Any error poisons the storage.
    pub fn compact(&mut self) -> Result<(), StorageError> {
        self.check_usable()?;
        let result = self.compact_unpoisoned();
        self.poison_on_error(result)
    }

    /// The durable state as of the last successful `persist`.
    pub fn state(&self) -> &DurableState {
        &self.state
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Last WAL index the newest storage snapshot covers; 0 without one.
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// Last WAL index written (and durable, between calls).
    pub fn wal_last_index(&self) -> u64 {
        self.wal.last_index()
    }

    /// WAL bytes appended since the newest storage snapshot.
    pub fn wal_bytes_since_snapshot(&self) -> u64 {
        self.wal_bytes_since_snapshot
    }

    /// Storage snapshots saved since open: by `persist` (an engine snapshot
    /// or a compaction) or by `compact`. A runtime that times `persist` can
    /// tell from it whether a call saved one.
    pub fn snapshots_saved(&self) -> u64 {
        self.snapshots_saved
    }

    /// The WAL segment files, oldest first.
    pub fn wal_segment_paths(&self) -> Vec<PathBuf> {
        self.wal.segment_paths()
    }

    fn check_usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(())
    }

    fn poison_on_error<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn persist_unpoisoned(&mut self, batches: &[&[Record]]) -> Result<(), StorageError> {
        let records: Vec<&Record> = batches.iter().flat_map(|batch| batch.iter()).collect();
        // Records up to the last engine snapshot go into a storage snapshot
        // instead of the WAL (see the crate docs); the rest are logged.
        let folded = records
            .iter()
            .rposition(|record| matches!(record, Record::Snapshot(_)))
            .map_or(0, |last| last + 1);
        let (to_fold, to_log) = records.split_at(folded);
        // Encode and check every logged record before writing anything, so
        // a refused record leaves the disk untouched.
        let payloads = to_log
            .iter()
            .map(|record| {
                encode_record(record).map_err(|reason| StorageError::Encode {
                    what: "an engine record",
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let record_bytes_max = self.options.wal.record_bytes_max;
        if let Some(p) = payloads
            .iter()
            .find(|p| p.len() > record_bytes_max as usize)
        {
            return Err(WalError::RecordTooLarge {
                len: p.len(),
                max: record_bytes_max,
            }
            .into());
        }
        if !to_fold.is_empty() {
            // The mirror runs ahead of the disk until the save returns; a
            // failed save poisons the storage, so nothing acts on it.
            for record in to_fold {
                self.state.apply(record);
            }
            self.save_storage_snapshot()?;
        }
        if payloads.is_empty() {
            return Ok(());
        }
        for payload in &payloads {
            self.wal.append(payload)?;
        }
        self.wal.sync()?;
        // The records are durable: only now does the mirror move.
        for record in to_log {
            self.state.apply(record);
        }
        self.wal_bytes_since_snapshot += payloads
            .iter()
            .map(|p| (HEADER_BYTES + p.len()) as u64)
            .sum::<u64>();
        if self.wal_bytes_since_snapshot >= self.compaction_threshold_bytes() {
            self.compact_unpoisoned()?;
        }
        Ok(())
    }

    /// WAL bytes after which a compaction pays for itself: at least the
    /// configured minimum and at least the last snapshot's size, which
    /// bounds the bytes compaction writes by about twice the bytes the WAL
    /// took in (see [`StorageOptions::compact_wal_bytes_min`]).
    fn compaction_threshold_bytes(&self) -> u64 {
        self.options.compact_wal_bytes_min.max(self.snapshot_bytes)
    }

    fn compact_unpoisoned(&mut self) -> Result<(), StorageError> {
        if self.wal.sync()? == self.snapshot_index {
            return Ok(());
        }
        self.save_storage_snapshot()
    }

    /// Saves the mirror as the storage snapshot of the WAL's last index
    /// and truncates the WAL below it. When the WAL took in nothing since
    /// the newest snapshot, this replaces that snapshot (same index, a
    /// rename over it: the old or the new file, never neither).
    fn save_storage_snapshot(&mut self) -> Result<(), StorageError> {
        let index = self.wal.sync()?;
        assert_eq!(
            index,
            self.wal.last_index(),
            "the WAL is durable to its end"
        );
        let encode_error = |reason| StorageError::Encode {
            what: "the durable state",
            reason,
        };
        let bytes = encoded_state_bytes(&self.state).map_err(encode_error)?;
        // Streamed from the mirror into the file: the state is never
        // encoded into a second buffer. `save_with` returns only once the
        // file and its name are durable; only then may the WAL forget the
        // records the snapshot covers.
        let state = &self.state;
        self.snapshots
            .save_with(index, bytes, |out| encode_state_into(state, out))?;
        self.snapshot_index = index;
        self.snapshot_bytes = bytes;
        self.wal_bytes_since_snapshot = 0;
        self.snapshots_saved += 1;
        self.wal.truncate_prefix(index + 1)?;
        Ok(())
    }
}

/// Loads and decodes the newest storage snapshot, if any, streamed from
/// its file: the engine snapshot's state arrives chunk by chunk, so the
/// file is never held whole in memory beside what it decodes to.
fn load_snapshot(
    snapshots: &SnapshotStore,
) -> Result<(DurableState, Option<LoadedSnapshot>), StorageError> {
    let Some(loaded) = snapshots.latest_with(decode_state_from)? else {
        return Ok((DurableState::default(), None));
    };
    let state = loaded
        .value
        .map_err(|reason| StorageError::SnapshotDecode {
            path: loaded.path.clone(),
            reason,
        })?;
    let snapshot = LoadedSnapshot {
        path: loaded.path,
        wal_index: loaded.index,
        bytes: loaded.len,
    };
    Ok((state, Some(snapshot)))
}

/// Checks that the WAL holds every record after the snapshot's index and
/// has not fallen behind it.
fn check_wal_covers(
    wal: &FileWal,
    loaded: Option<&LoadedSnapshot>,
    snapshot_index: u64,
) -> Result<(), StorageError> {
    if let Some(snapshot) = loaded {
        if wal.last_index() < snapshot_index {
            return Err(StorageError::SnapshotAheadOfWal {
                path: snapshot.path.clone(),
                snapshot_index,
                wal_last_index: wal.last_index(),
            });
        }
    }
    if wal.first_index() > snapshot_index + 1 {
        return Err(StorageError::WalGap {
            wal_dir: wal.dir().to_path_buf(),
            snapshot: loaded.map(|s| s.path.clone()),
            snapshot_index,
            wal_first_index: wal.first_index(),
        });
    }
    Ok(())
}

/// Applies every WAL record after `snapshot_index` to `state`. Returns the
/// records and bytes replayed.
fn replay(
    wal: &FileWal,
    snapshot_index: u64,
    state: &mut DurableState,
) -> Result<(u64, u64), StorageError> {
    let (mut records, mut bytes) = (0, 0);
    for entry in wal.read_from(snapshot_index + 1)? {
        let (index, payload) = entry?;
        let record = decode_record(&payload).map_err(|reason| StorageError::RecordDecode {
            path: segment_holding(wal, index),
            index,
            reason,
        })?;
        state.apply(&record);
        records += 1;
        bytes += (HEADER_BYTES + payload.len()) as u64;
    }
    Ok((records, bytes))
}

/// The segment file that holds WAL index `index`, from the segment names
/// (`wal-<first index>.log`); the WAL directory if no name parses.
fn segment_holding(wal: &FileWal, index: u64) -> PathBuf {
    let first_index_of = |path: &Path| -> Option<u64> {
        let name = path.file_name()?.to_str()?;
        name.strip_prefix("wal-")?
            .strip_suffix(".log")?
            .parse()
            .ok()
    };
    wal.segment_paths()
        .into_iter()
        .rfind(|path| first_index_of(path).is_some_and(|first| first <= index))
        .unwrap_or_else(|| wal.dir().to_path_buf())
}
