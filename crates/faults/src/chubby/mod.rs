//! The Chubby lock workload: lock holders as separate OS processes, each
//! inside one node's network namespace, writing to a fenced resource of
//! the harness (the Chubby paper's section 2.4, on a real network).
//!
//! A holder (`holder`) is this binary run again as `synod-faults
//! chubby-holder`, under `ip netns exec` in node `i`'s namespace: it
//! shares that node's fate in a partition (the blackhole routes there cut
//! it off from the nodes its node cannot reach), while the fence (`fence`)
//! and its CheckSequencer calls run in the harness's namespace and reach
//! every node. A holder on the cut-off side keeps writing with its old
//! sequencer after its session has expired and the lock has moved on:
//! those are the stale attempts the fence must refuse. Holders use the
//! Rust lock client (`synod_client::lock`), with a short session timeout
//! (`SESSION_TIMEOUT`) and lock-delay (`LOCK_DELAY`), so that stale
//! holders appear within a fault of a few seconds.
//!
//! Why namespaces and not one endpoint per holder: the lock API is served
//! by the leader only (a follower answers with a redirect), and a client
//! in the harness's namespace that follows the redirect reaches the leader
//! around any cut; inside its node's namespace a holder reaches exactly
//! the nodes its node reaches.
//!
//! The harness tells the holders the phase on their standard input and
//! reads `acquired <sequencer>` lines from their standard output, noting
//! when it heard each; `check` judges each phase's history.

pub mod check;
pub mod fence;
pub mod holder;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use synod_coord::Sequencer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};

use crate::history::Ctx;
use crate::lab::Lab;
use check::{Acquisition, Write};

/// The holders' session timeout: short, so that a cut-off holder's session
/// expires within a fault of 4 s (the servers' minimum is 2 ticks, 1 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_millis(2000);
/// How long a lock stays unavailable after its holder's session ended.
pub const LOCK_DELAY: Duration = Duration::from_millis(1000);
/// Locks per phase (`/chubby/p<phase>-l<k>`): each holder picks one at
/// random per acquisition, so that most holders hold something most of
/// the time, whichever node a fault cuts off.
pub const LOCKS_PER_PHASE: u64 = 3;
/// How long the holders may take to exit once told to.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// Output lines kept from a holder that are not reports, for the report.
const STRAY_LINES_MAX: usize = 5;

/// The lock path's phase, if it is one of the workload's.
pub fn phase_of(lock: &str) -> Option<usize> {
    let rest = lock.strip_prefix("/chubby/p")?;
    rest.split('-').next()?.parse().ok()
}

/// What the holders reported and the fence recorded.
#[derive(Default)]
pub struct Outcome {
    pub acquisitions: Vec<Acquisition>,
    pub writes: Vec<Write>,
    /// Problems of the workload itself (a holder that died, stray output).
    pub notes: Vec<String>,
}

/// The running workload.
pub struct ChubbyRun {
    holders: Vec<(u64, Child, Option<ChildStdin>)>,
    readers: Vec<tokio::task::JoinHandle<Vec<String>>>,
    acquisitions: Arc<Mutex<Vec<Acquisition>>>,
    ledger: fence::Ledger,
}

