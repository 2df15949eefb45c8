//! The replica group's state machine, op by op: the rules of the crate
//! docs, each in a test named after it.

use std::collections::BTreeMap;

use synod_paxos::StateMachine;
use synod_shard::{shard_of, Config, GroupId, ShardId};
use synod_shardkv::{
    decode, encode, AbortReason, Cond, GroupOp, GroupReply, Limits, ShardGroup, Slot, Txn, TxnId,
    TxnOutcome, Vote, Write,
};

const SHARDS: u32 = 4;

/// Config `num` giving shard i to `owners[i]`.
fn config(num: u64, owners: [GroupId; SHARDS as usize]) -> Config {
    let groups: BTreeMap<GroupId, Vec<String>> = owners
        .iter()
        .filter(|&&g| g != 0)
        .map(|&g| (g, vec![format!("g{g}:1")]))
        .collect();
    Config {
        num,
        shards: owners.to_vec(),
        groups,
    }
}

/// A key that lands in `shard`.
fn key_in(shard: ShardId, n: u32) -> Vec<u8> {
    (0..)
        .map(|i: u32| format!("k{shard}-{n}-{i}").into_bytes())
        .find(|k| shard_of(k, SHARDS) == shard)
        .expect("some key lands in every shard")
}

fn put(key: &[u8], value: &str) -> Txn {
    Txn {
        writes: vec![Write {
            key: key.to_vec(),
            value: Some(value.as_bytes().to_vec()),
        }],
        ..Txn::default()
    }
}

fn get(key: &[u8]) -> Txn {
    Txn {
        reads: vec![key.to_vec()],
        ..Txn::default()
    }
}

fn id(client: u64, seq: u64) -> TxnId {
    TxnId { client, seq }
}

/// Group 1 serving every shard in config 1.
fn serving_all() -> ShardGroup {
    let mut group = ShardGroup::new(1, SHARDS, Limits::default());
    assert_eq!(
        group.apply(GroupOp::Config(config(1, [1, 1, 1, 1]))),
        GroupReply::ConfigApplied { num: 1 }
    );
    group
}

fn committed(
    reply: GroupReply,
) -> (
    Vec<synod_shardkv::ReadResult>,
    Vec<synod_shardkv::WriteResult>,
) {
    match reply {
        GroupReply::Txn(TxnOutcome::Committed { reads, writes }) => (reads, writes),
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[test]
fn a_one_group_transaction_runs_whole_and_a_retry_is_answered_not_run_again() {
    let mut group = serving_all();
    let (k0, k1) = (key_in(0, 0), key_in(1, 0));
    let mut txn = put(&k0, "a");
    txn.writes.push(put(&k1, "b").writes.remove(0));
    let first = group.apply(GroupOp::Client {
        id: id(7, 1),
        txn: txn.clone(),
    });
    let (_, writes) = committed(first.clone());
    assert_eq!(writes.len(), 2);
    assert_eq!(
        group.apply(GroupOp::Client { id: id(7, 1), txn }),
        first,
        "a retry"
    );
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(7, 2),
        txn: get(&k0),
    }));
    assert_eq!(reads[0].value.as_deref(), Some(&b"a"[..]));
    assert_eq!(reads[0].rev, writes[0].rev);
    let old = group.apply(GroupOp::Client {
        id: id(7, 1),
        txn: get(&k1),
    });
    assert_eq!(
        old, first,
        "an old seq is answered from the record, never run"
    );
}

#[test]
fn a_failed_condition_aborts_the_whole_transaction() {
    let mut group = serving_all();
    let (k0, k1) = (key_in(0, 0), key_in(1, 0));
    let mut txn = put(&k1, "x");
    txn.conds.push(Cond::Equals {
        key: k0.clone(),
        value: b"nope".to_vec(),
    });
    let reply = group.apply(GroupOp::Client { id: id(1, 1), txn });
    assert_eq!(
        reply,
        GroupReply::Txn(TxnOutcome::Aborted(AbortReason::ConditionFailed {
            key: k0
        }))
    );
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(1, 2),
        txn: get(&k1),
    }));
    assert_eq!(reads[0].value, None, "nothing written");
}

