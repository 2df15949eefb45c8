//! Configurations, learned one at a time through the group's log, and the
//! hand-over of shards between consecutive ones.
//!
//! A group moves from configuration `n` to `n + 1` only when it holds
//! every shard `n` gave it (nothing `Waiting`) and every shard leaving it
//! has been freed by the transactions that locked it (nothing
//! `Draining`). So a shard is served by at most one group in any
//! configuration: the receiver serves it only once it has the sender's
//! last piece, which the sender cuts only after it stopped serving.

use synod_shard::{Config, GroupId, ShardId, UNASSIGNED};

use super::{ShardGroup, Slot};
use crate::op::{GroupReply, ShardTail};
use crate::shard::{Entry, ShardData};

/// One piece of a shard's hand-over, as the sender cuts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub num: u64,
    pub shard: ShardId,
    pub to: GroupId,
    pub after: Option<Vec<u8>>,
    pub entries: Vec<(Vec<u8>, Entry)>,
    pub tail: Option<ShardTail>,
}

impl ShardGroup {
    /// True when the group may take the next configuration.
    pub fn settled(&self) -> bool {
        self.slots
            .values()
            .all(|slot| !matches!(slot, Slot::Waiting { .. } | Slot::Draining { .. }))
    }

    pub(super) fn on_config(&mut self, next: Config) -> GroupReply {
        let not_yet = GroupReply::ConfigNotYet {
            current: self.config.num,
        };
        if next.num != self.config.num + 1
            || next.shard_count() != self.config.shard_count()
            || !self.settled()
        {
            return not_yet;
        }
        // A shard coming back whose earlier hand-over is not yet confirmed
        // waits for that confirmation: one slot per shard.
        let returning_unconfirmed = self.slots.iter().any(|(&shard, slot)| {
            matches!(slot, Slot::Sending { to, .. } if *to != UNASSIGNED)
                && next.shards[shard as usize] == self.gid
        });
        if returning_unconfirmed {
            return not_yet;
        }
        for shard in 0..next.shard_count() {
            let before = self.config.shards[shard as usize];
            let after = next.shards[shard as usize];
            if before == self.gid && after != self.gid {
                self.leave(shard, after, next.num);
            } else if before != self.gid && after == self.gid {
                self.arrive(shard, before);
            }
        }
        self.config = next;
        GroupReply::ConfigApplied {
            num: self.config.num,
        }
    }

    fn leave(&mut self, shard: ShardId, to: GroupId, num: u64) {
        let Some(Slot::Serving(data)) = self.slots.remove(&shard) else {
            panic!("shard {shard} leaves but was not served (settled before)");
        };
        let locked = self.prepared.values().any(|p| p.shards.contains(&shard));
        let slot = if locked {
            Slot::Draining { to, num, data }
        } else {
            Slot::Sending { to, num, data }
        };
        self.slots.insert(shard, slot);
    }

    fn arrive(&mut self, shard: ShardId, from: GroupId) {
        // A shard no group held before starts empty, unless it was parked
        // here when the last group left. (Parked elsewhere, it is not
        // found: see the crate docs for why that is a limit.)
        if let Some(Slot::Sending { to: UNASSIGNED, .. }) = self.slots.get(&shard) {
            let Some(Slot::Sending { data, .. }) = self.slots.remove(&shard) else {
                unreachable!("matched above")
            };
            self.slots.insert(shard, Slot::Serving(data));
            return;
        }
        let slot = if from == UNASSIGNED {
            Slot::Serving(ShardData::default())
        } else {
            Slot::Waiting {
                from,
                staged: ShardData::default(),
                after: None,
            }
        };
        self.slots.insert(shard, slot);
    }

    pub(super) fn on_install(
        &mut self,
        num: u64,
        shard: ShardId,
        after: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, Entry)>,
        tail: Option<ShardTail>,
    ) -> GroupReply {
        if num > self.config.num {
            return GroupReply::InstallNotYet {
                current: self.config.num,
            };
        }
        let current = self.config.num;
        let Some(Slot::Waiting {
            staged,
            after: have,
            ..
        }) = self.slots.get_mut(&shard).filter(|_| num == current)
        else {
            // An older hand-over, or this one done: the group could not
            // have left `num` nor served the shard without all of it.
            return GroupReply::Installed;
        };
        if *have != after {
            return GroupReply::Installing {
                after: have.clone(),
            };
        }
        if let Some((last, _)) = entries.last() {
            *have = Some(last.clone());
        }
        for (key, entry) in entries {
            staged.insert_entry(key, entry);
        }
        let Some(tail) = tail else {
            return GroupReply::Installing {
                after: have.clone(),
            };
        };
        staged.rev = tail.rev;
        staged.clients = tail.clients;
        let data = std::mem::take(staged);
        self.slots.insert(shard, Slot::Serving(data));
        GroupReply::Installed
    }

    pub(super) fn on_release(&mut self, num: u64, shard: ShardId) -> GroupReply {
        let confirmed = matches!(
            self.slots.get(&shard),
            Some(Slot::Sending { num: sent, to, .. }) if *sent == num && *to != UNASSIGNED
        );
        if confirmed {
            self.slots.remove(&shard);
        }
        GroupReply::Released
    }

    /// The hand-overs this group owes: `(shard, to, num)`.
    pub fn sending(&self) -> Vec<(ShardId, GroupId, u64)> {
        self.slots
            .iter()
            .filter_map(|(&shard, slot)| match slot {
                Slot::Sending { to, num, .. } if *to != UNASSIGNED => Some((shard, *to, *num)),
                _ => None,
            })
            .collect()
    }

    /// The piece of `shard`'s hand-over after key `after`: entries in key
    /// order up to `install_bytes_max` (at least one), and the tail when
    /// they reach the end. `None` if the shard is not being sent.
    pub fn piece(&self, shard: ShardId, after: Option<&[u8]>) -> Option<Piece> {
        let Some(Slot::Sending { to, num, data }) = self.slots.get(&shard) else {
            return None;
        };
        let range = match after {
            Some(key) => data
                .entries
                .range::<[u8], _>((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded)),
            None => data.entries.range::<[u8], _>(..),
        };
        let mut entries = Vec::new();
        let mut bytes = 0u64;
        let mut rest = range.peekable();
        while let Some((key, entry)) = rest.peek() {
            let size = (key.len() + entry.value.as_ref().map_or(0, |v| v.len())) as u64;
            if !entries.is_empty() && bytes + size > self.limits.install_bytes_max {
                break;
            }
            bytes += size;
            entries.push(((*key).clone(), (*entry).clone()));
            rest.next();
        }
        let tail = rest.peek().is_none().then(|| ShardTail {
            rev: data.rev,
            clients: data.clients.clone(),
        });
        Some(Piece {
            num: *num,
            shard,
            to: *to,
            after: after.map(|a| a.to_vec()),
            entries,
            tail,
        })
    }
}
