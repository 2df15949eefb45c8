//! What a group's leader does: the part of the protocol that sends and
//! waits. Everything it decides goes through the group's log first
//! (`Out::Propose`) and is acted on when it applies (`on_applied`), so a
//! new leader's fresh driver, reading the same state machine, picks up
//! every hand-over, decision and prepared transaction where the old one
//! left it. The driver's own state is only what it is waiting for; losing
//! it costs a timeout, never a wrong answer.

use std::collections::{BTreeMap, BTreeSet};

use synod_shard::{Config, GroupId, ShardId};

use crate::bugs::{ShardBug, ShardBugs};
use crate::group::{Piece, ShardGroup};
use crate::op::{ClientReply, GroupMsg, GroupOp, GroupReply, Vote};
use crate::txn::{AbortReason, ReadResult, Txn, TxnId, TxnOutcome};

/// The driver's timers, in microseconds.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// Between resends of anything unanswered (prepares, decisions,
    /// hand-over pieces) and polls of the controller.
    pub resend_us: u64,
    /// A participant asks the coordinator after holding a prepared
    /// transaction this long.
    pub resolve_after_us: u64,
    /// A coordinator that has not heard every vote this long aborts.
    pub vote_timeout_us: u64,
    /// Cross-group transactions one leader collects votes for at once;
    /// beyond them a client is answered `Busy` and asks again.
    pub voting_max: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            resend_us: 100_000,
            resolve_after_us: 1_000_000,
            vote_timeout_us: 2_000_000,
            voting_max: 10_000,
        }
    }
}

/// What the driver asks of its host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Propose this op to the group's log.
    Propose(GroupOp),
    /// Send to the leader of another group.
    Send { to: GroupId, msg: GroupMsg },
    /// Answer the client of transaction `id`.
    Reply { id: TxnId, reply: ClientReply },
    /// Ask the controller for configuration `num`.
    QueryConfig { num: u64 },
}

/// A transaction this leader coordinates, waiting for votes.
#[derive(Clone, Debug)]
struct Voting {
    txn: Txn,
    parts: BTreeMap<GroupId, Txn>,
    votes: BTreeMap<GroupId, Vote>,
    started_us: u64,
    /// The decision proposed, proposed again if it is not applied in
    /// `vote_timeout_us` (the engine may have refused it).
    decision: Option<(GroupOp, u64)>,
}

/// One group leader's driver.
#[derive(Clone, Debug)]
pub struct Driver {
    gid: GroupId,
    config: DriverConfig,
    voting: BTreeMap<TxnId, Voting>,
    /// When this leader first saw each prepared transaction.
    prepared_since: BTreeMap<TxnId, u64>,
    /// Who sends each hand-over this group receives.
    installing: BTreeMap<(u64, ShardId), GroupId>,
    /// How far each receiver has confirmed our hand-overs.
    sent_after: BTreeMap<(u64, ShardId), Option<Vec<u8>>>,
    last_resend_us: Option<u64>,
    bugs: ShardBugs,
}

impl Driver {
    pub fn new(gid: GroupId, config: DriverConfig) -> Driver {
        Driver {
            gid,
            config,
            voting: BTreeMap::new(),
            prepared_since: BTreeMap::new(),
            installing: BTreeMap::new(),
            sent_after: BTreeMap::new(),
            last_resend_us: None,
            bugs: ShardBugs::default(),
        }
    }

    /// A driver with deliberate bugs (the `broken` feature).
    pub fn with_bugs(gid: GroupId, config: DriverConfig, bugs: ShardBugs) -> Driver {
        Driver {
            bugs,
            ..Driver::new(gid, config)
        }
    }

