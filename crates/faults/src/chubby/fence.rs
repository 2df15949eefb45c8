//! The fenced resource: a small TCP server of the harness that takes
//! `WRITE <holder> <sequencer>` lines and answers `OK` or `STALE <why>`.
//!
//! It does what the Chubby paper (section 2.4) asks of a server that
//! cannot hold a session of its own: it accepts a write only if
//! (a) the sequencer's generation is at least the newest it has accepted
//! for that lock (Chubby's "compare generation numbers"), and (b) CheckSequencer
//! against the cluster (a linearizable read through the leader) says the
//! sequencer is still valid. A check that gets no answer refuses the write.
//! Every judged write is recorded with the time its check started, for
//! the checker (`check::check`).
//!
//! Limits: lines longer than `LINE_BYTES_MAX` close the connection; one
//! check per write, within the client's deadline (`check_options`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::HashMap;
use synod_client::{Client, ClientOptions};
use synod_coord::Sequencer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::check::{Verdict, Write};
use crate::history::Ctx;

/// The longest line a holder may send (a sequencer of a short path).
const LINE_BYTES_MAX: usize = 4096;

/// The newest generation accepted, per lock path.
type Newest = Arc<Mutex<HashMap<String, u64>>>;

/// What the fence saw, shared with the harness.
pub type Ledger = Arc<Mutex<Vec<Write>>>;

/// The checks' client: short, so that a check caught by an election
/// refuses its write rather than stalls the holder for long.
fn check_options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(300),
        deadline: Duration::from_millis(1000),
        ..ClientOptions::default()
    }
}

/// Listens on `addr` (port 0: any); returns the address holders write to.
pub async fn start(
    addr: SocketAddr,
    endpoints: Vec<String>,
    ctx: Ctx,
    ledger: Ledger,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let fence: Newest = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(
                conn,
                endpoints.clone(),
                ctx.clone(),
                fence.clone(),
                ledger.clone(),
            ));
        }
    });
    Ok(local)
}

/// One holder's connection: its writes, one at a time.
async fn serve(conn: TcpStream, endpoints: Vec<String>, ctx: Ctx, fence: Newest, ledger: Ledger) {
    let Ok(mut client) = Client::connect(endpoints, check_options()).await else {
        return;
    };
    let (read, mut out) = conn.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if line.len() > LINE_BYTES_MAX => return,
            Ok(_) => {}
        }
        let answer = match parse(&line) {
            Some((holder, seq)) => {
                let verdict = judge(&mut client, &fence, &ctx, &ledger, holder, &seq).await;
                match verdict {
                    Verdict::Accepted => "OK".to_string(),
                    Verdict::Older { newest } => format!("STALE older than generation {newest}"),
                    Verdict::Invalid(code) => format!("STALE invalid {code}"),
                    Verdict::Unanswered => "STALE unanswered".to_string(),
                }
            }
            None => "BAD".to_string(),
        };
        if out
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// `WRITE <holder> <sequencer>`.
fn parse(line: &str) -> Option<(u64, Sequencer)> {
    let mut words = line.split_whitespace();
    let (Some("WRITE"), Some(holder), Some(seq), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    Some((holder.parse().ok()?, seq.parse().ok()?))
}

/// Judges one write and records it.
async fn judge(
    client: &mut Client,
    fence: &Newest,
    ctx: &Ctx,
    ledger: &Ledger,
    holder: u64,
    seq: &Sequencer,
) -> Verdict {
    let newest = |fence: &Newest| {
        let newest = fence.lock().expect("fence lock");
        newest.get(&seq.path).copied().unwrap_or(0)
    };
    let mut check_started = ctx.now();
    let verdict = match newest(fence) {
        newest if newest > seq.generation => Verdict::Older { newest },
        _ => {
            check_started = ctx.now();
            match synod_client::lock::check_sequencer(client, &seq.to_string()).await {
                Err(_) => Verdict::Unanswered,
                Ok(Err(invalid)) => Verdict::Invalid(invalid.code),
                // Compared again, and the newest raised, under one lock:
                // another write may have been accepted meanwhile.
                Ok(Ok(())) => {
                    let mut all = fence.lock().expect("fence lock");
                    let newest = all.entry(seq.path.clone()).or_insert(0);
                    if *newest > seq.generation {
                        Verdict::Older { newest: *newest }
                    } else {
                        *newest = seq.generation;
                        Verdict::Accepted
                    }
                }
            }
        }
    };
    ledger.lock().expect("ledger lock").push(Write {
        lock: seq.path.clone(),
        holder,
        generation: seq.generation,
        check_started,
        verdict: verdict.clone(),
    });
    verdict
}
