//! Admission of a port's client sockets. Every open socket counts, from
//! accept to close (handshakes and idle sockets included), in all and per
//! IP address, so a flood of sockets cannot take the process's file
//! descriptors (and with them the one the next WAL segment needs). A
//! socket beyond either cap is closed at accept, before a byte is read,
//! and a warning says why, at most once a second (with the count refused
//! since the last one).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// A port's caps and the names the operator sets them by.
#[derive(Clone, Debug)]
pub struct GateLimits {
    /// Which port, for the log: "ZooKeeper", "gRPC".
    pub port: &'static str,
    /// Open sockets at most.
    pub sockets_max: usize,
    /// The config setting of `sockets_max`, for the log.
    pub sockets_knob: &'static str,
    /// Open sockets from one IP address at most; 0: no limit.
    pub per_ip_max: usize,
    /// The config setting of `per_ip_max`, for the log.
    pub per_ip_knob: &'static str,
}

/// The open sockets of one port.
#[derive(Clone)]
pub struct SocketGate {
    limits: GateLimits,
    admitted: Arc<Mutex<Admitted>>,
}

#[derive(Default)]
struct Admitted {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Refusals since the last warning.
    refused: u64,
    warned_at: Option<Instant>,
}

/// One socket's place; dropping it (when the connection ends) frees it.
pub struct Admission {
    ip: IpAddr,
    admitted: Arc<Mutex<Admitted>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut a = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
        a.total -= 1;
        if let Some(n) = a.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                a.per_ip.remove(&self.ip);
            }
        }
    }
}

impl SocketGate {
    pub fn new(limits: GateLimits) -> SocketGate {
        SocketGate {
            limits,
            admitted: Arc::default(),
        }
    }

    /// A place for a socket from `ip`, or why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<Admission, String> {
        let limits = &self.limits;
        let mut a = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = a.per_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if a.total >= limits.sockets_max {
            Some(format!(
                "{} client sockets are open, the limit ({})",
                a.total, limits.sockets_knob
            ))
        } else if limits.per_ip_max > 0 && from_ip >= limits.per_ip_max {
            Some(format!(
                "too many connections from {ip}: {from_ip} open, the limit ({})",
                limits.per_ip_knob
            ))
        } else {
            None
        };
        if let Some(why) = refusal {
            a.refused += 1;
            let now = Instant::now();
            if a.warned_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
            {
                warn!(client = %ip, refused = a.refused, "refusing {} connections: {why}", limits.port);
                a.refused = 0;
                a.warned_at = Some(now);
            } else {
                debug!(client = %ip, "refusing a {} connection: {why}", limits.port);
            }
            return Err(why);
        }
        a.total += 1;
        *a.per_ip.entry(ip).or_default() += 1;
        Ok(Admission {
            ip,
            admitted: self.admitted.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(sockets_max: usize, per_ip_max: usize) -> SocketGate {
        SocketGate::new(GateLimits {
            port: "test",
            sockets_max,
            sockets_knob: "[t] sockets_max",
            per_ip_max,
            per_ip_knob: "[t] per_ip_max",
        })
    }

    #[test]
    fn sockets_count_until_dropped_in_all_and_per_address() {
        let g = gate(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = g.admit(a).unwrap();
        let _a2 = g.admit(a).unwrap();
        let err = g.admit(a).err().unwrap();
        assert!(err.contains("[t] per_ip_max"), "{err}");
        let _b1 = g.admit(b).unwrap();
        let err = g.admit(b).err().unwrap();
        assert!(err.contains("[t] sockets_max"), "{err}");
        drop(a1);
        let _b2 = g.admit(b).unwrap();
    }

    #[test]
    fn no_per_address_cap_when_zero() {
        let g = gate(100, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..100).map(|_| g.admit(a).unwrap()).collect();
        assert!(g.admit(a).is_err());
        drop(held);
        assert!(g.admit(a).is_ok());
    }
}
