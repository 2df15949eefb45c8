//! The data directory knows whose it is.
//!
//! A Paxos acceptor's promises and accepted values are only worth anything
//! if it remembers them. A voter that starts from an empty directory (a
//! wiped disk, a new volume, a typo in `data_dir`) and votes as if it
//! remembered can let two values be chosen for one slot. So before storage
//! recovery touches any file, [`claim`]:
//!
//! 1. takes an exclusive lock on `LOCK` in the directory (an advisory
//!    `flock`, released when the process exits, however it exits), so two
//!    processes never recover and write the same directory;
//! 2. reads `IDENTITY`, written once when the directory was initialized,
//!    and checks that it names this cluster and this node id;
//! 3. lets an empty directory (no `IDENTITY`, no storage) start only when
//!    the operator said why it is empty: `--init` (the first start of a new
//!    cluster, so there is nothing to remember) or `join = true` (a node
//!    that enters an existing cluster as a learner and learns everything
//!    from the leader). Without either, the node refuses to start.
//!
//! `--init` on a directory that is already initialized is refused as well:
//! the flag is the one-time act of creating a cluster, never part of a
//! restart command, or a script that always passes it would turn the next
//! wiped disk into a voter with amnesia.
//!
//! A directory written by a synod from before `IDENTITY` existed (it holds
//! `wal/` or `snap/` but no `IDENTITY`) is adopted: it has its memory, and
//! recovery goes on as before. A directory whose `IDENTITY` is present but
//! whose `wal/` is missing lost its log and is refused.
//!
//! What the directory alone cannot see: a node started with `--init` or
//! `join = true` on an empty directory whose id is, or once was, a member
//! of a running cluster. Its peers see it: each directory gets a random
//! incarnation when it is initialized, every peer hello carries it, and a
//! node remembers the first incarnation it saw of each peer (`PEERS`,
//! [`PeerLives`]) and refuses connections from another. So a node that
//! lost its data and came back under its old id cannot vote: its messages
//! never arrive. It must come back under a new id (README, Configuration).

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use synod_paxos::NodeId;
use synod_storage::{SNAPSHOT_DIR, WAL_DIR};

/// The lock file, held for the life of the process.
pub const LOCK_FILE: &str = "LOCK";
/// Who the directory belongs to, written once at initialization.
pub const IDENTITY_FILE: &str = "IDENTITY";
/// Written at the first start of a sharded server (`[shards] groups`
/// above 0): the tier's shape, which no later start may change, and the
/// mark that tells a plain server this directory is not its own.
pub const SHARDS_FILE: &str = "SHARDS";
/// Entries an empty directory may hold anyway (a mounted file system's
/// root has `lost+found`).
const IGNORED_ENTRIES: &[&str] = &[LOCK_FILE, "lost+found"];
/// `IDENTITY` is a few lines; anything longer is not ours.
const IDENTITY_BYTES_MAX: u64 = 4096;

/// The contents of `IDENTITY`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Version of this file's layout.
    pub format: u32,
    pub cluster_id: u64,
    pub node_id: NodeId,
    /// How the directory began: `init` (bootstrapped a new cluster), `join`
    /// (entered a running cluster as a learner) or `adopted` (held data
    /// from a synod older than this file).
    pub began: String,
    /// Wall-clock time of initialization, milliseconds since the Unix
    /// epoch (for people reading the file).
    pub initialized_ms: u64,
    /// Which life of this node id the directory holds: random, 1..2^63,
    /// sent in every peer hello. Peers remember it (`PEERS`) and refuse
    /// another under the same id, so a node initialized again after losing
    /// its disk cannot vote under its old id. 0 in a file from before it
    /// existed: a new one is drawn and written at the next start.
    #[serde(default)]
    pub incarnation: u64,
}

const FORMAT: u32 = 1;

/// How this start may treat an empty directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartIntent {
    /// `--init`: this is the first start of a new cluster.
    pub init: bool,
    /// `join = true`: the node enters a running cluster as a learner.
    pub join: bool,
}

