//! The coordinator's record: a cross-group transaction's decision is
//! what this group's log says, and the first decision recorded for a
//! transaction is the only one. A leader that took over finds it here; a
//! participant that waited too long asks, and a transaction with no
//! decision is then recorded aborted (presumed abort), so no crash of
//! any one machine leaves a participant locked.

use synod_shard::GroupId;

use super::{Coordinated, Decision, ShardGroup};
use crate::op::GroupReply;
use crate::txn::{AbortReason, TxnId, TxnOutcome};

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

    /// True if `id` has no decision here but its client has a newer
    /// transaction decided here. A client runs one transaction at a time
    /// and takes a new id only once the last one was answered (an outcome,
    /// or `WrongGroup`) or given up, so a message for `id` now is a late
    /// copy (a duplicate, a relay, a retry that crossed the answer). It
    /// must not run: the answer the client took for `id` may have been
    /// `WrongGroup`, the promise that `id` never commits, and the table
    /// that recorded it keeps each client's newest transaction only.
    pub fn is_stale(&self, id: TxnId) -> bool {
        self.decision(id).is_none()
            && self
                .coordinated
                .get(id.client)
                .is_some_and(|c| c.seq > id.seq)
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
        // A late copy that went as far as its votes: its participants
        // prepared, so they are told to abort (see `is_stale`).
        let (commit, outcome) = if commit && self.is_stale(id) {
            (false, TxnOutcome::Aborted(AbortReason::Stale))
        } else {
            (commit, outcome)
        };
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
