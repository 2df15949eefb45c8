//! One lock holder: the body of a `synod-faults chubby-holder` process,
//! which the harness starts inside a node's network namespace.
//!
//! It reads `phase <n>` lines on its standard input and exits when that
//! closes (so it never outlives the harness). In a loop it acquires one of
//! the phase's locks (`/chubby/p<n>-l<k>`, `k` at random), prints
//! `acquired <sequencer>`, writes to the fence every `WRITE_EVERY` for a
//! random hold, and releases. It never looks at its session before
//! writing: exactly the holder that a partition or a pause turns stale,
//! which only the fence can stop. When the release gets no answer (the
//! holder is cut off) it writes on for 1 to 2 s and tries again, until the
//! cluster answers (for at most `HELD_MAX`); it learns that its
//! session ended only from such an answer. A session the library calls
//! expired is opened again before the next acquisition.

use std::time::Duration;

use synod_client::lock::{LockError, LockOptions, LockSession, Mode, SessionState};
use synod_client::ClientOptions;
use synod_wal::SplitMix64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{LOCKS_PER_PHASE, LOCK_DELAY, SESSION_TIMEOUT};

/// The first argument that makes `synod-faults` a holder.
pub const HOLDER_ARG: &str = "chubby-holder";
/// How often a holder writes while it holds.
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// A hold lasts a random time in this range (ms).
const HOLD_MS: (u64, u64) = (300, 1500);
/// After a release that got no answer, the holder writes on for a random
/// time in this range (ms) before it tries again: a holder that cannot
/// reach the cell does not know whether it still holds, and works on.
const UNRELEASED_MS: (u64, u64) = (1000, 2000);
/// How long a holder goes on writing under one acquisition, at most
/// (its releases unanswered).
const HELD_MAX: Duration = Duration::from_secs(30);
/// How long a holder waits for a lock before it withdraws and asks again.
const WAIT_MAX: Duration = Duration::from_millis(2000);
/// The pause between a release and the next acquire (ms).
const PAUSE_MS: (u64, u64) = (50, 300);
/// How long the fence may take to answer one write.
const FENCE_ANSWER: Duration = Duration::from_secs(3);

/// A holder's arguments: `chubby-holder <id> <fence addr> <endpoint>...`.
pub struct HolderArgs {
    pub id: u64,
    pub fence: String,
    pub endpoints: Vec<String>,
}

impl HolderArgs {
    /// Parses the arguments after `HOLDER_ARG`.
    pub fn parse(args: &[String]) -> Option<HolderArgs> {
        let [id, fence, endpoints @ ..] = args else {
            return None;
        };
        if endpoints.is_empty() {
            return None;
        }
        Some(HolderArgs {
            id: id.parse().ok()?,
            fence: fence.clone(),
            endpoints: endpoints.to_vec(),
        })
    }
}

/// The holder's calls: short, so that a cut-off holder notices soon.
fn lock_options() -> LockOptions {
    LockOptions {
        client: ClientOptions {
            request_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(300),
            deadline: Duration::from_millis(1500),
            ..ClientOptions::default()
        },
        session_timeout: SESSION_TIMEOUT,
        grace: Duration::from_secs(3),
        // It reads nothing.
        cache: false,
        ..LockOptions::default()
    }
}

/// Runs a holder until its standard input closes; never returns.
pub fn main(args: HolderArgs) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (phase_tx, phase_rx) = watch::channel(None);
    // Standard input closed: the harness is done (or gone).
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(n) = line.trim().strip_prefix("phase ") {
                if let Ok(n) = n.parse::<u64>() {
                    phase_tx.send_replace(Some(n));
                }
            }
            line.clear();
        }
        std::process::exit(0);
    });
    runtime.block_on(hold_forever(args, phase_rx));
    unreachable!("hold_forever returns only by exiting")
}