#[test]
fn a_key_locked_by_a_prepared_transaction_refuses_others_at_once() {
    let mut group = serving_all();
    let k0 = key_in(0, 0);
    let vote = group.apply(GroupOp::Prepare {
        id: id(1, 1),
        txn: put(&k0, "p"),
        coordinator: 2,
    });
    assert!(
        matches!(vote, GroupReply::Vote(Vote::Yes { .. })),
        "{vote:?}"
    );
    let conflict = TxnOutcome::Aborted(AbortReason::Conflict { key: k0.clone() });
    assert_eq!(
        group.apply(GroupOp::Client {
            id: id(2, 1),
            txn: get(&k0)
        }),
        GroupReply::Txn(conflict)
    );
    let other = group.apply(GroupOp::Prepare {
        id: id(3, 1),
        txn: get(&k0),
        coordinator: 2,
    });
    assert_eq!(
        other,
        GroupReply::Vote(Vote::No(AbortReason::Conflict { key: k0.clone() }))
    );
    let outcome = TxnOutcome::Committed {
        reads: vec![],
        writes: vec![],
    };
    group.apply(GroupOp::Finish {
        id: id(1, 1),
        coordinator: 2,
        commit: true,
        outcome,
    });
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(2, 2),
        txn: get(&k0),
    }));
    assert_eq!(
        reads[0].value.as_deref(),
        Some(&b"p"[..]),
        "the commit wrote at Finish"
    );
}

#[test]
fn shared_locks_let_readers_share_and_keep_writers_out() {
    let mut group = serving_all();
    let k0 = key_in(0, 0);
    for client in 1..=2 {
        let vote = group.apply(GroupOp::Prepare {
            id: id(client, 1),
            txn: get(&k0),
            coordinator: 2,
        });
        assert!(
            matches!(vote, GroupReply::Vote(Vote::Yes { .. })),
            "{vote:?}"
        );
    }
    let writer = group.apply(GroupOp::Prepare {
        id: id(3, 1),
        txn: put(&k0, "w"),
        coordinator: 2,
    });
    assert_eq!(
        writer,
        GroupReply::Vote(Vote::No(AbortReason::Conflict { key: k0 }))
    );
    group.check_invariants().unwrap();
}

#[test]
fn a_prepare_votes_the_same_when_repeated_and_no_once_finished() {
    let mut group = serving_all();
    let k0 = key_in(0, 0);
    let prepare = GroupOp::Prepare {
        id: id(1, 1),
        txn: put(&k0, "p"),
        coordinator: 2,
    };
    let first = group.apply(prepare.clone());
    assert_eq!(group.apply(prepare.clone()), first);
    let aborted = TxnOutcome::Aborted(AbortReason::CoordinatorLost);
    group.apply(GroupOp::Finish {
        id: id(1, 1),
        coordinator: 2,
        commit: false,
        outcome: aborted,
    });
    assert_eq!(
        group.apply(prepare),
        GroupReply::Vote(Vote::No(AbortReason::Stale)),
        "a late prepare never locks again"
    );
}

#[test]
fn a_prepare_from_another_coordinator_votes_no_and_its_finish_leaves_ours_alone() {
    let mut group = serving_all();
    let k0 = key_in(0, 0);
    group.apply(GroupOp::Prepare {
        id: id(1, 1),
        txn: put(&k0, "p"),
        coordinator: 2,
    });
    let other = group.apply(GroupOp::Prepare {
        id: id(1, 1),
        txn: put(&k0, "p"),
        coordinator: 3,
    });
    assert_eq!(
        other,
        GroupReply::Vote(Vote::No(AbortReason::EarlierAttempt))
    );
    let aborted = TxnOutcome::Aborted(AbortReason::WrongGroup);
    group.apply(GroupOp::Finish {
        id: id(1, 1),
        coordinator: 3,
        commit: false,
        outcome: aborted,
    });
    assert!(
        group.prepared().contains_key(&id(1, 1)),
        "coordinator 3 cannot finish 2's prepare"
    );
}