/// A claimed data directory: holds the lock until dropped.
#[derive(Debug)]
pub struct Claim {
    _lock: File,
    /// The identity to write once storage has created its directories
    /// (`None`: the directory had one already).
    pending: Option<Identity>,
    dir: PathBuf,
    /// What the claim found, for the start-up log.
    pub found: String,
    /// This life's incarnation (see [`Identity::incarnation`]).
    pub incarnation: u64,
}

/// Why a node must not start from a directory.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("cannot use data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {0} is in use by another process (its {LOCK_FILE} file is locked); \
         two nodes must never share a directory: stop the other one or fix `data_dir`"
    )]
    Locked(PathBuf),
    #[error("data directory {dir} belongs to {found}, not to {expected}; fix `data_dir`, `node_id` or `cluster_id`")]
    WrongOwner {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "data directory {0} is empty, and a member votes with what it remembers: if this is \
         the first start of a new cluster, start it with `--init`; if this node lost its \
         data, it must not come back under its old id: remove it (`synod reconfig remove`) \
         and add the machine as a new member (a new node id, `join = true`, `synod reconfig \
         add-learner`)"
    )]
    Empty(PathBuf),
    #[error(
        "data directory {0} was initialized already; `--init` is for the first start of a \
         new cluster only: start without it"
    )]
    AlreadyInitialized(PathBuf),
    #[error(
        "data directory {0} has an {IDENTITY_FILE} but no {WAL_DIR}/: its log is lost and the \
         node must not vote from it; remove it (`synod reconfig remove`) and add the machine \
         as a new member (a new node id, `join = true`) on an empty directory"
    )]
    LogMissing(PathBuf),
    #[error("{0} is not a synod data directory (it holds {1}); point `data_dir` at an empty or synod directory")]
    Foreign(PathBuf, String),
    #[error("{path} is damaged ({reason}); restore the directory from a replica or a backup")]
    Damaged { path: PathBuf, reason: String },
}

/// Locks `dir` (creating it if needed), checks its identity against
/// `cluster_id` and `node_id`, and decides whether the node may start from
/// it. Call before storage recovery; then [`Claim::commit`] once storage
/// has opened, and keep the claim until the node stopped writing.
pub fn claim(
    dir: &Path,
    cluster_id: u64,
    node_id: NodeId,
    intent: StartIntent,
) -> Result<Claim, ClaimError> {
    let io = |source| ClaimError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(ClaimError::Locked(dir.into())),
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let expected = Identity {
        format: FORMAT,
        cluster_id,
        node_id,
        began: String::new(),
        initialized_ms: now_ms(),
        incarnation: new_incarnation(),
    };
    let mut claim = Claim {
        _lock: lock,
        pending: None,
        dir: dir.to_path_buf(),
        found: String::new(),
        incarnation: expected.incarnation,
    };
    match read_identity(dir)? {
        Some(found) => {
            if (found.cluster_id, found.node_id) != (cluster_id, node_id) {
                return Err(ClaimError::WrongOwner {
                    dir: dir.into(),
                    found: owner(found.cluster_id, found.node_id),
                    expected: owner(cluster_id, node_id),
                });
            }
            if intent.init {
                return Err(ClaimError::AlreadyInitialized(dir.into()));
            }
            if !dir.join(WAL_DIR).is_dir() {
                return Err(ClaimError::LogMissing(dir.into()));
            }
            claim.found = format!("{} (began by {})", owner(cluster_id, node_id), found.began);
            if found.incarnation == 0 {
                // Written before incarnations existed: this start draws
                // one (peers of this version have seen none yet).
                claim.pending = Some(Identity {
                    incarnation: expected.incarnation,
                    ..found
                });
            } else {
                claim.incarnation = found.incarnation;
            }
        }
        None => {
            let entries = entries(dir).map_err(io)?;
            let holds_storage = entries.iter().any(|e| e == WAL_DIR || e == SNAPSHOT_DIR);
            let foreign: Vec<&String> = entries
                .iter()
                .filter(|e| *e != WAL_DIR && *e != SNAPSHOT_DIR)
                .collect();
            if !foreign.is_empty() {
                let list: Vec<&str> = foreign.iter().take(5).map(|s| s.as_str()).collect();
                return Err(ClaimError::Foreign(dir.into(), list.join(", ")));
            }
            let began = if holds_storage {
                if intent.init {
                    return Err(ClaimError::AlreadyInitialized(dir.into()));
                }
                "adopted"
            } else if intent.join {
                // A joining node takes no initial configuration, so
                // `--init` means nothing more for it.
                "join"
            } else if intent.init {
                "init"
            } else {
                return Err(ClaimError::Empty(dir.into()));
            };
            claim.found = format!("a new {IDENTITY_FILE} ({began})");
            claim.pending = Some(Identity {
                began: began.into(),
                ..expected
            });
        }
    }
    Ok(claim)
}

