//! Snapshot and restore: round trips, and corrupt snapshots refused with
//! the state kept.

use std::io::Write as _;

use synod_paxos::{SnapshotData, SnapshotWriter, StateMachine};
use synod_shard::{Settings, ShardController, ShardOp};

use crate::{controller, join, leave, run};

fn snapshot_of(c: &ShardController, chunk_bytes: usize) -> SnapshotData {
    let mut out = SnapshotWriter::new(chunk_bytes);
    c.snapshot(&mut out);
    out.finish()
}

/// `bytes` in chunks of 3, so every field is read across chunks.
fn chunked(bytes: &[u8]) -> SnapshotData {
    let mut out = SnapshotWriter::new(3);
    out.write_all(bytes).unwrap();
    out.finish()
}

fn busy_controller() -> ShardController {
    let mut c = controller();
    run(&mut c, &join(&[1, 2, 3]));
    run(&mut c, &ShardOp::Move { shard: 4, group: 2 });
    run(&mut c, &leave(&[1]));
    run(&mut c, &join(&[9]));
    c
}

#[test]
fn restore_of_a_snapshot_gives_an_equal_controller_and_digest() {
    let c = busy_controller();
    for chunk_bytes in [1, 7, 1 << 20] {
        let mut restored = ShardController::new(Settings::DEFAULT).unwrap();
        restored.restore(&snapshot_of(&c, chunk_bytes)).unwrap();
        assert_eq!(restored, c);
        assert_eq!(restored.digest(), c.digest());
        assert_eq!(restored.settings(), c.settings());
    }
}

#[test]
fn the_snapshot_is_bounded_by_the_history_limit() {
    let mut c = controller();
    for g in 1..=12 {
        run(&mut c, &join(&[g]));
        run(&mut c, &leave(&[g]));
    }
    let settings = *c.settings();
    let bound = settings.history_bytes_max + 64;
    assert!(snapshot_of(&c, 1 << 20).len() <= bound);
}

#[test]
fn restore_refuses_every_truncation_and_bit_flip_and_keeps_the_state() {
    let snapshot = snapshot_of(&busy_controller(), 1 << 20).to_vec();
    let mut target = controller();
    run(&mut target, &join(&[42]));
    let before = target.clone();
    for len in 0..snapshot.len() {
        assert!(
            target.restore(&chunked(&snapshot[..len])).is_err(),
            "len {len}"
        );
    }
    for i in 0..snapshot.len() {
        for bit in 0..8 {
            let mut flipped = snapshot.clone();
            flipped[i] ^= 1 << bit;
            assert!(
                target.restore(&chunked(&flipped)).is_err(),
                "flip {i}:{bit}"
            );
        }
    }
    let mut trailing = snapshot.clone();
    trailing.push(0);
    assert!(target.restore(&chunked(&trailing)).is_err());
    assert_eq!(target, before);
}

#[test]
fn restore_refuses_a_well_hashed_snapshot_that_breaks_an_invariant() {
    // Rebuild a snapshot by hand whose hash is right but whose config 1
    // leaves a shard unassigned while a group is joined.
    let c = busy_controller();
    let mut configs: Vec<synod_shard::Config> = c.history().cloned().collect();
    configs[1].shards[0] = synod_shard::UNASSIGNED;
    let body = bincode_body(c.settings(), &configs);
    let mut bytes = vec![synod_shard::SNAPSHOT_VERSION];
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&fnv(&body).to_le_bytes());
    let mut target = controller();
    let error = target.restore(&chunked(&bytes)).unwrap_err();
    assert!(error.to_string().contains("unassigned"), "{error}");
    assert_eq!(target, controller());
    // The same bytes with the good config restore: the refusal was the
    // invariant, not the framing.
    let configs: Vec<_> = c.history().cloned().collect();
    let body = bincode_body(c.settings(), &configs);
    let mut bytes = vec![synod_shard::SNAPSHOT_VERSION];
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&fnv(&body).to_le_bytes());
    target.restore(&chunked(&bytes)).unwrap();
    assert_eq!(target, c);
}