#[test]
fn the_first_decision_logged_is_the_decision() {
    let mut group = serving_all();
    let aborted = TxnOutcome::Aborted(AbortReason::CoordinatorLost);
    let commit = TxnOutcome::Committed {
        reads: vec![],
        writes: vec![],
    };
    let first = group.apply(GroupOp::Decide {
        id: id(1, 1),
        commit: false,
        participants: vec![2],
        outcome: aborted.clone(),
    });
    assert_eq!(
        first,
        GroupReply::Decided {
            commit: false,
            outcome: aborted.clone()
        }
    );
    let second = group.apply(GroupOp::Decide {
        id: id(1, 1),
        commit: true,
        participants: vec![2],
        outcome: commit,
    });
    assert_eq!(second, first, "a commit after a presumed abort loses");
    assert_eq!(group.decisions()[&id(1, 1)].pending.len(), 1);
    group.apply(GroupOp::Forget {
        id: id(1, 1),
        group: 2,
    });
    assert!(group.decisions().is_empty());
    assert_eq!(
        group.decision(id(1, 1)),
        Some((false, &aborted)),
        "the client's latest stays"
    );
}

#[test]
fn a_refusal_to_run_here_fences_a_decision_an_earlier_leader_left_in_flight() {
    let mut group = ShardGroup::new(1, SHARDS, Limits::default());
    group.apply(GroupOp::Config(config(1, [2, 2, 2, 2])));
    let k0 = key_in(0, 0);
    assert_eq!(
        group.apply(GroupOp::Client {
            id: id(1, 1),
            txn: get(&k0)
        }),
        GroupReply::WrongGroup { num: 1 }
    );
    let commit = TxnOutcome::Committed {
        reads: vec![],
        writes: vec![],
    };
    let late = group.apply(GroupOp::Decide {
        id: id(1, 1),
        commit: true,
        participants: vec![2],
        outcome: commit,
    });
    assert_eq!(
        late,
        GroupReply::Decided {
            commit: false,
            outcome: TxnOutcome::Aborted(AbortReason::WrongGroup)
        }
    );
}

/// Found by the model sweep (profile `all`, seed 30118): a refusal was
/// recorded only as the client's newest decision, so once the client's
/// next transaction was decided here, a late copy of the refused one ran
/// and committed, though the client had been told `WrongGroup` (never
/// commits) and had sent it again under a new id.
#[test]
fn a_late_copy_of_a_refused_transaction_never_runs_after_the_clients_next() {
    let mut group = ShardGroup::new(1, SHARDS, Limits::default());
    group.apply(GroupOp::Config(config(1, [0, 0, 0, 0])));
    let k0 = key_in(0, 0);
    assert_eq!(
        group.apply(GroupOp::Client {
            id: id(7, 1),
            txn: put(&k0, "late"),
        }),
        GroupReply::WrongGroup { num: 1 }
    );
    assert_eq!(
        group.apply(GroupOp::Config(config(2, [1, 1, 1, 1]))),
        GroupReply::ConfigApplied { num: 2 }
    );
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(7, 2),
        txn: get(&k0),
    }));
    assert_eq!(reads[0].value, None);
    assert!(group.is_stale(id(7, 1)) && !group.is_stale(id(7, 3)));
    assert_eq!(
        group.apply(GroupOp::Client {
            id: id(7, 1),
            txn: put(&k0, "late"),
        }),
        GroupReply::Txn(TxnOutcome::Aborted(AbortReason::Stale)),
        "a late one-group copy"
    );
    let commit = TxnOutcome::Committed {
        reads: vec![],
        writes: vec![],
    };
    assert_eq!(
        group.apply(GroupOp::Decide {
            id: id(7, 1),
            commit: true,
            participants: vec![2],
            outcome: commit,
        }),
        GroupReply::Decided {
            commit: false,
            outcome: TxnOutcome::Aborted(AbortReason::Stale)
        },
        "a late cross-group copy that got its votes"
    );
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(7, 3),
        txn: get(&k0),
    }));
    assert_eq!(reads[0].value, None, "nothing of the late copy was written");
}

