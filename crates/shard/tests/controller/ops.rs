//! Each operation and each refusal, named after the rule it checks.

use std::collections::BTreeMap;

use synod_paxos::StateMachine;
use synod_shard::{check_rebalance, encode_op, moved, Config, ShardError, ShardOp, ShardReply};

use crate::{controller, counts, join, leave, newest, query, run, servers, small_settings};

#[test]
fn config_zero_has_no_groups_and_every_shard_unassigned() {
    let c = controller();
    assert_eq!(query(&c, 0), ShardReply::Config(Config::initial(10)));
    assert_eq!(query(&c, -1), ShardReply::Config(Config::initial(10)));
    assert_eq!(query(&c, 99), ShardReply::Config(Config::initial(10)));
}

#[test]
fn the_first_join_makes_config_one_with_every_shard_on_the_group() {
    let mut c = controller();
    assert_eq!(
        run(&mut c, &join(&[5])),
        ShardReply::Reconfigured { num: 1 }
    );
    let config = newest(&c);
    assert_eq!(config.num, 1);
    assert_eq!(config.shards, vec![5; 10]);
    assert_eq!(config.groups, BTreeMap::from([(5, servers(5))]));
}

#[test]
fn a_join_of_several_groups_balances_and_the_extra_shard_goes_to_the_smaller_id() {
    let mut c = controller();
    run(&mut c, &join(&[3, 1, 2]));
    assert_eq!(
        counts(&newest(&c)),
        BTreeMap::from([(1, 4), (2, 3), (3, 3)])
    );
}

#[test]
fn each_join_moves_only_the_shards_the_new_group_needs() {
    let mut c = controller();
    run(&mut c, &join(&[1]));
    run(&mut c, &join(&[2]));
    let before = newest(&c);
    assert_eq!(
        run(&mut c, &join(&[3])),
        ShardReply::Reconfigured { num: 3 }
    );
    let after = newest(&c);
    // 10 shards over 3 groups: 4, 3, 3. Group 3 takes 3 shards, no more.
    assert_eq!(moved(&before.shards, &after.shards), 3);
    assert_eq!(after.shards_of(3).len(), 3);
    let groups = after.groups.keys().copied().collect();
    assert_eq!(
        check_rebalance(&before.shards, &groups, &after.shards),
        Ok(())
    );
}

#[test]
fn more_groups_than_shards_leaves_the_largest_ids_without_a_shard() {
    let mut c = controller();
    run(&mut c, &join(&(1..=12).collect::<Vec<_>>()));
    let config = newest(&c);
    assert_eq!(config.shards, (1..=10).collect::<Vec<_>>());
    assert!(config.shards_of(11).is_empty() && config.shards_of(12).is_empty());
}

#[test]
fn a_join_of_a_joined_group_with_the_same_servers_is_a_no_op() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    let digest = c.digest();
    assert_eq!(run(&mut c, &join(&[2])), ShardReply::Unchanged { num: 1 });
    assert_eq!(c.digest(), digest);
    assert_eq!(newest(&c).num, 1);
}

#[test]
fn a_join_with_new_servers_makes_a_config_that_moves_no_shard() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    let before = newest(&c);
    let op = ShardOp::Join {
        groups: BTreeMap::from([(2, vec!["new:1".to_string(), "new:2".to_string()])]),
    };
    assert_eq!(run(&mut c, &op), ShardReply::Reconfigured { num: 2 });
    let after = newest(&c);
    assert_eq!(after.shards, before.shards);
    assert_eq!(
        after.servers_of(2),
        Some(&["new:1".to_string(), "new:2".to_string()][..])
    );
    assert_eq!(after.servers_of(1), before.servers_of(1));
}

#[test]
fn a_leave_hands_the_leavers_shards_to_the_rest_moving_no_other() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2, 3]));
    let before = newest(&c);
    assert_eq!(
        run(&mut c, &leave(&[2])),
        ShardReply::Reconfigured { num: 2 }
    );
    let after = newest(&c);
    assert_eq!(
        moved(&before.shards, &after.shards),
        before.shards_of(2).len()
    );
    assert_eq!(counts(&after), BTreeMap::from([(1, 5), (3, 5)]));
}

#[test]
fn a_leave_of_every_group_is_refused_and_changes_nothing() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    refused(&mut c, &leave(&[1, 2]), ShardError::LastGroup);
    // With another group joined first, both may go.
    run(&mut c, &join(&[7]));
    run(&mut c, &leave(&[1, 2]));
    assert_eq!(newest(&c).shards, vec![7; 10]);
}

