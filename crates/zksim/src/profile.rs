//! Fault profiles of the coordination simulator: the shared profiles
//! (crates/simcluster) without membership churn, since the coordination
//! checks need a fixed three-node group.

pub use synod_simcluster::Profile;

pub const NAMES: [&str; 6] = ["calm", "lossy", "partitions", "crashes", "drift", "all"];

/// The profile called `name`, for three nodes and without churn.
pub fn named(name: &str) -> Option<Profile> {
    if !NAMES.contains(&name) {
        return None;
    }
    Profile::named(name).map(|p| Profile {
        nodes: 3,
        churn: false,
        ..p
    })
}