#[test]
fn a_group_takes_configurations_in_order_and_only_when_settled() {
    let mut group = serving_all();
    assert_eq!(
        group.apply(GroupOp::Config(config(3, [1, 1, 1, 1]))),
        GroupReply::ConfigNotYet { current: 1 }
    );
    // Shard 0 leaves while a prepared transaction locks it: draining.
    let k0 = key_in(0, 0);
    group.apply(GroupOp::Prepare {
        id: id(1, 1),
        txn: put(&k0, "p"),
        coordinator: 1,
    });
    assert_eq!(
        group.apply(GroupOp::Config(config(2, [2, 1, 1, 1]))),
        GroupReply::ConfigApplied { num: 2 }
    );
    assert!(matches!(
        group.slots()[&0],
        Slot::Draining { to: 2, num: 2, .. }
    ));
    assert!(group.sending().is_empty(), "nothing is sent while locked");
    assert_eq!(
        group.apply(GroupOp::Config(config(3, [2, 2, 1, 1]))),
        GroupReply::ConfigNotYet { current: 2 }
    );
    let outcome = TxnOutcome::Committed {
        reads: vec![],
        writes: vec![],
    };
    group.apply(GroupOp::Finish {
        id: id(1, 1),
        coordinator: 1,
        commit: true,
        outcome,
    });
    assert_eq!(
        group.sending(),
        vec![(0, 2, 2)],
        "the decision frees the hand-over"
    );
    assert_eq!(
        group.apply(GroupOp::Config(config(3, [2, 2, 1, 1]))),
        GroupReply::ConfigApplied { num: 3 }
    );
    group.check_invariants().unwrap();
}

#[test]
fn a_shard_moves_in_pieces_of_bounded_bytes_and_is_served_only_when_whole() {
    let limits = Limits {
        install_bytes_max: 64,
        ..Limits::default()
    };
    let mut sender = ShardGroup::new(1, SHARDS, limits.clone());
    let mut receiver = ShardGroup::new(2, SHARDS, limits);
    for g in [&mut sender, &mut receiver] {
        g.apply(GroupOp::Config(config(1, [1, 1, 1, 1])));
    }
    let keys: Vec<Vec<u8>> = (0..10).map(|n| key_in(0, n)).collect();
    for (seq, key) in keys.iter().enumerate() {
        committed(sender.apply(GroupOp::Client {
            id: id(9, seq as u64 + 1),
            txn: put(key, "0123456789"),
        }));
    }
    for g in [&mut sender, &mut receiver] {
        g.apply(GroupOp::Config(config(2, [2, 1, 1, 1])));
    }
    assert!(matches!(
        receiver.slots()[&0],
        Slot::Waiting { from: 1, .. }
    ));
    let mut after: Option<Vec<u8>> = None;
    let mut pieces = 0;
    loop {
        let piece = sender.piece(0, after.as_deref()).expect("sending");
        let bytes: usize = piece
            .entries
            .iter()
            .map(|(k, e)| k.len() + e.value.as_ref().map_or(0, Vec::len))
            .sum();
        assert!(
            bytes <= 64 || piece.entries.len() == 1,
            "piece of {bytes} bytes"
        );
        pieces += 1;
        let last = piece.tail.is_some();
        let reply = receiver.apply(GroupOp::Install {
            num: 2,
            shard: 0,
            after: piece.after,
            entries: piece.entries,
            tail: piece.tail,
        });
        if last {
            assert_eq!(reply, GroupReply::Installed);
            break;
        }
        assert!(
            matches!(receiver.slots()[&0], Slot::Waiting { .. }),
            "not served before the tail"
        );
        let GroupReply::Installing { after: next } = reply else {
            panic!("{reply:?}")
        };
        after = next;
    }
    assert!(pieces >= 3, "{pieces} pieces");
    // A piece out of order is answered with where to resume.
    let stale = receiver.apply(GroupOp::Install {
        num: 2,
        shard: 0,
        after: None,
        entries: vec![],
        tail: None,
    });
    assert_eq!(stale, GroupReply::Installed);
    let (reads, _) = committed(receiver.apply(GroupOp::Client {
        id: id(5, 1),
        txn: get(&keys[3]),
    }));
    assert_eq!(reads[0].value.as_deref(), Some(&b"0123456789"[..]));
    // The exactly-once table came along: a retry is answered.
    let retry = receiver.apply(GroupOp::Client {
        id: id(9, 10),
        txn: put(&keys[9], "0123456789"),
    });
    assert!(matches!(
        retry,
        GroupReply::Txn(TxnOutcome::Committed { .. })
    ));
    assert_eq!(
        receiver
            .serving()
            .find(|(s, _)| *s == 0)
            .unwrap()
            .1
            .entries
            .len(),
        10,
        "no second write"
    );
    sender.apply(GroupOp::Release { num: 2, shard: 0 });
    assert!(!sender.slots().contains_key(&0));
}

