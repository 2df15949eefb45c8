//! Backups: a consistent snapshot of a live cluster in one file, and what
//! a restore does with it.
//!
//! The file: the magic line `SYNOD-BACKUP 2`, one line of JSON (the
//! [`Header`]: cluster and node it came from, the slot it holds everything
//! up to, when it was taken, and the SHA-256 and length of the body), then
//! the body, the engine's snapshot (`synod_paxos::Snapshot`: the state
//! machines' state, the exactly-once client table and the configuration)
//! in bincode. A file whose body does not match its header is refused
//! whole. Version 1 (the state as one byte string, before snapshots were
//! chunked) is still read.
//!
//! Both ways are streamed: writing encodes the snapshot twice (once into
//! the hash and the count the header needs, once out) instead of into a
//! buffer, and reading decodes the body as it arrives, hashing it on the
//! way, so neither holds the state in one buffer.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use synod_paxos::Snapshot;

const MAGIC: &[u8] = b"SYNOD-BACKUP 2\n";
/// The format before snapshots were chunked: read, never written.
const MAGIC_V1: &[u8] = b"SYNOD-BACKUP 1\n";
/// A header line is a few hundred bytes; more is not a backup.
const HEADER_BYTES_MAX: u64 = 4096;

/// What a backup says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub cluster_id: u64,
    /// The node that wrote it (the leader at the time).
    pub node_id: u64,
    /// Every slot up to this one is in it.
    pub slot: u64,
    /// Wall-clock time it was taken, milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub body_bytes: u64,
    /// SHA-256 of the body, hex.
    pub sha256: String,
}

