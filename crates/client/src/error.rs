//! The errors the client surfaces, each saying what went wrong and what to
//! do about it.

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node gave a definitive answer before the operation's deadline or
    /// attempt limit: none was the leader, none could be reached, or all
    /// stayed busy. A write that ends this way may or may not have been
    /// applied; read the key to find out.
    #[error(
        "no leader answered after {attempts} attempts (tried {tried:?}); last error: {last_error}. \
         Check that a majority of the nodes are running and reachable from here, then retry; \
         a write that failed this way may or may not have been applied"
    )]
    NoLeader {
        /// The endpoints tried, in the order first tried.
        tried: Vec<String>,
        /// The last failure seen, with the endpoint it came from.
        last_error: String,
        /// How many requests were sent.
        attempts: u32,
    },

    /// The cluster refused the request as invalid; sending it again will not
    /// help.
    #[error("the cluster rejected the request: {0}. Fix the request; retrying it unchanged will fail the same way")]
    Rejected(String),

    /// The write would take the cluster's key-value store past one of its
    /// caps (`[kv] keys_max` or `bytes_max`; the message names which and
    /// its value). It was refused before it was proposed, so nothing
    /// changed; sending it again fails the same way until keys are deleted
    /// or values shrunk (deletes are always taken), or the caps raised.
    #[error("the cluster's key-value store is full: {0}. The write was not applied")]
    QuotaExceeded(String),

    /// The cluster's `[access]` does not let this client's identity (its
    /// certificate or token) do this.
    #[error("permission denied: {0}. Use a client certificate or token with the right (see the README's Security section)")]
    PermissionDenied(String),

    /// The cluster has already applied a newer write from this client id,
    /// so this write was not applied and its reply is gone. This happens
    /// only when two clients share one client id.
    #[error(
        "stale sequence number: the cluster has already applied write {last_applied_seq} from client id \
         {client_id:#x}, so this write was not applied. Another client is using the same client id; \
         give each client its own id (or let the library pick a random one)"
    )]
    Stale {
        /// This client's id.
        client_id: u64,
        /// The newest sequence number the cluster applied for it.
        last_applied_seq: u64,
    },

    /// A request to one endpoint failed below the key-value protocol, where
    /// the client does not retry (only [`Client::status`](crate::Client::status)
    /// and connecting report this; key-value operations retry elsewhere and
    /// end in [`ClientError::NoLeader`]).
    #[error(
        "could not talk to {endpoint}: {source}. Check the address and that the node is running"
    )]
    Transport {
        /// The endpoint the request went to.
        endpoint: String,
        /// The underlying failure (a gRPC status, a connection error or a
        /// timeout).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An endpoint string is not a valid `http://host:port` address.
    #[error("invalid endpoint {endpoint:?}: {reason}. Give addresses like http://127.0.0.1:7000")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it was refused.
        reason: String,
    },

    /// [`Client::connect`](crate::Client::connect) was given no endpoints.
    #[error("no endpoints given. Pass the client address of at least one node")]
    NoEndpoints,

    /// A node answered something this client does not understand (a
    /// response without a result, or an unimplemented method). The client
    /// and server probably run incompatible versions.
    #[error(
        "protocol error from {endpoint}: {message}. Check that client and server versions match"
    )]
    Protocol {
        /// The endpoint that answered.
        endpoint: String,
        /// What was wrong with the answer.
        message: String,
    },

    /// A transaction of the sharded tier got no outcome before the
    /// client's deadline: it may or may not have committed (it may still
    /// commit). Read its keys to find out.
    #[error(
        "transaction {id} got no outcome in time: it may or may not have committed;          read its keys to find out"
    )]
    TxnUnknown {
        /// The transaction's sequence number at this client.
        id: u64,
    },
}

/// A request that got no answer within its per-request timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {timeout_ms} ms")]
pub struct TimedOut {
    /// The timeout that expired, in milliseconds.
    pub timeout_ms: u128,
}