#[test]
fn a_transaction_over_a_limit_aborts_before_it_locks_anything() {
    let limits = Limits {
        txn_keys_max: 2,
        ..Limits::default()
    };
    let mut group = ShardGroup::new(1, SHARDS, limits);
    group.apply(GroupOp::Config(config(1, [1, 1, 1, 1])));
    let txn = Txn {
        reads: (0..3).map(|n| key_in(0, n)).collect(),
        ..Txn::default()
    };
    let reply = group.apply(GroupOp::Prepare {
        id: id(1, 1),
        txn,
        coordinator: 2,
    });
    assert!(
        matches!(reply, GroupReply::Vote(Vote::No(AbortReason::TooLarge(_)))),
        "{reply:?}"
    );
    assert!(group.prepared().is_empty());
}

#[test]
fn ops_replies_and_bad_bytes() {
    let op = GroupOp::Client {
        id: id(1, 2),
        txn: put(b"k", "v"),
    };
    assert_eq!(decode::<GroupOp>(&encode(&op)).unwrap(), op);
    let mut group = serving_all();
    let before = group.clone();
    for bad in [&b""[..], &[9u8, 1, 2][..], &[1u8, 200, 200, 200][..]] {
        let reply: GroupReply = decode(&StateMachine::apply(&mut group, bad)).unwrap();
        assert!(matches!(reply, GroupReply::Refused(_)), "{reply:?}");
    }
    assert_eq!(group, before, "refused bytes change nothing");
}

#[test]
fn a_snapshot_restores_equal_and_a_damaged_one_is_refused_leaving_the_state() {
    let mut group = serving_all();
    committed(group.apply(GroupOp::Client {
        id: id(1, 1),
        txn: put(&key_in(1, 0), "v"),
    }));
    group.apply(GroupOp::Prepare {
        id: id(2, 1),
        txn: put(&key_in(0, 0), "p"),
        coordinator: 3,
    });
    let snapshot = group.snapshot_data();
    let mut restored = ShardGroup::new(1, SHARDS, Limits::default());
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored, group);
    let bytes: Vec<u8> = snapshot.reader().bytes().map(Result::unwrap).collect();
    let mut target = serving_all();
    let before = target.clone();
    for cut in 0..bytes.len() {
        let damaged = synod_paxos::SnapshotData::from(bytes[..cut].to_vec());
        assert!(
            target.restore(&damaged).is_err(),
            "a snapshot cut at {cut} restored"
        );
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        let damaged = synod_paxos::SnapshotData::from(flipped);
        assert!(
            target.restore(&damaged).is_err(),
            "a flip at byte {i} restored"
        );
    }
    assert_eq!(target, before);
}