fn hex(digest: ring::digest::Digest) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes and counts the bytes written to it, or read through it.
struct Hashing<T> {
    inner: T,
    sha: ring::digest::Context,
    bytes: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            sha: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        }
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn to_io(e: bincode::ErrorKind) -> io::Error {
    match e {
        bincode::ErrorKind::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Writes the backup file of `snapshot`, taken by `node_id` of
/// `cluster_id`, to `out`.
pub fn write(
    out: &mut dyn Write,
    cluster_id: u64,
    node_id: u64,
    snapshot: &Snapshot,
    time_ms: u64,
) -> io::Result<()> {
    let mut hash = Hashing::new(io::sink());
    bincode::serialize_into(&mut hash, snapshot).map_err(|e| to_io(*e))?;
    let header = Header {
        cluster_id,
        node_id,
        slot: snapshot.last_slot,
        time_ms,
        body_bytes: hash.bytes,
        sha256: hex(hash.sha.finish()),
    };
    let line = serde_json::to_string(&header).expect("a header serializes");
    out.write_all(MAGIC)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    bincode::serialize_into(&mut *out, snapshot).map_err(|e| to_io(*e))?;
    out.flush()
}

/// The backup file of `snapshot` in memory: for tests and small states.
pub fn encode(cluster_id: u64, node_id: u64, snapshot: &Snapshot, time_ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, cluster_id, node_id, snapshot, time_ms).expect("writing to memory");
    out
}

/// The header and snapshot of a backup file in memory.
pub fn decode(file: &[u8]) -> Result<(Header, Snapshot), String> {
    read(&mut &file[..])
}

/// Reads a backup file from `input` to its end: its header and snapshot,
/// or what is wrong with it.
pub fn read(input: &mut dyn BufRead) -> Result<(Header, Snapshot), String> {
    let mut magic = Vec::new();
    Read::take(&mut *input, MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(|e| format!("cannot read the backup: {e}"))?;
    let v1 = match &magic[..] {
        m if m == MAGIC => false,
        m if m == MAGIC_V1 => true,
        _ => {
            return Err("not a synod backup (no `SYNOD-BACKUP 2` or `1` line at its start)".into())
        }
    };
    let mut line = Vec::new();
    Read::take(&mut *input, HEADER_BYTES_MAX)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the backup: {e}"))?;
    if line.pop() != Some(b'\n') {
        return Err("the backup's header line is missing or over 4 KiB".into());
    }
    let header: Header = serde_json::from_slice(&line)
        .map_err(|e| format!("the backup's header is not valid: {e}"))?;
    let mut body = Hashing::new(Read::take(&mut *input, header.body_bytes));
    let options = || {
        use bincode::Options;
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .allow_trailing_bytes()
            .with_limit(header.body_bytes)
    };
    let decoded = if v1 {
        use bincode::Options;
        options()
            .deserialize_from::<_, synod_paxos::durable::v1::Snapshot>(&mut body)
            .map(Snapshot::from)
    } else {
        use bincode::Options;
        options().deserialize_from::<_, Snapshot>(&mut body)
    };
    // The whole body counts toward the checks, decoded or not.
    io::copy(&mut body, &mut io::sink()).map_err(|e| format!("cannot read the backup: {e}"))?;
    let mut extra = [0u8; 1];
    let padded = matches!(body.inner.into_inner().read(&mut extra), Ok(1));
    if body.bytes != header.body_bytes || padded {
        return Err(format!(
            "the backup is truncated or padded: its header says {} bytes of body, the file has {}{}",
            header.body_bytes,
            body.bytes,
            if padded { " and more" } else { "" }
        ));
    }
    let sum = hex(body.sha.finish());
    if sum != header.sha256 {
        return Err(format!(
            "the backup is damaged: its body's SHA-256 is {sum}, its header says {}",
            header.sha256
        ));
    }
    let snapshot = decoded.map_err(|e| format!("the backup's snapshot does not decode: {e}"))?;
    if snapshot.last_slot != header.slot {
        return Err(format!(
            "the backup's snapshot holds slot {}, its header says {}",
            snapshot.last_slot, header.slot
        ));
    }
    Ok((header, snapshot))
}

/// What a restore made of a backup.
#[derive(Clone, Debug)]
pub struct Restored {
    pub header: Header,
    /// The snapshot to seed a new node's storage with.
    pub snapshot: Snapshot,
    /// ZooKeeper sessions the backup held, closed by the restore.
    pub sessions_closed: usize,
}

/// The snapshot a new cluster starts from: the backup's state and client
/// table, under the new cluster's configuration `config`, with every
/// ZooKeeper session closed (and its ephemeral znodes gone): a session
/// does not outlive the cluster it was opened on, so none is resurrected
/// as live (its clients get SESSION_EXPIRED when they come back).
pub fn restored(file: &mut dyn BufRead, config: synod_paxos::Config) -> Result<Restored, String> {
    use synod_paxos::StateMachine;
    let (header, mut snapshot) = read(file)?;
    let mut state = synod_node::ServiceState::new();
    state
        .restore(&snapshot.state)
        .map_err(|e| format!("the backup's state does not restore: {}", e.0))?;
    let sessions: Vec<i64> = state.tree.sessions().map(|(id, _)| id).collect();
    for &session in &sessions {
        state
            .tree
            .apply_op(&synod_coord::CoordOp::CloseSession { session });
    }
    snapshot.state = state.snapshot_data();
    snapshot.config = config;
    Ok(Restored {
        header,
        snapshot,
        sessions_closed: sessions.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snapshot() -> Snapshot {
        Snapshot {
            last_slot: 42,
            config: synod_paxos::Config::new([1, 2, 3]),
            clients: BTreeMap::new(),
            state: vec![1, 2, 3, 4].into(),
        }
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let file = encode(7, 2, &snapshot(), 1_700_000_000_000);
        let (header, snap) = decode(&file).unwrap();
        assert_eq!((header.cluster_id, header.node_id, header.slot), (7, 2, 42));
        assert_eq!(snap, snapshot());
    }

    /// A state of many chunks goes out and comes back in pieces, never
    /// assembled: the body is read through a buffer of a few bytes.
    #[test]
    fn a_backup_streams_both_ways() {
        use std::io::Write as _;
        let mut state = synod_paxos::SnapshotWriter::new(7);
        state.write_all(&[5u8; 100]).unwrap();
        let snap = Snapshot {
            state: state.finish(),
            ..snapshot()
        };
        let mut file = Vec::new();
        write(&mut file, 7, 2, &snap, 1).unwrap();
        assert!(file.starts_with(MAGIC));
        let mut input = std::io::BufReader::with_capacity(3, &file[..]);
        let (header, back) = read(&mut input).unwrap();
        assert_eq!(header.body_bytes as usize, file.len() - header_end(&file));
        assert_eq!(back, snap);
        assert_eq!(back.state.chunks().len(), 15, "as it was cut");
    }

    fn header_end(file: &[u8]) -> usize {
        let magic = MAGIC.len();
        magic + file[magic..].iter().position(|&b| b == b'\n').unwrap() + 1
    }

    /// A backup of format 1 (the state as one byte string) still restores.
    #[test]
    fn a_version_1_backup_still_reads() {
        let snap = snapshot();
        let old = (
            snap.last_slot,
            &snap.config,
            &snap.clients,
            synod_paxos::Bytes::from(snap.state.to_vec()),
        );
        let body = bincode::serialize(&old).unwrap();
        let header = Header {
            cluster_id: 7,
            node_id: 2,
            slot: snap.last_slot,
            time_ms: 1,
            body_bytes: body.len() as u64,
            sha256: hex(ring::digest::digest(&ring::digest::SHA256, &body)),
        };
        let mut file = MAGIC_V1.to_vec();
        file.extend_from_slice(serde_json::to_string(&header).unwrap().as_bytes());
        file.push(b'\n');
        file.extend_from_slice(&body);
        assert_eq!(decode(&file), Ok((header, snap)));
        let mut padded = file.clone();
        padded.push(0);
        assert!(decode(&padded).unwrap_err().contains("padded"));
    }

    #[test]
    fn a_damaged_truncated_or_foreign_file_is_refused() {
        let file = encode(7, 2, &snapshot(), 1);
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("damaged"));
        assert!(decode(&file[..file.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        assert!(decode(b"hello").unwrap_err().contains("not a synod backup"));
    }

    #[test]
    fn a_restore_closes_every_session_and_its_ephemerals_and_keeps_the_rest() {
        use synod_coord::{Acl, CoordOp, CoordReply, CreateMode, Id, Write};
        use synod_paxos::StateMachine;
        let mut state = synod_node::ServiceState::new();
        let tree = &mut state.tree;
        let CoordReply::Session { id: session, .. } = tree.apply_op(&CoordOp::CreateSession {
            passwd: vec![0; 16],
            timeout_ms: 30_000,
            time_ms: 1_700_000_000_000,
        }) else {
            panic!("a session");
        };
        let create = |path: &str, mode| Write::Create {
            path: path.into(),
            data: b"d".to_vec(),
            acl: vec![Acl {
                perms: synod_coord::perms::ALL,
                id: Id::new("world", "anyone"),
            }],
            mode,
            ttl_ms: -1,
        };
        tree.apply_op(&CoordOp::RuledBatch {
            rules: 2,
            session,
            auth: Vec::new(),
            time_ms: 1_700_000_000_000,
            writes: vec![
                create("/kept", CreateMode::Persistent),
                create("/eph", CreateMode::Ephemeral),
                Write::create(
                    "/null".into(),
                    None,
                    Acl::open_unsafe(),
                    CreateMode::Persistent,
                    -1,
                ),
            ],
        });
        assert!(state.tree.exists("/eph").is_some());
        let snap = Snapshot {
            state: state.snapshot_data(),
            ..snapshot()
        };
        let file = encode(7, 1, &snap, 1);
        let restored = restored(&mut &file[..], synod_paxos::Config::new([4, 5, 6])).unwrap();
        assert_eq!(restored.sessions_closed, 1);
        assert_eq!(
            restored.snapshot.config,
            synod_paxos::Config::new([4, 5, 6])
        );
        let mut back = synod_node::ServiceState::new();
        back.restore(&restored.snapshot.state).unwrap();
        assert_eq!(back.tree.sessions().count(), 0);
        assert!(
            back.tree.exists("/eph").is_none(),
            "the ephemeral went with its session"
        );
        assert!(back.tree.exists("/kept").is_some());
        assert_eq!(
            back.tree.get_data("/null", &[]).unwrap().0,
            None,
            "null data stays null through a backup"
        );
    }
}