#[test]
fn a_move_hands_one_shard_over_and_nothing_else() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    let before = newest(&c);
    let op = ShardOp::Move { shard: 0, group: 2 };
    assert_eq!(run(&mut c, &op), ShardReply::Reconfigured { num: 2 });
    let after = newest(&c);
    assert_eq!(after.group_of(0), Some(2));
    assert_eq!(moved(&before.shards, &after.shards), 1);
    // Moving it again to the same group changes nothing.
    assert_eq!(run(&mut c, &op), ShardReply::Unchanged { num: 2 });
}

#[test]
fn a_join_after_moves_rebalances_with_the_fewest_moves_from_the_moved_state() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    for shard in 0..10 {
        run(&mut c, &ShardOp::Move { shard, group: 1 });
    }
    let before = newest(&c);
    assert_eq!(counts(&before), BTreeMap::from([(1, 10), (2, 0)]));
    run(&mut c, &join(&[3]));
    let after = newest(&c);
    let groups = after.groups.keys().copied().collect();
    assert_eq!(
        check_rebalance(&before.shards, &groups, &after.shards),
        Ok(())
    );
    assert_eq!(counts(&after), BTreeMap::from([(1, 4), (2, 3), (3, 3)]));
}

/// Applies `op`, expects `error`, and checks that nothing changed.
fn refused(c: &mut synod_shard::ShardController, op: &ShardOp, error: ShardError) {
    let (digest, config) = (c.digest(), newest(c));
    assert_eq!(run(c, op), ShardReply::Error(error), "{op:?}");
    assert_eq!(c.digest(), digest);
    assert_eq!(newest(c), config);
}

fn join_with(group: u64, servers: &[&str]) -> ShardOp {
    ShardOp::Join {
        groups: BTreeMap::from([(group, servers.iter().map(|s| s.to_string()).collect())]),
    }
}

#[test]
fn a_join_that_breaks_a_rule_or_a_limit_is_refused_whole() {
    let mut c = controller();
    run(&mut c, &join(&[1]));
    let no_groups = ShardOp::Join {
        groups: BTreeMap::new(),
    };
    refused(&mut c, &no_groups, ShardError::NoGroups);
    refused(&mut c, &join(&[0]), ShardError::ReservedGroup);
    refused(
        &mut c,
        &join_with(2, &[]),
        ShardError::NoServers { group: 2 },
    );
    refused(
        &mut c,
        &join_with(2, &[""]),
        ShardError::EmptyAddress { group: 2 },
    );
    refused(
        &mut c,
        &join_with(2, &["a:1", "a:1"]),
        ShardError::DuplicateServer {
            group: 2,
            server: "a:1".into(),
        },
    );
    refused(
        &mut c,
        &join_with(2, &["a:1", "b:1", "c:1", "d:1"]),
        ShardError::TooManyServers {
            group: 2,
            count: 4,
            max: 3,
        },
    );
    refused(
        &mut c,
        &join_with(2, &["a-seventeen-bytes"]),
        ShardError::AddressTooLong {
            group: 2,
            bytes: 17,
            max: 16,
        },
    );
    // A good group beside a bad one: nothing joins.
    let mut mixed = join(&[2]);
    if let ShardOp::Join { groups } = &mut mixed {
        groups.insert(3, Vec::new());
    }
    refused(&mut c, &mixed, ShardError::NoServers { group: 3 });
    // Group 1 and 12 more make 13 groups, over groups_max 12.
    refused(
        &mut c,
        &join(&(2..=13).collect::<Vec<_>>()),
        ShardError::TooManyGroups { count: 13, max: 12 },
    );
}

#[test]
fn a_leave_or_move_naming_an_unjoined_group_or_a_bad_shard_is_refused() {
    let mut c = controller();
    run(&mut c, &join(&[1, 2]));
    refused(&mut c, &leave(&[]), ShardError::NoGroups);
    refused(
        &mut c,
        &leave(&[1, 3]),
        ShardError::UnknownGroup { group: 3 },
    );
    refused(&mut c, &leave(&[0]), ShardError::UnknownGroup { group: 0 });
    let to = |shard, group| ShardOp::Move { shard, group };
    refused(&mut c, &to(0, 3), ShardError::UnknownGroup { group: 3 });
    refused(&mut c, &to(0, 0), ShardError::ReservedGroup);
    refused(
        &mut c,
        &to(10, 1),
        ShardError::BadShard {
            shard: 10,
            shard_count: 10,
        },
    );
}

