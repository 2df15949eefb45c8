//! The rebalance rule of `Join` and `Leave`, and the checker that judges a
//! transition by it.
//!
//! With `S` shards and `G` joined groups, a balanced assignment gives every
//! group `S / G` shards and `S % G` of them one more (when `G > S` that is
//! one shard each for `S` groups and none for the rest). Among the balanced
//! assignments the rule picks one that changes the group of as few shards as
//! possible:
//!
//! 1. The `S % G` groups that get one more are those holding the most
//!    shards now, ties broken by the smaller group id.
//! 2. Each group keeps its lowest-numbered shards, up to its target.
//! 3. The shards left over (unassigned, held by a group that left, or above
//!    a group's target) go in increasing order to the groups below their
//!    target, in group id order.
//!
//! Why it is minimal: a group can keep at most `min(held, target)` of its
//! shards, and every other shard moves. Giving the extra shard to a group
//! that holds more than `S / G` keeps one more shard in place; to any other
//! group, none. So the most shards any balanced assignment keeps is
//! `Σ min(held, S / G) + min(h, S % G)`, where `h` counts the groups that
//! hold more than `S / G`, and step 1 reaches it. [`moves_min`] computes
//! that bound by this formula, independently of [`rebalance`], and
//! [`check_rebalance`] holds every transition to it.
//!
//! Everything iterates over ordered collections, so every replica computes
//! the same assignment.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{GroupId, ShardId, UNASSIGNED};

/// The balanced assignment of `prev`'s shards to `groups` that moves the
/// fewest shards (see the module doc). Every shard is [`UNASSIGNED`] when
/// `groups` is empty.
pub fn rebalance(prev: &[GroupId], groups: &BTreeSet<GroupId>) -> Vec<GroupId> {
    assert!(!groups.contains(&UNASSIGNED), "group 0 is never joined");
    if groups.is_empty() {
        return vec![UNASSIGNED; prev.len()];
    }
    let held = held_shards(prev, groups);
    let targets = targets(&held, prev.len());
    let mut next = vec![UNASSIGNED; prev.len()];
    for (group, shards) in &held {
        for &shard in shards.iter().take(targets[group]) {
            next[shard as usize] = *group;
        }
    }
    let free: Vec<usize> = (0..prev.len())
        .filter(|&shard| next[shard] == UNASSIGNED)
        .collect();
    let mut free = free.into_iter();
    for (group, shards) in &held {
        let kept = shards.len().min(targets[group]);
        for _ in kept..targets[group] {
            let shard = free.next().expect("targets sum to the shard count");
            next[shard] = *group;
        }
    }
    assert!(free.next().is_none(), "every shard assigned");
    next
}

/// The shards each of `groups` holds in `prev`, in increasing order; a
/// group holding none maps to an empty list.
fn held_shards(prev: &[GroupId], groups: &BTreeSet<GroupId>) -> BTreeMap<GroupId, Vec<ShardId>> {
    let mut held: BTreeMap<GroupId, Vec<ShardId>> =
        groups.iter().map(|&group| (group, Vec::new())).collect();
    for (shard, group) in prev.iter().enumerate() {
        if let Some(shards) = held.get_mut(group) {
            shards.push(ShardId::try_from(shard).expect("shard count fits in u32"));
        }
    }
    held
}

/// Each group's shard count in the balanced assignment: `S / G`, plus one
/// for the `S % G` groups holding the most shards (ties: smaller id).
fn targets(held: &BTreeMap<GroupId, Vec<ShardId>>, shard_count: usize) -> BTreeMap<GroupId, usize> {
    let (base, extra) = (shard_count / held.len(), shard_count % held.len());
    let mut by_holding: Vec<(usize, GroupId)> = held
        .iter()
        .map(|(&group, shards)| (shards.len(), group))
        .collect();
    // Most shards first; among equals the smaller id first.
    by_holding.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    by_holding
        .iter()
        .enumerate()
        .map(|(rank, &(_, group))| (group, base + usize::from(rank < extra)))
        .collect()
}

/// The number of shards whose group differs between `prev` and `next`.
pub fn moved(prev: &[GroupId], next: &[GroupId]) -> usize {
    assert_eq!(prev.len(), next.len(), "configurations of one controller");
    prev.iter().zip(next).filter(|(a, b)| a != b).count()
}

