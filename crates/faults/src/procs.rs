//! The synod processes of a run: one per node, each in its namespace, its
//! data on its own small tmpfs (so that a full disk can be made), its wall
//! clock under libfaketime (so that it can be stepped), its peers on mutual
//! TLS (their addresses are not loopback).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::lab::Lab;

/// Where Debian's `faketime` package puts the library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// Each node's data tmpfs.
const DATA_TMPFS_BYTES: u64 = 256 << 20;
pub const PEER_PORT: u16 = 7000;
pub const CLIENT_PORT: u16 = 7100;
pub const ZK_PORT: u16 = 2181;

/// The engine's timing in a run: slower than the process tests' so that a
/// machine busy with five nodes and the clients does not elect for nothing.
pub const ELECTION_TIMEOUT_MS: u64 = 1000;
const LEASE_MS: u64 = 800;
const HEARTBEAT_MS: u64 = 100;
const SNAPSHOT_INTERVAL_SLOTS: u64 = 2000;
/// ZooKeeper's tick: session timeouts may go from 2 to 20 ticks.
const ZK_TICK_MS: u64 = 500;

struct NodeProc {
    data_dir: PathBuf,
    config: PathBuf,
    clock_file: PathBuf,
    child: Option<Child>,
    starts: u32,
    paused: bool,
}

