//! How patient the client is: timeouts, retry limits and backoff.

use std::time::Duration;

/// Settings of a [`Client`](crate::Client). `ClientOptions::default()` suits
/// a cluster on a local network.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long one request to one node may take before the client gives up
    /// on that node and tries another.
    pub request_timeout: Duration,
    /// How long opening a connection to one node may take.
    pub connect_timeout: Duration,
    /// How long one operation may take in total, over all its retries. Past
    /// it the operation fails with
    /// [`ClientError::NoLeader`](crate::ClientError::NoLeader).
    pub deadline: Duration,
    /// The most requests one operation sends, over all its retries; reaching
    /// it ends the operation like the deadline does.
    pub attempts_max: u32,
    /// The first pause between rounds of retries; each pause doubles it, up
    /// to `backoff_max`, and a random part of up to half is added so that
    /// many clients do not retry in lockstep.
    pub backoff_initial: Duration,
    /// The longest pause between retries. It bounds how late after an
    /// election a retrying client notices the new leader, so it is kept
    /// well below the election timeout (an election after a leader dies
    /// takes up to 1.5 of them).
    pub backoff_max: Duration,
    /// The most endpoints the client keeps: the ones given to
    /// [`Client::connect`](crate::Client::connect) plus leaders learned from
    /// redirects. A redirect to a new address past this bound is not
    /// followed; the client tries the endpoints it has instead.
    pub endpoints_max: usize,
    /// The client id carried by every write. `None` (the default) picks a
    /// random 64-bit id, which is what almost every caller wants: two
    /// clients must never share an id.
    pub client_id: Option<u64>,
    /// TLS to the gRPC ports (`[client_tls] grpc = true` on the servers):
    /// endpoints without a scheme become `https://`.
    pub tls: Option<ClientTls>,
    /// A bearer token sent with every request (`authorization: Bearer`),
    /// an identity for the servers' `[access]`.
    pub token: Option<String>,
}

/// The trust root and, optionally, the client certificate of a TLS client.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// PEM of the CA that signed the nodes' certificates.
    pub ca_pem: Vec<u8>,
    /// PEM of this client's certificate and key, when the servers ask for
    /// one (its common name is this client's identity).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
            attempts_max: 300,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
            endpoints_max: 64,
            client_id: None,
            tls: None,
            token: None,
        }
    }
}
