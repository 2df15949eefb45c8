//! A group's part in transactions: one-group transactions run whole at
//! apply; a cross-group transaction's part is locked at `Prepare` (no-wait:
//! a lock held by another transaction votes no, so nothing ever waits and
//! no deadlock can form) and written or dropped at `Finish`.

use std::collections::BTreeSet;

use synod_shard::{GroupId, ShardId};

use super::{Lock, Memo, Prepared, ShardGroup, Slot};
use crate::bugs::ShardBug;
use crate::op::{GroupReply, Vote};
use crate::shard::Seen;
use crate::txn::{AbortReason, ReadResult, Txn, TxnId, TxnOutcome, WriteResult};

impl ShardGroup {
    /// A transaction the client sent to this group as its coordinator,
    /// run here whole. Its outcome, and a refusal to run it here
    /// (`WrongGroup`, after which the client may go to another
    /// coordinator), are recorded as this group's decision for it: the
    /// first decision logged wins, so a decision an earlier leader left
    /// in flight cannot commit after the client was sent elsewhere.
    pub(super) fn on_client(&mut self, id: TxnId, txn: Txn) -> GroupReply {
        if let Some((_, outcome)) = self.decision(id) {
            return match outcome {
                TxnOutcome::Aborted(AbortReason::WrongGroup) => GroupReply::WrongGroup {
                    num: self.config.num,
                },
                outcome => GroupReply::Txn(outcome.clone()),
            };
        }
        let reply = self.run_here(id, txn);
        match &reply {
            GroupReply::Txn(_) if self.bugs.has(ShardBug::ForgetOneGroupDecisions) => {}
            GroupReply::Txn(outcome) => {
                let commit = matches!(outcome, TxnOutcome::Committed { .. });
                self.record_decision(id, commit, outcome);
            }
            GroupReply::WrongGroup { .. } => {
                let refused = TxnOutcome::Aborted(AbortReason::WrongGroup);
                self.record_decision(id, false, &refused);
            }
            _ => {}
        }
        reply
    }

    fn run_here(&mut self, id: TxnId, txn: Txn) -> GroupReply {
        if let Err(reason) = self.within_limits(&txn) {
            return GroupReply::Txn(TxnOutcome::Aborted(reason));
        }
        let Some(shards) = self.served_shards(&txn) else {
            return GroupReply::WrongGroup {
                num: self.config.num,
            };
        };
        if let Some(outcome) = self.seen_in(&shards, id) {
            return GroupReply::Txn(outcome);
        }
        if self.is_stale(id) {
            // A late copy of a transaction its client has moved on from:
            // not run (`is_stale`), and not recorded, as it is older than
            // the client's newest.
            return GroupReply::Txn(TxnOutcome::Aborted(AbortReason::Stale));
        }
        if self.prepared.contains_key(&id) {
            return GroupReply::Busy;
        }
        let refused = self
            .lock_conflict(id, &txn)
            .or_else(|| self.failed_cond(&txn));
        let outcome = match refused.map_or_else(|| self.read_within_limit(&txn), Err) {
            Err(reason) => TxnOutcome::Aborted(reason),
            Ok(reads) => {
                let writes = self.reserve(&txn);
                self.write(&txn, &writes);
                TxnOutcome::Committed { reads, writes }
            }
        };
        for &shard in &shards {
            let limits = self.limits.clone();
            self.data_mut(shard).remember(id, &outcome, &limits);
        }
        GroupReply::Txn(outcome)
    }

