//! Same seed, same run: every frame a client receives and every replica
//! state digest hash to the same trace digest.

use synod_zksim::{profile, run, SimConfig};

#[test]
fn the_same_seed_replays_the_same_run() {
    for name in ["calm", "all"] {
        let profile = profile::named(name).expect("profile");
        let a = run(SimConfig::new(11, profile.clone()));
        let b = run(SimConfig::new(11, profile.clone()));
        assert_eq!(
            a.trace_digest, b.trace_digest,
            "{name}: seed 11 replayed differently"
        );
        assert_eq!(a.stats, b.stats);
        let c = run(SimConfig::new(12, profile));
        assert_ne!(
            a.trace_digest, c.trace_digest,
            "{name}: seeds 11 and 12 ran identically"
        );
    }
}