impl Claim {
    /// Writes `IDENTITY` if the directory did not have one, after storage
    /// created its directories: an `IDENTITY` on disk then always sits
    /// next to a `wal/`. A crash before this leaves a directory that holds
    /// storage but no identity, which the next start adopts: the node had
    /// not voted yet.
    pub fn commit(&mut self) -> Result<(), ClaimError> {
        let Some(identity) = self.pending.take() else {
            return Ok(());
        };
        let text = toml::to_string(&identity).expect("an identity serializes");
        let text = format!("# Written once by synod when this directory was initialized; do not edit or copy it.\n{text}");
        let path = self.dir.join(IDENTITY_FILE);
        let temp = self.dir.join(format!("{IDENTITY_FILE}.tmp"));
        let io = |source| ClaimError::Io {
            dir: self.dir.clone(),
            source,
        };
        let mut file = File::create(&temp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temp, &path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// A random incarnation in 1..2^63 (TOML integers are signed 64-bit).
fn new_incarnation() -> u64 {
    loop {
        let n = getrandom::u64().expect("the OS random source works") & (i64::MAX as u64);
        if n != 0 {
            return n;
        }
    }
}

/// What this node remembers of its peers' lives: `PEERS` in the data
/// directory, each node id's first incarnation seen (see
/// [`Identity::incarnation`]). A hello with another incarnation for a
/// remembered id is refused: that node lost its disk and was initialized
/// again under its old id, and would vote without its promises.
#[derive(Debug)]
pub struct PeerLives {
    path: PathBuf,
    known: std::sync::Mutex<std::collections::BTreeMap<NodeId, u64>>,
}

/// The peers file, next to `IDENTITY`.
pub const PEERS_FILE: &str = "PEERS";

impl PeerLives {
    /// Reads `dir/PEERS` (none yet: nothing remembered).
    pub fn open(dir: &Path) -> Result<PeerLives, ClaimError> {
        let path = dir.join(PEERS_FILE);
        let known = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let table: std::collections::BTreeMap<String, u64> = toml::from_str(&text)
                    .map_err(|e| ClaimError::Damaged {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                let mut known = std::collections::BTreeMap::new();
                for (node, incarnation) in table {
                    let node: NodeId = node.parse().map_err(|_| ClaimError::Damaged {
                        path: path.clone(),
                        reason: format!("`{node}` is not a node id"),
                    })?;
                    known.insert(node, incarnation);
                }
                known
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(source) => {
                return Err(ClaimError::Io {
                    dir: dir.into(),
                    source,
                })
            }
        };
        Ok(PeerLives {
            path,
            known: std::sync::Mutex::new(known),
        })
    }

    fn save(&self, known: &std::collections::BTreeMap<NodeId, u64>) -> std::io::Result<()> {
        let mut text = String::from(
            "# Each peer's incarnation as first seen; written by synod, do not edit.\n",
        );
        for (node, incarnation) in known {
            text.push_str(&format!("\"{node}\" = {incarnation}\n"));
        }
        let temp = self.path.with_extension("tmp");
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl synod_net::PeerMemory for PeerLives {
    fn check(&self, node: NodeId, incarnation: u64) -> Result<(), String> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(&node) {
            Some(&remembered) if remembered == incarnation => Ok(()),
            Some(&remembered) => Err(format!(
                "incarnation {incarnation:#x}, but this node remembers {remembered:#x}: node \
                 {node} lost its data directory and was initialized again under its old id, and \
                 must not vote as if it remembered its promises; remove it (`synod reconfig \
                 remove {node}`) and add the machine under a new node id"
            )),
            None => {
                known.insert(node, incarnation);
                if let Err(e) = self.save(&known) {
                    known.remove(&node);
                    return Err(format!(
                        "cannot remember its incarnation in {}: {e}",
                        self.path.display()
                    ));
                }
                Ok(())
            }
        }
    }
}

fn read_identity(dir: &Path) -> Result<Option<Identity>, ClaimError> {
    let path = dir.join(IDENTITY_FILE);
    let damaged = |reason: String| ClaimError::Damaged {
        path: path.clone(),
        reason,
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ClaimError::Io {
                dir: dir.into(),
                source: e,
            })
        }
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, IDENTITY_BYTES_MAX + 1),
        &mut text,
    )
    .map_err(|e| damaged(e.to_string()))?;
    if text.len() as u64 > IDENTITY_BYTES_MAX {
        return Err(damaged(format!("longer than {IDENTITY_BYTES_MAX} bytes")));
    }
    let identity: Identity = toml::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    if identity.format != FORMAT {
        return Err(damaged(format!(
            "format {} is not {FORMAT}, the one this synod reads",
            identity.format
        )));
    }
    Ok(Some(identity))
}

/// The directory's entries that count: everything but the lock, the
/// identity's temp file and `lost+found`.
/// True if `dir` does not exist or holds nothing but what an empty
/// directory may hold (`LOCK`, `lost+found`): a node's first start.
pub fn is_empty(dir: &Path) -> bool {
    match entries(dir) {
        Ok(names) => names.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let temp = format!("{IDENTITY_FILE}.tmp");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !IGNORED_ENTRIES.contains(&name.as_str()) && name != temp {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn owner(cluster_id: u64, node_id: NodeId) -> String {
    format!("node {node_id} of cluster {cluster_id}")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: StartIntent = StartIntent {
        init: true,
        join: false,
    };
    const RESTART: StartIntent = StartIntent {
        init: false,
        join: false,
    };
    const JOIN: StartIntent = StartIntent {
        init: false,
        join: true,
    };

    /// What storage's first open does: create its directories.
    fn open_storage(dir: &Path) {
        std::fs::create_dir_all(dir.join(WAL_DIR)).unwrap();
        std::fs::create_dir_all(dir.join(SNAPSHOT_DIR)).unwrap();
    }

    fn start(
        dir: &Path,
        cluster: u64,
        node: NodeId,
        intent: StartIntent,
    ) -> Result<Claim, ClaimError> {
        let mut c = claim(dir, cluster, node, intent)?;
        open_storage(dir);
        c.commit()?;
        Ok(c)
    }

    #[test]
    fn a_directory_is_empty_until_storage_or_identity_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(is_empty(&data), "a missing directory is a first start");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join(LOCK_FILE), "").unwrap();
        std::fs::create_dir(data.join("lost+found")).unwrap();
        assert!(is_empty(&data));
        std::fs::write(data.join(IDENTITY_FILE), "").unwrap();
        assert!(!is_empty(&data));
    }

    #[test]
    fn an_empty_directory_starts_only_with_init_or_join() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("n1");
        let err = claim(&dir, 7, 1, RESTART).unwrap_err();
        assert!(matches!(err, ClaimError::Empty(_)), "{err}");
        assert!(err.to_string().contains("--init"), "{err}");
        assert!(!dir.join(IDENTITY_FILE).exists());
        drop(start(&dir, 7, 1, INIT).unwrap());
        let written = read_identity(&dir).unwrap().unwrap();
        assert_eq!(
            (written.cluster_id, written.node_id, written.began.as_str()),
            (7, 1, "init")
        );
        drop(start(&dir, 7, 1, RESTART).unwrap());

        let joiner = tmp.path().join("n4");
        drop(start(&joiner, 7, 4, JOIN).unwrap());
        assert_eq!(read_identity(&joiner).unwrap().unwrap().began, "join");
    }

    #[test]
    fn init_on_an_initialized_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        drop(start(tmp.path(), 7, 1, INIT).unwrap());
        let err = claim(tmp.path(), 7, 1, INIT).unwrap_err();
        assert!(matches!(err, ClaimError::AlreadyInitialized(_)), "{err}");
    }

    #[test]
    fn another_node_or_cluster_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        drop(start(tmp.path(), 7, 1, INIT).unwrap());
        let err = claim(tmp.path(), 7, 2, RESTART).unwrap_err();
        assert!(
            err.to_string()
                .contains("belongs to node 1 of cluster 7, not to node 2 of cluster 7"),
            "{err}"
        );
        let err = claim(tmp.path(), 8, 1, RESTART).unwrap_err();
        assert!(matches!(err, ClaimError::WrongOwner { .. }), "{err}");
    }

