//! The partial-connectivity scenarios of the OmniPaxos paper (Ng et al.,
//! EuroSys '23), where Raft and Multi-Paxos variants lose liveness. Each
//! cuts links of a five-node cluster at a scripted moment, relative to
//! whoever leads then, and keeps them cut: the cluster must go on serving
//! clients *while* the partition lasts.

use std::collections::BTreeSet;
use synod_paxos::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Only one node C is connected to everyone; the leader reaches only
    /// C, and every other node reaches only C. Only C can lead.
    QuorumLoss,
    /// A node B first falls behind (cut off while writes go on); then the
    /// leader is cut from everyone and B is the only node connected to a
    /// majority. Only the outdated B can lead.
    ConstrainedElection,
    /// A chain: the leader A and a node C cannot reach each other; B
    /// bridges them; the rest see everyone. No one may duel forever.
    Chained,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::QuorumLoss,
        Scenario::ConstrainedElection,
        Scenario::Chained,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::QuorumLoss => "quorum-loss",
            Scenario::ConstrainedElection => "constrained-election",
            Scenario::Chained => "chained",
        }
    }

    /// The directed links to cut at step `step` (`None` once the script
    /// is over). `leader` leads now; `special` is the node the scenario
    /// singles out (C, or the outdated B), chosen at step 0.
    pub fn links(
        self,
        step: usize,
        ids: &[NodeId],
        leader: NodeId,
        special: NodeId,
    ) -> Option<BTreeSet<(NodeId, NodeId)>> {
        let mut cut = BTreeSet::new();
        let mut both = |a: NodeId, b: NodeId| {
            if a != b {
                cut.insert((a, b));
                cut.insert((b, a));
            }
        };
        match (self, step) {
            (Scenario::QuorumLoss, 0) | (Scenario::ConstrainedElection, 1) => {
                // Every link that does not touch `special` is cut.
                for (i, a) in ids.iter().enumerate() {
                    for b in &ids[i + 1..] {
                        if *a != special && *b != special {
                            both(*a, *b);
                        }
                    }
                }
                if self == Scenario::ConstrainedElection {
                    // The leader is cut from everyone, the outdated node too.
                    both(leader, special);
                }
            }
            (Scenario::ConstrainedElection, 0) => {
                // The special node falls behind while writes go on.
                for n in ids {
                    both(special, *n);
                }
            }
            (Scenario::Chained, 0) => both(leader, special),
            _ => return None,
        }
        Some(cut)
    }
}