use std::io::Read as _;

#[test]
fn reads_over_the_limit_abort_before_anything_is_written() {
    let limits = Limits {
        reads_bytes_max: 100,
        ..Limits::default()
    };
    let mut group = ShardGroup::new(1, SHARDS, limits);
    group.apply(GroupOp::Config(config(1, [1, 1, 1, 1])));
    let (k0, k1) = (key_in(0, 0), key_in(1, 0));
    let big = "x".repeat(80);
    committed(group.apply(GroupOp::Client {
        id: id(1, 1),
        txn: put(&k0, &big),
    }));
    committed(group.apply(GroupOp::Client {
        id: id(1, 2),
        txn: put(&k1, &big),
    }));
    let mut txn = Txn {
        reads: vec![k0.clone(), k1.clone()],
        ..Txn::default()
    };
    txn.writes.push(put(&k0, "new").writes.remove(0));
    let reply = group.apply(GroupOp::Client {
        id: id(2, 1),
        txn: txn.clone(),
    });
    assert!(
        matches!(
            reply,
            GroupReply::Txn(TxnOutcome::Aborted(AbortReason::TooLarge(_)))
        ),
        "{reply:?}"
    );
    let vote = group.apply(GroupOp::Prepare {
        id: id(3, 1),
        txn,
        coordinator: 2,
    });
    assert!(
        matches!(vote, GroupReply::Vote(Vote::No(AbortReason::TooLarge(_)))),
        "{vote:?}"
    );
    let (reads, _) = committed(group.apply(GroupOp::Client {
        id: id(4, 1),
        txn: get(&k0),
    }));
    assert_eq!(
        reads[0].value.as_deref(),
        Some(big.as_bytes()),
        "nothing written"
    );
}

#[test]
fn a_coordinator_aborts_when_the_parts_read_more_than_the_limit_together() {
    use synod_shardkv::{Driver, DriverConfig, GroupMsg, Out, ReadResult};
    let limits = Limits {
        reads_bytes_max: 100,
        ..Limits::default()
    };
    let mut group = ShardGroup::new(1, SHARDS, limits);
    group.apply(GroupOp::Config(config(1, [1, 1, 2, 2])));
    let (k0, k2) = (key_in(0, 0), key_in(2, 0));
    let txn = Txn {
        reads: vec![k0.clone(), k2.clone()],
        ..Txn::default()
    };
    let mut driver = Driver::new(1, DriverConfig::default());
    let out = driver.on_message(
        0,
        &group,
        0,
        GroupMsg::ClientTxn {
            id: id(5, 1),
            txn,
            config: 1,
        },
    );
    assert_eq!(out.len(), 2, "a prepare to each group: {out:?}");
    let read = |key: &[u8]| ReadResult {
        key: key.to_vec(),
        value: Some(vec![b'x'; 60]),
        rev: 1,
    };
    for (group_id, key) in [(1, &k0), (2, &k2)] {
        let part = synod_paxos::digest(&Txn {
            reads: vec![key.clone()],
            ..Txn::default()
        });
        let vote = Vote::Yes {
            reads: vec![read(key)],
            writes: vec![],
        };
        let out = driver.on_message(
            1,
            &group,
            group_id,
            GroupMsg::Vote {
                id: id(5, 1),
                group: group_id,
                part,
                vote,
            },
        );
        if group_id == 2 {
            let [Out::Propose(GroupOp::Decide {
                commit, outcome, ..
            })] = out.as_slice()
            else {
                panic!("expected a decision: {out:?}")
            };
            assert!(!commit);
            assert!(
                matches!(outcome, TxnOutcome::Aborted(AbortReason::TooLarge(_))),
                "{outcome:?}"
            );
        }
    }
}

