//! Seeded random sequences of Join, Leave, Move and Query, checked after
//! every step against the rules, a record of every configuration made, and
//! a second controller fed the same operations.

use std::collections::{BTreeMap, BTreeSet};

use synod_paxos::{Rng, StateMachine};
use synod_shard::{
    check_rebalance, moved, rebalance, Config, GroupId, Settings, ShardController, ShardError,
    ShardId, ShardOp, ShardReply,
};

use crate::{newest, query, run, small_settings};

const SEEDS: u64 = 200;
const STEPS_PER_SEED: usize = 300;
/// Group ids drawn from 1..=GROUP_IDS; more than `groups_max` (12), so
/// Joins reach the limit.
const GROUP_IDS: u64 = 14;

/// What the random runs reached, so a run that stopped reaching a case
/// fails instead of passing vacuously.
#[derive(Default, Debug)]
struct Reached {
    steps: u64,
    reconfigured: u64,
    rebalances: u64,
    shards_moved: u64,
    unchanged: u64,
    refused: u64,
    compacted: u64,
    last_group_refused: u64,
    more_groups_than_shards: u64,
    restores: u64,
}

fn random_servers(rng: &mut Rng, group: GroupId) -> Vec<String> {
    // Usually the group's usual servers, sometimes a second set, so that
    // some Joins of a joined group are no-ops and some change servers.
    let set = if rng.chance(0.8) { 0 } else { 1 };
    (0..rng.range(1, 4))
        .map(|i| format!("g{group}s{set}:{i}"))
        .collect()
}

fn random_groups(
    rng: &mut Rng,
    joined: &BTreeMap<GroupId, Vec<String>>,
    count: u64,
) -> Vec<GroupId> {
    (0..count)
        .map(|_| {
            if !joined.is_empty() && rng.chance(0.9) {
                let index = rng.range(0, joined.len() as u64) as usize;
                *joined.keys().nth(index).expect("index in range")
            } else {
                rng.range(0, GROUP_IDS + 1)
            }
        })
        .collect()
}

fn random_op(rng: &mut Rng, config: &Config) -> ShardOp {
    match rng.range(0, 10) {
        0..=2 => {
            let count = rng.range(1, 4);
            let groups = (0..count)
                .map(|_| {
                    // Now and then the reserved group 0.
                    let lowest = u64::from(!rng.chance(0.02));
                    let group = rng.range(lowest, GROUP_IDS + 1);
                    (group, random_servers(rng, group))
                })
                .collect();
            ShardOp::Join { groups }
        }
        3..=4 => {
            let count = rng.range(1, 3);
            ShardOp::Leave {
                groups: random_groups(rng, &config.groups, count),
            }
        }
        5..=7 => ShardOp::Move {
            shard: rng.range(0, u64::from(config.shard_count()) + 1) as ShardId,
            group: random_groups(rng, &config.groups, 1)[0],
        },
        _ => ShardOp::Query {
            num: rng.range(0, config.num + 4) as i64 - 2,
        },
    }
}

/// The settings of one seed: the shard count varies, so some seeds have
/// more groups than shards.
fn settings_for(seed: u64) -> Settings {
    let shard_count = [10, 1, 3, 64][(seed % 4) as usize];
    Settings {
        shard_count,
        ..small_settings()
    }
}

#[test]
fn random_sequences_keep_every_rule_and_replicas_agree() {
    let mut reached = Reached::default();
    for seed in 0..SEEDS {
        run_seed(seed, &mut reached);
    }
    eprintln!("{reached:#?}");
    let steps = SEEDS * STEPS_PER_SEED as u64;
    assert_eq!(reached.steps, steps);
    assert!(reached.rebalances > steps / 20, "{reached:?}");
    assert!(
        reached.unchanged > 100 && reached.refused > 1_000,
        "{reached:?}"
    );
    assert!(
        reached.compacted > 100 && reached.last_group_refused > 100,
        "{reached:?}"
    );
    assert!(reached.more_groups_than_shards > 100, "{reached:?}");
}