/// The fewest shards any balanced assignment to `groups` must move from
/// `prev`, by the formula in the module doc (not by running the rule).
pub fn moves_min(prev: &[GroupId], groups: &BTreeSet<GroupId>) -> usize {
    if groups.is_empty() {
        return prev.iter().filter(|&&group| group != UNASSIGNED).count();
    }
    let shard_count = prev.len();
    let (base, extra) = (shard_count / groups.len(), shard_count % groups.len());
    let mut kept = 0;
    let mut above_base = 0;
    for group in groups {
        let held = prev.iter().filter(|&g| g == group).count();
        kept += held.min(base);
        above_base += usize::from(held > base);
    }
    shard_count - kept - above_base.min(extra)
}

/// A `Join` or `Leave` transition that breaks the rebalance rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the shard count changed from {prev} to {next}")]
    ShardCount { prev: usize, next: usize },
    #[error("shard {shard} is unassigned although {groups} groups are joined")]
    Unassigned { shard: usize, groups: usize },
    #[error("shard {shard} is assigned to group {group}, which is not joined")]
    NotJoined { shard: usize, group: GroupId },
    #[error("unbalanced: group {busiest} holds {most} shards, group {idlest} {fewest}")]
    Unbalanced {
        busiest: GroupId,
        most: usize,
        idlest: GroupId,
        fewest: usize,
    },
    #[error("{moved} shards moved where {min} would do")]
    NotMinimal { moved: usize, min: usize },
}

/// Checks that `next` is a balanced assignment of `prev`'s shards to
/// `groups` that moves no more shards than [`moves_min`]: every shard
/// assigned to a joined group iff some group is joined, per-group counts
/// within one of each other, and the fewest moves.
pub fn check_rebalance(
    prev: &[GroupId],
    groups: &BTreeSet<GroupId>,
    next: &[GroupId],
) -> Result<(), TransitionError> {
    if prev.len() != next.len() {
        return Err(TransitionError::ShardCount {
            prev: prev.len(),
            next: next.len(),
        });
    }
    check_assigned(next, groups)?;
    check_balanced(next, groups)?;
    let (moved, min) = (moved(prev, next), moves_min(prev, groups));
    if moved != min {
        return Err(TransitionError::NotMinimal { moved, min });
    }
    Ok(())
}

/// Every shard is assigned to a joined group, or every shard is
/// unassigned when none is joined.
pub fn check_assigned(
    shards: &[GroupId],
    groups: &BTreeSet<GroupId>,
) -> Result<(), TransitionError> {
    for (shard, &group) in shards.iter().enumerate() {
        if group == UNASSIGNED && !groups.is_empty() {
            return Err(TransitionError::Unassigned {
                shard,
                groups: groups.len(),
            });
        }
        if group != UNASSIGNED && !groups.contains(&group) {
            return Err(TransitionError::NotJoined { shard, group });
        }
    }
    Ok(())
}