    pub(super) fn on_prepare(&mut self, id: TxnId, txn: Txn, coordinator: GroupId) -> GroupReply {
        if let Some(prepared) = self.prepared.get(&id) {
            if prepared.coordinator != coordinator {
                return GroupReply::Vote(Vote::No(AbortReason::EarlierAttempt));
            }
            // A leader before the coordinator's current one may have split
            // the transaction by another configuration: a yes for another
            // part would leave keys of this one unlocked.
            if prepared.txn != txn {
                return GroupReply::Vote(Vote::No(AbortReason::WrongGroup));
            }
            return GroupReply::Vote(Vote::Yes {
                reads: prepared.reads.clone(),
                writes: prepared.writes.clone(),
            });
        }
        if let Some(shards) = self.served_shards(&txn) {
            match self.seen_in(&shards, id) {
                Some(TxnOutcome::Aborted(AbortReason::Stale)) => {
                    return GroupReply::Vote(Vote::No(AbortReason::Stale))
                }
                Some(outcome) => return GroupReply::Vote(Vote::Done(outcome)),
                None => {}
            }
        }
        if let Some(memo) = self.memo.get(id.client) {
            if memo.seq > id.seq || (memo.seq == id.seq && memo.refused.is_none()) {
                return GroupReply::Vote(Vote::No(AbortReason::Stale));
            }
            if memo.seq == id.seq {
                let reason = memo.refused.clone().expect("checked above");
                return GroupReply::Vote(Vote::No(reason));
            }
        }
        let vote = self.vote(id, &txn);
        match &vote {
            Vote::No(reason) => self.memoize(id, Some(reason.clone())),
            Vote::Done(_) => unreachable!("answered from the tables above"),
            Vote::Yes { reads, writes } => {
                let shards = self
                    .served_shards(&txn)
                    .expect("voted yes on served shards");
                self.lock(id, &txn);
                let prepared = Prepared {
                    txn,
                    coordinator,
                    shards,
                    reads: reads.clone(),
                    writes: writes.clone(),
                };
                self.prepared.insert(id, prepared);
            }
        }
        GroupReply::Vote(vote)
    }

    fn vote(&mut self, id: TxnId, txn: &Txn) -> Vote {
        if let Err(reason) = self.within_limits(txn) {
            return Vote::No(reason);
        }
        if self.served_shards(txn).is_none() {
            return Vote::No(AbortReason::WrongGroup);
        }
        if let Some(reason) = self
            .lock_conflict(id, txn)
            .or_else(|| self.failed_cond(txn))
        {
            return Vote::No(reason);
        }
        match self.read_within_limit(txn) {
            Ok(reads) => Vote::Yes {
                reads,
                writes: self.reserve(txn),
            },
            Err(reason) => Vote::No(reason),
        }
    }

    /// What the exactly-once tables of `shards` say of `id`: its outcome
    /// if it ran, `Aborted(Stale)` if the client has run a newer one.
    fn seen_in(&self, shards: &BTreeSet<ShardId>, id: TxnId) -> Option<TxnOutcome> {
        shards
            .iter()
            .find_map(|&shard| match self.data(shard).seen(id) {
                Seen::Done(outcome) => Some(outcome.clone()),
                Seen::Stale => Some(TxnOutcome::Aborted(AbortReason::Stale)),
                Seen::New => None,
            })
    }

    pub(super) fn on_finish(
        &mut self,
        id: TxnId,
        coordinator: GroupId,
        commit: bool,
        outcome: TxnOutcome,
    ) -> GroupReply {
        if self
            .prepared
            .get(&id)
            .is_some_and(|p| p.coordinator != coordinator)
        {
            // Another coordinator's attempt holds it: not ours to finish.
            return GroupReply::Finished;
        }
        match self.prepared.remove(&id) {
            Some(prepared) => {
                if commit {
                    self.write(&prepared.txn, &prepared.writes);
                    for &shard in &prepared.shards {
                        let limits = self.limits.clone();
                        self.data_mut(shard).remember(id, &outcome, &limits);
                    }
                }
                self.unlock(id, &prepared.txn);
                self.memoize(id, None);
                self.drain(&prepared.shards);
            }
            None => {
                // Never prepared here (the prepare was lost, refused or is
                // still on its way): remember the end so that a prepare
                // arriving late votes no instead of locking forever.
                assert!(
                    !commit || self.memo.get(id.client).is_some_and(|m| m.seq >= id.seq),
                    "{id:?} committed without this group's yes vote"
                );
                self.memoize(id, None);
            }
        }
        GroupReply::Finished
    }

    fn memoize(&mut self, id: TxnId, refused: Option<AbortReason>) {
        let newer = self.memo.get(id.client).is_none_or(|m| m.seq < id.seq);
        if newer {
            let memo = Memo {
                seq: id.seq,
                refused,
            };
            let (count_max, bytes_max) = (self.limits.clients_max, self.limits.clients_bytes_max);
            self.memo.insert(id.client, memo, count_max, bytes_max);
        }
    }

