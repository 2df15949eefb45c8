//! The nondeterministic steps of the explored system: which are enabled
//! in a state, and how each reads in a trace.

use crate::setup::Setup;
use crate::world::World;

/// Which timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A leader's clock moves by the resend interval: it sends heartbeats
    /// and resends proposals not yet chosen.
    Heartbeat,
    /// The clock moves by two election timeouts, past any election
    /// deadline and any lease: a follower starts an election, a leader
    /// that heard from nobody meanwhile steps down.
    Election,
}

/// One nondeterministic step. Message indices point into the world's
/// in-flight list of the state the step is taken from; hosts are indices
/// into its hosts (node id minus one). Four bytes, so that a
/// breadth-first search can keep one per state to rebuild a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    Deliver(u16),
    Drop(u16),
    /// The host's oldest write in progress completes.
    Persisted(u8),
    Timer(u8, Timer),
    /// A client submits command `command` to `host`.
    Submit {
        host: u8,
        command: u8,
    },
    /// An operator asks `host` for membership change `change` (an index
    /// into `ExploreConfig::changes`).
    Reconfigure {
        host: u8,
        change: u8,
    },
    /// The host crashes and restarts from its durable records.
    Crash(u8),
}

/// Hosts, commands and changes are few (`ExploreConfig::validate`); the
/// in-flight list of a search bounded by budgets and `depth_max` stays far
/// below `u16::MAX`, and deliveries beyond it would not be offered.
fn host(i: usize) -> u8 {
    i as u8
}

impl World {
    /// Every transition enabled in this state. Rare steps (submissions,
    /// elections, crashes) come first, so that a depth-first search meets
    /// their consequences early; the order changes no verdict of a
    /// complete search. Equal copies of a message give one delivery (and
    /// one drop): taking either copy leads to the same state.
    ///
    /// A membership change is offered only to a leader whose phase 1 is
    /// done: one still preparing answers `Busy` and changes nothing, so
    /// that request leads to a state with the same nodes and network and
    /// less budget, from which nothing new is reachable.
    pub fn enabled(&self, setup: &Setup) -> Vec<Transition> {
        let cfg = &setup.explore;
        let mut out = Vec::new();
        if self.spent.reconfigs < cfg.reconfig_budget {
            // The next step of the plan, or the last one again.
            let next = usize::from(self.changes_asked);
            let steps = next.saturating_sub(1)..(next + 1).min(cfg.changes.len());
            for change in steps {
                for (i, h) in self.hosts.iter().enumerate() {
                    if h.node.is_active_leader() {
                        out.push(Transition::Reconfigure {
                            host: host(i),
                            change: change as u8,
                        });
                    }
                }
            }
        }
        for command in 0..cfg.commands {
            if self.submitted & (1 << command) != 0 {
                continue;
            }
            for (i, h) in self.hosts.iter().enumerate() {
                if h.node.is_leader() {
                    out.push(Transition::Submit {
                        host: host(i),
                        command: command as u8,
                    });
                }
            }
        }
        let timers = self.spent.timers < cfg.timer_budget;
        if timers {
            // Followers' elections first: they are what challenges a leader.
            out.extend(
                (0..self.hosts.len())
                    .rev()
                    .filter(|&i| cfg.timer_fires_at(i))
                    .map(|i| Transition::Timer(host(i), Timer::Election)),
            );
        }
        if self.spent.crashes < cfg.crash_budget {
            out.extend((0..self.hosts.len()).map(|i| Transition::Crash(host(i))));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if !h.writes.is_empty() {
                out.push(Transition::Persisted(host(i)));
            }
        }
        let distinct: Vec<u16> = (0..self.in_flight.len().min(usize::from(u16::MAX)))
            .filter(|&i| i == 0 || self.in_flight[i - 1].hash != self.in_flight[i].hash)
            .map(|i| i as u16)
            .collect();
        out.extend(distinct.iter().map(|&i| Transition::Deliver(i)));
        if timers && cfg.heartbeat_timers {
            for (i, h) in self.hosts.iter().enumerate() {
                if h.node.is_active_leader() && cfg.timer_fires_at(i) {
                    out.push(Transition::Timer(host(i), Timer::Heartbeat));
                }
            }
        }
        if self.spent.losses < cfg.loss_budget {
            out.extend(distinct.iter().map(|&i| Transition::Drop(i)));
        }
        out
    }

    /// A one-line description of `t` taken from this state.
    pub fn describe(&self, setup: &Setup, t: Transition) -> String {
        let id = |i: u8| self.hosts[usize::from(i)].node.id();
        match t {
            Transition::Deliver(i) => {
                let e = &self.in_flight[usize::from(i)];
                format!("deliver {} -> {}: {}", e.from, e.to, e.msg)
            }
            Transition::Drop(i) => {
                let e = &self.in_flight[usize::from(i)];
                format!("drop {} -> {}: {}", e.from, e.to, e.msg)
            }
            Transition::Persisted(i) => {
                let host = &self.hosts[usize::from(i)];
                let (pid, count) = host.writes[0];
                let records: Vec<String> = host.disk[host.durable..host.durable + count]
                    .iter()
                    .map(crate::text::describe_record)
                    .collect();
                format!(
                    "node {} write #{pid} is durable: {}",
                    id(i),
                    records.join(", ")
                )
            }
            Transition::Timer(i, timer) => format!(
                "node {} ({}) {} timer fires",
                id(i),
                self.hosts[usize::from(i)].node.role_name(),
                match timer {
                    Timer::Heartbeat => "heartbeat",
                    Timer::Election => "election",
                }
            ),
            Transition::Submit { host, command } => {
                format!("client submits command c{} to node {}", command, id(host))
            }
            Transition::Reconfigure { host, change } => format!(
                "operator asks node {} for membership change {} ({:?})",
                id(host),
                u64::from(change) + 1,
                setup.change(usize::from(change))
            ),
            Transition::Crash(i) => {
                let h = &self.hosts[usize::from(i)];
                format!(
                    "node {} crashes, loses {} unwritten record(s), restarts",
                    id(i),
                    h.disk.len() - h.durable
                )
            }
        }
    }
}
