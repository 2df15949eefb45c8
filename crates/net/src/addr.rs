//! Where a member listens: an IP address and port, or a DNS name and port.
//!
//! A name is resolved at every dial, never once at start: in Kubernetes a
//! StatefulSet's pod keeps its name (`synod-1.synod`) but gets a new IP
//! address each time it is rescheduled, and a peer that resolved it once
//! would dial the dead address for ever.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// `host:port`, where host is an IPv4 address, a bracketed IPv6 address or
/// a DNS name (letters, digits, `-`, `_` and `.`, at most 253 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPort {
    host: Host,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

/// The longest DNS name (RFC 1035, without the trailing dot).
const NAME_BYTES_MAX: usize = 253;

impl HostPort {
    /// The address, if the host is an IP address (no lookup needed).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as written, without brackets or port.
    pub fn host(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }

    /// A loopback IP address, or the name `localhost`.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
        }
    }

    /// The addresses to dial, in the resolver's order: the address itself
    /// for an IP, a fresh lookup for a name (an error if it resolves to
    /// nothing).
    pub async fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(name) => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), self.port))
                    .await?
                    .collect();
                if found.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{name} resolves to no address"),
                    ));
                }
                Ok(found)
            }
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        HostPort {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        let bad = |why: &str| Err(format!("`{s}` is not host:port: {why}"));
        let Some((host, port)) = s.rsplit_once(':') else {
            return bad("no port");
        };
        let Ok(port) = port.parse::<u16>() else {
            return bad("the port is not a number from 0 to 65535");
        };
        if host.is_empty() {
            return bad("no host");
        }
        if host.len() > NAME_BYTES_MAX {
            return bad("a DNS name has at most 253 bytes");
        }
        if host.starts_with('[') || host.contains(':') {
            return bad("an IPv6 address is written in brackets, as [::1]:7000");
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(HostPort {
                host: Host::Ip(ip),
                port,
            });
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !host.split('.').all(label_ok) {
            return bad(
                "a DNS name is dot-separated labels of 1 to 63 letters, digits, `-` or `_`",
            );
        }
        Ok(HostPort {
            host: Host::Name(host.to_ascii_lowercase()),
            port,
        })
    }
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<HostPort> for String {
    fn from(a: HostPort) -> String {
        a.to_string()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => SocketAddr::new(*ip, self.port).fmt(f),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_parse_and_print_back() {
        for s in [
            "127.0.0.1:7001",
            "[::1]:7001",
            "synod-0.synod.default.svc.cluster.local:7000",
            "localhost:1",
            "n_1:2181",
        ] {
            let a: HostPort = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let ip: HostPort = "10.0.0.1:7000".parse().unwrap();
        assert_eq!(ip.socket_addr(), Some("10.0.0.1:7000".parse().unwrap()));
        let name: HostPort = "Synod-0.Synod:7000".parse().unwrap();
        assert_eq!(name.socket_addr(), None);
        assert_eq!(name.to_string(), "synod-0.synod:7000");
        assert!("localhost:7".parse::<HostPort>().unwrap().is_loopback());
        assert!("127.0.0.2:7".parse::<HostPort>().unwrap().is_loopback());
        assert!(!name.is_loopback());
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_reason() {
        for (s, why) in [
            ("synod-0", "no port"),
            ("synod-0:", "port"),
            ("synod-0:70000", "port"),
            (":7000", "no host"),
            ("::1:7000", "brackets"),
            ("a..b:1", "labels"),
            ("-a:1", "labels"),
            ("a b:1", "labels"),
            ("a/b:1", "labels"),
        ] {
            let e = s.parse::<HostPort>().unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
        let long = format!("{}:1", "a.".repeat(127));
        assert!(long.parse::<HostPort>().unwrap_err().contains("253"));
    }

    #[tokio::test]
    async fn a_name_is_looked_up_at_each_resolve() {
        let a: HostPort = "localhost:7".parse().unwrap();
        let found = a.resolve().await.unwrap();
        assert!(found.iter().all(|s| s.ip().is_loopback() && s.port() == 7));
        let ip: HostPort = "10.1.2.3:9".parse().unwrap();
        assert_eq!(
            ip.resolve().await.unwrap(),
            vec!["10.1.2.3:9".parse().unwrap()]
        );
        let none: HostPort = "no-such-host.invalid:1".parse().unwrap();
        assert!(none.resolve().await.is_err());
    }
}
