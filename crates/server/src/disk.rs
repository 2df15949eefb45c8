//! The disk thread: engine `Persist` actions go in, one fsync covers all of
//! those waiting (group commit), and the highest completed id comes back.
//! A failed write stops the node: continuing could send a promise that is
//! not on disk. Each group commit is timed for `/metrics`.

use crate::datadir::Claim;
use crate::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use synod_paxos::{DurableState, Record};
use synod_storage::{NodeStorage, OpenReport, StorageError, StorageOptions};
use tokio::sync::mpsc;

/// Persist requests waiting for the disk thread at most; the engine task
/// waits (backpressure) when it is full.
pub const DISK_QUEUE_MAX: usize = 1024;

pub enum DiskEvent {
    /// Every persist up to and including this id is durable.
    Persisted(u64),
    /// The disk failed; the node must stop.
    Failed(StorageError),
}

pub struct Disk {
    pub requests: mpsc::Sender<(u64, Vec<Record>)>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Everything waiting, in order, after blocking for the first request;
/// `None` once every sender is gone and nothing is left. One group commit
/// covers all of it.
pub(crate) fn next_batch<T>(rx: &mut mpsc::Receiver<T>) -> Option<Vec<T>> {
    let mut batch = vec![rx.blocking_recv()?];
    while let Ok(more) = rx.try_recv() {
        batch.push(more);
    }
    Some(batch)
}

/// Opens the data directory (blocking) and recovers the durable state.
pub fn open(dir: &Path) -> Result<(NodeStorage, DurableState, OpenReport), StorageError> {
    NodeStorage::open(dir, StorageOptions::default())
}

/// Starts the disk thread over an opened storage.
/// The thread holds the data directory's claim (its lock) for as long as
/// it may write.
pub fn start(
    mut storage: NodeStorage,
    claim: Claim,
    events: mpsc::Sender<DiskEvent>,
    metrics: Arc<Metrics>,
) -> Disk {
    let (requests, mut rx) = mpsc::channel::<(u64, Vec<Record>)>(DISK_QUEUE_MAX);
    let thread = std::thread::Builder::new()
        .name("synod-disk".into())
        .spawn(move || {
            let _claim = claim;
            while let Some(batch) = next_batch(&mut rx) {
                let last = batch.last().map(|(id, _)| *id).expect("non-empty");
                let slices: Vec<&[Record]> = batch.iter().map(|(_, r)| r.as_slice()).collect();
                let saved_before = storage.snapshots_saved();
                let began = Instant::now();
                let event = match storage.persist(&slices) {
                    Ok(()) => {
                        let took = began.elapsed().as_secs_f64();
                        if storage.snapshots_saved() == saved_before {
                            metrics.wal_fsync.observe(took);
                        } else {
                            metrics.snapshot_save.observe(took);
                        }
                        DiskEvent::Persisted(last)
                    }
                    Err(e) => DiskEvent::Failed(e),
                };
                let failed = matches!(event, DiskEvent::Failed(_));
                if events.blocking_send(event).is_err() || failed {
                    return;
                }
            }
        })
        .expect("spawning the disk thread");
    Disk { requests, thread }
}