impl ChubbyRun {
    /// Starts the fence on the harness's address and `holders` holder
    /// processes, holder `h` in the namespace of node `ids[h % n]`.
    pub async fn start(
        lab: &Lab,
        ids: &[u64],
        grpc: &[String],
        holders: u64,
        ctx: &Ctx,
        dir: &Path,
    ) -> anyhow::Result<ChubbyRun> {
        let ledger = fence::Ledger::default();
        let addr = SocketAddr::new(lab.client_addr().into(), 0);
        let fence = fence::start(addr, grpc.to_vec(), ctx.clone(), ledger.clone())
            .await
            .context("starting the fence")?;
        let exe = std::env::current_exe().context("finding this binary to run holders")?;
        let mut run = ChubbyRun {
            holders: Vec::new(),
            readers: Vec::new(),
            acquisitions: Arc::default(),
            ledger,
        };
        for h in 0..holders {
            let home = (h as usize) % ids.len();
            // Its own node first: that is where it goes when all is well.
            let mut endpoints = grpc.to_vec();
            endpoints.rotate_left(home);
            let mut child = tokio::process::Command::new("ip")
                .args(["netns", "exec", &lab.ns(ids[home])])
                .arg(&exe)
                .arg(holder::HOLDER_ARG)
                .arg((h + 1).to_string())
                .arg(fence.to_string())
                .args(&endpoints)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(
                    dir.join(format!("chubby-holder-{}.log", h + 1)),
                )?)
                .kill_on_drop(true)
                .spawn()
                .context("starting a chubby holder under ip netns exec")?;
            let stdout = child.stdout.take().context("a holder's stdout")?;
            let stdin = child.stdin.take();
            run.readers.push(tokio::spawn(read_reports(
                h + 1,
                stdout,
                ctx.clone(),
                run.acquisitions.clone(),
            )));
            run.holders.push((h + 1, child, stdin));
        }
        Ok(run)
    }

    /// Tells every holder the phase.
    pub async fn set_phase(&mut self, phase: usize) -> anyhow::Result<()> {
        for (id, child, stdin) in &mut self.holders {
            let Some(pipe) = stdin else { continue };
            if pipe
                .write_all(format!("phase {phase}\n").as_bytes())
                .await
                .is_err()
            {
                // It died; `finish` reports how.
                *stdin = None;
                let _ = child.start_kill();
                eprintln!("faults: chubby holder {id} is gone");
            }
        }
        Ok(())
    }

    /// Closes the holders' standard input, waits for them to exit (kills
    /// the late ones) and returns what was recorded.
    pub async fn finish(mut self) -> Outcome {
        let mut notes = Vec::new();
        for (_, _, stdin) in &mut self.holders {
            drop(stdin.take());
        }
        for (id, mut child, _) in self.holders.drain(..) {
            match tokio::time::timeout(EXIT_WAIT, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => notes.push(format!("holder {id} exited with {status}")),
                Ok(Err(e)) => notes.push(format!("holder {id}: waiting for it: {e}")),
                Err(_) => {
                    let _ = child.kill().await;
                    notes.push(format!(
                        "holder {id} did not exit within {} s of its stdin closing",
                        EXIT_WAIT.as_secs()
                    ));
                }
            }
        }
        for reader in self.readers.drain(..) {
            if let Ok(stray) = reader.await {
                notes.extend(stray);
            }
        }
        let acquisitions = std::mem::take(&mut *self.acquisitions.lock().expect("lock"));
        let writes = std::mem::take(&mut *self.ledger.lock().expect("lock"));
        Outcome {
            acquisitions,
            writes,
            notes,
        }
    }
}

/// Reads a holder's reports until its stdout closes; returns the first
/// few lines that are not reports.
async fn read_reports(
    holder: u64,
    stdout: tokio::process::ChildStdout,
    ctx: Ctx,
    acquisitions: Arc<Mutex<Vec<Acquisition>>>,
) -> Vec<String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut stray = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let heard = ctx.now();
        match parse_report(&line) {
            Some(seq) => acquisitions.lock().expect("lock").push(Acquisition {
                lock: seq.path,
                generation: seq.generation,
                holder,
                heard,
            }),
            None if stray.len() < STRAY_LINES_MAX => {
                stray.push(format!("holder {holder} printed {line:?}, not a report"))
            }
            None => {}
        }
    }
    stray
}

/// `acquired <sequencer>`.
fn parse_report(line: &str) -> Option<Sequencer> {
    let seq = line.trim().strip_prefix("acquired ")?;
    seq.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_parsed_and_anything_else_is_not_one() {
        let seq = parse_report("acquired synod-seq1:x:7:000000000000002a:/chubby/p3-l1\n")
            .expect("a report");
        assert_eq!((seq.path.as_str(), seq.generation), ("/chubby/p3-l1", 7));
        assert_eq!(phase_of(&seq.path), Some(3));
        for stray in [
            "",
            "acquired",
            "acquired nonsense",
            "sequencer: x",
            "acquired  ",
        ] {
            assert!(parse_report(stray).is_none(), "{stray:?}");
        }
        assert_eq!(phase_of("/locks/p3"), None);
    }
}