    /// A message from a client or another group's leader.
    pub fn on_message(
        &mut self,
        now_us: u64,
        group: &ShardGroup,
        from: GroupId,
        msg: GroupMsg,
    ) -> Vec<Out> {
        match msg {
            GroupMsg::ClientTxn { id, txn, .. } => self.on_client_txn(now_us, group, id, txn),
            GroupMsg::Prepare {
                id,
                txn,
                coordinator,
            } => {
                vec![Out::Propose(GroupOp::Prepare {
                    id,
                    txn,
                    coordinator,
                })]
            }
            GroupMsg::Vote {
                id,
                group: voter,
                part,
                vote,
            } => self.on_vote(now_us, group, id, voter, part, vote),
            GroupMsg::Decision {
                id,
                commit,
                outcome,
            } => {
                let coordinator = from;
                vec![Out::Propose(GroupOp::Finish {
                    id,
                    coordinator,
                    commit,
                    outcome,
                })]
            }
            GroupMsg::Finished { id, group: done } => {
                vec![Out::Propose(GroupOp::Forget { id, group: done })]
            }
            GroupMsg::Resolve { id, group: asker } => self.on_resolve(group, id, asker),
            GroupMsg::Install {
                num,
                shard,
                from: sender,
                after,
                entries,
                tail,
            } => {
                self.installing.insert((num, shard), sender);
                vec![Out::Propose(GroupOp::Install {
                    num,
                    shard,
                    after,
                    entries,
                    tail,
                })]
            }
            GroupMsg::InstallAck {
                num,
                shard,
                after,
                done,
            } => self.on_install_ack(group, num, shard, after, done),
            GroupMsg::ClientReply { .. } => Vec::new(),
        }
    }

    /// The controller's answer to `QueryConfig`.
    pub fn on_config(&mut self, group: &ShardGroup, config: Config) -> Vec<Out> {
        if config.num == group.config().num + 1 && group.settled() {
            vec![Out::Propose(GroupOp::Config(config))]
        } else {
            Vec::new()
        }
    }

    fn on_client_txn(&mut self, now_us: u64, group: &ShardGroup, id: TxnId, txn: Txn) -> Vec<Out> {
        if let Some((_, outcome)) = group.decision(id) {
            // A refusal logged earlier is answered as the refusal it was.
            let reply = match outcome {
                TxnOutcome::Aborted(AbortReason::WrongGroup) => ClientReply::WrongGroup {
                    num: group.config().num,
                },
                outcome => ClientReply::Outcome(outcome.clone()),
            };
            return vec![Out::Reply { id, reply }];
        }
        if self.voting.contains_key(&id) || group.is_stale(id) {
            // Under way; or a late copy of a transaction its client has
            // moved on from, which must not start (`is_stale`).
            return Vec::new();
        }
        if self.voting.len() >= self.config.voting_max {
            let reply = ClientReply::Busy;
            return vec![Out::Reply { id, reply }];
        }
        let config = group.config();
        let mut parts: BTreeMap<GroupId, BTreeSet<ShardId>> = BTreeMap::new();
        for shard in txn.shards(config.shard_count()) {
            let Some(owner) = config.group_of(shard) else {
                // Refused through the log, so that the refusal fences off
                // any decision an earlier leader of ours left in flight.
                return vec![Out::Propose(GroupOp::Client { id, txn })];
            };
            parts.entry(owner).or_default().insert(shard);
        }
        if parts.len() == 1 && parts.contains_key(&self.gid) {
            return vec![Out::Propose(GroupOp::Client { id, txn })];
        }
        let parts: BTreeMap<GroupId, Txn> = parts
            .into_iter()
            .map(|(g, shards)| (g, txn.part(&shards, config.shard_count())))
            .collect();
        let voting = Voting {
            txn,
            parts,
            votes: BTreeMap::new(),
            started_us: now_us,
            decision: None,
        };
        let out = self.prepares(id, &voting);
        self.voting.insert(id, voting);
        out
    }

    /// The prepares of the participants that have not voted.
    fn prepares(&self, id: TxnId, voting: &Voting) -> Vec<Out> {
        voting
            .parts
            .iter()
            .filter(|(g, _)| !voting.votes.contains_key(g))
            .map(|(&g, part)| {
                self.to_group(
                    g,
                    GroupMsg::Prepare {
                        id,
                        txn: part.clone(),
                        coordinator: self.gid,
                    },
                )
            })
            .collect()
    }

    /// A message to group `to`; to ourselves, straight into our log.
    fn to_group(&self, to: GroupId, msg: GroupMsg) -> Out {
        if to != self.gid {
            return Out::Send { to, msg };
        }
        match msg {
            GroupMsg::Prepare {
                id,
                txn,
                coordinator,
            } => Out::Propose(GroupOp::Prepare {
                id,
                txn,
                coordinator,
            }),
            GroupMsg::Decision {
                id,
                commit,
                outcome,
            } => {
                let coordinator = self.gid;
                Out::Propose(GroupOp::Finish {
                    id,
                    coordinator,
                    commit,
                    outcome,
                })
            }
            GroupMsg::Finished { id, group } => Out::Propose(GroupOp::Forget { id, group }),
            other => panic!("no message {other:?} to ourselves"),
        }
    }

