//! Fault profiles of the coordination simulator: the shared profiles
//! (crates/simcluster) without membership churn, since the coordination
//! checks need a fixed three-node group. The profile's `load` tells the
//! clients what to send (`Load::Adversarial`: see `client.rs`).

pub use synod_simcluster::Profile;

pub const NAMES: [&str; 7] = [
    "calm",
    "lossy",
    "partitions",
    "crashes",
    "drift",
    "all",
    "adversarial",
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use synod_simcluster::Load;

    #[test]
    fn every_name_is_a_three_node_profile_without_churn() {
        for name in NAMES {
            let p = named(name).expect("listed");
            assert_eq!((p.name, p.nodes, p.churn), (name, 3, false));
        }
        assert_eq!(named("churn"), None);
        assert_eq!(
            named("adversarial").expect("listed").load,
            Load::Adversarial
        );
        assert!(named("all").expect("listed").disk_faults);
        assert!(named("crashes").expect("listed").disk_faults);
    }
}
