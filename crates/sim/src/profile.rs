//! Fault profiles: which faults a run injects and how hard.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    /// Nodes in the initial configuration (5 runs the majorities ring).
    pub nodes: usize,
    pub drop_p: f64,
    pub duplicate_p: f64,
    /// Network delay range in microseconds; a wide range reorders.
    pub delay_us: (u64, u64),
    pub partitions: bool,
    pub crashes: bool,
    /// A crash may leave any prefix of the unsynced writes, the last one
    /// torn (recovery drops it).
    pub torn_writes: bool,
    pub pauses: bool,
    /// Per-node clock drift bound in parts per million (at most the
    /// engine's `drift_ppm_max`).
    pub drift_ppm: u64,
    /// Membership changes: grow to five voters and shrink back.
    pub churn: bool,
    /// Mean time between fault events, microseconds.
    pub fault_every_us: u64,
}

impl Profile {
    pub const NAMES: [&'static str; 7] = [
        "calm",
        "lossy",
        "partitions",
        "crashes",
        "drift",
        "churn",
        "all",
    ];

    pub fn named(name: &str) -> Option<Profile> {
        let calm = Profile {
            name: "calm",
            nodes: 3,
            drop_p: 0.0,
            duplicate_p: 0.0,
            delay_us: (100, 1_000),
            partitions: false,
            crashes: false,
            torn_writes: false,
            pauses: false,
            drift_ppm: 0,
            churn: false,
            fault_every_us: 800_000,
        };
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
                drift_ppm: 50_000,
                churn: true,
                fault_every_us: 700_000,
            },
            _ => return None,
        };
        Some(p)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
