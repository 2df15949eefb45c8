//! The crash tests bite: the random crash workload of `sim_crash.rs`,
//! run against deliberately broken recovery and a lying disk, reports a
//! violation within a few hundred seeds. Each bug is off in every other
//! test (`synod_wal::bugs::with_bug` turns it on for this thread only).

mod common;

use common::workload::{run, Workload};
use synod_wal::bugs::{with_bug, WalBug};

/// The first violation among seeds `0..300`, if any.
fn first_violation(fsync_lies: bool) -> Option<String> {
    (0..300).find_map(|seed| {
        run(&Workload {
            seed,
            steps: 120,
            fsync_lies,
        })
        .err()
    })
}

#[test]
fn a_recovery_that_leaves_a_torn_tail_in_place_is_caught() {
    let violation = with_bug(WalBug::KeepTornTail, || first_violation(false))
        .expect("appending after a torn tail must be caught");
    // The next recovery finds the torn bytes followed by valid records.
    assert!(violation.contains("open refused"), "{violation}");
    assert!(violation.contains("valid record follows"), "{violation}");
}

#[test]
fn a_recovery_that_skips_its_fsync_is_caught() {
    let violation = with_bug(WalBug::SkipRecoveryFsync, || first_violation(false))
        .expect("reporting page-cache records as durable must be caught");
    // Records an open returned are lost by a later power loss: either the
    // state goes back, or a snapshot saved on top of them outlives them.
    assert!(
        violation.contains("acknowledged ones") || violation.contains("covers the WAL up to"),
        "{violation}"
    );
}

#[test]
fn a_disk_whose_syncs_lie_is_caught() {
    let violation = first_violation(true).expect("lost acknowledged writes must be caught");
    assert!(violation.contains("acknowledged ones"), "{violation}");
}