    fn on_vote(
        &mut self,
        now_us: u64,
        group: &ShardGroup,
        id: TxnId,
        voter: GroupId,
        part: u64,
        vote: Vote,
    ) -> Vec<Out> {
        let Some(voting) = self.voting.get_mut(&id) else {
            return Vec::new(); // decided already, or a leader before us asked
        };
        if voting.decision.is_some() {
            return Vec::new();
        }
        // A vote on another part (a leader before us split the transaction
        // by another configuration) says nothing of this part's keys.
        match voting.parts.get(&voter) {
            Some(ours) if synod_paxos::digest(ours) == part => {}
            _ => return Vec::new(),
        }
        voting.votes.insert(voter, vote);
        let reads_bytes_max = group.limits().reads_bytes_max;
        let decision = if self.bugs.has(ShardBug::DecideBeforeAllVotes) {
            decide_early(voting, reads_bytes_max)
        } else {
            decide(voting, reads_bytes_max)
        };
        match decision {
            Some((commit, outcome)) => {
                let participants = voting.parts.keys().copied().collect();
                let op = GroupOp::Decide {
                    id,
                    commit,
                    participants,
                    outcome,
                };
                voting.decision = Some((op.clone(), now_us));
                vec![Out::Propose(op)]
            }
            None => Vec::new(),
        }
    }

    fn on_resolve(&mut self, group: &ShardGroup, id: TxnId, asker: GroupId) -> Vec<Out> {
        if let Some((commit, outcome)) = group.decision(id) {
            let msg = GroupMsg::Decision {
                id,
                commit,
                outcome: outcome.clone(),
            };
            return vec![self.to_group(asker, msg)];
        }
        if self.voting.contains_key(&id) {
            return Vec::new(); // still voting: the decision will come
        }
        // No leader of ours is deciding it and none did: abort (presumed
        // abort). Logged first, so no later leader can commit it.
        vec![Out::Propose(GroupOp::Decide {
            id,
            commit: false,
            participants: vec![asker],
            outcome: TxnOutcome::Aborted(AbortReason::CoordinatorLost),
        })]
    }

    fn on_install_ack(
        &mut self,
        group: &ShardGroup,
        num: u64,
        shard: ShardId,
        after: Option<Vec<u8>>,
        done: bool,
    ) -> Vec<Out> {
        if done {
            self.sent_after.remove(&(num, shard));
            return vec![Out::Propose(GroupOp::Release { num, shard })];
        }
        let piece = group
            .piece(shard, after.as_deref())
            .filter(|p| p.num == num);
        self.sent_after.insert((num, shard), after);
        piece.map(|p| self.install_msg(p)).into_iter().collect()
    }

    fn install_msg(&self, piece: Piece) -> Out {
        Out::Send {
            to: piece.to,
            msg: GroupMsg::Install {
                num: piece.num,
                shard: piece.shard,
                from: self.gid,
                after: piece.after,
                entries: piece.entries,
                tail: piece.tail,
            },
        }
    }

