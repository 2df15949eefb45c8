//! Membership changes submitted at any node (`Input::SubmitReconfigure`):
//! a follower hands the change to the leader it knows
//! (`Message::ReconfigForward`) and passes the leader's answer
//! (`Message::ReconfigAnswer`) on to its caller. The leader treats a
//! forwarded change exactly as its own `Reconfigure`, remembering only who
//! asked.
//!
//! Nothing here is held or retried: a follower keeps no state for a
//! forwarded change, so a lost message or a leader that crashed leaves the
//! caller to its own timeout (the ZooKeeper front door's). A change is
//! made at most once per request all the same: the leader proposes only
//! what it was asked, once.

use crate::action::{Action, Outcome};
use crate::message::{Message, ReconfigRefusal};
use crate::node::Node;
use crate::state_machine::StateMachine;
use crate::types::{ConfigChange, NodeId, Slot};

/// Who asked the leader for a membership change, and their request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Asker {
    pub id: u64,
    /// The follower that forwarded it; `None` for this node's own caller.
    pub from: Option<NodeId>,
}

impl Asker {
    pub fn local(id: u64) -> Self {
        Asker { id, from: None }
    }
}

impl<S: StateMachine> Node<S> {
    pub(crate) fn on_submit_reconfigure(&mut self, id: u64, change: ConfigChange) {
        if self.is_leader() {
            return self.on_reconfigure(Asker::local(id), change);
        }
        match self.leader_hint() {
            Some(leader) if leader != self.id => {
                self.send(leader, Message::ReconfigForward { id, change })
            }
            _ => self.out.push(Action::ReconfigReply {
                id,
                outcome: Outcome::NotLeader { leader: None },
            }),
        }
    }

    /// A follower's change. Only a member may ask: anyone else's message
    /// is answered `Rejected`, so a node removed from the configuration
    /// cannot change it.
    pub(crate) fn on_reconfig_forward(&mut self, from: NodeId, id: u64, change: ConfigChange) {
        let asker = Asker {
            id,
            from: Some(from),
        };
        if !self.latest_config().contains(from) {
            let reason = format!("node {from} is not a member");
            return self.answer_reconfig(asker, Outcome::Rejected(reason));
        }
        self.on_reconfigure(asker, change);
    }

    pub(crate) fn on_reconfig_answer(&mut self, id: u64, result: Result<Slot, ReconfigRefusal>) {
        let outcome = match result {
            Ok(slot) => Outcome::Ok(slot.to_be_bytes().to_vec()),
            Err(ReconfigRefusal::NotLeader) => Outcome::NotLeader { leader: None },
            Err(ReconfigRefusal::Busy) => Outcome::Busy,
            Err(ReconfigRefusal::Rejected(reason)) => Outcome::Rejected(reason),
        };
        self.out.push(Action::ReconfigReply { id, outcome });
    }

    /// Answers whoever asked: this node's caller with `outcome` as it is,
    /// a follower with the message that carries it.
    pub(crate) fn answer_reconfig(&mut self, asker: Asker, outcome: Outcome) {
        let Some(to) = asker.from else {
            self.out.push(Action::ReconfigReply {
                id: asker.id,
                outcome,
            });
            return;
        };
        let result = match outcome {
            Outcome::Ok(bytes) => {
                let slot = bytes.try_into().map(Slot::from_be_bytes);
                Ok(slot.expect("a change's Ok carries its 8-byte slot"))
            }
            Outcome::NotLeader { .. } => Err(ReconfigRefusal::NotLeader),
            Outcome::Busy | Outcome::Stale => Err(ReconfigRefusal::Busy),
            Outcome::Rejected(reason) => Err(ReconfigRefusal::Rejected(reason)),
        };
        self.send(
            to,
            Message::ReconfigAnswer {
                id: asker.id,
                result,
            },
        );
    }
}