#[test]
fn the_exactly_once_tables_keep_the_latest_clients_within_their_bounds() {
    let limits = Limits {
        clients_max: 5,
        shard_clients_max: 3,
        shard_clients_bytes_max: 1 << 20,
        ..Limits::default()
    };
    let mut group = ShardGroup::new(1, SHARDS, limits);
    group.apply(GroupOp::Config(config(1, [1, 1, 1, 1])));
    let k0 = key_in(0, 0);
    for client in 1..=10 {
        committed(group.apply(GroupOp::Client {
            id: id(client, 1),
            txn: put(&k0, "v"),
        }));
    }
    group.check_invariants().unwrap();
    let shard = group.serving().find(|(s, _)| *s == 0).unwrap().1;
    assert_eq!(
        shard.clients.len(),
        3,
        "the shard's table holds the 3 latest"
    );
    assert!(shard.clients.get(10).is_some() && shard.clients.get(7).is_none());
    // The newest client's retry is still answered, not run again.
    let (_, first) = committed(group.apply(GroupOp::Client {
        id: id(10, 1),
        txn: put(&k0, "v"),
    }));
    let (_, again) = committed(group.apply(GroupOp::Client {
        id: id(10, 1),
        txn: put(&k0, "v"),
    }));
    assert_eq!(first, again);
    // A heavy outcome past the byte bound is not kept by the shard.
    let limits = Limits {
        shard_clients_bytes_max: 64,
        ..Limits::default()
    };
    let mut group = ShardGroup::new(1, SHARDS, limits);
    group.apply(GroupOp::Config(config(1, [1, 1, 1, 1])));
    committed(group.apply(GroupOp::Client {
        id: id(1, 1),
        txn: put(&k0, &"x".repeat(200)),
    }));
    committed(group.apply(GroupOp::Client {
        id: id(2, 1),
        txn: get(&k0),
    }));
    let shard = group.serving().find(|(s, _)| *s == 0).unwrap().1;
    assert!(
        shard.clients.get(2).is_none(),
        "a 200-byte read outcome is over 64 bytes"
    );
    assert!(shard.clients.bytes() <= 64);
}

#[test]
fn a_vote_on_a_part_split_otherwise_is_ignored() {
    use synod_shardkv::{Driver, DriverConfig, GroupMsg, ReadResult};
    // A leader before this one split the transaction by another
    // configuration; a participant's yes on that part must not count.
    let mut group = ShardGroup::new(1, SHARDS, Limits::default());
    group.apply(GroupOp::Config(config(1, [1, 2, 2, 2])));
    let (k0, k1, k2) = (key_in(0, 0), key_in(1, 0), key_in(2, 0));
    let txn = Txn {
        reads: vec![k0.clone(), k1.clone(), k2.clone()],
        ..Txn::default()
    };
    let mut driver = Driver::new(1, DriverConfig::default());
    driver.on_message(
        0,
        &group,
        0,
        GroupMsg::ClientTxn {
            id: id(6, 1),
            txn,
            config: 1,
        },
    );
    let read = |key: &[u8]| ReadResult {
        key: key.to_vec(),
        value: None,
        rev: 0,
    };
    let old_part = Txn {
        reads: vec![k2.clone()],
        ..Txn::default()
    };
    let stale = GroupMsg::Vote {
        id: id(6, 1),
        group: 2,
        part: synod_paxos::digest(&old_part),
        vote: Vote::Yes {
            reads: vec![read(&k2)],
            writes: vec![],
        },
    };
    let ours = Txn {
        reads: vec![k0.clone()],
        ..Txn::default()
    };
    let own = GroupMsg::Vote {
        id: id(6, 1),
        group: 1,
        part: synod_paxos::digest(&ours),
        vote: Vote::Yes {
            reads: vec![read(&k0)],
            writes: vec![],
        },
    };
    assert!(
        driver.on_message(1, &group, 2, stale).is_empty(),
        "the stale vote decides nothing"
    );
    assert!(
        driver.on_message(1, &group, 1, own).is_empty(),
        "group 2's vote on its part is still owed"
    );
}
