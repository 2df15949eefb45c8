//! The set of nodes the client knows, each with a lazily connected channel.

use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::{ClientError, ClientOptions};

/// One node's client address and the channel to it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The normalized address, `http://host:port`.
    pub(crate) addr: String,
    /// A channel that connects on first use and reconnects after failures.
    pub(crate) channel: Channel,
}

/// The known nodes: the ones given at connect time, then leaders learned
/// from redirects, at most `max` in all.
#[derive(Debug)]
pub(crate) struct Endpoints {
    nodes: Vec<Node>,
    connect_timeout: Duration,
    /// TLS for every channel; endpoints without a scheme are `https`.
    tls: Option<ClientTlsConfig>,
    max: usize,
}

impl Endpoints {
    /// Makes the set; fails on an empty list or an invalid address. Needs a
    /// running tokio runtime (channels spawn a background task).
    pub(crate) fn new(
        addrs: Vec<String>,
        connect_timeout: Duration,
        max: usize,
        tls: Option<ClientTlsConfig>,
    ) -> Result<Endpoints, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        let mut set = Endpoints {
            nodes: Vec::new(),
            connect_timeout,
            tls,
            max: max.max(addrs.len()),
        };
        for addr in addrs {
            let addr = set.normalize(&addr);
            if set.position(&addr).is_none() {
                let node = set.open(addr)?;
                set.nodes.push(node);
            }
        }
        Ok(set)
    }

    /// The set for a client made with `options`: its connect timeout, its
    /// bound, and TLS to every node when `options.tls` is set. The one
    /// place both clients (plain and sharded) turn options into channels.
    pub(crate) fn for_options(
        addrs: Vec<String>,
        options: &ClientOptions,
    ) -> Result<Endpoints, ClientError> {
        let tls = options.tls.as_ref().map(|tls| {
            let mut config = ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(tls.ca_pem.clone()));
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            config
        });
        Endpoints::new(addrs, options.connect_timeout, options.endpoints_max, tls)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn get(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// The index of `addr`, adding it if it is new, valid and the set has
    /// room; `None` otherwise.
    pub(crate) fn find_or_add(&mut self, addr: &str) -> Option<usize> {
        let addr = self.normalize(addr);
        if let Some(index) = self.position(&addr) {
            return Some(index);
        }
        if self.nodes.len() >= self.max {
            return None;
        }
        let node = self.open(addr).ok()?;
        self.nodes.push(node);
        Some(self.nodes.len() - 1)
    }

    /// A node for `addr`: the known one, or a new one not added to the set.
    pub(crate) fn lookup_or_open(&self, addr: &str) -> Result<Node, ClientError> {
        let addr = self.normalize(addr);
        match self.position(&addr) {
            Some(index) => Ok(self.nodes[index].clone()),
            None => self.open(addr),
        }
    }

    fn position(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.addr == addr)
    }

    fn open(&self, addr: String) -> Result<Node, ClientError> {
        let endpoint =
            Endpoint::from_shared(addr.clone()).map_err(|err| ClientError::InvalidEndpoint {
                endpoint: addr.clone(),
                reason: err.to_string(),
            })?;
        let endpoint =
            match &self.tls {
                None => endpoint,
                Some(tls) => endpoint.tls_config(tls.clone()).map_err(|err| {
                    ClientError::InvalidEndpoint {
                        endpoint: addr.clone(),
                        reason: format!("TLS: {err}"),
                    }
                })?,
            };
        let channel = endpoint
            .connect_timeout(self.connect_timeout)
            .connect_lazy();
        Ok(Node { addr, channel })
    }
}

impl Endpoints {
    /// `normalize` with this set's scheme: `https` under TLS.
    fn normalize(&self, addr: &str) -> String {
        normalize(addr, if self.tls.is_some() { "https" } else { "http" })
    }
}

/// Adds `scheme://` when no scheme is given and drops trailing slashes, so
/// that the same node given two ways is one endpoint.
pub(crate) fn normalize(addr: &str, scheme: &str) -> String {
    let addr = addr.trim().trim_end_matches('/');
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{scheme}://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_adds_a_scheme_and_drops_trailing_slashes() {
        assert_eq!(normalize("127.0.0.1:7000", "http"), "http://127.0.0.1:7000");
        assert_eq!(
            normalize("127.0.0.1:7000", "https"),
            "https://127.0.0.1:7000"
        );
        assert_eq!(normalize(" http://h:1/ ", "https"), "http://h:1");
        assert_eq!(normalize("https://h:1", "http"), "https://h:1");
    }

    #[tokio::test]
    async fn the_same_node_given_twice_is_one_endpoint_and_the_set_is_bounded() {
        let addrs = vec!["127.0.0.1:1".to_string(), "http://127.0.0.1:1/".to_string()];
        let mut set = Endpoints::new(addrs, Duration::from_millis(10), 2, None).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.find_or_add("127.0.0.1:2"), Some(1));
        assert_eq!(set.find_or_add("http://127.0.0.1:2"), Some(1));
        assert_eq!(set.find_or_add("127.0.0.1:3"), None, "the bound is 2");
    }

    #[tokio::test]
    async fn no_endpoints_and_invalid_ones_are_errors() {
        let none = Endpoints::new(Vec::new(), Duration::from_millis(10), 8, None);
        assert!(matches!(none, Err(ClientError::NoEndpoints)));
        let bad = Endpoints::new(
            vec!["http://bad host".into()],
            Duration::from_millis(10),
            8,
            None,
        );
        assert!(matches!(bad, Err(ClientError::InvalidEndpoint { .. })));
    }
}