async fn hold_forever(args: HolderArgs, mut phase: watch::Receiver<Option<u64>>) {
    let mut rng = SplitMix64(args.id.wrapping_mul(0x9e37_79b9) ^ u64::from(std::process::id()));
    let mut fence = Fence::new(args.fence.clone(), args.id);
    let mut session: Option<LockSession> = None;
    loop {
        let Ok(p) = phase
            .wait_for(Option::is_some)
            .await
            .map(|p| p.expect("some"))
        else {
            std::process::exit(0);
        };
        let s = match session.take() {
            Some(s) if s.state() != SessionState::Expired => s,
            _ => match LockSession::open(args.endpoints.clone(), lock_options()).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("holder {}: opening a session: {e}", args.id);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let path = format!("/chubby/p{p}-l{}", rng.below(LOCKS_PER_PHASE));
        match hold_once(&s, &path, &mut phase, &mut fence, &mut rng).await {
            Ok(()) => session = Some(s),
            // Cut off, or expired: abandoned (a new one is opened).
            Err(e) => {
                fence.note(&format!("{path}: {e}; session abandoned"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        pause(&mut rng, PAUSE_MS).await;
    }
}

/// Acquires `path` (or gives the wait up when the phase moves on), writes
/// under it, releases it.
async fn hold_once(
    session: &LockSession,
    path: &str,
    phase: &mut watch::Receiver<Option<u64>>,
    fence: &mut Fence,
    rng: &mut SplitMix64,
) -> Result<(), LockError> {
    let mut handle = session.open_lock(path).await?;
    let seq = tokio::select! {
        seq = handle.acquire(Mode::Exclusive, LOCK_DELAY) => seq?,
        // A wait parked on a leader that a partition then cut off moves
        // by itself once a new leader answers the session's keepalive
        // (the client library asks again there); one whose own node is
        // cut off cannot move. Given up after WAIT_MAX, it is asked anew
        // on whichever of the phase's locks comes next, so holds keep
        // coming on the majority side.
        _ = tokio::time::sleep(WAIT_MAX) => return withdraw(&mut handle).await,
        _ = phase.changed() => return withdraw(&mut handle).await,
    };
    println!("acquired {seq}");
    let mut stdout = tokio::io::stdout();
    let _ = stdout.flush().await;
    fence.note(&format!("acquired {seq}"));
    let mut span = HOLD_MS;
    let acquired = tokio::time::Instant::now();
    loop {
        let hold = Duration::from_millis(span.0 + rng.below(span.1 - span.0));
        fence.write_for(&seq, hold).await;
        match handle.release().await {
            Ok(()) => return Ok(()),
            // The cluster answered: the holding is over either way.
            Err(LockError::Failed { code, .. }) => {
                fence.note(&format!("release answered {code}"));
                return Ok(());
            }
            // No answer: still cut off. It may still hold, it thinks, and
            // writes on; it does not ask its session (a holder that did
            // would stop here, as Chubby's jeopardy says to).
            Err(LockError::Client(_)) if acquired.elapsed() < HELD_MAX => {
                fence.note("release unanswered: writing on");
                span = UNRELEASED_MS;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Withdraws a wait (or releases a grant that raced it). Unanswered, the
/// wait may still be granted later to a session that does not know it
/// holds: an error, so that the session is abandoned (it expires, and its
/// locks are free after their lock-delay).
async fn withdraw(handle: &mut synod_client::lock::LockHandle) -> Result<(), LockError> {
    match handle.release().await {
        // Answered: whatever it says, nothing is left waiting or held.
        Ok(()) | Err(LockError::Failed { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn pause(rng: &mut SplitMix64, (low, high): (u64, u64)) {
    tokio::time::sleep(Duration::from_millis(low + rng.below(high - low))).await;
}

/// The holder's connection to the fence.
struct Fence {
    addr: String,
    holder: u64,
    /// Writes answered `OK` and refused since the last note.
    ok: u64,
    refused: u64,
    conn: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )>,
}

impl Fence {
    fn new(addr: String, holder: u64) -> Fence {
        Fence {
            addr,
            holder,
            ok: 0,
            refused: 0,
            conn: None,
        }
    }

    /// Logs `what` with the writes answered since the last note.
    fn note(&mut self, what: &str) {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!(
            "{:.3} holder {}: {what} ({} writes accepted, {} refused before it)",
            since_epoch.as_secs_f64(),
            self.holder,
            self.ok,
            self.refused
        );
        (self.ok, self.refused) = (0, 0);
    }

    /// Writes with `seq` every `WRITE_EVERY` for `hold`, whatever the
    /// fence answers.
    async fn write_for(&mut self, seq: &str, hold: Duration) {
        let end = tokio::time::Instant::now() + hold;
        while tokio::time::Instant::now() < end {
            if let Err(e) = self.write(seq).await {
                eprintln!("holder {}: the fence: {e}", self.holder);
                self.conn = None;
            }
            tokio::time::sleep(WRITE_EVERY).await;
        }
    }

    async fn write(&mut self, seq: &str) -> anyhow::Result<()> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            let (read, write) = stream.into_split();
            self.conn = Some((BufReader::new(read), write));
        }
        let (read, write) = self.conn.as_mut().expect("connected above");
        write
            .write_all(format!("WRITE {} {seq}\n", self.holder).as_bytes())
            .await?;
        let mut answer = String::new();
        tokio::time::timeout(FENCE_ANSWER, read.read_line(&mut answer)).await??;
        if answer.is_empty() {
            anyhow::bail!("the fence closed the connection");
        }
        if answer.starts_with("OK") {
            self.ok += 1;
        } else {
            self.refused += 1;
        }
        Ok(())
    }
}
