//! Fault profiles: which faults a run injects between the three nodes and
//! how hard. The names and knobs follow synod-sim's profiles; they are
//! repeated here (rather than imported) so this crate builds on the
//! engine's and the front door's public API alone, and membership churn is
//! left out because the coordination checks need a fixed three-node group.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub drop_p: f64,
    pub duplicate_p: f64,
    /// Peer message delay range in microseconds; a wide range reorders.
    pub delay_us: (u64, u64),
    pub partitions: bool,
    /// Crash and restart nodes; unsynced disk writes are lost (any prefix
    /// of them may survive, as after a torn write).
    pub crashes: bool,
    /// Stop a process for a while (its sockets stay open).
    pub pauses: bool,
    /// Per-node clock drift bound, parts per million.
    pub drift_ppm: u64,
    /// Mean time between fault events, microseconds.
    pub fault_every_us: u64,
}

impl Profile {
    pub const NAMES: [&'static str; 6] = ["calm", "lossy", "partitions", "crashes", "drift", "all"];

    pub fn named(name: &str) -> Option<Profile> {
        let calm = Profile {
            name: "calm",
            drop_p: 0.0,
            duplicate_p: 0.0,
            delay_us: (100, 1_000),
            partitions: false,
            crashes: false,
            pauses: false,
            drift_ppm: 0,
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
                drop_p: 0.01,
                partitions: true,
                delay_us: (100, 5_000),
                ..calm
            },
            "crashes" => Profile {
                name: "crashes",
                crashes: true,
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
            "all" => Profile {
                name: "all",
                drop_p: 0.03,
                duplicate_p: 0.02,
                delay_us: (100, 10_000),
                partitions: true,
                crashes: true,
                pauses: true,
                drift_ppm: 50_000,
                fault_every_us: 700_000,
            },
            _ => return None,
        };
        Some(p)
    }

    /// Whether the network loses messages even without partitions: such a
    /// safety phase is never quiet for the session-expiry oracle.
    pub fn lossy(&self) -> bool {
        self.drop_p > 0.0
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