    #[test]
    fn a_lost_log_is_refused_even_with_the_identity_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        drop(start(tmp.path(), 7, 1, INIT).unwrap());
        std::fs::remove_dir_all(tmp.path().join(WAL_DIR)).unwrap();
        let err = claim(tmp.path(), 7, 1, RESTART).unwrap_err();
        assert!(matches!(err, ClaimError::LogMissing(_)), "{err}");
    }

    #[test]
    fn a_second_claim_on_a_locked_directory_is_refused_until_the_first_drops() {
        let tmp = tempfile::tempdir().unwrap();
        let first = start(tmp.path(), 7, 1, INIT).unwrap();
        let err = claim(tmp.path(), 7, 1, RESTART).unwrap_err();
        assert!(matches!(err, ClaimError::Locked(_)), "{err}");
        drop(first);
        drop(claim(tmp.path(), 7, 1, RESTART).unwrap());
    }

    #[test]
    fn storage_without_identity_is_adopted_and_other_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        open_storage(tmp.path());
        drop(start(tmp.path(), 7, 3, RESTART).unwrap());
        assert_eq!(read_identity(tmp.path()).unwrap().unwrap().began, "adopted");

        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("notes.txt"), b"mine").unwrap();
        let err = claim(home.path(), 7, 1, INIT).unwrap_err();
        assert!(matches!(err, ClaimError::Foreign(..)), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    #[test]
    fn a_damaged_identity_stops_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        open_storage(tmp.path());
        std::fs::write(tmp.path().join(IDENTITY_FILE), b"cluster_id = \"x\"").unwrap();
        let err = claim(tmp.path(), 7, 1, RESTART).unwrap_err();
        assert!(matches!(err, ClaimError::Damaged { .. }), "{err}");
        std::fs::write(tmp.path().join(IDENTITY_FILE), vec![b'#'; 5000]).unwrap();
        let err = claim(tmp.path(), 7, 1, RESTART).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[test]
    fn a_directory_keeps_its_incarnation_and_a_new_life_gets_another() {
        let tmp = tempfile::tempdir().unwrap();
        let mut first = claim(tmp.path(), 7, 1, INIT).unwrap();
        open_storage(tmp.path());
        first.commit().unwrap();
        let life = first.incarnation;
        assert_ne!(life, 0);
        drop(first);
        assert_eq!(claim(tmp.path(), 7, 1, RESTART).unwrap().incarnation, life);
        let again = tempfile::tempdir().unwrap();
        assert_ne!(claim(again.path(), 7, 1, INIT).unwrap().incarnation, life);
    }

    #[test]
    fn peers_are_remembered_across_restarts_and_a_new_life_is_refused() {
        use synod_net::PeerMemory;
        let tmp = tempfile::tempdir().unwrap();
        let lives = PeerLives::open(tmp.path()).unwrap();
        lives.check(2, 0xaa).unwrap();
        lives.check(2, 0xaa).unwrap();
        lives.check(3, 0xbb).unwrap();
        let err = lives.check(2, 0xcc).unwrap_err();
        assert!(
            err.contains("initialized again") && err.contains("new node id"),
            "{err}"
        );
        drop(lives);
        let reopened = PeerLives::open(tmp.path()).unwrap();
        reopened.check(3, 0xbb).unwrap();
        assert!(reopened.check(2, 0xcc).is_err());
        reopened.check(2, 0xaa).unwrap();
    }
}
