//! The coordinator's record: a cross-group transaction's decision is
//! what this group's log says, and the first decision recorded for a
//! transaction is the only one. A leader that took over finds it here; a
//! participant that waited too long asks, and a transaction with no
//! decision is then recorded aborted (presumed abort), so no crash of
//! any one machine leaves a participant locked.

use synod_shard::GroupId;

use super::{Coordinated, Decision, ShardGroup};
use crate::op::GroupReply;
use crate::txn::{TxnId, TxnOutcome};

impl ShardGroup {
    /// The recorded decision for `id`, if this group coordinated it and
    /// still knows: `(commit, outcome)`. `commit` says whether participants
    /// write; the outcome is what the client hears (a transaction found
    /// already done reports its earlier outcome and writes nothing).
    pub fn decision(&self, id: TxnId) -> Option<(bool, &TxnOutcome)> {
        if let Some(decision) = self.decisions.get(&id) {
            return Some((decision.commit, &decision.outcome));
        }
        match self.coordinated.get(id.client) {
            Some(c) if c.seq == id.seq => Some((c.commit, &c.outcome)),
            _ => None,
        }
    }

    pub(super) fn on_decide(
        &mut self,
        id: TxnId,
        commit: bool,
        participants: Vec<GroupId>,
        outcome: TxnOutcome,
    ) -> GroupReply {
        assert!(
            !commit || matches!(outcome, TxnOutcome::Committed { .. }),
            "a commit reports a committed outcome"
        );
        if let Some((commit, outcome)) = self.decision(id) {
            return GroupReply::Decided {
                commit,
                outcome: outcome.clone(),
            };
        }
        self.record_decision(id, commit, &outcome);
        let decision = Decision {
            commit,
            pending: participants.into_iter().collect(),
            outcome: outcome.clone(),
        };
        if !decision.pending.is_empty() {
            self.decisions.insert(id, decision);
        }
        GroupReply::Decided { commit, outcome }
    }

    /// Remembers the client's latest decided transaction.
    pub(super) fn record_decision(&mut self, id: TxnId, commit: bool, outcome: &TxnOutcome) {
        let newer = self
            .coordinated
            .get(id.client)
            .is_none_or(|c| c.seq < id.seq);
        if newer {
            let entry = Coordinated {
                seq: id.seq,
                commit,
                outcome: outcome.clone(),
            };
            let (count_max, bytes_max) = (self.limits.clients_max, self.limits.clients_bytes_max);
            self.coordinated
                .insert(id.client, entry, count_max, bytes_max);
        }
    }

    pub(super) fn on_forget(&mut self, id: TxnId, group: GroupId) -> GroupReply {
        if let Some(decision) = self.decisions.get_mut(&id) {
            decision.pending.remove(&group);
            if decision.pending.is_empty() {
                self.decisions.remove(&id);
            }
        }
        GroupReply::Forgotten
    }
}
