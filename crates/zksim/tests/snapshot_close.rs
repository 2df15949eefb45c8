//! A bug this simulator found (and the server runtime now avoids): when a
//! node installs a snapshot from a peer while clients are connected to it
//! (it fell behind during a partition), its front door never sees the
//! triggers of the changes the snapshot covers, and those clients' watches
//! silently miss their events. The fix closes such connections, as
//! ZooKeeper does when a follower resyncs (`SimConfig::close_on_snapshot`,
//! on by default; the runtime does the same); here it is off, and the
//! watch oracle must catch the loss.

use synod_zksim::{run, Profile, SimConfig};

#[test]
fn a_snapshot_installed_under_connected_clients_loses_their_watch_events() {
    // Seed 1 of the partitions profile: n2 is cut off from the leader for
    // 1.8s, installs a snapshot at slot 240 (zxid 0xfa) with two client
    // connections open, and connection #2 never gets the Created event of
    // /w/n3 at zxid 0xb0.
    let mut cfg = SimConfig::new(1, Profile::named("partitions").expect("profile"));
    cfg.close_on_snapshot = false;
    let report = run(cfg);
    assert!(report.has("watches"), "{report}");
    let mut cfg = SimConfig::new(1, Profile::named("partitions").expect("profile"));
    cfg.close_on_snapshot = true;
    assert!(run(cfg).ok());
}