    pub(super) fn within_limits(&self, txn: &Txn) -> Result<(), AbortReason> {
        let keys = txn.keys().len();
        if keys > self.limits.txn_keys_max as usize {
            let max = self.limits.txn_keys_max;
            return Err(AbortReason::TooLarge(format!(
                "{keys} keys, txn_keys_max {max}"
            )));
        }
        let bytes = txn.bytes();
        if bytes > self.limits.txn_bytes_max {
            let max = self.limits.txn_bytes_max;
            return Err(AbortReason::TooLarge(format!(
                "{bytes} bytes, txn_bytes_max {max}"
            )));
        }
        Ok(())
    }

    /// A key `txn` needs that another transaction's lock keeps from it.
    fn lock_conflict(&self, id: TxnId, txn: &Txn) -> Option<AbortReason> {
        let written = txn.written_keys();
        txn.keys().into_iter().find_map(|key| {
            let free = match self.locks.get(key) {
                None => true,
                Some(Lock::Exclusive(holder)) => *holder == id,
                Some(Lock::Shared(holders)) => {
                    !written.contains(key) || holders.iter().all(|h| *h == id)
                }
            };
            (!free).then(|| AbortReason::Conflict { key: key.to_vec() })
        })
    }

    fn failed_cond(&self, txn: &Txn) -> Option<AbortReason> {
        txn.conds.iter().find_map(|cond| {
            let data = self.data(self.shard_of(cond.key()));
            data.holds(cond).err()
        })
    }

    /// Reads the transaction's reads, if they fit in `reads_bytes_max`.
    fn read_within_limit(&self, txn: &Txn) -> Result<Vec<ReadResult>, AbortReason> {
        let reads: Vec<ReadResult> = txn
            .reads
            .iter()
            .map(|key| self.data(self.shard_of(key)).read(key))
            .collect();
        let bytes: u64 = reads.iter().map(ReadResult::bytes).sum();
        let max = self.limits.reads_bytes_max;
        if bytes > max {
            let why = format!("reads of {bytes} bytes, reads_bytes_max {max}");
            return Err(AbortReason::TooLarge(why));
        }
        Ok(reads)
    }

    /// Gives each write its revision.
    fn reserve(&mut self, txn: &Txn) -> Vec<WriteResult> {
        txn.writes
            .iter()
            .map(|w| WriteResult {
                key: w.key.clone(),
                rev: self.data_mut(self.shard_of(&w.key)).reserve_rev(),
            })
            .collect()
    }

    fn write(&mut self, txn: &Txn, revs: &[WriteResult]) {
        for (write, rev) in txn.writes.iter().zip(revs) {
            let shard = self.shard_of(&write.key);
            self.data_mut(shard)
                .write(&write.key, write.value.clone(), rev.rev);
        }
    }

    fn lock(&mut self, id: TxnId, txn: &Txn) {
        let written = txn.written_keys();
        for key in txn.keys() {
            let key_buf = key.to_vec();
            if written.contains(key) {
                self.locks.insert(key_buf, Lock::Exclusive(id));
            } else {
                match self
                    .locks
                    .entry(key_buf)
                    .or_insert_with(|| Lock::Shared(BTreeSet::new()))
                {
                    Lock::Shared(holders) => {
                        holders.insert(id);
                    }
                    Lock::Exclusive(holder) => assert_eq!(*holder, id, "lock checked free"),
                }
            }
        }
    }

    fn unlock(&mut self, id: TxnId, txn: &Txn) {
        for key in txn.keys() {
            let emptied = match self.locks.get_mut(key) {
                Some(Lock::Exclusive(holder)) => *holder == id,
                Some(Lock::Shared(holders)) => {
                    holders.remove(&id);
                    holders.is_empty()
                }
                None => false,
            };
            if emptied {
                self.locks.remove(key);
            }
        }
    }

    /// Shards leaving this group wait for the transactions locking them;
    /// once none is left, the hand-over starts.
    pub(super) fn drain(&mut self, shards: &BTreeSet<ShardId>) {
        for shard in shards {
            let still_locked = self.prepared.values().any(|p| p.shards.contains(shard));
            if still_locked {
                continue;
            }
            if let Some(Slot::Draining { to, num, .. }) = self.slots.get(shard) {
                let (to, num) = (*to, *num);
                let Some(Slot::Draining { data, .. }) = self.slots.remove(shard) else {
                    unreachable!("matched above")
                };
                self.slots.insert(*shard, Slot::Sending { to, num, data });
            }
        }
    }
}
