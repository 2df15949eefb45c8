//! The shapes a random partition takes. Each is a set of cut directed
//! links; which nodes it singles out is drawn from the run's randomness.
//!
//! - halves: every node on a random side, links across cut both ways;
//! - isolated leader: the leader (or the first node, with none) cut off;
//! - majorities ring: each node reaches only its two ring neighbours, so
//!   with five nodes each sees a different majority;
//! - one way: a node hears nobody, or nobody hears it;
//! - chain: two nodes cut from each other, the rest bridge them.

use std::collections::BTreeSet;
use synod_paxos::{NodeId, Rng};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Halves,
    IsolatedLeader,
    MajoritiesRing,
    OneWay,
    Chain,
}

impl Shape {
    pub const ALL: [Shape; 5] = [
        Shape::Halves,
        Shape::IsolatedLeader,
        Shape::MajoritiesRing,
        Shape::OneWay,
        Shape::Chain,
    ];
}

/// A partition: the directed links it cuts and what it looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub shape: Shape,
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub description: String,
}

/// A partition of a random shape over `ids` (at least one node).
pub fn draw(rng: &mut Rng, ids: &[NodeId], leader: Option<NodeId>) -> Partition {
    let shape = Shape::ALL[rng.range(0, Shape::ALL.len() as u64) as usize];
    shaped(shape, rng, ids, leader)
}

/// A partition of the given shape over `ids` (at least one node).
pub fn shaped(shape: Shape, rng: &mut Rng, ids: &[NodeId], leader: Option<NodeId>) -> Partition {
    let n = ids.len();
    let pick = |rng: &mut Rng| ids[rng.range(0, n as u64) as usize];
    let mut cut = BTreeSet::new();
    let description = match shape {
        Shape::Halves => {
            let side: BTreeSet<NodeId> = ids.iter().copied().filter(|_| rng.chance(0.5)).collect();
            for a in ids {
                for b in ids {
                    if side.contains(a) != side.contains(b) {
                        cut.insert((*a, *b));
                    }
                }
            }
            format!("halves {side:?} | rest")
        }
        Shape::IsolatedLeader => {
            let l = leader.unwrap_or(ids[0]);
            for b in ids.iter().filter(|b| **b != l) {
                cut.insert((l, *b));
                cut.insert((*b, l));
            }
            format!("leader n{l} isolated")
        }
        Shape::MajoritiesRing => {
            for (i, a) in ids.iter().enumerate() {
                for (j, b) in ids.iter().enumerate() {
                    let d = (i + n - j) % n;
                    if d != 0 && d != 1 && d != n - 1 {
                        cut.insert((*a, *b));
                    }
                }
            }
            "majorities ring".to_string()
        }
        Shape::OneWay => {
            let x = pick(rng);
            let inbound = rng.chance(0.5);
            for b in ids.iter().filter(|b| **b != x) {
                cut.insert(if inbound { (*b, x) } else { (x, *b) });
            }
            let how = if inbound {
                "hears nobody"
            } else {
                "is heard by nobody"
            };
            format!("one-way: n{x} {how}")
        }
        Shape::Chain => {
            let (a, b) = (pick(rng), pick(rng));
            if a != b {
                cut.insert((a, b));
                cut.insert((b, a));
            }
            format!("chain: n{a} and n{b} cut from each other")
        }
    };
    Partition {
        shape,
        cut,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(p: &Partition, ids: &[NodeId], from: NodeId) -> usize {
        ids.iter()
            .filter(|to| **to != from && !p.cut.contains(&(from, **to)))
            .count()
    }

    #[test]
    fn in_a_ring_of_five_each_node_reaches_exactly_its_two_neighbours() {
        let ids = [1, 2, 3, 4, 5];
        let p = shaped(Shape::MajoritiesRing, &mut Rng::new(1), &ids, None);
        for id in ids {
            assert_eq!(reach(&p, &ids, id), 2, "n{id}");
        }
        assert!(!p.cut.contains(&(1, 5)) && !p.cut.contains(&(1, 2)));
        // With three nodes the ring is everyone.
        let p = shaped(Shape::MajoritiesRing, &mut Rng::new(1), &[1, 2, 3], None);
        assert!(p.cut.is_empty());
    }

    #[test]
    fn an_isolated_leader_is_cut_both_ways_from_everyone() {
        for ids in [&[1, 2, 3][..], &[1, 2, 3, 4, 5][..]] {
            let p = shaped(Shape::IsolatedLeader, &mut Rng::new(2), ids, Some(2));
            assert_eq!(reach(&p, ids, 2), 0);
            assert!(ids.iter().all(|b| *b == 2 || p.cut.contains(&(*b, 2))));
            assert_eq!(p.cut.len(), 2 * (ids.len() - 1));
        }
    }

    #[test]
    fn one_way_cuts_one_direction_around_one_node() {
        let ids = [1, 2, 3, 4, 5];
        for seed in 0..20 {
            let p = shaped(Shape::OneWay, &mut Rng::new(seed), &ids, None);
            assert_eq!(p.cut.len(), 4);
            assert!(p.cut.iter().all(|(a, b)| !p.cut.contains(&(*b, *a))));
        }
    }

    #[test]
    fn halves_cut_exactly_the_links_across_and_a_chain_one_pair() {
        let ids = [1, 2, 3, 4, 5];
        for seed in 0..20 {
            let p = shaped(Shape::Halves, &mut Rng::new(seed), &ids, None);
            assert!(p.cut.iter().all(|(a, b)| p.cut.contains(&(*b, *a))));
            let c = shaped(Shape::Chain, &mut Rng::new(seed), &ids, None);
            assert!(c.cut.len() == 2 || c.cut.is_empty());
        }
    }

    #[test]
    fn every_shape_is_drawn() {
        let mut rng = Rng::new(3);
        let drawn: BTreeSet<String> = (0..200)
            .map(|_| format!("{:?}", draw(&mut rng, &[1, 2, 3], Some(1)).shape))
            .collect();
        assert_eq!(drawn.len(), Shape::ALL.len());
    }
}
