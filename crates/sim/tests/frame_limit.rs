//! The simulated network enforces the peer transport's frame limit: a
//! message the transport could never send is reported as a violation (the
//! engine must never produce one), not lost like any other message.

use synod_sim::{Profile, SimConfig};
use synod_simcluster::NetLimits;

#[test]
fn a_message_over_the_frame_limit_is_a_violation_not_a_silent_drop() {
    // With a 1 KiB frame limit, a catch-up reply to a replica that was
    // down or cut off soon needs more (under the real limits the largest
    // frames of a run are a few KiB).
    let run = |seed| {
        let mut cfg = SimConfig::new(seed, Profile::named("all").expect("exists"));
        cfg.net.frame_bytes_max = 1024;
        synod_sim::run(cfg)
    };
    let report = (1..=10)
        .map(run)
        .find(|r| r.violations.iter().any(|v| v.check == "frame-limit"))
        .expect("a frame-limit violation within 10 seeds");
    let frame = report
        .violations
        .iter()
        .find(|v| v.check == "frame-limit")
        .expect("found above");
    assert!(
        frame.detail.contains("over the transport's limit of 1024"),
        "{}",
        frame.detail
    );
    assert!(report.stats.cluster.net.dropped_oversized > 0);
}

#[test]
fn runs_use_the_transport_s_own_limits_and_stay_well_within_them() {
    let cfg = SimConfig::new(1, Profile::named("all").expect("exists"));
    assert_eq!(cfg.net, NetLimits::transport());
    let report = synod_sim::run(cfg);
    assert!(report.ok(), "{:?}", report.violations);
    let net = &report.stats.cluster.net;
    assert_eq!(net.dropped_oversized, 0);
    assert!(net.frame_bytes_max > 0);
    assert!(net.frame_bytes_max < NetLimits::transport().frame_bytes_max as u64);
}