    /// An op this leader's log applied, with its reply.
    pub fn on_applied(
        &mut self,
        now_us: u64,
        group: &ShardGroup,
        op: &GroupOp,
        reply: &GroupReply,
    ) -> Vec<Out> {
        match (op, reply) {
            (GroupOp::Client { id, .. }, GroupReply::Txn(outcome)) => {
                vec![Out::Reply {
                    id: *id,
                    reply: ClientReply::Outcome(outcome.clone()),
                }]
            }
            (GroupOp::Client { id, .. }, GroupReply::WrongGroup { num }) => {
                vec![Out::Reply {
                    id: *id,
                    reply: ClientReply::WrongGroup { num: *num },
                }]
            }
            (GroupOp::Client { id, .. }, GroupReply::Busy) => {
                vec![Out::Reply {
                    id: *id,
                    reply: ClientReply::Busy,
                }]
            }
            (
                GroupOp::Prepare {
                    id,
                    coordinator,
                    txn,
                },
                GroupReply::Vote(vote),
            ) => {
                let part = synod_paxos::digest(txn);
                if *coordinator == self.gid {
                    self.on_vote(now_us, group, *id, self.gid, part, vote.clone())
                } else {
                    let msg = GroupMsg::Vote {
                        id: *id,
                        group: self.gid,
                        part,
                        vote: vote.clone(),
                    };
                    vec![Out::Send {
                        to: *coordinator,
                        msg,
                    }]
                }
            }
            (
                GroupOp::Finish {
                    id, coordinator, ..
                },
                GroupReply::Finished,
            ) => {
                vec![self.to_group(
                    *coordinator,
                    GroupMsg::Finished {
                        id: *id,
                        group: self.gid,
                    },
                )]
            }
            (GroupOp::Decide { id, .. }, GroupReply::Decided { commit, outcome }) => {
                self.voting.remove(id);
                let mut out = vec![Out::Reply {
                    id: *id,
                    reply: ClientReply::Outcome(outcome.clone()),
                }];
                out.extend(self.decisions_to_pending(group, *id, *commit, outcome));
                out
            }
            (GroupOp::Install { num, shard, .. }, reply) => self.install_reply(*num, *shard, reply),
            _ => Vec::new(),
        }
    }

    fn decisions_to_pending(
        &self,
        group: &ShardGroup,
        id: TxnId,
        commit: bool,
        outcome: &TxnOutcome,
    ) -> Vec<Out> {
        let Some(decision) = group.decisions().get(&id) else {
            return Vec::new();
        };
        decision
            .pending
            .iter()
            .map(|&g| {
                self.to_group(
                    g,
                    GroupMsg::Decision {
                        id,
                        commit,
                        outcome: outcome.clone(),
                    },
                )
            })
            .collect()
    }

    fn install_reply(&mut self, num: u64, shard: ShardId, reply: &GroupReply) -> Vec<Out> {
        let Some(&sender) = self.installing.get(&(num, shard)) else {
            return Vec::new();
        };
        let (after, done) = match reply {
            GroupReply::Installing { after } => (after.clone(), false),
            GroupReply::Installed => {
                self.installing.remove(&(num, shard));
                (None, true)
            }
            _ => return Vec::new(),
        };
        vec![Out::Send {
            to: sender,
            msg: GroupMsg::InstallAck {
                num,
                shard,
                after,
                done,
            },
        }]
    }

    /// Time passed: resend what is unanswered, poll the controller, ask
    /// about transactions prepared too long, give up on votes too late.
    pub fn on_tick(&mut self, now_us: u64, group: &ShardGroup) -> Vec<Out> {
        let due = self
            .last_resend_us
            .is_none_or(|last| now_us >= last + self.config.resend_us);
        if !due {
            return Vec::new();
        }
        self.last_resend_us = Some(now_us);
        let mut out = vec![Out::QueryConfig {
            num: group.config().num + 1,
        }];
        out.extend(self.resend_pieces(group));
        out.extend(self.resend_votes(now_us));
        for (&id, decision) in group.decisions() {
            let msg = || GroupMsg::Decision {
                id,
                commit: decision.commit,
                outcome: decision.outcome.clone(),
            };
            out.extend(decision.pending.iter().map(|&g| self.to_group(g, msg())));
        }
        out.extend(self.resolve_prepared(now_us, group));
        out
    }

    fn resend_pieces(&mut self, group: &ShardGroup) -> Vec<Out> {
        let sending = group.sending();
        let live: BTreeSet<(u64, ShardId)> = sending.iter().map(|&(s, _, n)| (n, s)).collect();
        self.sent_after.retain(|k, _| live.contains(k));
        sending
            .into_iter()
            .filter_map(|(shard, _, num)| {
                let after = self.sent_after.get(&(num, shard)).cloned().flatten();
                group.piece(shard, after.as_deref())
            })
            .map(|piece| self.install_msg(piece))
            .collect()
    }

