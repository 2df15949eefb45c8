//! Whatever was persisted comes back on reopen: the recovered state is the
//! engine's own replay of every persisted record, in order.

mod common;

use common::*;
use synod_paxos::{Ballot, DurableState, Record, Value};

#[test]
fn a_fresh_data_directory_recovers_the_empty_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_storage, state, report) = open(&dir.path().join("data"), small_options());
    assert_eq!(state, DurableState::default());
    assert_eq!(report.snapshot, None);
    assert_eq!(report.records_replayed, 0);
    assert_eq!(report.torn_tail, None);
    assert!(dir.path().join("data/wal").is_dir());
    assert!(dir.path().join("data/snap").is_dir());
}

#[test]
fn reopening_gives_the_replay_of_every_persisted_record() {
    for seed in 0..6 {
        for options in [small_options(), no_size_compaction()] {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut rng = SplitMix64(seed);
            let mut model = Vec::new();
            let mut progress = 0;
            for round in 0..3 {
                let (mut storage, state, _) = open(dir.path(), options.clone());
                assert_eq!(
                    state,
                    DurableState::replay(&model),
                    "seed {seed} round {round}"
                );
                let batches = random_batches(&mut rng, 40, 4, &mut progress);
                persist_grouped(&mut storage, &mut rng, &batches, &mut model);
                assert_eq!(
                    storage.state(),
                    &DurableState::replay(&model),
                    "seed {seed}"
                );
            }
            let (_, state, _) = open(dir.path(), options);
            assert_eq!(state, DurableState::replay(&model), "seed {seed} final");
        }
    }
}

#[test]
fn each_engine_record_is_one_wal_record_and_replay_counts_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = SplitMix64(7);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(dir.path(), no_size_compaction());
    let batches = without_snapshots(random_batches(&mut rng, 30, 5, &mut progress));
    persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    assert_eq!(storage.wal_last_index(), model.len() as u64);
    drop(storage);
    let (_, _, report) = open(dir.path(), no_size_compaction());
    assert_eq!(report.records_replayed, model.len() as u64);
    assert_eq!(report.wal_last_index, model.len() as u64);
}

#[test]
fn an_empty_persist_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut storage, _, _) = open(dir.path(), small_options());
    storage.persist(&[]).expect("persist nothing");
    storage.persist(&[&[], &[]]).expect("persist empty batches");
    assert_eq!(storage.wal_last_index(), 0);
}

#[test]
fn a_promise_and_an_accepted_value_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let promise = Record::Promise(Ballot::new(3, 2));
    let accept = Record::Accept {
        slot: 1,
        ballot: Ballot::new(3, 2),
        value: Value::Noop,
    };
    let (mut storage, _, _) = open(dir.path(), small_options());
    storage.persist(&[&[promise], &[accept]]).expect("persist");
    drop(storage);
    let (_, state, _) = open(dir.path(), small_options());
    assert_eq!(state.promised, Ballot::new(3, 2));
    assert_eq!(state.log[&1].ballot, Ballot::new(3, 2));
    assert_eq!(state.log[&1].value, Value::Noop);
}
