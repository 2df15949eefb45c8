//! Whatever was persisted comes back on reopen: the recovered state is the
//! engine's own replay of every persisted record, in order.

mod common;

use common::*;
use synod_paxos::{Ballot, DurableState, Record, Value};
use synod_storage::NodeStorage;

fn a_fresh_data_directory_recovers_the_empty_state(backend: Backend) {
    let disk = disk(backend);
    let data = disk.root().join("nested/data");
    let (storage, state, report) =
        NodeStorage::open_with_fs(disk.fs.clone(), &data, small_options()).expect("open");
    assert_eq!(state, DurableState::default());
    assert_eq!(report.snapshot, None);
    assert_eq!(report.records_replayed, 0);
    assert_eq!(report.torn_tail, None);
    assert!(disk.fs.is_dir(&data.join("wal")));
    assert!(disk.fs.is_dir(&data.join("snap")));
    if let Some(sim) = &disk.sim {
        // Every directory level was made durable as it was created.
        drop(storage);
        sim.crash(synod_wal::CrashPlan::LoseUnsynced);
        assert!(disk.fs.is_dir(&data.join("wal")));
        assert!(disk.fs.is_dir(&data.join("snap")));
    }
}

fn reopening_gives_the_replay_of_every_persisted_record(backend: Backend) {
    for seed in 0..6 {
        for options in [small_options(), no_size_compaction()] {
            let disk = disk(backend);
            let mut rng = SplitMix64(seed);
            let mut model = Vec::new();
            let mut progress = 0;
            for round in 0..3 {
                let (mut storage, state, _) = open(&disk, options.clone());
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
            let (_, state, _) = open(&disk, options);
            assert_eq!(state, DurableState::replay(&model), "seed {seed} final");
        }
    }
}

fn each_engine_record_is_one_wal_record_and_replay_counts_them(backend: Backend) {
    let disk = disk(backend);
    let mut rng = SplitMix64(7);
    let mut model = Vec::new();
    let mut progress = 0;
    let (mut storage, _, _) = open(&disk, no_size_compaction());
    let batches = without_snapshots(random_batches(&mut rng, 30, 5, &mut progress));
    persist_grouped(&mut storage, &mut rng, &batches, &mut model);
    assert_eq!(storage.wal_last_index(), model.len() as u64);
    drop(storage);
    let (_, _, report) = open(&disk, no_size_compaction());
    assert_eq!(report.records_replayed, model.len() as u64);
    assert_eq!(report.wal_last_index, model.len() as u64);
}

fn an_empty_persist_writes_nothing(backend: Backend) {
    let disk = disk(backend);
    let (mut storage, _, _) = open(&disk, small_options());
    storage.persist(&[]).expect("persist nothing");
    storage.persist(&[&[], &[]]).expect("persist empty batches");
    assert_eq!(storage.wal_last_index(), 0);
}

fn a_promise_and_an_accepted_value_survive_a_restart(backend: Backend) {
    let disk = disk(backend);
    let promise = Record::Promise(Ballot::new(3, 2));
    let accept = Record::Accept {
        slot: 1,
        ballot: Ballot::new(3, 2),
        value: Value::Noop,
    };
    let (mut storage, _, _) = open(&disk, small_options());
    storage.persist(&[&[promise], &[accept]]).expect("persist");
    drop(storage);
    let (_, state, _) = open(&disk, small_options());
    assert_eq!(state.promised, Ballot::new(3, 2));
    assert_eq!(state.log[&1].ballot, Ballot::new(3, 2));
    assert_eq!(state.log[&1].value, Value::Noop);
}

synod_wal::on_both_disks!(
    a_fresh_data_directory_recovers_the_empty_state,
    reopening_gives_the_replay_of_every_persisted_record,
    each_engine_record_is_one_wal_record_and_replay_counts_them,
    an_empty_persist_writes_nothing,
    a_promise_and_an_accepted_value_survive_a_restart,
);
