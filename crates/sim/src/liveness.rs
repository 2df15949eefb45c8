//! The liveness checks: after faults heal, every client is served and
//! every replica converges within a bounded time; under a scripted
//! partial-connectivity scenario, clients are served while it lasts.

use crate::scenario::Scenario;
use crate::world::{Ev, World};
use synod_paxos::{NodeId, Slot};

const SCRIPT_STEP_US: u64 = 4_000_000;
/// Operations must complete this many election timeouts into a scenario.
const SCENARIO_GRACE_TIMEOUTS: u64 = 4;

impl World {
    /// Every client was served since the heal, none is waiting, and every
    /// member of the leader's configuration applied everything committed.
    /// Once every client was served, clients stop starting operations.
    pub(crate) fn converged(&mut self) -> bool {
        let healed = self.cluster.healed_at();
        let all_served = self
            .clients
            .values()
            .all(|c| c.last_completed_at >= healed && c.completed > 0);
        if !all_served {
            return false;
        }
        for c in self.clients.values_mut() {
            c.done = true;
        }
        if self.clients.values().any(|c| c.pending.is_some()) {
            return false;
        }
        let Some(leader) = self.cluster.current_leader() else {
            return false;
        };
        // Nodes outside the leader's configuration (removed, or added by
        // an operator whose change never made it) are not followed.
        let config = self
            .cluster
            .node(leader)
            .expect("the leader is up")
            .engine()
            .config()
            .clone();
        let live: Vec<NodeId> = config.members().collect();
        if live.iter().any(|id| !self.cluster.is_up(*id)) {
            return false;
        }
        let engines: Vec<_> = live
            .iter()
            .filter_map(|id| self.cluster.node(*id))
            .map(|n| n.engine())
            .collect();
        let max_commit = engines.iter().map(|n| n.commit()).max().unwrap_or(0);
        let applied: Vec<Slot> = engines.iter().map(|n| n.applied()).collect();
        applied.len() >= 2 && applied.iter().all(|a| *a == max_commit)
    }

    pub(crate) fn liveness_failure(&self) -> String {
        let healed = self.cluster.healed_at();
        let stuck: Vec<String> = self
            .clients
            .values()
            .filter(|c| c.last_completed_at < healed || c.completed == 0)
            .map(|c| format!("client {}", c.id))
            .collect();
        let nodes: Vec<String> = self
            .cluster
            .members()
            .into_iter()
            .map(|id| match self.cluster.node(id).map(|n| n.engine()) {
                Some(node) => format!(
                    "n{id} {} promised {} commit {} applied {}",
                    node.role_name(),
                    node.promised(),
                    node.commit(),
                    node.applied()
                ),
                None => format!("n{id} down"),
            })
            .collect();
        format!(
            "{}; nodes: {}",
            if stuck.is_empty() {
                "replicas did not converge".to_string()
            } else {
                format!("not served: {}", stuck.join(", "))
            },
            nodes.join("; ")
        )
    }

    /// Applies step `step` of the scripted scenario.
    pub(crate) fn script(&mut self, step: usize) {
        let Some(scenario) = self.cfg.scenario else {
            return;
        };
        let Some(leader) = self.cluster.current_leader() else {
            // Wait for a leader to script around.
            self.cluster
                .schedule(self.now() + 100_000, Ev::Script { step });
            return;
        };
        let ids = self.cluster.ids();
        if step == 0 {
            self.scenario_special = ids
                .iter()
                .copied()
                .find(|n| *n != leader)
                .expect("several nodes");
        }
        let special = self.scenario_special;
        match scenario.links(step, &ids, leader, special) {
            Some(cut) => {
                let what = format!(
                    "SCENARIO {} step {step}: leader n{leader}, special node n{special}",
                    scenario.name()
                );
                self.cluster.cut_links(cut, &what);
                self.scenario_started = self.now();
                self.cluster
                    .schedule(self.now() + SCRIPT_STEP_US, Ev::Script { step: step + 1 });
            }
            None => self.check_scenario_progress(scenario),
        }
    }

    /// The last step of the scenario has held for a while: clients must
    /// have been served under it, not only after it heals.
    fn check_scenario_progress(&mut self, scenario: Scenario) {
        let since = self.scenario_started;
        let grace = SCENARIO_GRACE_TIMEOUTS * self.cfg.engine.election_timeout_us;
        let served = self
            .history
            .iter()
            .filter(|op| op.call >= since && op.ret.is_some_and(|r| r >= since + grace))
            .count();
        let held_s = (self.now() - since) as f64 / 1e6;
        self.cluster.note(|| {
            format!(
                "SCENARIO {} held {held_s:.1}s: {served} operations served after {:.1}s under it",
                scenario.name(),
                grace as f64 / 1e6
            )
        });
        if served == 0 {
            let detail = format!(
                "no client was served under the {} partition after {SCENARIO_GRACE_TIMEOUTS} election timeouts",
                scenario.name()
            );
            self.cluster.violation("liveness", detail);
        }
        self.stats.scenario_ops += served as u64;
    }
}
