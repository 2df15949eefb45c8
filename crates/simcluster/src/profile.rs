//! Fault profiles: which faults a run injects and how hard. One type with
//! every knob; [`Profile::named`] is the list the key-value simulator
//! sweeps, and the coordination simulator takes the same profiles without
//! membership churn.

use crate::scheduler::Time;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    /// Nodes in the initial configuration (5 makes the majorities ring a
    /// real partition).
    pub nodes: usize,
    /// Probability that a peer message is lost.
    pub drop_p: f64,
    /// Probability that a peer message arrives twice.
    pub duplicate_p: f64,
    /// Peer message delay range in microseconds; a wide range reorders.
    pub delay_us: (Time, Time),
    pub partitions: bool,
    /// Crash nodes and restart them from their disks.
    pub crashes: bool,
    /// A crash may leave any prefix of the unsynced writes, the record
    /// after it torn (recovery drops it); otherwise all of them are lost.
    pub torn_writes: bool,
    /// Stop a process for a while (its sockets and disk carry on).
    pub pauses: bool,
    /// Disk failures: a write or fsync fails with EIO, a write lands in
    /// part, the disk fills up. The node stops, as the server does, and
    /// restarts from what its disk holds.
    pub disk_faults: bool,
    /// Per-node clock drift bound in parts per million (at most the
    /// engine's `drift_ppm_max`).
    pub drift_ppm: u64,
    /// Membership changes: grow to five voters and shrink back (only the
    /// key-value simulator has an operator that makes them).
    pub churn: bool,
    /// Mean time between fault events.
    pub fault_every_us: Time,
    /// What the simulator's clients send (each simulator reads it its own
    /// way).
    pub load: Load,
}

/// The clients' load a profile asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Small values, a few clients, one request at a time.
    Normal,
    /// Values of random sizes up to the byte limits (the largest command
    /// the engine takes, the largest value the front door takes), so that
    /// accept batches, promises, catch-up replies, forwards, snapshots and
    /// WAL records all meet their byte bounds.
    Big,
    /// Max-size commands, many sessions and pipelined clients: what one
    /// careless or hostile client can do to a cluster.
    Adversarial,
}

impl Profile {
    pub const NAMES: [&'static str; 9] = [
        "calm",
        "lossy",
        "partitions",
        "crashes",
        "drift",
        "churn",
        "all",
        "big",
        "adversarial",
    ];

    /// No faults: a fast network, no loss, no crashes, no drift.
    pub fn calm() -> Profile {
        Profile {
            name: "calm",
            nodes: 3,
            drop_p: 0.0,
            duplicate_p: 0.0,
            delay_us: (100, 1_000),
            partitions: false,
            crashes: false,
            torn_writes: false,
            pauses: false,
            disk_faults: false,
            drift_ppm: 0,
            churn: false,
            fault_every_us: 800_000,
            load: Load::Normal,
        }
    }

    pub fn named(name: &str) -> Option<Profile> {
        let calm = Profile::calm();
        let p = match name {
            "calm" => calm,
            "lossy" => Profile {
                name: "lossy",
                drop_p: 0.08,
                duplicate_p: 0.03,
                delay_us: (100, 30_000),
                ..calm
            },
            "partitions" => Profile {
                name: "partitions",
                nodes: 5,
                drop_p: 0.01,
                partitions: true,
                delay_us: (100, 5_000),
                ..calm
            },
            "crashes" => Profile {
                name: "crashes",
                crashes: true,
                torn_writes: true,
                pauses: true,
                disk_faults: true,
                delay_us: (100, 3_000),
                ..calm
            },
            "drift" => Profile {
                name: "drift",
                drift_ppm: 50_000,
                partitions: true,
                pauses: true,
                ..calm
            },
            "churn" => Profile {
                name: "churn",
                churn: true,
                crashes: true,
                drop_p: 0.01,
                fault_every_us: 1_000_000,
                ..calm
            },
            "all" => Profile {
                name: "all",
                nodes: 3,
                drop_p: 0.03,
                duplicate_p: 0.02,
                delay_us: (100, 10_000),
                partitions: true,
                crashes: true,
                torn_writes: true,
                pauses: true,
                disk_faults: true,
                drift_ppm: 50_000,
                churn: true,
                fault_every_us: 700_000,
                load: Load::Normal,
            },
            // Faults that make large messages hurt: loss and reordering
            // (resends of big batches), crashes and torn writes (large WAL
            // records and snapshots recovered), partitions (promises and
            // catch-up replies carrying many large values).
            "big" => Profile {
                name: "big",
                drop_p: 0.02,
                delay_us: (100, 5_000),
                partitions: true,
                crashes: true,
                torn_writes: true,
                disk_faults: true,
                fault_every_us: 1_000_000,
                load: Load::Big,
                ..calm
            },
            "adversarial" => Profile {
                name: "adversarial",
                drop_p: 0.01,
                delay_us: (100, 3_000),
                partitions: true,
                crashes: true,
                pauses: true,
                fault_every_us: 1_000_000,
                load: Load::Adversarial,
                ..calm
            },
            _ => return None,
        };
        Some(p)
    }

    /// Whether the network loses messages even without partitions.
    pub fn lossy(&self) -> bool {
        self.drop_p > 0.0
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_a_profile_of_that_name() {
        for name in Profile::NAMES {
            assert_eq!(Profile::named(name).expect("listed").name, name);
        }
        assert_eq!(Profile::named("nope"), None);
    }
}
