//! Running a ZooKeeper reconfig: the checks in ZooKeeper's order, then the
//! plan's steps one at a time, each committed before the next, and the
//! reply (`/zookeeper/config` as it is after the last step).
//!
//! The front door cannot block, so a reconfig is a connection's request in
//! flight, like a write: the connection's later requests wait behind it.
//! 1. The lines of the joining servers are recorded through the log
//!    (`CoordOp::ServerLines`), before any membership change, so every
//!    node renders them the same way, across leader changes and restarts.
//! 2. Each step goes to the engine as `Input::SubmitReconfigure` (a
//!    follower forwards it to the leader); the answer carries the step's
//!    slot, and the next step starts once this node has applied that slot.
//!    A step that `already_done` shows made is skipped.
//! 3. A step refused for a reason that can pass (no leader, phase 1,
//!    another change in progress, a learner still catching up) is asked
//!    again every `RETRY_MS` for `STEP_WAIT_MS`; after that the request is
//!    answered `NewConfigNoQuorum` for a promotion (the learner did not
//!    catch up) and `ReconfigInProgress` otherwise.
//! 4. A step unanswered for `STEP_WAIT_MS` (a lost message, a leader that
//!    crashed) closes the connection: its outcome is unknown, as a write's
//!    is after a lost connection.
//!
//! A failure halfway leaves the steps already committed in place (a
//! participant that joined stays an observer when its promotion fails);
//! ZooKeeper's reconfig is one transaction, synod's is not. The client
//! reads `/zookeeper/config` to see where it stopped.

use super::{InFlight, ZkFront};
use crate::convert;
use crate::watches::ConnId;
use crate::zkconfig::plan::{self, already_done, PlanError};
use crate::zkconfig::{render, ReconfigRequest, ReconfigSettings};
use std::collections::{BTreeMap, VecDeque};
use synod_coord::zk_config::{CONFIG_PATH, LINES_MAX};
use synod_coord::{CoordOp, Tree};
use synod_paxos::{Config, ConfigChange, Outcome, Slot};
use synod_zkproto as wire;
use tracing::{info, warn};

/// How long one step may wait for its answer, or keep being refused.
pub const STEP_WAIT_MS: u64 = 10_000;
/// How often a refused step is asked again.
pub const RETRY_MS: u64 = 100;
/// The front door's request ids have this bit set, so they never meet the
/// runtime's `Reconfigure` ids (which count up from 1).
const ID_BIT: u64 = 1 << 63;

/// The front door's reconfig state, beside the connections.
#[derive(Default)]
pub(crate) struct ReconfigState {
    pub settings: ReconfigSettings,
    /// The engine's applied configuration and slot (`set_engine_view`).
    members: Config,
    applied: Slot,
    next_id: u64,
    /// Steps to step into the engine (`take_reconfigs`).
    submit: Vec<(u64, ConfigChange)>,
    /// Submitted steps' ids -> the connection whose request they are.
    waiting: BTreeMap<u64, ConnId>,
}

/// One reconfig request in flight on a connection.
#[derive(Debug)]
pub(crate) struct Run {
    xid: i32,
    steps: VecDeque<ConfigChange>,
    wait: Wait,
    /// When the current step (or the lines' write) started.
    since_ms: u64,
}

#[derive(Debug)]
enum Wait {
    /// The `ServerLines` write is in the log.
    Lines,
    /// The step is with the engine, under this id.
    Engine(u64),
    /// The step took this slot; the next waits until it is applied here.
    Applied(Slot),
    /// The step was refused; ask again at this time.
    Retry(u64),
}

impl ZkFront {
    /// This node's reconfig settings (the runtime's `[zk]` and `[members]`).
    pub fn set_reconfig(&mut self, settings: ReconfigSettings) {
        self.reconfig.settings = settings;
    }

