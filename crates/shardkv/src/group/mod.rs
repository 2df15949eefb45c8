//! A replica group's replicated state: which shards it serves in which
//! configuration, their data, the locks and votes of transactions it
//! takes part in, and the decisions of those it coordinates.

mod coord;
mod migrate;
pub use migrate::Piece;
mod participant;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use synod_shard::{Config, GroupId, ShardId};

use crate::bugs::ShardBugs;
use crate::limits::Limits;
use crate::op::{GroupOp, GroupReply};
use crate::recent::{Recent, Weigh};
use crate::shard::ShardData;
use crate::txn::{AbortReason, ReadResult, Txn, TxnId, TxnOutcome, WriteResult};

/// Where one shard stands in this group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// Ours in the current configuration, with all its data.
    Serving(ShardData),
    /// Ours in the current configuration, arriving from `from`: the
    /// entries so far (up to `after`). Not served until whole.
    Waiting {
        from: GroupId,
        staged: ShardData,
        #[serde(with = "serde_bytes")]
        after: Option<Vec<u8>>,
    },
    /// Leaving for `to` in configuration `num`, but prepared transactions
    /// still hold locks on it: it waits for their decisions, serves no
    /// new request, then becomes `Sending`.
    Draining {
        to: GroupId,
        num: u64,
        data: ShardData,
    },
    /// Handed to `to` in configuration `num`; kept until `to` confirms it
    /// has it all (`Release`). `to` is `UNASSIGNED` when the new
    /// configuration has no group: the data stays here, served by none.
    Sending {
        to: GroupId,
        num: u64,
        data: ShardData,
    },
}

/// A transaction this group voted yes on and has not yet finished.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prepared {
    pub txn: Txn,
    pub coordinator: GroupId,
    pub shards: BTreeSet<ShardId>,
    pub reads: Vec<ReadResult>,
    pub writes: Vec<WriteResult>,
}

/// Who holds a key's lock: one writer, or readers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lock {
    Exclusive(TxnId),
    Shared(BTreeSet<TxnId>),
}

/// A participant's record of a client's latest transaction it voted no
/// on or finished, so a late or repeated prepare is answered the same.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Memo {
    pub seq: u64,
    /// `Some` if the vote was no (the reason), `None` once finished.
    pub refused: Option<AbortReason>,
}

impl Weigh for Memo {
    fn weight(&self) -> u64 {
        8 + self
            .refused
            .as_ref()
            .map_or(0, |r| r.to_string().len() as u64)
    }
}

/// A client's latest transaction this group coordinated, and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coordinated {
    pub seq: u64,
    /// Whether participants write (a transaction found already done
    /// reports its earlier outcome and writes nothing).
    pub commit: bool,
    pub outcome: TxnOutcome,
}

impl Weigh for Coordinated {
    fn weight(&self) -> u64 {
        9 + self.outcome.weight()
    }
}

/// A decision this group recorded as coordinator, kept until every
/// participant has finished it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub commit: bool,
    pub pending: BTreeSet<GroupId>,
    pub outcome: TxnOutcome,
}

/// A replica group's state machine (see the crate docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardGroup {
    gid: GroupId,
    limits: Limits,
    config: Config,
    slots: BTreeMap<ShardId, Slot>,
    locks: BTreeMap<Vec<u8>, Lock>,
    prepared: BTreeMap<TxnId, Prepared>,
    memo: Recent<Memo>,
    decisions: BTreeMap<TxnId, Decision>,
    /// Each client's latest transaction this group coordinated.
    coordinated: Recent<Coordinated>,
    /// Deliberate bugs (the `broken` feature); never replicated.
    #[serde(skip)]
    bugs: ShardBugs,
}

impl ShardGroup {
    /// Group `gid` before its first configuration (config 0: no shards).
    pub fn new(gid: GroupId, shard_count: u32, limits: Limits) -> ShardGroup {
        ShardGroup {
            gid,
            limits,
            config: Config::initial(shard_count),
            slots: BTreeMap::new(),
            locks: BTreeMap::new(),
            prepared: BTreeMap::new(),
            memo: Recent::default(),
            decisions: BTreeMap::new(),
            coordinated: Recent::default(),
            bugs: ShardBugs::default(),
        }
    }

