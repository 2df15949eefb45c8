//! The Rust client library of synod's native key-value API.
//!
//! [`Client`] talks gRPC (the `synod.Kv` service of `synod-api`) to the
//! nodes it is given. It finds the leader and remembers it, follows "not
//! the leader" redirects, retries after timeouts and connection errors on
//! other nodes with backoff, and numbers every write with (client id,
//! sequence number) once, so a write retried after a timeout is applied
//! exactly once. Every failure is a [`ClientError`] whose message says what
//! to do.
//!
//! This crate owns only the client side: no server logic, no Paxos.
//!
//! ```no_run
//! # async fn example() -> Result<(), synod_client::ClientError> {
//! use synod_client::{CasOutcome, Client, ClientOptions};
//!
//! let endpoints = vec!["http://127.0.0.1:7000".to_string()];
//! let mut client = Client::connect(endpoints, ClientOptions::default()).await?;
//! client.put(b"config", b"v1").await?;
//! assert_eq!(client.get(b"config").await?, Some(b"v1".to_vec()));
//! match client.cas(b"config", Some(b"v1"), b"v2").await? {
//!     CasOutcome::Swapped => {}
//!     CasOutcome::Failed { current } => println!("someone else wrote {current:?}"),
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod endpoints;
mod error;
pub mod lock;
mod options;
pub mod shards;
mod status;

pub use client::{CasOutcome, Client, Reconfigure};
pub use error::{ClientError, TimedOut};
pub use lock::{LockHandle, LockOptions, LockSession, Mode, SessionState};
pub use options::{ClientOptions, ClientTls};
pub use shards::ShardClient;
pub use status::{Ballot, PeerStatus, Role, StatusReply};