    /// The engine's applied configuration and slot, after every engine
    /// step: renders `/zookeeper/config` and moves runs waiting for a slot.
    pub fn set_engine_view(&mut self, tree: &Tree, applied: Slot, config: &Config) {
        self.reconfig.applied = applied;
        if self.reconfig.members != *config {
            self.reconfig.members = config.clone();
        }
        let ready: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(&c.in_flight, Some(InFlight::Reconfig(run))
                    if matches!(run.wait, Wait::Applied(slot) if slot <= applied))
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in ready {
            self.advance_reconfig(tree, conn);
        }
    }

    /// Membership steps to step into the engine, since the last call.
    pub fn take_reconfigs(&mut self) -> Vec<(u64, ConfigChange)> {
        std::mem::take(&mut self.reconfig.submit)
    }

    /// `/zookeeper/config`'s data as clients read it.
    pub(crate) fn config_data(&self, tree: &Tree) -> Vec<u8> {
        render::render(
            &self.reconfig.members,
            &tree.config_record(),
            &self.reconfig.settings.static_servers,
        )
    }

    /// A reconfig's turn came: ZooKeeper's checks in its order, then the run.
    pub(crate) fn start_reconfig(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        xid: i32,
        req: ReconfigRequest,
    ) {
        let zxid = tree.last_zxid();
        match self.check_reconfig(tree, conn, &req) {
            Err(code) => self.send_reply(conn, xid, zxid, code, None),
            Ok(plan) => {
                let c = self.conns.get_mut(&conn).expect("live connection");
                let run = Run {
                    xid,
                    steps: plan.steps.into(),
                    wait: Wait::Lines,
                    since_ms: self.now_ms,
                };
                c.in_flight = Some(InFlight::Reconfig(Box::new(run)));
                if plan.lines.is_empty() {
                    self.advance_reconfig(tree, conn);
                } else {
                    self.propose(conn, &CoordOp::ServerLines { lines: plan.lines });
                }
            }
        }
    }

    fn check_reconfig(
        &self,
        tree: &Tree,
        conn: ConnId,
        req: &ReconfigRequest,
    ) -> Result<plan::Plan, i32> {
        if !self.reconfig.settings.enabled {
            return Err(wire::err::RECONFIG_DISABLED);
        }
        let busy = self
            .conns
            .values()
            .any(|c| matches!(c.in_flight, Some(InFlight::Reconfig(_))));
        if busy {
            return Err(wire::err::RECONFIG_IN_PROGRESS);
        }
        let version = tree.config_record().version;
        if req.cur_config_id != -1 && req.cur_config_id != version as i64 {
            return Err(wire::err::BAD_VERSION);
        }
        let c = &self.conns[&conn];
        let (client, session) = super::who(c);
        let plan = plan::plan(
            &self.reconfig.members,
            req.joining.as_deref(),
            req.leaving.as_deref(),
            req.new_members.as_deref(),
        )
        .map_err(|e: PlanError| {
            info!(conn, %client, %session, "refusing a reconfig: {e}");
            wire::err::BAD_ARGUMENTS
        })?;
        let record = tree.config_record();
        let known = record.lines.len() + plan.lines.len();
        let op_bytes = CoordOp::ServerLines {
            lines: plan.lines.clone(),
        }
        .encoded_bytes();
        if known > LINES_MAX || op_bytes + 64 > self.limits.command_bytes_max {
            warn!(conn, %client, %session, "refusing a reconfig: over {LINES_MAX} server lines");
            return Err(wire::err::BAD_ARGUMENTS);
        }
        // Only a super user may change the membership: `/zookeeper/config`
        // is world-readable and writable by nobody else, as in ZooKeeper.
        let (acl, _) = tree.get_acl(CONFIG_PATH, &c.auth).map_err(|e| e.code())?;
        synod_coord::acl::check(&acl, synod_coord::perms::WRITE, &c.auth).map_err(|e| e.code())?;
        Ok(plan)
    }

