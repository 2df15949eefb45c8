//! `synod lock`: Chubby's locks from the command line.
//!
//! - `synod lock acquire PATH [--shared] [--lock-delay-ms N] [--try]`
//!   opens a session, acquires (creating the lock's znode if absent),
//!   prints `sequencer: TEXT`, and holds the lock until its standard input
//!   closes or it gets SIGTERM (or SIGINT); then it releases, closes the
//!   session and exits 0. With `--try` it exits 2 at once if someone else
//!   holds or waits for the lock. If the session is lost while holding
//!   (jeopardy past the grace period, or the cluster says it expired) it
//!   prints `lost: ...` to standard error and exits 1: the lock may belong
//!   to someone else now.
//! - `synod lock check TEXT` exits 0 if the sequencer is valid, 1 if not
//!   (printing why).
//! - `synod lock status PATH` prints holders, mode, generation, waiters.

use std::time::Duration;

use anyhow::Context;
use synod_client::lock::{self, LockOptions, LockSession, Mode, SessionState};
use synod_client::Client;
use tokio::io::AsyncReadExt;

use crate::kv_cmd::{runtime, Endpoints};

/// Exit status of `acquire --try` when someone else has the lock.
pub const EXIT_CONFLICT: i32 = 2;

#[derive(clap::Args)]
pub struct LockArgs {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(subcommand)]
    command: LockCommand,
}

#[derive(clap::Subcommand)]
pub enum LockCommand {
    /// Acquire a lock, print its sequencer, hold it until standard input
    /// closes or SIGTERM, then release it.
    Acquire {
        /// The lock's znode path (created, with missing ancestors, if absent).
        path: String,
        /// Shared (reader) instead of exclusive (writer).
        #[arg(long)]
        shared: bool,
        /// How long the lock stays unavailable to others if this session
        /// ends without releasing it (at most 60000).
        #[arg(long, default_value_t = 10_000)]
        lock_delay_ms: u32,
        /// Exit 2 at once if someone else holds or waits for the lock.
        #[arg(long = "try")]
        try_acquire: bool,
        /// The session timeout asked for, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        session_timeout_ms: u64,
        /// How long to stay in jeopardy before giving the session up.
        #[arg(long, default_value_t = 45_000)]
        grace_ms: u64,
    },
    /// Exit 0 if the sequencer is still valid, 1 if not.
    Check {
        /// The sequencer's text (synod-seq1:...).
        sequencer: String,
    },
    /// Show a lock's holders, mode, generation and waiters.
    Status {
        /// The lock's znode path.
        path: String,
    },
}

pub fn run(args: LockArgs) -> anyhow::Result<()> {
    let rt = runtime()?;
    let code = rt.block_on(async move {
        let options = args.endpoints.options()?;
        let endpoints = args.endpoints.endpoints.clone();
        match args.command {
            LockCommand::Acquire {
                path,
                shared,
                lock_delay_ms,
                try_acquire,
                session_timeout_ms,
                grace_ms,
            } => {
                let options = LockOptions {
                    client: options,
                    session_timeout: Duration::from_millis(session_timeout_ms),
                    grace: Duration::from_millis(grace_ms),
                    // It reads nothing: no cache for a new leader to wait
                    // for.
                    cache: false,
                    ..LockOptions::default()
                };
                let mode = if shared {
                    Mode::Shared
                } else {
                    Mode::Exclusive
                };
                let delay = Duration::from_millis(lock_delay_ms.into());
                acquire(endpoints, options, &path, mode, delay, try_acquire).await
            }
            LockCommand::Check { sequencer } => {
                let mut client = Client::connect(endpoints, options).await?;
                match lock::check_sequencer(&mut client, &sequencer).await? {
                    Ok(()) => {
                        println!("valid");
                        Ok(0)
                    }
                    Err(why) => {
                        println!("invalid: {why}");
                        Ok(1)
                    }
                }
            }
            LockCommand::Status { path } => {
                let mut client = Client::connect(endpoints, options).await?;
                let s = lock::status(&mut client, &path).await?;
                print!("{}", status_text(&s));
                Ok(0)
            }
        }
    });
    // Not a plain drop: the standard input reader may still block in a
    // thread of the runtime's, and a drop would wait for it.
    rt.shutdown_background();
    std::process::exit(code?);
}

/// `synod lock status`'s text: the gRPC answer printed as the tree's
/// `LockStatus` prints itself (one `name value` pair a line).
fn status_text(s: &lock::LockState) -> String {
    use synod_coord::{LockMode, LockStatus};
    let mode_of = |shared: bool| {
        if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        }
    };
    let status = LockStatus {
        mode: match s.mode.as_str() {
            "exclusive" => Some(LockMode::Exclusive),
            "shared" => Some(LockMode::Shared),
            _ => None,
        },
        generation: s.generation,
        holders: s.holders.clone(),
        waiters: s
            .waiters
            .iter()
            .map(|w| (w.session, mode_of(w.shared)))
            .collect(),
        delayed_until_ms: s.lock_delay_until_ms,
    };
    format!("{status}\n")
}

async fn acquire(
    endpoints: Vec<String>,
    options: LockOptions,
    path: &str,
    mode: Mode,
    delay: Duration,
    try_acquire: bool,
) -> anyhow::Result<i32> {
    let session = LockSession::open(endpoints, options)
        .await
        .context("opening a lock session")?;
    let mut handle = session.open_lock(path).await?;
    let sequencer = if try_acquire {
        match handle.try_acquire(mode, delay).await? {
            Some(s) => s,
            None => {
                eprintln!("conflict: {path} is held or waited for by another session");
                let _ = session.close().await;
                return Ok(EXIT_CONFLICT);
            }
        }
    } else {
        handle.acquire(mode, delay).await?
    };
    println!("sequencer: {sequencer}");
    use std::io::Write as _;
    std::io::stdout().flush().ok();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let mut state = session.watch_state();
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let lost = async {
        loop {
            let now = *state.borrow_and_update();
            match now {
                SessionState::Jeopardy => {
                    eprintln!("jeopardy: no keepalive answer within the session lease; the lock may be lost")
                }
                SessionState::Safe => {}
                SessionState::Expired => return,
            }
            if state.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = stdin_closed => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        () = lost => {
            eprintln!("lost: the session expired; {path} may be held by someone else now");
            return Ok(1);
        }
    }
    handle.release().await?;
    session.close().await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    /// The client library's event bits are the lock door's: the server
    /// passes a subscription's `mask` through untouched, so the two lists
    /// (kept apart so the pure node needs no gRPC crate) must agree.
    #[test]
    fn the_clients_event_bits_are_the_doors() {
        use synod_client::lock::event;
        use synod_node::locks::mask;
        assert_eq!(
            [
                event::CONTENTS,
                event::CHILDREN,
                event::LOCK_ACQUIRED,
                event::CONFLICT,
                event::INVALID,
                event::ALL
            ],
            [
                mask::CONTENTS,
                mask::CHILDREN,
                mask::LOCK_ACQUIRED,
                mask::CONFLICT,
                mask::INVALID,
                mask::ALL
            ]
        );
    }
}