#[test]
fn a_query_for_a_negative_number_other_than_minus_one_is_refused() {
    let c = controller();
    assert_eq!(
        query(&c, -2),
        ShardReply::Error(ShardError::BadConfigNum { num: -2 })
    );
    assert_eq!(
        query(&c, i64::MIN),
        ShardReply::Error(ShardError::BadConfigNum { num: i64::MIN })
    );
}

#[test]
fn query_as_a_read_refuses_writes_and_apply_answers_queries() {
    let mut c = controller();
    let reply = synod_shard::decode_reply(&c.query(&encode_op(&join(&[1])))).unwrap();
    assert_eq!(reply, ShardReply::Error(ShardError::NotARead));
    assert_eq!(newest(&c).num, 0);
    // Through the log a Query answers as a read does and changes nothing.
    let digest = c.digest();
    assert_eq!(run(&mut c, &ShardOp::Query { num: 0 }), query(&c, 0));
    assert_eq!(c.digest(), digest);
}

#[test]
fn an_undecodable_op_is_refused_alike_on_every_replica() {
    let (mut a, mut b) = (controller(), controller());
    for garbage in [
        &[][..],
        &[9, 9],
        &[synod_shard::OP_VERSION, 42],
        &[1, 0, 255],
    ] {
        let (ra, rb) = (a.apply(garbage), b.apply(garbage));
        assert_eq!(ra, rb);
        let reply = synod_shard::decode_reply(&ra).unwrap();
        assert!(
            matches!(reply, ShardReply::Error(ShardError::Undecodable(_))),
            "{reply:?}"
        );
    }
    assert_eq!(a, controller());
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn an_op_over_op_bytes_max_is_refused_before_decoding() {
    let mut c = controller();
    // A well-formed Join of 1,025 bytes and more, and garbage as long.
    let long = ShardOp::Join {
        groups: (1..=12).map(|g| (g, vec!["x".repeat(40); 3])).collect(),
    };
    let bytes = encode_op(&long);
    assert!(bytes.len() > 1_024);
    for op in [bytes.clone(), vec![0xff; bytes.len()]] {
        let reply = synod_shard::decode_reply(&c.apply(&op)).unwrap();
        let error = ShardError::OpTooLarge {
            bytes: op.len() as u64,
            max: 1_024,
        };
        assert_eq!(reply, ShardReply::Error(error));
    }
    assert_eq!(c, controller());
}

#[test]
fn the_history_keeps_the_newest_configs_and_answers_compacted_for_older() {
    let mut c = controller();
    for round in 0..10 {
        run(&mut c, &join(&[round + 1]));
    }
    // 11 configs made (0..=10), 8 kept: 3..=10.
    assert_eq!(c.oldest_num(), 3);
    assert_eq!(c.history().count(), 8);
    assert_eq!(query(&c, 2), ShardReply::Compacted { oldest: 3 });
    assert_eq!(query(&c, 0), ShardReply::Compacted { oldest: 3 });
    assert!(matches!(query(&c, 3), ShardReply::Config(config) if config.num == 3));
    assert_eq!(c.check_invariants(), Ok(()));
}

#[test]
fn the_history_drops_the_oldest_configs_when_over_its_bytes() {
    let settings = synod_shard::Settings {
        history_configs_max: 1_000,
        ..small_settings()
    };
    let mut c = synod_shard::ShardController::new(settings).unwrap();
    let big = |g: u64| ShardOp::Join {
        groups: BTreeMap::from([(g, vec![format!("{g:0>16}"), format!("{g:1>16}")])]),
    };
    for g in 1..=12 {
        run(&mut c, &big(g));
        run(&mut c, &leave(&[g]));
        run(&mut c, &big(g));
        assert!(c.history_bytes() <= settings.history_bytes_max);
    }
    assert!(c.oldest_num() > 0, "34 configs of ~0.5 KiB exceed 8 KiB");
    // 36 ops, less group 1's Leave (refused: it is the only group) and the
    // Join after it (unchanged).
    assert_eq!(newest(&c).num, 34);
    assert_eq!(
        query(&c, c.oldest_num() as i64 - 1),
        ShardReply::Compacted {
            oldest: c.oldest_num()
        }
    );
    assert_eq!(c.check_invariants(), Ok(()));
}