    /// The run's `ServerLines` write was applied here.
    pub(crate) fn on_lines_recorded(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        run: Box<super::reconfig::Run>,
    ) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.in_flight = Some(InFlight::Reconfig(run));
            self.advance_reconfig(tree, conn);
        }
    }

    /// Starts the run's next step, or answers once there is none.
    fn advance_reconfig(&mut self, tree: &Tree, conn: ConnId) {
        let members = self.reconfig.members.clone();
        let now = self.now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(InFlight::Reconfig(run)) = &mut c.in_flight else {
            return;
        };
        while run
            .steps
            .front()
            .is_some_and(|s| already_done(&members, *s))
        {
            run.steps.pop_front();
        }
        let Some(step) = run.steps.front().copied() else {
            let xid = run.xid;
            c.in_flight = None;
            return self.finish_reconfig(tree, conn, xid);
        };
        let id = ID_BIT | self.reconfig.next_id;
        self.reconfig.next_id += 1;
        if !matches!(run.wait, Wait::Retry(_)) {
            run.since_ms = now;
        }
        run.wait = Wait::Engine(id);
        self.reconfig.submit.push((id, step));
        self.reconfig.waiting.insert(id, conn);
    }

    fn finish_reconfig(&mut self, tree: &Tree, conn: ConnId, xid: i32) {
        let data = self.config_data(tree);
        let mut stat = tree.exists(CONFIG_PATH).expect("the tree always has it");
        stat.data_length = data.len() as i32;
        let body = wire::Response::GetData {
            data: Some(data),
            stat: convert::stat(&stat),
        };
        self.send_reply(conn, xid, tree.last_zxid(), 0, Some(&body));
        self.pump(tree, conn);
    }

    /// The engine answered a step. Returns false when the id is not the
    /// front door's.
    pub fn on_reconfig_reply(&mut self, tree: &Tree, id: u64, outcome: &Outcome) -> bool {
        if id & ID_BIT == 0 {
            return false;
        }
        let Some(conn) = self.reconfig.waiting.remove(&id) else {
            return true;
        };
        let now = self.now_ms;
        let applied = self.reconfig.applied;
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        let Some(InFlight::Reconfig(run)) = &mut c.in_flight else {
            return true;
        };
        if !matches!(run.wait, Wait::Engine(waiting) if waiting == id) {
            return true;
        }
        match outcome {
            Outcome::Ok(bytes) => {
                let slot = bytes
                    .as_slice()
                    .try_into()
                    .map(Slot::from_be_bytes)
                    .unwrap_or(Slot::MAX);
                run.steps.pop_front();
                run.wait = Wait::Applied(slot);
                if slot <= applied {
                    self.advance_reconfig(tree, conn);
                }
            }
            refused => {
                info!(conn, ?refused, "a reconfig step was refused; asking again");
                run.wait = Wait::Retry(now + RETRY_MS);
            }
        }
        true
    }

    /// On the front door's timer: refused steps asked again, and runs that
    /// waited too long answered or closed.
    pub(crate) fn on_reconfig_timer(&mut self, tree: &Tree) {
        let now = self.now_ms;
        let mut retry = Vec::new();
        let mut give_up = Vec::new();
        let mut unknown = Vec::new();
        for (id, c) in &self.conns {
            let Some(InFlight::Reconfig(run)) = &c.in_flight else {
                continue;
            };
            let late = now.saturating_sub(run.since_ms) >= STEP_WAIT_MS;
            match run.wait {
                Wait::Retry(_) if late => give_up.push(*id),
                Wait::Retry(at) if at <= now => retry.push(*id),
                Wait::Engine(_) | Wait::Applied(_) | Wait::Lines if late => unknown.push(*id),
                _ => {}
            }
        }
        for conn in retry {
            self.advance_reconfig(tree, conn);
        }
        for conn in give_up {
            let c = self.conns.get_mut(&conn).expect("listed above");
            let Some(InFlight::Reconfig(run)) = c.in_flight.take() else {
                continue;
            };
            let code = match run.steps.front() {
                Some(ConfigChange::Promote(_)) => wire::err::NEW_CONFIG_NO_QUORUM,
                _ => wire::err::RECONFIG_IN_PROGRESS,
            };
            self.send_reply(conn, run.xid, tree.last_zxid(), code, None);
            self.pump(tree, conn);
        }
        for conn in unknown {
            self.close(
                conn,
                "a reconfig step went unanswered; its outcome is unknown",
            );
        }
    }
}
