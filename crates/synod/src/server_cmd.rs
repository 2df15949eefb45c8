//! `synod server`: one node, configured by a TOML file and flags.

use anyhow::Context;
use std::path::PathBuf;
use synod_server::ServerConfig;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The TOML configuration file (see crates/server/src/config.rs).
    #[arg(long)]
    config: PathBuf,
    /// Overrides `data_dir` from the file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `node_id` from the file.
    #[arg(long)]
    node_id: Option<u64>,
    /// Overrides `[engine] election_timeout_ms`.
    #[arg(long)]
    election_timeout_ms: Option<u64>,
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // tonic reports a client connection it closed for bad input
        // ("failed serving connection: ...") at debug level only.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,tonic::transport::server=debug")
        });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_logging();
    let mut cfg = ServerConfig::load(&args.config)?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if let Some(t) = args.election_timeout_ms {
        cfg.engine.election_timeout_ms = t;
    }
    cfg.validate()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(synod_server::serve(cfg, stop_signal()))
}
