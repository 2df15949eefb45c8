//! A client's side of one transaction, pure: where to send it, when to
//! send it again, and what an answer means. The client library runs one
//! per transaction over its own transport; the model world runs the same.
//!
//! The rule that keeps a transaction's outcome true: **it stays with its
//! coordinator** (the group that owned its lowest shard when it was first
//! sent) and is sent again only there, until that coordinator answers
//! `WrongGroup`. That answer is logged as the coordinator's decision for
//! the transaction (an abort), so nothing it started can commit later, and
//! only then may the call move to the coordinator a newer configuration
//! names, under a new id: the old one never committed anywhere (every
//! coordinator it was with refused it), and the refusing group, if the
//! new configuration names it again, would refuse the old id for good.
//! Moving on a timeout instead could let two coordinators decide the same
//! transaction differently.

use synod_shard::{Config, GroupId};

use crate::op::{ClientReply, GroupMsg};
use crate::txn::{Txn, TxnId, TxnOutcome};

/// A call's timers, in microseconds.
#[derive(Clone, Debug)]
pub struct CallTimers {
    /// Sent again when unanswered this long.
    pub resend_us: u64,
    /// Sent again this soon after `Busy`.
    pub busy_us: u64,
    /// Given up (outcome unknown) this long after it was first sent.
    pub give_up_us: u64,
}

impl Default for CallTimers {
    fn default() -> Self {
        CallTimers {
            resend_us: 200_000,
            busy_us: 20_000,
            give_up_us: 8_000_000,
        }
    }
}

/// What the client should do next for this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallStep {
    /// Send this to the leader of group `to`.
    Send { to: GroupId, msg: GroupMsg },
    /// The transaction's outcome.
    Done(TxnOutcome),
    /// Find a configuration newer than `num` and pass it to `on_config`.
    NeedConfig { num: u64 },
    /// No answer in time: the outcome is unknown (it may yet commit).
    GaveUp,
}

/// One transaction in flight.
#[derive(Clone, Debug)]
pub struct TxnCall {
    id: TxnId,
    txn: Txn,
    timers: CallTimers,
    coordinator: Option<GroupId>,
    config_num: u64,
    next_send_us: u64,
    give_up_at_us: u64,
}

/// The group a transaction goes to first: the owner of its lowest shard.
pub fn coordinator_for(config: &Config, txn: &Txn) -> Option<GroupId> {
    txn.shards(config.shard_count())
        .into_iter()
        .find_map(|s| config.group_of(s))
}

impl TxnCall {
    pub fn new(id: TxnId, txn: Txn, config: &Config, timers: CallTimers, now_us: u64) -> TxnCall {
        TxnCall {
            id,
            coordinator: coordinator_for(config, &txn),
            config_num: config.num,
            next_send_us: now_us,
            give_up_at_us: now_us + timers.give_up_us,
            txn,
            timers,
        }
    }

    pub fn id(&self) -> TxnId {
        self.id
    }

    pub fn txn(&self) -> &Txn {
        &self.txn
    }

    /// The group the call is with now.
    pub fn coordinator(&self) -> Option<GroupId> {
        self.coordinator
    }

    /// What is due at `now_us`, if anything.
    pub fn poll(&mut self, now_us: u64) -> Option<CallStep> {
        if now_us >= self.give_up_at_us {
            return Some(CallStep::GaveUp);
        }
        if now_us < self.next_send_us {
            return None;
        }
        self.next_send_us = now_us + self.timers.resend_us;
        let Some(to) = self.coordinator else {
            return Some(CallStep::NeedConfig {
                num: self.config_num,
            });
        };
        let msg = GroupMsg::ClientTxn {
            id: self.id,
            txn: self.txn.clone(),
            config: self.config_num,
        };
        Some(CallStep::Send { to, msg })
    }

    /// The coordinator answered.
    pub fn on_reply(&mut self, now_us: u64, reply: ClientReply) -> Option<CallStep> {
        match reply {
            ClientReply::Outcome(outcome) => Some(CallStep::Done(outcome)),
            ClientReply::Busy => {
                self.next_send_us = now_us + self.timers.busy_us;
                None
            }
            ClientReply::WrongGroup { num } => {
                // Released: the next configuration decides where it goes.
                self.coordinator = None;
                self.config_num = self.config_num.max(num);
                Some(CallStep::NeedConfig {
                    num: self.config_num,
                })
            }
        }
    }

    /// True once a coordinator refused the call: it needs a configuration
    /// and a new id (`on_config`).
    pub fn released(&self) -> bool {
        self.coordinator.is_none()
    }

    /// A configuration, after `NeedConfig`, and a new id from the client's
    /// sequence: a call released by its coordinator goes to the one
    /// `config` names. A call still with its coordinator stays there, and
    /// keeps its id.
    pub fn on_config(&mut self, now_us: u64, config: &Config, new_id: TxnId) {
        if self.coordinator.is_some() || config.num < self.config_num {
            return;
        }
        self.id = new_id;
        self.config_num = config.num;
        self.coordinator = coordinator_for(config, &self.txn);
        self.next_send_us = now_us;
    }
}