fn run_seed(seed: u64, reached: &mut Reached) {
    let settings = settings_for(seed);
    let mut rng = Rng::new(seed);
    let mut a = ShardController::new(settings).unwrap();
    let mut b = ShardController::new(settings).unwrap();
    // Every configuration ever made, by number.
    let mut made = vec![Config::initial(settings.shard_count)];
    for step in 0..STEPS_PER_SEED {
        let prev = newest(&a);
        let (digest, op) = (a.digest(), random_op(&mut rng, &prev));
        let reply = run(&mut a, &op);
        let context = format!("seed {seed} step {step}: {op:?} -> {reply:?}");
        assert_eq!(run(&mut b, &op), reply, "{context}");
        assert_eq!(a, b, "{context}");
        assert_eq!(a.digest(), b.digest(), "{context}");
        a.check_invariants()
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let next = newest(&a);
        assert_eq!(
            reply_kind(&reply),
            expected_kind(&op, &prev, &settings),
            "{context}"
        );
        reached.steps += 1;
        match reply {
            ShardReply::Reconfigured { num } => {
                assert_eq!(num, prev.num + 1, "{context}");
                assert_eq!(next.num, num, "{context}");
                check_step(&op, &prev, &next, reached).unwrap_or_else(|e| panic!("{context}: {e}"));
                made.push(next.clone());
                reached.reconfigured += 1;
            }
            _ => {
                assert_eq!(next, prev, "{context}");
                assert_eq!(a.digest(), digest, "{context}");
                reached.unchanged += u64::from(matches!(reply, ShardReply::Unchanged { .. }));
                reached.refused += u64::from(matches!(reply, ShardReply::Error(_)));
            }
        }
        check_queries(&a, &made, &mut rng, reached, &context);
        reached.last_group_refused +=
            u64::from(matches!(reply, ShardReply::Error(ShardError::LastGroup)));
        reached.more_groups_than_shards +=
            u64::from(next.groups.len() > next.shard_count() as usize);
        if step % 50 == 25 {
            // Replace b by a controller restored from a's snapshot: what
            // follows must go on agreeing.
            let mut restored = ShardController::new(Settings::DEFAULT).unwrap();
            restored.restore(&a.snapshot_data()).unwrap();
            assert_eq!(restored, a, "{context}");
            assert_eq!(restored.digest(), a.digest(), "{context}");
            b = restored;
            reached.restores += 1;
        }
    }
}

/// A reply's kind, for comparing with what the rules predict.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Reconfigured,
    Unchanged,
    Read,
    Refused(&'static str),
}

fn reply_kind(reply: &ShardReply) -> Kind {
    match reply {
        ShardReply::Reconfigured { .. } => Kind::Reconfigured,
        ShardReply::Unchanged { .. } => Kind::Unchanged,
        ShardReply::Config(_) | ShardReply::Compacted { .. } => Kind::Read,
        ShardReply::Error(ShardError::ReservedGroup) => Kind::Refused("reserved"),
        ShardReply::Error(ShardError::UnknownGroup { .. }) => Kind::Refused("unknown group"),
        ShardReply::Error(ShardError::BadShard { .. }) => Kind::Refused("bad shard"),
        ShardReply::Error(ShardError::TooManyGroups { .. }) => Kind::Refused("too many"),
        ShardReply::Error(ShardError::BadConfigNum { .. }) => Kind::Refused("bad num"),
        ShardReply::Error(ShardError::LastGroup) => Kind::Refused("last group"),
        ShardReply::Error(_) => Kind::Refused("other"),
    }
}

/// What the rules say `op` does to `prev`, computed apart from the
/// controller.
fn expected_kind(op: &ShardOp, prev: &Config, settings: &Settings) -> Kind {
    match op {
        ShardOp::Join { groups } => {
            if groups.contains_key(&0) {
                return Kind::Refused("reserved");
            }
            let mut merged = prev.groups.clone();
            merged.extend(groups.clone());
            if merged.len() > settings.groups_max as usize {
                Kind::Refused("too many")
            } else if merged == prev.groups {
                Kind::Unchanged
            } else {
                Kind::Reconfigured
            }
        }
        ShardOp::Leave { groups } => {
            if !groups.iter().all(|g| prev.groups.contains_key(g)) {
                Kind::Refused("unknown group")
            } else if prev.groups.keys().all(|g| groups.contains(g)) {
                Kind::Refused("last group")
            } else {
                Kind::Reconfigured
            }
        }
        ShardOp::Move { shard, group } => {
            if *shard >= prev.shard_count() {
                Kind::Refused("bad shard")
            } else if *group == 0 {
                Kind::Refused("reserved")
            } else if !prev.groups.contains_key(group) {
                Kind::Refused("unknown group")
            } else if prev.group_of(*shard) == Some(*group) {
                Kind::Unchanged
            } else {
                Kind::Reconfigured
            }
        }
        ShardOp::Query { num } if *num < -1 => Kind::Refused("bad num"),
        ShardOp::Query { .. } => Kind::Read,
    }
}

/// Checks one reconfiguration by its operation's rule.
fn check_step(
    op: &ShardOp,
    prev: &Config,
    next: &Config,
    reached: &mut Reached,
) -> Result<(), String> {
    let joined: BTreeSet<GroupId> = next.groups.keys().copied().collect();
    let changed_set = !joined.iter().eq(prev.groups.keys());
    match op {
        ShardOp::Join { .. } | ShardOp::Leave { .. } if changed_set => {
            check_rebalance(&prev.shards, &joined, &next.shards).map_err(|e| e.to_string())?;
            reached.rebalances += 1;
            reached.shards_moved += moved(&prev.shards, &next.shards) as u64;
        }
        ShardOp::Join { .. } => {
            if next.shards != prev.shards {
                return Err("a servers-only Join moved shards".into());
            }
        }
        ShardOp::Move { shard, group } => {
            if moved(&prev.shards, &next.shards) != 1 || next.group_of(*shard) != Some(*group) {
                return Err("a Move did not move exactly its shard".into());
            }
            if next.groups != prev.groups {
                return Err("a Move changed the groups".into());
            }
        }
        other => return Err(format!("{other:?} made a configuration")),
    }
    Ok(())
}