    /// Takes `other`'s replicated state, keeping this replica's bugs.
    pub(crate) fn replace_state(&mut self, other: ShardGroup) {
        let bugs = std::mem::take(&mut self.bugs);
        *self = other;
        self.bugs = bugs;
    }

    /// Turns on deliberate bugs (the `broken` feature).
    pub fn set_bugs(&mut self, bugs: ShardBugs) {
        self.bugs = bugs;
    }

    pub fn gid(&self) -> GroupId {
        self.gid
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn slots(&self) -> &BTreeMap<ShardId, Slot> {
        &self.slots
    }

    pub fn prepared(&self) -> &BTreeMap<TxnId, Prepared> {
        &self.prepared
    }

    pub fn decisions(&self) -> &BTreeMap<TxnId, Decision> {
        &self.decisions
    }

    /// The shards this group serves now.
    pub fn serving(&self) -> impl Iterator<Item = (ShardId, &ShardData)> {
        self.slots.iter().filter_map(|(&shard, slot)| match slot {
            Slot::Serving(data) => Some((shard, data)),
            _ => None,
        })
    }

    /// Applies one op of the group's log.
    pub fn apply(&mut self, op: GroupOp) -> GroupReply {
        match op {
            GroupOp::Config(config) => self.on_config(config),
            GroupOp::Client { id, txn } => self.on_client(id, txn),
            GroupOp::Prepare {
                id,
                txn,
                coordinator,
            } => self.on_prepare(id, txn, coordinator),
            GroupOp::Finish {
                id,
                coordinator,
                commit,
                outcome,
            } => self.on_finish(id, coordinator, commit, outcome),
            GroupOp::Install {
                num,
                shard,
                after,
                entries,
                tail,
            } => self.on_install(num, shard, after, entries, tail),
            GroupOp::Release { num, shard } => self.on_release(num, shard),
            GroupOp::Decide {
                id,
                commit,
                participants,
                outcome,
            } => self.on_decide(id, commit, participants, outcome),
            GroupOp::Forget { id, group } => self.on_forget(id, group),
        }
    }

    /// The shards of `txn`'s keys, if this group serves every one now.
    fn served_shards(&self, txn: &Txn) -> Option<BTreeSet<ShardId>> {
        let shards = txn.shards(self.config.shard_count());
        let all = shards
            .iter()
            .all(|s| matches!(self.slots.get(s), Some(Slot::Serving(_))));
        all.then_some(shards)
    }

    /// The data of a shard this group holds and may write: serving, or
    /// draining (a prepared transaction finishing).
    fn data_mut(&mut self, shard: ShardId) -> &mut ShardData {
        match self.slots.get_mut(&shard) {
            Some(Slot::Serving(data)) | Some(Slot::Draining { data, .. }) => data,
            other => panic!("shard {shard} is not writable here: {other:?}"),
        }
    }

    fn data(&self, shard: ShardId) -> &ShardData {
        match self.slots.get(&shard) {
            Some(Slot::Serving(data)) | Some(Slot::Draining { data, .. }) => data,
            other => panic!("shard {shard} is not readable here: {other:?}"),
        }
    }

    fn shard_of(&self, key: &[u8]) -> ShardId {
        self.config.shard_of(key)
    }

    /// `ForgetVotesOnRestart`: a restart that loses the prepared
    /// transactions and their locks, as if votes lived in memory only.
    #[cfg(feature = "broken")]
    pub fn forget_votes(&mut self) {
        self.prepared.clear();
        self.locks.clear();
        let draining: Vec<ShardId> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Draining { .. }))
            .map(|(&s, _)| s)
            .collect();
        self.drain(&draining.into_iter().collect());
    }

    /// Checks everything that must hold after every op: the cheap rules,
    /// the client tables' indexes (a walk of every client), and that every
    /// prepared transaction holds its locks on shards held here (a walk of
    /// every prepared key). The simulators call it after every step, a
    /// restore on the snapshot it reads, a server once a second.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.memo.check()?;
        self.coordinated.check()?;
        for slot in self.slots.values() {
            if let Slot::Serving(data) | Slot::Draining { data, .. } | Slot::Sending { data, .. } =
                slot
            {
                data.clients.check()?;
            }
        }
        for (id, prepared) in &self.prepared {
            for key in prepared.txn.keys() {
                let held = match self.locks.get(key) {
                    Some(Lock::Exclusive(holder)) => holder == id,
                    Some(Lock::Shared(holders)) => holders.contains(id),
                    None => false,
                };
                if !held {
                    return Err(format!("{id:?} prepared without its lock on {key:?}"));
                }
            }
            for shard in &prepared.shards {
                let ok = matches!(
                    self.slots.get(shard),
                    Some(Slot::Serving(_)) | Some(Slot::Draining { .. })
                );
                if !ok {
                    return Err(format!("{id:?} prepared on shard {shard} not held here"));
                }
            }
        }
        self.check_cheap_invariants()
    }

    /// The rules whose check walks no table: each shard's state agrees
    /// with the configuration, and every shard the configuration gives
    /// this group is held. O(shards), no allocation; a server runs it
    /// after every step.
    pub fn check_cheap_invariants(&self) -> Result<(), String> {
        for (&shard, slot) in &self.slots {
            let owner = self.config.shards[shard as usize];
            let ours = owner == self.gid;
            let consistent = match slot {
                Slot::Serving(_) | Slot::Waiting { .. } => ours,
                Slot::Draining { to, num, .. } | Slot::Sending { to, num, .. } => {
                    *num <= self.config.num && (*num < self.config.num || owner == *to)
                }
            };
            if !consistent {
                return Err(format!(
                    "shard {shard} is {slot:?} but config {} gives it to {owner}",
                    self.config.num
                ));
            }
        }
        for (shard, group) in self.config.shards.iter().enumerate() {
            if *group == self.gid && !self.slots.contains_key(&(shard as ShardId)) {
                return Err(format!(
                    "shard {shard} is ours in config {} but not held",
                    self.config.num
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::Write;

    /// Group 1 serving all four shards of configuration 1.
    fn serving_all() -> ShardGroup {
        let mut group = ShardGroup::new(1, 4, Limits::default());
        let config = Config {
            num: 1,
            shards: vec![1; 4],
            groups: BTreeMap::from([(1, vec!["a:1".to_string()])]),
        };
        group.apply(GroupOp::Config(config));
        assert_eq!(group.slots.len(), 4);
        group.check_invariants().unwrap();
        group
    }

    #[test]
    fn the_full_check_catches_a_prepared_transaction_without_its_lock() {
        let mut group = serving_all();
        let key = b"k".to_vec();
        let id = TxnId { client: 7, seq: 1 };
        group.prepared.insert(
            id,
            Prepared {
                txn: Txn {
                    writes: vec![Write {
                        key: key.clone(),
                        value: Some(b"v".to_vec()),
                    }],
                    ..Txn::default()
                },
                coordinator: 1,
                shards: BTreeSet::from([synod_shard::shard_of(&key, 4)]),
                reads: Vec::new(),
                writes: Vec::new(),
            },
        );
        let error = group.check_invariants().unwrap_err();
        assert!(error.contains("without its lock"), "{error}");
        group.locks.insert(key, Lock::Exclusive(id));
        group.check_invariants().unwrap();
    }

    #[test]
    fn the_cheap_check_catches_a_shard_owned_but_not_held() {
        let mut group = serving_all();
        group.slots.remove(&2);
        let error = group.check_cheap_invariants().unwrap_err();
        assert!(error.contains("shard 2 is ours"), "{error}");
        assert_eq!(group.check_invariants(), Err(error));
    }
}