    fn resend_votes(&mut self, now_us: u64) -> Vec<Out> {
        let mut out = Vec::new();
        let ids: Vec<TxnId> = self.voting.keys().copied().collect();
        for id in ids {
            let voting = self.voting.get_mut(&id).expect("listed");
            if let Some((op, proposed_us)) = &mut voting.decision {
                if now_us >= *proposed_us + self.config.vote_timeout_us {
                    *proposed_us = now_us;
                    out.push(Out::Propose(op.clone()));
                }
                continue;
            }
            if now_us >= voting.started_us + self.config.vote_timeout_us {
                let participants = voting.parts.keys().copied().collect();
                let outcome = TxnOutcome::Aborted(AbortReason::CoordinatorLost);
                let op = GroupOp::Decide {
                    id,
                    commit: false,
                    participants,
                    outcome,
                };
                voting.decision = Some((op.clone(), now_us));
                out.push(Out::Propose(op));
            } else {
                let voting = &self.voting[&id];
                out.extend(self.prepares(id, voting));
            }
        }
        out
    }

    fn resolve_prepared(&mut self, now_us: u64, group: &ShardGroup) -> Vec<Out> {
        if self.bugs.has(ShardBug::NeverResolve) {
            return Vec::new();
        }
        let prepared = group.prepared();
        self.prepared_since
            .retain(|id, _| prepared.contains_key(id));
        let mut out = Vec::new();
        for (&id, p) in prepared {
            let since = *self.prepared_since.entry(id).or_insert(now_us);
            if now_us < since + self.config.resolve_after_us {
                continue;
            }
            let ask = GroupMsg::Resolve {
                id,
                group: self.gid,
            };
            if p.coordinator == self.gid {
                out.extend(self.on_resolve(group, id, self.gid));
            } else {
                out.push(Out::Send {
                    to: p.coordinator,
                    msg: ask,
                });
            }
        }
        out
    }
}

/// `DecideBeforeAllVotes`: every vote so far yes counts as all of them.
fn decide_early(voting: &Voting, reads_bytes_max: u64) -> Option<(bool, TxnOutcome)> {
    let mut all_in = voting.clone();
    for group in voting.parts.keys() {
        all_in.votes.entry(*group).or_insert(Vote::Yes {
            reads: Vec::new(),
            writes: Vec::new(),
        });
    }
    decide(&all_in, reads_bytes_max)
}

/// The coordinator's decision once the votes allow one: `(commit,
/// outcome)`.
fn decide(voting: &Voting, reads_bytes_max: u64) -> Option<(bool, TxnOutcome)> {
    for vote in voting.votes.values() {
        match vote {
            Vote::No(reason) => return Some((false, TxnOutcome::Aborted(reason.clone()))),
            Vote::Done(outcome) => return Some((false, outcome.clone())),
            Vote::Yes { .. } => {}
        }
    }
    if voting.votes.len() < voting.parts.len() {
        return None;
    }
    let mut all_reads = BTreeMap::new();
    let mut all_writes = BTreeMap::new();
    for vote in voting.votes.values() {
        let Vote::Yes { reads, writes } = vote else {
            unreachable!("only yes votes are left")
        };
        all_reads.extend(reads.iter().map(|r| (r.key.clone(), r.clone())));
        all_writes.extend(writes.iter().map(|w| (w.key.clone(), w.clone())));
    }
    let read_bytes: u64 = all_reads.values().map(ReadResult::bytes).sum();
    if read_bytes > reads_bytes_max {
        let why = format!("reads of {read_bytes} bytes, reads_bytes_max {reads_bytes_max}");
        return Some((false, TxnOutcome::Aborted(AbortReason::TooLarge(why))));
    }
    // Every key's read and write answered by the part that holds it: a
    // commit that missed one would leave it unlocked.
    let answered = voting
        .txn
        .reads
        .iter()
        .all(|k| all_reads.contains_key(k.as_slice()))
        && voting
            .txn
            .writes
            .iter()
            .all(|w| all_writes.contains_key(&w.key));
    if !answered {
        debug_assert!(false, "yes votes that do not cover the transaction");
        return Some((false, TxnOutcome::Aborted(AbortReason::CoordinatorLost)));
    }
    // In the order the client wrote them.
    let reads = voting
        .txn
        .reads
        .iter()
        .filter_map(|k| all_reads.get(k.as_slice()).cloned())
        .collect();
    let writes = voting
        .txn
        .writes
        .iter()
        .filter_map(|w| all_writes.get(&w.key).cloned())
        .collect();
    Some((true, TxnOutcome::Committed { reads, writes }))
}
