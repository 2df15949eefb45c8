//! Driving the clients: each starts an operation, sends it to a node,
//! retries on timeouts and redirects with the same sequence number, and
//! records what it saw for the linearizability checker.

use crate::client::{Pending, SimClient};
use crate::world::{read_id, ClientReply, Ev, World};
use synod_check::Operation;
use synod_node::NodeInput;
use synod_paxos::{ClientId, Command, NodeId, Outcome, Rng};
use synod_simcluster::{ClientInput, Time};

const CLIENT_TIMEOUT_US: Time = 1_000_000;
/// A `ClientTimeout` with an attempt at or above this is a timer to send
/// attempt `attempt - RESEND` again, not a timeout.
const RESEND: u32 = 1_000_000;

impl World {
    /// The nodes a client may send to: every member for operations that
    /// chase the leader (a removed node bounces them with `NotLeader`),
    /// only those still in the clients' server list for writes submitted
    /// anywhere.
    fn client_targets(&self, anywhere: bool) -> Vec<NodeId> {
        self.cluster
            .members()
            .into_iter()
            .filter(|id| !anywhere || !self.not_serving.contains(id))
            .collect()
    }

    pub(crate) fn client_start(&mut self, id: ClientId) {
        let mut rng = Rng::new(self.cluster.rng().next_u64());
        let now = self.now();
        let targets = self.client_targets(true);
        let anywhere_p = self.cfg.propose_anywhere_p;
        let big = self.big_values();
        let client = self.clients.get_mut(&id).expect("client exists");
        if client.pending.is_some() || client.done {
            return;
        }
        let (op, is_read, oversized) = client.next_op(&mut rng, big);
        // Drawn only when forwarding is on, so runs without it replay the
        // seeds they always did.
        let anywhere = !is_read && anywhere_p > 0.0 && rng.chance(anywhere_p);
        let seq = if is_read {
            client.read_id
        } else {
            client.write_seq
        };
        // A command over the limit never reaches the log: it is no
        // operation of the history.
        let history_index = self.history.len();
        if !oversized {
            self.history.push(Operation {
                client: id,
                input: op.clone(),
                call: now,
                output: None,
                ret: None,
            });
        }
        let target = if anywhere {
            targets[rng.range(0, targets.len() as u64) as usize]
        } else {
            client.leader_guess
        };
        client.pending = Some(Pending {
            history_index,
            op,
            seq,
            is_read,
            anywhere,
            target,
            attempt: 0,
            oversized,
        });
        self.client_send(id);
    }

    fn client_send(&mut self, id: ClientId) {
        let Some(p) = self.clients[&id].pending.clone() else {
            return;
        };
        let input = if p.is_read {
            NodeInput::Read {
                id: read_id(id, p.seq),
                op: p.op.encode(),
            }
        } else {
            let cmd = Command {
                client: id,
                seq: p.seq,
                op: p.op.encode(),
            };
            if p.anywhere {
                NodeInput::Propose(cmd)
            } else {
                NodeInput::Write(cmd)
            }
        };
        self.cluster.note(|| {
            format!(
                "client {id} {} n{}: {:?}{}",
                if p.anywhere { "proposes at" } else { "->" },
                p.target,
                p.op,
                if p.attempt > 0 {
                    format!(" (attempt {})", p.attempt + 1)
                } else {
                    String::new()
                }
            )
        });
        let at = self.now() + self.cluster.client_latency();
        self.cluster
            .send_input(at, p.target, None, ClientInput::Node(input));
        self.cluster.schedule(
            self.now() + CLIENT_TIMEOUT_US,
            Ev::ClientTimeout {
                client: id,
                seq: p.seq,
                attempt: p.attempt,
            },
        );
    }