/// Every node's process and files.
pub struct Nodes {
    root: tempfile::TempDir,
    synod: PathBuf,
    nodes: BTreeMap<u64, NodeProc>,
    namespaces: BTreeMap<u64, String>,
    faketime: bool,
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Nodes {
    /// Writes certificates, configs and mounts each data directory; starts
    /// nothing.
    pub fn create(lab: &Lab, synod: &Path, ids: &[u64]) -> anyhow::Result<Nodes> {
        let root = tempfile::Builder::new()
            .prefix("synod-faults-")
            .tempdir()
            .context("creating the run's directory")?;
        let tls = root.path().join("tls");
        run(Command::new(synod)
            .args(["certs", "create-ca", "--dir"])
            .arg(&tls))?;
        let faketime = Path::new(LIBFAKETIME).exists();
        let mut nodes = Nodes {
            root,
            synod: synod.to_path_buf(),
            nodes: BTreeMap::new(),
            namespaces: ids.iter().map(|&id| (id, lab.ns(id))).collect(),
            faketime,
        };
        for &id in ids {
            run(Command::new(synod)
                .args(["certs", "create-node", "--dir"])
                .arg(&tls)
                .args(["--id", &id.to_string(), "--host", &lab.addr(id).to_string()]))?;
            let dir = nodes.root.path();
            let data_dir = dir.join(format!("n{id}"));
            std::fs::create_dir(&data_dir)?;
            run(Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={DATA_TMPFS_BYTES}")])
                .arg("tmpfs")
                .arg(&data_dir))?;
            let config = dir.join(format!("n{id}.toml"));
            let clock_file = dir.join(format!("n{id}.clock"));
            std::fs::write(&clock_file, "+0\n")?;
            std::fs::write(&config, config_text(lab, id, ids, &data_dir, &tls))?;
            nodes.nodes.insert(
                id,
                NodeProc {
                    data_dir,
                    config,
                    clock_file,
                    child: None,
                    starts: 0,
                    paused: false,
                },
            );
        }
        Ok(nodes)
    }

    /// Whether clock steps are possible (Debian's `faketime` is installed).
    pub fn can_step_clocks(&self) -> bool {
        self.faketime
    }

    /// The run's directory (configs, logs, certificates).
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// Starts node `id` (with `--init` the first time).
    pub fn start(&mut self, id: u64) -> anyhow::Result<()> {
        let ns = self.namespaces[&id].clone();
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if node.child.is_some() {
            bail!("node {id} is already running");
        }
        let log_path = self.root.path().join(format!("n{id}.{}.log", node.starts));
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &ns])
            .arg(&self.synod)
            .args(["server", "--config"])
            .arg(&node.config);
        if node.starts == 0 {
            command.arg("--init");
        }
        if self.faketime {
            command
                .env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", &node.clock_file)
                // The offset is read again at most every second; the
                // monotonic clock is left alone (real clocks step, they do
                // not run backwards in CLOCK_MONOTONIC).
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("DONT_FAKE_MONOTONIC", "1");
        }
        let child = command
            .env("RUST_LOG", "info")
            // A node that stops on an error says why in one line; no
            // backtrace of the error's construction after it.
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting synod server under ip netns exec")?;
        node.child = Some(child);
        node.starts += 1;
        node.paused = false;
        Ok(())
    }

    /// SIGKILLs node `id` (paused or not) and reaps it.
    pub fn kill9(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("a node");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    fn signal(&self, id: u64, signal: &str) -> anyhow::Result<()> {
        let node = &self.nodes[&id];
        let Some(child) = &node.child else {
            bail!("node {id} is not running");
        };
        run(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string()))
    }

    /// SIGSTOPs node `id`.
    pub fn pause(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, "STOP")?;
        self.nodes.get_mut(&id).expect("a node").paused = true;
        Ok(())
    }

    /// SIGCONTs node `id`.
    pub fn resume(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, "CONT")?;
        self.nodes.get_mut(&id).expect("a node").paused = false;
        Ok(())
    }

    /// Sets node `id`'s wall clock `offset_secs` away from the real one
    /// (takes effect within a second).
    pub fn set_clock(&mut self, id: u64, offset_secs: i64) -> anyhow::Result<()> {
        let node = &self.nodes[&id];
        let text = if offset_secs >= 0 {
            format!("+{offset_secs}\n")
        } else {
            format!("{offset_secs}\n")
        };
        std::fs::write(&node.clock_file, text)?;
        Ok(())
    }

    /// Fills node `id`'s data tmpfs to the last byte with a filler file.
    pub fn fill_disk(&mut self, id: u64) -> anyhow::Result<u64> {
        let path = self.nodes[&id].data_dir.join("filler");
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => return Err(e.into()),
            }
        }
        Ok(written)
    }

    /// Removes the filler of [`Nodes::fill_disk`].
    pub fn free_disk(&mut self, id: u64) -> anyhow::Result<()> {
        let path = self.nodes[&id].data_dir.join("filler");
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// True if node `id` has a process that has not exited.
    pub fn is_running(&mut self, id: u64) -> bool {
        let node = self.nodes.get_mut(&id).expect("a node");
        match &mut node.child {
            None => false,
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                _ => {
                    node.child = None;
                    false
                }
            },
        }
    }

    /// How many times node `id` has been started.
    pub fn starts(&self, id: u64) -> u32 {
        self.nodes[&id].starts
    }

    /// The last lines of node `id`'s newest log.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let node = &self.nodes[&id];
        let path = self
            .root
            .path()
            .join(format!("n{id}.{}.log", node.starts.saturating_sub(1)));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Every node's log lines that match `needle`, for the report.
    pub fn grep_logs(&self, needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.path()) else {
            return found;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".log") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            found.extend(
                text.lines()
                    .filter(|l| l.contains(needle))
                    .map(|l| format!("{name}: {l}")),
            );
        }
        found
    }

    /// Stops every process (resuming paused ones first) and unmounts.
    pub fn shutdown(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.kill9(id);
            let dir = self.nodes[&id].data_dir.clone();
            // A moment for the kernel to drop the killed process's files.
            for _ in 0..50 {
                let ok = Command::new("umount")
                    .arg(&dir)
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if ok || !is_mounted(&dir) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Keeps the run's directory instead of deleting it.
    pub fn keep(self) -> PathBuf {
        let mut this = self;
        this.shutdown();
        let root = std::mem::replace(
            &mut this.root,
            tempfile::tempdir().expect("a temporary directory"),
        );
        root.keep()
    }
}

fn is_mounted(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = dir.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(&*dir))
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn config_text(lab: &Lab, id: u64, ids: &[u64], data_dir: &Path, tls: &Path) -> String {
    let addr = lab.addr(id);
    let mut text = format!(
        "node_id = {id}\ncluster_id = 77\ndata_dir = \"{}\"\npeer_listen = \"{addr}:{PEER_PORT}\"\n\
         client_listen = \"{addr}:{CLIENT_PORT}\"\nzk_listen = \"{addr}:{ZK_PORT}\"\nworker_threads = 2\n",
        data_dir.display()
    );
    for &m in ids {
        let a = lab.addr(m);
        text.push_str(&format!(
            "\n[members.{m}]\npeer = \"{a}:{PEER_PORT}\"\nclient = \"{a}:{CLIENT_PORT}\"\n"
        ));
    }
    text.push_str(&format!(
        "\n[peer_tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls.join("ca.crt").display(),
        tls.join(format!("node-{id}.crt")).display(),
        tls.join(format!("node-{id}.key")).display(),
    ));
    text.push_str(&format!(
        "\n[engine]\nelection_timeout_ms = {ELECTION_TIMEOUT_MS}\nlease_ms = {LEASE_MS}\n\
         heartbeat_interval_ms = {HEARTBEAT_MS}\nsnapshot_interval_slots = {SNAPSHOT_INTERVAL_SLOTS}\n\
         \n[zk]\ntick_ms = {ZK_TICK_MS}\n"
    ));
    text
}
