//! The faults, each injected for a while and then healed.

use std::fmt;

use anyhow::Context;

use crate::lab::Lab;
use crate::procs::Nodes;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No fault: the baseline.
    None,
    /// The nodes split in two halves (2 | 3 of 5), both ways.
    PartitionHalves,
    /// The leader cut off from every other node.
    IsolateLeader,
    /// Every node sees a majority, no two the same one (node i talks to
    /// i-1 and i+1 only, around a ring).
    MajoritiesRing,
    /// The leader's packets to every other node dropped; theirs still reach
    /// it.
    OneWay,
    /// SIGSTOP of the leader, SIGCONT at the heal.
    PauseLeader,
    /// SIGSTOP of a follower, SIGCONT at the heal.
    PauseFollower,
    /// kill -9 of the leader and of a follower, both restarted at the heal.
    Kill,
    /// The leader's wall clock jumps an hour ahead, then half an hour
    /// behind, then back at the heal.
    ClockStep,
    /// The leader's data disk filled to the last byte; freed (and the node
    /// restarted if it stopped) at the heal.
    DiskFull,
}

pub const ALL: [Fault; 10] = [
    Fault::None,
    Fault::PartitionHalves,
    Fault::IsolateLeader,
    Fault::MajoritiesRing,
    Fault::OneWay,
    Fault::PauseLeader,
    Fault::PauseFollower,
    Fault::Kill,
    Fault::ClockStep,
    Fault::DiskFull,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::PartitionHalves => "partition-halves",
            Fault::IsolateLeader => "isolate-leader",
            Fault::MajoritiesRing => "majorities-ring",
            Fault::OneWay => "one-way",
            Fault::PauseLeader => "pause-leader",
            Fault::PauseFollower => "pause-follower",
            Fault::Kill => "kill",
            Fault::ClockStep => "clock-step",
            Fault::DiskFull => "disk-full",
        }
    }

    pub fn parse(name: &str) -> Option<Fault> {
        ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether sessions may expire under this fault: not when only a
    /// clock moves or nothing happens (a session whose owner keeps it alive
    /// must then live on).
    pub fn may_expire_sessions(self) -> bool {
        !matches!(self, Fault::None | Fault::ClockStep)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an injected fault needs at its heal.
pub struct Injected {
    pub description: String,
    paused: Vec<u64>,
    killed: Vec<u64>,
    clock: Option<u64>,
    disk: Option<u64>,
}

/// Injects `fault`. `leader` is the leader now (if one is known), `ids`
/// every node.
pub fn inject(
    fault: Fault,
    lab: &mut Lab,
    nodes: &mut Nodes,
    ids: &[u64],
    leader: u64,
    pick: u64,
) -> anyhow::Result<Injected> {
    let mut injected = Injected {
        description: String::new(),
        paused: Vec::new(),
        killed: Vec::new(),
        clock: None,
        disk: None,
    };
    let others: Vec<u64> = ids.iter().copied().filter(|&i| i != leader).collect();
    let follower = others[(pick as usize) % others.len()];
    match fault {
        Fault::None => injected.description = "nothing".into(),
        Fault::PartitionHalves => {
            // The leader in the smaller half, so that the larger one must
            // elect.
            let small: Vec<u64> = vec![leader, follower];
            let big: Vec<u64> = ids.iter().copied().filter(|i| !small.contains(i)).collect();
            lab.split(&small, &big)?;
            injected.description = format!("{small:?} | {big:?}");
        }
        Fault::IsolateLeader => {
            lab.split(&[leader], &others)?;
            injected.description = format!("[{leader}] | {others:?}");
        }
        Fault::MajoritiesRing => {
            let n = ids.len();
            for (i, &a) in ids.iter().enumerate() {
                for (j, &b) in ids.iter().enumerate() {
                    let near = (i + 1) % n == j || (j + 1) % n == i;
                    if i != j && !near {
                        lab.cut(a, b)?;
                    }
                }
            }
            injected.description = format!("ring {ids:?}: {}", lab.describe_cuts());
        }
        Fault::OneWay => {
            for &o in &others {
                lab.cut(leader, o)?;
            }
            injected.description = format!("{leader} -> {others:?} dropped");
        }
        Fault::PauseLeader => {
            nodes.pause(leader)?;
            injected.paused.push(leader);
            injected.description = format!("SIGSTOP {leader} (leader)");
        }
        Fault::PauseFollower => {
            nodes.pause(follower)?;
            injected.paused.push(follower);
            injected.description = format!("SIGSTOP {follower}");
        }
        Fault::Kill => {
            nodes.kill9(leader);
            nodes.kill9(follower);
            injected.killed = vec![leader, follower];
            injected.description = format!("kill -9 {leader} (leader) and {follower}");
        }
        Fault::ClockStep => {
            nodes.set_clock(leader, 3600)?;
            injected.clock = Some(leader);
            injected.description = format!("wall clock of {leader} (leader) +1h, then -30min");
        }
        Fault::DiskFull => {
            let bytes = nodes.fill_disk(leader)?;
            injected.disk = Some(leader);
            injected.description = format!(
                "data disk of {leader} (leader) full ({} MiB of filler)",
                bytes >> 20
            );
        }
    }
    Ok(injected)
}

impl Injected {
    /// The nodes this fault may stop: the killed ones, and the one whose
    /// disk it filled (a node stops on a failed write, by design).
    pub fn may_stop(&self) -> Vec<u64> {
        self.killed.iter().copied().chain(self.disk).collect()
    }

    /// The node whose disk was filled, if any.
    pub fn disk(&self) -> Option<u64> {
        self.disk
    }
}

/// The second half of a fault that changes on the way (the clock step
/// goes backwards).
pub fn midway(injected: &Injected, nodes: &mut Nodes) -> anyhow::Result<()> {
    if let Some(id) = injected.clock {
        nodes.set_clock(id, -1800)?;
    }
    Ok(())
}

/// Heals what [`inject`] did. Returns the nodes that had to be started
/// again (killed, or stopped by the fault).
pub fn heal(
    injected: &Injected,
    lab: &mut Lab,
    nodes: &mut Nodes,
    ids: &[u64],
) -> anyhow::Result<Vec<u64>> {
    lab.heal()?;
    for &id in &injected.paused {
        nodes.resume(id)?;
    }
    if let Some(id) = injected.clock {
        nodes.set_clock(id, 0)?;
    }
    if let Some(id) = injected.disk {
        nodes.free_disk(id)?;
    }
    let mut restarted = Vec::new();
    for &id in ids {
        if !nodes.is_running(id) {
            nodes
                .start(id)
                .with_context(|| format!("restarting node {id}"))?;
            restarted.push(id);
        }
    }
    Ok(restarted)
}
