//! A private network on this machine: one network namespace per node, all
//! joined by a bridge in a hub namespace, and one link from the harness's
//! own namespace to the bridge for the clients. Partitions are blackhole
//! routes inside the node namespaces, so a cut drops packets silently (as a
//! real partition does: TCP retransmits, nothing is refused).
//!
//! Everything is created under names that carry the harness's process id and
//! removed when the [`Lab`] is dropped; namespaces left by a harness that
//! was killed are removed by the next one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context};

/// The prefix of every namespace a harness makes.
const PREFIX: &str = "synod-faults-";
/// The client link's address, last octet.
const CLIENT_OCTET: u8 = 254;

/// Runs `ip` with `args`; fails with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (Debian's iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip_lines(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The network of one run.
pub struct Lab {
    tag: String,
    subnet: [u8; 3],
    nodes: Vec<u64>,
    /// Directed cuts in force: (from, to) means `from` cannot send to `to`.
    cuts: BTreeSet<(u64, u64)>,
}

impl Lab {
    /// Creates the namespaces and links for `nodes`. Needs root.
    pub fn create(nodes: &[u64]) -> anyhow::Result<Lab> {
        remove_stale();
        let pid = std::process::id();
        // 10.213.x.0/24 with x from the pid: two harnesses at once do not
        // collide unless their pids agree modulo 250.
        let subnet = [10, 213, (pid % 250) as u8];
        let lab = Lab {
            tag: format!("{PREFIX}{pid}"),
            subnet,
            nodes: nodes.to_vec(),
            cuts: BTreeSet::new(),
        };
        // On failure, dropping `lab` removes what was made.
        lab.build()?;
        Ok(lab)
    }

    fn build(&self) -> anyhow::Result<()> {
        let hub = self.hub();
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        ip(&["-n", &hub, "link", "set", "lo", "up"])?;
        for &id in &self.nodes {
            let ns = self.ns(id);
            let port = format!("n{id}");
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &hub,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &port, "up"])?;
            let addr = format!("{}/24", self.addr(id));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        // The harness's link: its end stays in this namespace.
        let host_end = self.host_link();
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "client", "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", "client", "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", "client", "up"])?;
        let addr = format!("{}/24", self.client_addr());
        ip(&["addr", "add", &addr, "dev", &host_end])?;
        ip(&["link", "set", &host_end, "up"])?;
        Ok(())
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.tag)
    }

    /// The namespace node `id` runs in.
    pub fn ns(&self, id: u64) -> String {
        format!("{}-n{id}", self.tag)
    }

    fn host_link(&self) -> String {
        // Interface names have at most 15 bytes.
        format!("sf{}", std::process::id())
    }

    /// Node `id`'s address.
    pub fn addr(&self, id: u64) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, id as u8)
    }

    /// The clients' address (in the harness's namespace).
    pub fn client_addr(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, CLIENT_OCTET)
    }

    /// Cuts `from -> to`: packets `from` sends to `to` are dropped.
    pub fn cut(&mut self, from: u64, to: u64) -> anyhow::Result<()> {
        if from == to || !self.cuts.insert((from, to)) {
            return Ok(());
        }
        let dest = format!("{}/32", self.addr(to));
        ip(&["-n", &self.ns(from), "route", "add", "blackhole", &dest])
    }

    /// Cuts both directions between every node of `a` and every node of `b`.
    pub fn split(&mut self, a: &[u64], b: &[u64]) -> anyhow::Result<()> {
        for &x in a {
            for &y in b {
                self.cut(x, y)?;
                self.cut(y, x)?;
            }
        }
        Ok(())
    }

    /// Removes every cut.
    pub fn heal(&mut self) -> anyhow::Result<()> {
        for (from, to) in std::mem::take(&mut self.cuts) {
            let dest = format!("{}/32", self.addr(to));
            ip(&["-n", &self.ns(from), "route", "del", "blackhole", &dest])?;
        }
        Ok(())
    }

    /// The cuts in force, for the log.
    pub fn describe_cuts(&self) -> String {
        let cuts: Vec<String> = self.cuts.iter().map(|(a, b)| format!("{a}->{b}")).collect();
        cuts.join(" ")
    }

    fn teardown(&self) {
        let _ = ip(&["link", "del", &self.host_link()]);
        for &id in &self.nodes {
            let _ = ip(&["netns", "del", &self.ns(id)]);
        }
        let _ = ip(&["netns", "del", &self.hub()]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Removes the namespaces of harnesses that are no longer running.
fn remove_stale() {
    let Ok(list) = ip_lines(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
            let _ = ip(&["link", "del", &format!("sf{pid}")]);
        }
    }
}

/// Fails unless this process runs as root (it creates namespaces, links
/// and mounts).
pub fn require_root() -> anyhow::Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        bail!(
            "the fault harness needs root (it creates network namespaces, veth links and tmpfs mounts); \
             run it as root, as CI does"
        );
    }
    Ok(())
}
