//! The sharded tier's disk thread: every group's `Persist` goes to one
//! thread, which takes everything waiting (from any group) in one pass and
//! writes each group's records to that group's log, then reports the
//! highest id done per group. Groups share the thread and the pass (group
//! commit across groups: a busy group's batch and a quiet group's one
//! record cost one wake-up); each group's log is its own directory, so
//! each still takes its own fsync. A failed write stops the server, as on
//! the plain server: continuing could send a promise that is not on disk.

use std::collections::BTreeMap;

use synod_paxos::Record;
use synod_shard::GroupId;
use synod_storage::{NodeStorage, StorageError};
use tokio::sync::mpsc;

use crate::datadir::Claim;

/// Persist requests waiting for the disk thread at most; the engine task
/// waits (backpressure) when it is full.
pub const DISK_QUEUE_MAX: usize = 1024;

/// A group's records to append durably, under the group's persist id.
pub(crate) type DiskRequest = (GroupId, u64, Vec<Record>);

pub(crate) enum DiskEvent {
    /// For each group, every persist up to this id is durable.
    Persisted(Vec<(GroupId, u64)>),
    Failed(StorageError),
}

pub(crate) struct Disk {
    pub requests: mpsc::Sender<DiskRequest>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Starts the thread over every group's opened storage. It holds the data
/// directory's claim for as long as it may write; it ends when the
/// requests' senders are dropped and everything queued is written.
pub(crate) fn start(
    mut storages: BTreeMap<GroupId, NodeStorage>,
    claim: Claim,
    events: mpsc::Sender<DiskEvent>,
) -> Disk {
    let (requests, mut rx) = mpsc::channel::<DiskRequest>(DISK_QUEUE_MAX);
    let thread = std::thread::Builder::new()
        .name("synod-shards-disk".into())
        .spawn(move || {
            let _claim = claim;
            while let Some(batch) = crate::disk::next_batch(&mut rx) {
                let mut by_group: BTreeMap<GroupId, (u64, Vec<&[Record]>)> = BTreeMap::new();
                for (gid, id, records) in &batch {
                    let entry = by_group.entry(*gid).or_default();
                    entry.0 = entry.0.max(*id);
                    entry.1.push(records.as_slice());
                }
                let mut done = Vec::with_capacity(by_group.len());
                let mut failed = None;
                for (gid, (last, slices)) in by_group {
                    let Some(storage) = storages.get_mut(&gid) else {
                        tracing::error!(group = gid, "a write for a group with no log here");
                        continue;
                    };
                    if let Err(e) = storage.persist(&slices) {
                        failed = Some(e);
                        break;
                    }
                    done.push((gid, last));
                }
                let event = match failed {
                    Some(e) => DiskEvent::Failed(e),
                    None => DiskEvent::Persisted(done),
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