/// Query(n) answers exactly the configuration made as n, for the newest,
/// a few random n and those around the oldest kept; Compacted below it.
fn check_queries(
    c: &ShardController,
    made: &[Config],
    rng: &mut Rng,
    reached: &mut Reached,
    context: &str,
) {
    let newest_num = made.len() as u64 - 1;
    let oldest = c.oldest_num();
    let mut nums = vec![newest_num, oldest, oldest.saturating_sub(1)];
    nums.extend((0..3).map(|_| rng.range(0, newest_num + 1)));
    for num in nums {
        let expected = if num >= oldest {
            ShardReply::Config(made[num as usize].clone())
        } else {
            reached.compacted += 1;
            ShardReply::Compacted { oldest }
        };
        assert_eq!(query(c, num as i64), expected, "{context}: Query({num})");
    }
    let past = ShardReply::Config(made[newest_num as usize].clone());
    assert_eq!(query(c, newest_num as i64 + 1), past, "{context}");
    assert_eq!(query(c, -1), past, "{context}");
}

type Rebalancer = fn(&[GroupId], &BTreeSet<GroupId>) -> Vec<GroupId>;

/// Runs random Joins and Leaves through `rebalancer` (no controller) and
/// returns the first transition the checker refuses, if any.
fn first_refused_transition(rebalancer: Rebalancer, seeds: u64) -> Option<String> {
    for seed in 0..seeds {
        let mut rng = Rng::new(seed);
        let mut shards = vec![0; [10, 3, 64][(seed % 3) as usize]];
        let mut joined = BTreeSet::new();
        for _ in 0..200 {
            let group = rng.range(1, GROUP_IDS + 1);
            if !joined.insert(group) {
                joined.remove(&group);
            }
            let next = rebalancer(&shards, &joined);
            if let Err(e) = check_rebalance(&shards, &joined, &next) {
                return Some(format!("seed {seed}: {e}"));
            }
            shards = next;
        }
    }
    None
}

/// Balanced, but starts from scratch each time: shard i to the i-th group
/// round robin.
fn from_scratch(prev: &[GroupId], groups: &BTreeSet<GroupId>) -> Vec<GroupId> {
    let groups: Vec<GroupId> = groups.iter().copied().collect();
    (0..prev.len())
        .map(|shard| {
            groups
                .get(shard % groups.len().max(1))
                .copied()
                .unwrap_or(0)
        })
        .collect()
}

/// The real rule but for one subtle slip: the extra shards go to the
/// smallest ids, not to the groups holding the most.
fn extra_to_smallest_ids(prev: &[GroupId], groups: &BTreeSet<GroupId>) -> Vec<GroupId> {
    if groups.is_empty() {
        return vec![0; prev.len()];
    }
    let (base, extra) = (prev.len() / groups.len(), prev.len() % groups.len());
    let targets: BTreeMap<GroupId, usize> = groups
        .iter()
        .enumerate()
        .map(|(rank, &g)| (g, base + usize::from(rank < extra)))
        .collect();
    let mut next = vec![0; prev.len()];
    let mut given: BTreeMap<GroupId, usize> = BTreeMap::new();
    for (shard, group) in prev.iter().enumerate() {
        if let Some(&target) = targets.get(group) {
            let count = given.entry(*group).or_default();
            if *count < target {
                next[shard] = *group;
                *count += 1;
            }
        }
    }
    for slot in next.iter_mut() {
        if *slot == 0 {
            let (&group, _) = targets
                .iter()
                .find(|(g, &t)| given.get(*g).copied().unwrap_or(0) < t)
                .expect("a group below target");
            *slot = group;
            *given.entry(group).or_default() += 1;
        }
    }
    next
}

#[test]
fn the_checker_passes_the_real_rule_over_the_same_transitions() {
    assert_eq!(first_refused_transition(rebalance, 50), None);
}

#[test]
fn the_checker_catches_a_rebalance_from_scratch() {
    let refused = first_refused_transition(from_scratch, 50);
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("where")),
        "{refused:?}"
    );
}

#[test]
fn the_checker_catches_extra_shards_given_to_the_smallest_ids() {
    let refused = first_refused_transition(extra_to_smallest_ids, 50);
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("where")),
        "{refused:?}"
    );
}
