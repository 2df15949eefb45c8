//! Backups: a consistent snapshot of a live cluster in one file, and what
//! a restore does with it.
//!
//! The file: the magic line `SYNOD-BACKUP 1`, one line of JSON (the
//! [`Header`]: cluster and node it came from, the slot it holds everything
//! up to, when it was taken, and the SHA-256 and length of the body), then
//! the body, the engine's snapshot (`synod_paxos::Snapshot`: the state
//! machines' state, the exactly-once client table and the configuration)
//! in bincode. A file whose body does not match its header is refused
//! whole.

use serde::{Deserialize, Serialize};
use synod_paxos::Snapshot;

const MAGIC: &[u8] = b"SYNOD-BACKUP 1\n";
/// A header line is a few hundred bytes; more is not a backup.
const HEADER_BYTES_MAX: usize = 4096;

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

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The backup file of `snapshot`, taken by `node_id` of `cluster_id`.
pub fn encode(cluster_id: u64, node_id: u64, snapshot: &Snapshot, time_ms: u64) -> Vec<u8> {
    let body = bincode::serialize(snapshot).expect("a snapshot serializes");
    let header = Header {
        cluster_id,
        node_id,
        slot: snapshot.last_slot,
        time_ms,
        body_bytes: body.len() as u64,
        sha256: sha256_hex(&body),
    };
    let line = serde_json::to_string(&header).expect("a header serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + line.len() + 1 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&body);
    out
}

/// The header and snapshot of a backup file, or what is wrong with it.
pub fn decode(file: &[u8]) -> Result<(Header, Snapshot), String> {
    let rest = file
        .strip_prefix(MAGIC)
        .ok_or("not a synod backup (no `SYNOD-BACKUP 1` line at its start)")?;
    let end = rest
        .iter()
        .take(HEADER_BYTES_MAX)
        .position(|&b| b == b'\n')
        .ok_or("the backup's header line is missing or over 4 KiB")?;
    let header: Header = serde_json::from_slice(&rest[..end])
        .map_err(|e| format!("the backup's header is not valid: {e}"))?;
    let body = &rest[end + 1..];
    if body.len() as u64 != header.body_bytes {
        return Err(format!(
            "the backup is truncated or padded: its header says {} bytes of body, the file has {}",
            header.body_bytes,
            body.len()
        ));
    }
    let sum = sha256_hex(body);
    if sum != header.sha256 {
        return Err(format!(
            "the backup is damaged: its body's SHA-256 is {sum}, its header says {}",
            header.sha256
        ));
    }
    let snapshot: Snapshot = bincode::deserialize(body)
        .map_err(|e| format!("the backup's snapshot does not decode: {e}"))?;
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
pub fn restored(file: &[u8], config: synod_paxos::Config) -> Result<Restored, String> {
    use synod_paxos::StateMachine;
    let (header, mut snapshot) = decode(file)?;
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
    snapshot.state = state.snapshot().into();
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
            state: state.snapshot().into(),
            ..snapshot()
        };
        let file = encode(7, 1, &snap, 1);
        let restored = restored(&file, synod_paxos::Config::new([4, 5, 6])).unwrap();
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