    /// Retries the same operation elsewhere after `delay`.
    fn client_retry(&mut self, id: ClientId, hint: Option<NodeId>, delay: Time) {
        let anywhere = self.clients[&id]
            .pending
            .as_ref()
            .is_some_and(|p| p.anywhere);
        let targets = self.client_targets(anywhere);
        let pick = self.cluster.rng().range(0, targets.len() as u64) as usize;
        let client = self.clients.get_mut(&id).expect("exists");
        let Some(p) = client.pending.as_mut() else {
            return;
        };
        p.attempt += 1;
        // A write submitted anywhere whose node never answered (crashed,
        // cut off) goes to another node with the same sequence number.
        p.target = match hint {
            Some(h) if h != p.target && targets.contains(&h) => h,
            _ => {
                let idx = targets.iter().position(|t| *t == p.target).unwrap_or(pick);
                targets[(idx + 1) % targets.len()]
            }
        };
        if !p.anywhere {
            client.leader_guess = p.target;
        }
        let (attempt, seq) = (p.attempt, p.seq);
        if delay == 0 {
            self.client_send(id);
        } else {
            self.cluster.schedule(
                self.now() + delay,
                Ev::ClientTimeout {
                    client: id,
                    seq,
                    attempt: attempt + RESEND,
                },
            );
        }
    }

    pub(crate) fn client_timeout(&mut self, id: ClientId, seq: u64, attempt: u32) {
        let Some(p) = &self.clients[&id].pending else {
            return;
        };
        if p.seq != seq {
            return;
        }
        if attempt >= RESEND {
            if p.attempt == attempt - RESEND {
                self.client_send(id);
            }
            return;
        }
        if p.attempt != attempt {
            return;
        }
        self.client_retry(id, None, 0);
    }

    pub(crate) fn on_client_reply(&mut self, id: ClientId, reply: ClientReply) {
        let ClientReply {
            seq,
            outcome,
            is_read,
        } = reply;
        let Some(p) = &self.clients[&id].pending else {
            return;
        };
        if p.seq != seq || p.is_read != is_read {
            return;
        }
        if p.oversized {
            return self.on_oversized_reply(id, seq, outcome);
        }
        match outcome {
            Outcome::Ok(bytes) => {
                let Some(reply) = SimClient::decode(&bytes) else {
                    let detail = format!("client {id} got an undecodable reply");
                    self.cluster.violation("client", detail);
                    return;
                };
                let idx = p.history_index;
                if p.anywhere {
                    self.stats.ops_anywhere += 1;
                }
                let now = self.now();
                self.history[idx].output = Some(reply);
                self.history[idx].ret = Some(now);
                let client = self.clients.get_mut(&id).expect("exists");
                client.pending = None;
                client.completed += 1;
                client.last_completed_at = now;
                self.stats.ops_completed += 1;
                let think = self.cluster.rng().range(0, 20_000);
                self.cluster
                    .schedule(now + think, Ev::ClientWake { client: id });
            }
            Outcome::NotLeader { leader } => {
                // Follow a hint at once; with none (an election is on) back
                // off a little more each time, as real clients do.
                let backoff = 20_000 * u64::from(p.attempt.min(10) + 1);
                let delay = if leader.is_some() { 1_000 } else { backoff };
                self.client_retry(id, leader, delay);
            }
            Outcome::Busy => {
                let target = p.target;
                self.client_retry(id, Some(target), 30_000)
            }
            Outcome::Stale => {
                let detail = format!("client {id} was told its current command #{seq} is stale");
                self.cluster.violation("exactly-once", detail);
            }
            Outcome::Rejected(why) => {
                let detail = format!("client {id} command rejected: {why}");
                self.cluster.violation("client", detail);
            }
        }
    }

    /// A command over `command_bytes_max` must be refused, by the node the
    /// client asked (or the leader it was sent on to), and never applied.
    fn on_oversized_reply(&mut self, id: ClientId, seq: u64, outcome: Outcome) {
        match outcome {
            Outcome::Rejected(_) => {
                self.stats.oversized_rejected += 1;
                let now = self.now();
                let client = self.clients.get_mut(&id).expect("exists");
                client.pending = None;
                client.last_completed_at = now;
                let think = self.cluster.rng().range(0, 20_000);
                self.cluster
                    .schedule(now + think, Ev::ClientWake { client: id });
            }
            Outcome::Ok(_) | Outcome::Stale => {
                let detail = format!(
                    "client {id}'s command #{seq}, over command_bytes_max, was answered {outcome:?} instead of Rejected"
                );
                self.cluster.violation("byte-limit", detail);
            }
            Outcome::NotLeader { leader } => self.client_retry(id, leader, 1_000),
            Outcome::Busy => self.client_retry(id, None, 30_000),
        }
    }
}