/// Per-group shard counts differ by at most one among joined groups.
fn check_balanced(shards: &[GroupId], groups: &BTreeSet<GroupId>) -> Result<(), TransitionError> {
    let counts = groups
        .iter()
        .map(|group| (shards.iter().filter(|&g| g == group).count(), *group));
    let (Some(most), Some(fewest)) = (
        counts.clone().max_by_key(|&(count, _)| count),
        counts.min_by_key(|&(count, _)| count),
    ) else {
        return Ok(());
    };
    if most.0 > fewest.0 + 1 {
        return Err(TransitionError::Unbalanced {
            busiest: most.1,
            most: most.0,
            idlest: fewest.1,
            fewest: fewest.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(groups: &[GroupId]) -> BTreeSet<GroupId> {
        groups.iter().copied().collect()
    }

    #[test]
    fn the_first_join_takes_every_shard() {
        let next = rebalance(&[0; 10], &set(&[5]));
        assert_eq!(next, vec![5; 10]);
    }

    #[test]
    fn a_second_join_takes_half_and_the_first_keeps_its_lowest_shards() {
        let next = rebalance(&[5; 10], &set(&[5, 9]));
        assert_eq!(next, vec![5, 5, 5, 5, 5, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn the_extra_shard_goes_to_the_group_holding_more_then_to_the_smaller_id() {
        // 3 shards, 2 groups: group 9 holds 2, so it keeps 2 (1 move: none).
        assert_eq!(rebalance(&[9, 9, 0], &set(&[4, 9])), vec![9, 9, 4]);
        // Equal holdings: the smaller id gets the extra shard.
        assert_eq!(rebalance(&[0, 0, 0], &set(&[4, 9])), vec![4, 4, 9]);
    }

    #[test]
    fn more_groups_than_shards_leaves_some_groups_without_one() {
        let next = rebalance(&[0, 0], &set(&[1, 2, 3]));
        assert_eq!(next, vec![1, 2]);
        // The groups already holding a shard keep it.
        assert_eq!(rebalance(&[3, 2], &set(&[1, 2, 3])), vec![3, 2]);
    }

    #[test]
    fn leaving_every_group_leaves_every_shard_unassigned() {
        assert_eq!(rebalance(&[1, 2, 1], &set(&[])), vec![0, 0, 0]);
        assert_eq!(moves_min(&[1, 2, 1], &set(&[])), 3);
    }

    /// Every assignment of `shard_count` shards to `groups` (plus
    /// unassigned when none are joined), by counting in base `G`.
    fn every_assignment(shard_count: usize, groups: &[GroupId]) -> Vec<Vec<GroupId>> {
        let choices: Vec<GroupId> = if groups.is_empty() {
            vec![UNASSIGNED]
        } else {
            groups.to_vec()
        };
        let total = choices.len().pow(shard_count as u32);
        (0..total)
            .map(|mut n| {
                (0..shard_count)
                    .map(|_| {
                        let group = choices[n % choices.len()];
                        n /= choices.len();
                        group
                    })
                    .collect()
            })
            .collect()
    }

    /// The formula and the rule against brute force: for every previous
    /// assignment of up to 5 shards over groups 0..=3 and every set of
    /// groups from 1..=4, the fewest moves among all balanced assignments
    /// equals `moves_min`, and `rebalance` achieves it.
    #[test]
    fn moves_min_is_the_minimum_over_every_balanced_assignment() {
        let universe: Vec<GroupId> = (1..=4).collect();
        let mut cases = 0;
        for shard_count in 1..=5 {
            for prev in every_assignment(shard_count, &[0, 1, 2, 3]) {
                for mask in 0..16u32 {
                    let groups: Vec<GroupId> = universe
                        .iter()
                        .copied()
                        .filter(|g| mask & (1 << (g - 1)) != 0)
                        .collect();
                    let group_set = set(&groups);
                    let best = every_assignment(shard_count, &groups)
                        .into_iter()
                        .filter(|next| check_balanced(next, &group_set).is_ok())
                        .map(|next| moved(&prev, &next))
                        .min()
                        .expect("a balanced assignment exists");
                    assert_eq!(moves_min(&prev, &group_set), best, "{prev:?} {groups:?}");
                    let next = rebalance(&prev, &group_set);
                    assert_eq!(check_rebalance(&prev, &group_set, &next), Ok(()));
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 16 * (4 + 16 + 64 + 256 + 1024));
    }

    #[test]
    fn the_checker_catches_a_balanced_but_not_minimal_transition() {
        let prev = vec![1, 1, 1, 1, 1, 2, 2, 2, 2, 2];
        // Group 3 joins: 3 shards must move; a reshuffle moves more.
        let bad = vec![3, 3, 3, 1, 1, 1, 1, 2, 2, 2];
        assert_eq!(
            check_rebalance(&prev, &set(&[1, 2, 3]), &bad),
            Err(TransitionError::NotMinimal { moved: 5, min: 3 })
        );
    }

    #[test]
    fn the_checker_catches_unbalanced_unassigned_and_foreign_shards() {
        let groups = set(&[1, 2]);
        let prev = vec![1, 1, 1, 1];
        assert!(matches!(
            check_rebalance(&prev, &groups, &[1, 1, 1, 2]),
            Err(TransitionError::Unbalanced {
                most: 3,
                fewest: 1,
                ..
            })
        ));
        assert_eq!(
            check_rebalance(&prev, &groups, &[1, 1, 2, 0]),
            Err(TransitionError::Unassigned {
                shard: 3,
                groups: 2
            })
        );
        assert_eq!(
            check_rebalance(&prev, &groups, &[1, 1, 2, 7]),
            Err(TransitionError::NotJoined { shard: 3, group: 7 })
        );
        assert_eq!(
            check_rebalance(&prev, &set(&[]), &[0, 0, 0, 1]),
            Err(TransitionError::NotJoined { shard: 3, group: 1 })
        );
        assert!(matches!(
            check_rebalance(&prev, &groups, &[1, 2]),
            Err(TransitionError::ShardCount { prev: 4, next: 2 })
        ));
    }
}
