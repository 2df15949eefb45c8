//! An in-memory log with the same contract as the file log, for tests and
//! the deterministic simulator, which also uses it to model power loss.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::error::WalError;
use crate::record::HEADER_BYTES;
use crate::storage::{check_read_range, LogStorage, Records, Recovery, TornTail};

/// Default `record_bytes_max`, the same as the file log's.
const RECORD_BYTES_MAX_DEFAULT: u32 = 64 << 20;

/// An in-memory [`LogStorage`]. `sync` is instantaneous but still marks the
/// durable point, so [`MemLog::crash`] can drop exactly what a power loss
/// would.
#[derive(Debug, Clone)]
pub struct MemLog {
    first_index: u64,
    records: VecDeque<Vec<u8>>,
    durable_index: u64,
    record_bytes_max: u32,
}

/// What survives a simulated power loss: the durable records and, maybe, a
/// torn prefix of the first record that was not. Turn it back into a log
/// with [`MemLog::open`], which cuts the torn record as file recovery would.
#[derive(Debug, Clone)]
pub struct MemDisk {
    log: MemLog,
    /// Bytes of the torn record that reached the "disk".
    torn_bytes: Option<u64>,
}

impl Default for MemLog {
    fn default() -> Self {
        MemLog::new()
    }
}

impl MemLog {
    /// An empty log whose first index is 1.
    pub fn new() -> MemLog {
        MemLog::with_record_bytes_max(RECORD_BYTES_MAX_DEFAULT)
    }

    /// An empty log with a custom record size limit.
    pub fn with_record_bytes_max(record_bytes_max: u32) -> MemLog {
        MemLog {
            first_index: 1,
            records: VecDeque::new(),
            durable_index: 0,
            record_bytes_max,
        }
    }

    /// The largest payload `append` accepts.
    pub fn record_bytes_max(&self) -> u32 {
        self.record_bytes_max
    }

    /// Simulates power loss: records after the durable index are lost,
    /// except that up to `torn_bytes` bytes of the first lost record stay
    /// behind as a torn write (always fewer than the whole record).
    pub fn crash(mut self, torn_bytes: usize) -> MemDisk {
        let keep = (self.durable_index + 1 - self.first_index) as usize;
        // Sizes follow the file encoding (a header, then the payload), so a
        // torn write is at least one byte short of a whole record.
        let torn_bytes = self
            .records
            .get(keep)
            .filter(|_| torn_bytes > 0)
            .map(|record| (torn_bytes as u64).min((HEADER_BYTES + record.len()) as u64 - 1));
        self.records.truncate(keep);
        MemDisk {
            log: self,
            torn_bytes,
        }
    }

    /// Recovers a log from what survived a crash, cutting the torn write.
    pub fn open(disk: MemDisk) -> Result<(MemLog, Recovery), WalError> {
        let MemDisk { log, torn_bytes } = disk;
        let torn_tail = torn_bytes.map(|bytes_cut| TornTail {
            path: PathBuf::from("<memory>"),
            offset: 0,
            bytes_cut,
            reason: "incomplete record after the durable point".to_string(),
        });
        let recovery = Recovery {
            first_index: log.first_index(),
            last_index: log.last_index(),
            segments: 1,
            torn_tail,
        };
        Ok((log, recovery))
    }
}

impl LogStorage for MemLog {
    fn append(&mut self, payload: &[u8]) -> Result<u64, WalError> {
        if payload.len() > self.record_bytes_max as usize {
            return Err(WalError::RecordTooLarge {
                len: payload.len(),
                max: self.record_bytes_max,
            });
        }
        self.records.push_back(payload.to_vec());
        Ok(self.last_index())
    }

    fn sync(&mut self) -> Result<u64, WalError> {
        self.durable_index = self.last_index();
        Ok(self.durable_index)
    }

    fn first_index(&self) -> u64 {
        self.first_index
    }

    fn last_index(&self) -> u64 {
        self.first_index + self.records.len() as u64 - 1
    }

    fn durable_index(&self) -> u64 {
        self.durable_index
    }

    fn read_from(&self, from: u64) -> Result<Records<'_>, WalError> {
        check_read_range(from, self.first_index, self.last_index())?;
        let skip = (from - self.first_index) as usize;
        Ok(Box::new(self.records.iter().enumerate().skip(skip).map(
            |(i, r)| Ok((self.first_index + i as u64, r.clone())),
        )))
    }

    fn truncate_prefix(&mut self, below: u64) -> Result<u64, WalError> {
        if below > self.durable_index + 1 {
            return Err(WalError::TruncateBeyondDurable {
                below,
                durable_index: self.durable_index,
            });
        }
        while self.first_index < below {
            self.records.pop_front();
            self.first_index += 1;
        }
        Ok(self.first_index)
    }
}