fn bincode_body(settings: &Settings, configs: &[synod_shard::Config]) -> Vec<u8> {
    use bincode::Options as _;
    bincode::DefaultOptions::new()
        .serialize(&(settings, configs))
        .unwrap()
}

fn fnv(bytes: &[u8]) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = synod_paxos::Fnv64::default();
    hasher.write(bytes);
    hasher.finish()
}

#[test]
fn restore_of_random_bytes_never_panics() {
    let mut rng = synod_paxos::Rng::new(11);
    let mut c = controller();
    for _ in 0..20_000 {
        let len = rng.range(0, 60) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if let Some(first) = bytes.first_mut() {
            *first = synod_shard::SNAPSHOT_VERSION;
        }
        assert!(c.restore(&chunked(&bytes)).is_err());
    }
    assert_eq!(c, controller());
}

/// A snapshot of `configs` under `settings`, framed and hashed correctly.
fn framed(settings: &Settings, configs: &[synod_shard::Config]) -> SnapshotData {
    let body = bincode_body(settings, configs);
    let mut bytes = vec![synod_shard::SNAPSHOT_VERSION];
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&fnv(&body).to_le_bytes());
    chunked(&bytes)
}

#[test]
fn restore_refuses_gaps_limits_and_bad_settings_even_when_well_hashed() {
    let c = busy_controller();
    let settings = *c.settings();
    let configs: Vec<synod_shard::Config> = c.history().cloned().collect();
    let mut gap = configs.clone();
    gap.remove(2);
    let mut too_many = configs.clone();
    while too_many.len() <= settings.history_configs_max as usize {
        let mut next = too_many.last().unwrap().clone();
        next.num += 1;
        too_many.push(next);
    }
    let mut wrong_count = configs.clone();
    wrong_count.last_mut().unwrap().shards.push(1);
    let mut bad_group = configs.clone();
    bad_group.last_mut().unwrap().groups.insert(5, Vec::new());
    let bad_settings = Settings {
        op_bytes_max: 0,
        ..settings
    };
    let cases = [
        ("gap", framed(&settings, &gap), "follows"),
        ("too many", framed(&settings, &too_many), "over its limits"),
        (
            "shard count",
            framed(&settings, &wrong_count),
            "shards, not",
        ),
        ("bad group", framed(&settings, &bad_group), "no servers"),
        ("empty", framed(&settings, &[]), "empty"),
        (
            "settings",
            framed(&bad_settings, &configs),
            "must be positive",
        ),
    ];
    let mut target = controller();
    for (name, snapshot, expected) in cases {
        let error = target.restore(&snapshot).unwrap_err().to_string();
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(target, controller(), "{name}");
    }
    target.restore(&framed(&settings, &configs)).unwrap();
    assert_eq!(target, c);
}

#[test]
fn the_largest_configuration_fits_the_bound_the_settings_promise() {
    let settings = Settings {
        op_bytes_max: 1 << 20,
        history_configs_max: 1,
        ..crate::small_settings()
    };
    let mut c = ShardController::new(settings).unwrap();
    // The largest ids take the most bytes in varint.
    let groups = (0..u64::from(settings.groups_max))
        .map(|i| {
            let servers = (0..settings.servers_per_group_max)
                .map(|s| format!("{s:x>16}"))
                .collect();
            (u64::MAX - i, servers)
        })
        .collect();
    let op = ShardOp::Join { groups };
    assert!(matches!(
        run(&mut c, &op),
        synod_shard::ShardReply::Reconfigured { .. }
    ));
    assert!(c.history_bytes() <= settings.config_bytes_max());
    // Short lengths take one byte, not the bound's nine: within 2x.
    assert!(c.history_bytes() * 2 > settings.config_bytes_max());
}
