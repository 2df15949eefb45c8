//! The model world: groups, controller, network, clients, faults, checks.

use std::collections::BTreeMap;

use synod_check::{check_txns, TxnOutcome as Seen, TxnRead, TxnRecord, TxnWrite};
use synod_paxos::Rng;
use synod_shard::{Config, GroupId, Settings, ShardController, ShardOp, ShardReply};
use synod_shardkv::{
    CallStep, CallTimers, ClientReply, GroupMsg, Out, ShardBugs, Slot, TxnCall, TxnId, TxnOutcome,
};

use super::bank::{self, BankClient, InFlight, Plan};
use super::logs::GroupLog;

pub const SHARDS: u32 = 16;
pub const ACCOUNTS: usize = 8;
const GROUPS: u64 = 4;
const CLIENTS: u64 = 4;
const STEP_US: u64 = 1_000;
const FAULTS_US: u64 = 20_000_000;
const CLIENTS_STOP_US: u64 = FAULTS_US + 5_000_000;
const DEADLINE_US: u64 = FAULTS_US + 40_000_000;
const RESEND_US: u64 = 200_000;
const GIVE_UP_US: u64 = 8_000_000;
/// See `check_no_transaction_stays_in_doubt`: resolve (1 s) + vote
/// timeout (2 s) + elections and resends, with room to spare.
const IN_DOUBT_BOUND_US: u64 = 6_000_000;

/// What goes wrong, and how often (per millisecond, per group).
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub drop_p: f64,
    pub dup_p: f64,
    pub delay_max_us: u64,
    /// When set: every message takes exactly this long, a log entry is
    /// chosen exactly two of these after it is proposed (accept, then
    /// accepted), and one client runs, so latencies count message delays.
    pub unit_us: Option<u64>,
    pub crash_p: f64,
    pub snapshot_p: f64,
    pub isolate_p: f64,
    pub reconfig_every_us: Option<u64>,
    /// Each group three replicas of the real engine (`support::logs`),
    /// instead of a queue.
    pub engines: bool,
}

pub fn profiles() -> Vec<Profile> {
    let calm = Profile {
        name: "calm",
        drop_p: 0.0,
        dup_p: 0.0,
        delay_max_us: 3_000,
        unit_us: None,
        engines: false,
        crash_p: 0.0,
        snapshot_p: 0.0,
        isolate_p: 0.0,
        reconfig_every_us: None,
    };
    vec![
        calm.clone(),
        Profile {
            name: "moves",
            reconfig_every_us: Some(700_000),
            ..calm.clone()
        },
        Profile {
            name: "lossy",
            drop_p: 0.1,
            dup_p: 0.05,
            delay_max_us: 30_000,
            reconfig_every_us: Some(1_500_000),
            ..calm.clone()
        },
        Profile {
            name: "crashes",
            crash_p: 0.0005,
            snapshot_p: 0.0005,
            reconfig_every_us: Some(1_000_000),
            ..calm.clone()
        },
        Profile {
            name: "partitions",
            isolate_p: 0.0003,
            reconfig_every_us: Some(1_000_000),
            ..calm.clone()
        },
        Profile {
            name: "churn",
            drop_p: 0.2,
            dup_p: 0.1,
            delay_max_us: 10_000,
            reconfig_every_us: Some(150_000),
            ..calm.clone()
        },
        Profile {
            name: "all",
            drop_p: 0.05,
            dup_p: 0.03,
            delay_max_us: 20_000,
            crash_p: 0.0004,
            snapshot_p: 0.0004,
            isolate_p: 0.0002,
            reconfig_every_us: Some(600_000),
            unit_us: None,
            engines: false,
        },
    ]
}

/// The profiles again with every group three replicas of the real engine:
/// fewer seeds, since each is some ten times the work.
pub fn engine_profiles() -> Vec<Profile> {
    let names = [
        ("calm", "engines-calm"),
        ("crashes", "engines-crashes"),
        ("all", "engines-all"),
    ];
    names
        .into_iter()
        .map(|(base, name)| Profile {
            name,
            engines: true,
            ..profiles()
                .into_iter()
                .find(|p| p.name == base)
                .expect("profile")
        })
        .collect()
}

/// No faults, and latencies in message delays of 10 ms (see `unit_us`).
pub fn unit_delays() -> Profile {
    Profile {
        name: "unit-delays",
        unit_us: Some(10_000),
        ..profiles().remove(0)
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub committed: u64,
    pub aborted: u64,
    pub unknown: u64,
    pub cross_group_commits: u64,
    pub configs: u64,
    pub crashes: u64,
    pub settled_after_us: u64,
    /// The longest any transaction prepared when faults stopped stayed
    /// undecided after that.
    pub in_doubt_after_heal_us: u64,
    /// Under `unit_us`: (groups the transaction touched, its latency in
    /// message delays) of each commit.
    pub latencies: Vec<(usize, u64)>,
}

impl Report {
    /// Adds another run's counts (the worst of its times).
    pub fn add(&mut self, other: &Report) {
        self.committed += other.committed;
        self.aborted += other.aborted;
        self.unknown += other.unknown;
        self.cross_group_commits += other.cross_group_commits;
        self.configs += other.configs;
        self.crashes += other.crashes;
        self.settled_after_us = self.settled_after_us.max(other.settled_after_us);
        self.in_doubt_after_heal_us = self
            .in_doubt_after_heal_us
            .max(other.in_doubt_after_heal_us);
    }
}

struct Replica {
    log: GroupLog,
    isolated_until_us: u64,
}

#[derive(Clone)]
enum Dest {
    Group(GroupId),
    Client(u64),
}

#[derive(Clone)]
enum Msg {
    Group { from: GroupId, msg: GroupMsg },
    Config(Config),
    Reply { id: TxnId, reply: ClientReply },
}

struct Flight {
    at_us: u64,
    to: Dest,
    msg: Msg,
}

pub struct World {
    rng: Rng,
    now_us: u64,
    profile: Profile,
    bugs: ShardBugs,
    controller: ShardController,
    groups: BTreeMap<GroupId, Replica>,
    flights: Vec<Flight>,
    clients: Vec<BankClient>,
    history: Vec<TxnRecord>,
    next_tag: u64,
    next_reconfig_us: u64,
    report: Report,
    /// Transactions prepared somewhere when faults stopped, still so.
    in_doubt: Option<std::collections::BTreeSet<(GroupId, TxnId)>>,
    /// `SYNOD_SHARDKV_TRACE=<record>`: print that transaction's life.
    trace: Option<usize>,
}

impl World {
    pub fn new(seed: u64, profile: Profile, bugs: ShardBugs) -> World {
        let settings = Settings {
            shard_count: SHARDS,
            ..Settings::DEFAULT
        };
        let mut controller = ShardController::new(settings).expect("valid settings");
        let joined = (1..GROUPS)
            .map(|g| (g, vec![format!("group-{g}:1")]))
            .collect();
        controller.execute(&ShardOp::Join { groups: joined });
        let groups = (1..=GROUPS)
            .map(|gid| {
                let replica = Replica {
                    log: GroupLog::new(gid, SHARDS, profile.engines, profile.unit_us, &bugs, seed),
                    isolated_until_us: 0,
                };
                (gid, replica)
            })
            .collect();
        let client_count = if profile.unit_us.is_some() {
            1
        } else {
            CLIENTS
        };
        let clients = (0..client_count)
            .map(|c| BankClient::new(1_000 + c, controller.newest().clone()))
            .collect();
        World {
            rng: Rng::new(seed),
            now_us: 0,
            next_reconfig_us: profile.reconfig_every_us.unwrap_or(u64::MAX),
            profile,
            bugs,
            controller,
            groups,
            flights: Vec::new(),
            clients,
            history: Vec::new(),
            next_tag: 1,
            report: Report::default(),
            in_doubt: None,
            trace: std::env::var("SYNOD_SHARDKV_TRACE")
                .ok()
                .and_then(|t| t.parse().ok()),
        }
    }

    fn faulty(&self) -> bool {
        self.now_us < FAULTS_US
    }

    /// `run`, with a panic (a broken assertion in the state machine or a
    /// client's audit) turned into the error it names.
    pub fn run_caught(self) -> Result<Report, String> {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run()));
        run.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panicked: {}", message.unwrap_or_default()))
        })
    }

    /// Runs to the end and checks everything.
    pub fn run(mut self) -> Result<Report, String> {
        while self.now_us < DEADLINE_US {
            self.step()?;
            if self.now_us > CLIENTS_STOP_US && self.quiescent() {
                self.report.settled_after_us = self.now_us - FAULTS_US;
                return self.final_checks();
            }
        }
        Err(format!(
            "not settled {} s after faults stopped: {}",
            (DEADLINE_US - FAULTS_US) / 1_000_000,
            self.unsettled()
        ))
    }

    fn step(&mut self) -> Result<(), String> {
        self.now_us += STEP_US;
        self.deliver();
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for &gid in &gids {
            self.step_group(gid)?;
        }
        self.check_one_server_per_shard()?;
        if self.faulty() {
            self.inject_faults(&gids);
        }
        self.check_no_transaction_stays_in_doubt()?;
        self.step_clients();
        Ok(())
    }

    /// A group's step: entries chosen and applied, timers, its leader's
    /// driver. A group cut off by a partition is paused whole (its
    /// majority is unreachable too).
    fn step_group(&mut self, gid: GroupId) -> Result<(), String> {
        let now_us = self.now_us;
        let replica = self.groups.get_mut(&gid).expect("group");
        if replica.isolated_until_us > now_us {
            return Ok(());
        }
        let outs = replica.log.step(now_us, &mut self.rng)?;
        let num = replica.log.decided_state().config().num;
        self.report.configs = self.report.configs.max(num);
        self.route(gid, outs);
        Ok(())
    }

    fn route(&mut self, gid: GroupId, outs: Vec<Out>) {
        for out in outs {
            match out {
                Out::Propose(_) => unreachable!("the group log takes its proposals"),
                Out::Send { to, msg } => {
                    self.send(gid, Dest::Group(to), Msg::Group { from: gid, msg })
                }
                Out::Reply { id, reply } => {
                    self.send(gid, Dest::Client(id.client), Msg::Reply { id, reply })
                }
                Out::QueryConfig { num } => {
                    if let ShardReply::Config(config) =
                        self.controller.read(&ShardOp::Query { num: num as i64 })
                    {
                        if config.num == num {
                            self.send(gid, Dest::Group(gid), Msg::Config(config));
                        }
                    }
                }
            }
        }
    }

    fn cut_off(&self, gid: GroupId) -> bool {
        self.groups
            .get(&gid)
            .is_some_and(|r| r.isolated_until_us > self.now_us)
    }

    fn send(&mut self, from: GroupId, to: Dest, msg: Msg) {
        let faulty = self.faulty();
        if faulty && self.rng.chance(self.profile.drop_p) {
            return;
        }
        if self.cut_off(from) || matches!(to, Dest::Group(g) if self.cut_off(g)) {
            return;
        }
        if faulty && self.rng.chance(self.profile.dup_p) {
            let at_us = self.delivery_time();
            let copy = Flight {
                at_us,
                to: to.clone(),
                msg: msg.clone(),
            };
            self.flights.push(copy);
        }
        let at_us = self.delivery_time();
        self.flights.push(Flight { at_us, to, msg });
    }

    fn delivery_time(&mut self) -> u64 {
        match self.profile.unit_us {
            Some(unit) => self.now_us + unit,
            None => self.now_us + self.rng.range(500, self.profile.delay_max_us.max(501)),
        }
    }

    fn deliver(&mut self) {
        let now = self.now_us;
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.flights.len() {
            if self.flights[i].at_us <= now {
                due.push(self.flights.swap_remove(i));
            } else {
                i += 1;
            }
        }
        // Random order among those due.
        for k in (1..due.len()).rev() {
            let j = self.rng.range(0, k as u64 + 1) as usize;
            due.swap(k, j);
        }
        for flight in due {
            match flight.to {
                Dest::Group(gid) => {
                    if self.cut_off(gid) {
                        continue;
                    }
                    let log = &mut self.groups.get_mut(&gid).expect("group").log;
                    let out = match flight.msg {
                        Msg::Group { from, msg } => log.on_message(now, &mut self.rng, from, msg),
                        Msg::Config(config) => log.on_config(now, &mut self.rng, config),
                        Msg::Reply { .. } => Vec::new(),
                    };
                    self.route(gid, out);
                }
                Dest::Client(client) => {
                    if let Msg::Reply { id, reply } = flight.msg {
                        self.on_client_reply(client, id, reply);
                    }
                }
            }
        }
    }

    fn inject_faults(&mut self, gids: &[GroupId]) {
        for &gid in gids {
            if self.rng.chance(self.profile.crash_p) {
                self.crash_leader(gid);
            }
            if self.rng.chance(self.profile.snapshot_p) {
                self.groups
                    .get_mut(&gid)
                    .expect("group")
                    .log
                    .snapshot_round_trip();
            }
            if self.rng.chance(self.profile.isolate_p) {
                let until = self.now_us + self.rng.range(500_000, 3_000_000);
                self.groups.get_mut(&gid).expect("group").isolated_until_us = until.min(FAULTS_US);
            }
        }
        if self.now_us >= self.next_reconfig_us {
            self.next_reconfig_us = self.now_us + self.profile.reconfig_every_us.expect("set");
            self.reconfigure();
        }
    }

    fn crash_leader(&mut self, gid: GroupId) {
        self.report.crashes += 1;
        let now_us = self.now_us;
        let replica = self.groups.get_mut(&gid).expect("group");
        replica.log.crash_leader(now_us, &mut self.rng);
    }

    fn reconfigure(&mut self) {
        let newest = self.controller.newest().clone();
        let joined: Vec<GroupId> = newest.groups.keys().copied().collect();
        let roll = self.rng.range(0, 10);
        let op = if roll < 6 || joined.len() == 1 && roll < 8 {
            let shard = self.rng.range(0, u64::from(SHARDS)) as u32;
            let group = joined[self.rng.range(0, joined.len() as u64) as usize];
            ShardOp::Move { shard, group }
        } else if roll < 8 {
            let group = joined[self.rng.range(0, joined.len() as u64) as usize];
            ShardOp::Leave {
                groups: vec![group],
            }
        } else {
            let group = self.rng.range(1, GROUPS + 1);
            ShardOp::Join {
                groups: BTreeMap::from([(group, vec![format!("group-{group}:1")])]),
            }
        };
        self.controller.execute(&op);
    }

    /// Once faults stop, every transaction then prepared is decided (and
    /// finished) within `IN_DOUBT_BOUND_US`: a participant asks after
    /// `resolve_after_us`, a coordinator gives up on votes after
    /// `vote_timeout_us`, and a group without a leader elects one within
    /// a couple of election timeouts.
    fn check_no_transaction_stays_in_doubt(&mut self) -> Result<(), String> {
        if self.faulty() {
            return Ok(());
        }
        let prepared_now = |world: &World| -> std::collections::BTreeSet<(GroupId, TxnId)> {
            world
                .groups
                .iter()
                .flat_map(|(&g, r)| {
                    r.log
                        .decided_state()
                        .prepared()
                        .keys()
                        .map(move |&id| (g, id))
                })
                .collect()
        };
        let still = match &self.in_doubt {
            None => prepared_now(self),
            Some(before) => {
                let now = prepared_now(self);
                before.intersection(&now).copied().collect()
            }
        };
        let after_us = self.now_us - FAULTS_US;
        if !still.is_empty() {
            self.report.in_doubt_after_heal_us = after_us;
            if after_us > IN_DOUBT_BOUND_US {
                let (g, id) = still.first().expect("not empty");
                return Err(format!(
                    "{id:?} still prepared at group {g} {} ms after faults stopped",
                    after_us / 1000
                ));
            }
        }
        self.in_doubt = Some(still);
        Ok(())
    }

    fn check_one_server_per_shard(&self) -> Result<(), String> {
        let mut server = BTreeMap::new();
        for (gid, replica) in &self.groups {
            for (shard, slot) in replica.log.decided_state().slots() {
                if matches!(slot, Slot::Serving(_)) {
                    if let Some(other) = server.insert(*shard, *gid) {
                        return Err(format!(
                            "shard {shard} served by groups {other} and {gid} at once (t={} ms)",
                            self.now_us / 1000
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    // ---- clients ----

    fn step_clients(&mut self) {
        for c in 0..self.clients.len() {
            let busy = self.clients[c].flight.is_some();
            if busy {
                self.client_resend(c);
            } else if self.now_us < CLIENTS_STOP_US && self.now_us >= self.clients[c].idle_until_us
            {
                self.client_start(c);
            }
        }
    }

    fn client_start(&mut self, c: usize) {
        let plan = self.clients[c].choose(&mut self.rng, ACCOUNTS);
        let txn = match &plan {
            Plan::ReadPair { from, to } => {
                bank::read_txn(&[bank::account(*from), bank::account(*to)])
            }
            Plan::Transfer { txn, .. } => txn.clone(),
            Plan::Audit => bank::read_txn(&(0..ACCOUNTS).map(bank::account).collect::<Vec<_>>()),
        };
        let client = &mut self.clients[c];
        client.seq += 1;
        let id = TxnId {
            client: client.client,
            seq: client.seq,
        };
        let record = self.history.len();
        let writes = txn
            .writes
            .iter()
            .map(|w| TxnWrite {
                key: w.key.clone(),
                rev: None,
                tag: bank::decode_value(w.value.as_deref()).1,
            })
            .collect();
        self.history.push(TxnRecord {
            id: record as u64,
            call: self.now_us,
            ret: None,
            outcome: Seen::Unknown,
            reads: Vec::new(),
            writes,
        });
        let call = TxnCall::new(id, txn, &client.config, CallTimers::default(), self.now_us);
        client.flight = Some(InFlight { call, plan, record });
        self.client_resend(c);
    }

    /// Whatever the client's call says is due now.
    fn client_resend(&mut self, c: usize) {
        let now = self.now_us;
        let step = self.clients[c]
            .flight
            .as_mut()
            .expect("in flight")
            .call
            .poll(now);
        self.client_act(c, step);
    }

    fn client_act(&mut self, c: usize, step: Option<CallStep>) {
        let now = self.now_us;
        match step {
            None => {}
            Some(CallStep::Send { to, msg }) => {
                let flight = self.clients[c].flight.as_ref().expect("in flight");
                if self.trace == Some(flight.record) {
                    println!("t={} ms {:?} sent to {to}", now / 1000, flight.call.id());
                }
                self.send(0, Dest::Group(to), Msg::Group { from: 0, msg });
            }
            Some(CallStep::NeedConfig { .. }) => {
                let client = &mut self.clients[c];
                client.config = self.controller.newest().clone();
                client.seq += 1;
                let new_id = TxnId {
                    client: client.client,
                    seq: client.seq,
                };
                let flight = client.flight.as_mut().expect("in flight");
                flight.call.on_config(now, &client.config, new_id);
                let step = flight.call.poll(now);
                self.client_act(c, step);
            }
            Some(CallStep::GaveUp) => {
                self.clients[c].flight = None; // Unknown: the record stays so.
                self.report.unknown += 1;
            }
            Some(CallStep::Done(outcome)) => {
                let flight = self.clients[c].flight.take().expect("in flight");
                self.finish(c, flight, outcome);
            }
        }
    }

    fn on_client_reply(&mut self, client_id: u64, id: TxnId, reply: ClientReply) {
        let c = (client_id - 1_000) as usize;
        let now = self.now_us;
        let Some(flight) = self.clients[c]
            .flight
            .as_mut()
            .filter(|f| f.call.id() == id)
        else {
            return;
        };
        if self.trace == Some(flight.record) {
            println!("t={} ms {id:?}: {reply:?}", now / 1000);
        }
        let step = flight.call.on_reply(now, reply);
        self.client_act(c, step);
    }

    fn finish(&mut self, c: usize, flight: InFlight, outcome: TxnOutcome) {
        let record = &mut self.history[flight.record];
        record.ret = Some(self.now_us);
        match &outcome {
            TxnOutcome::Aborted(_) => {
                record.outcome = Seen::Aborted;
                self.report.aborted += 1;
            }
            TxnOutcome::Committed { reads, writes } => {
                record.outcome = Seen::Committed;
                self.report.committed += 1;
                record.reads = reads
                    .iter()
                    .map(|r| TxnRead {
                        key: r.key.clone(),
                        rev: r.rev,
                        tag: bank::decode_value(r.value.as_deref()).1,
                    })
                    .collect();
                for (w, result) in record.writes.iter_mut().zip(writes) {
                    assert_eq!(w.key, result.key, "writes answered in order");
                    w.rev = Some(result.rev);
                }
                let groups = flight
                    .call
                    .txn()
                    .shards(SHARDS)
                    .iter()
                    .filter_map(|&s| self.clients[c].config.group_of(s))
                    .collect::<std::collections::BTreeSet<_>>();
                if groups.len() > 1 && !writes.is_empty() {
                    self.report.cross_group_commits += 1;
                }
                // Past the first second: the groups have learned the first
                // configuration by then.
                let call_us = self.history[flight.record].call;
                if let (Some(unit), true) = (self.profile.unit_us, call_us >= 1_000_000) {
                    let latency = self.now_us - call_us;
                    self.report.latencies.push((groups.len(), latency / unit));
                }
                self.plan_after(c, &flight.plan, reads);
            }
        }
        let client = &mut self.clients[c];
        client.idle_until_us = self.now_us + self.rng.range(0, 20_000);
    }

    fn plan_after(&mut self, c: usize, plan: &Plan, reads: &[synod_shardkv::ReadResult]) {
        match plan {
            Plan::ReadPair { from, to } => {
                assert_eq!(
                    reads.len(),
                    2,
                    "a pair read {from}, {to} answered {reads:?}"
                );
                let (a, b) = (&reads[0], &reads[1]);
                let (bal_a, _) = bank::decode_value(a.value.as_deref());
                let (bal_b, _) = bank::decode_value(b.value.as_deref());
                if bal_a <= 0 {
                    return;
                }
                let amount = self.rng.range(1, bal_a as u64 + 1) as i64;
                let tags = (self.next_tag, self.next_tag + 1);
                self.next_tag += 2;
                let txn =
                    bank::transfer_txn(*from, *to, (a.rev, b.rev), (bal_a, bal_b), amount, tags);
                self.clients[c].next_plan = Some(Plan::Transfer { txn });
            }
            Plan::Audit => {
                let total: i64 = reads
                    .iter()
                    .map(|r| bank::decode_value(r.value.as_deref()).0)
                    .sum();
                let expected = bank::START_BALANCE * ACCOUNTS as i64;
                let seen: Vec<String> = reads
                    .iter()
                    .map(|r| {
                        let (balance, tag) = bank::decode_value(r.value.as_deref());
                        let key = String::from_utf8_lossy(&r.key);
                        format!("{key}={balance} (rev {}, tag {tag:?})", r.rev)
                    })
                    .collect();
                assert_eq!(
                    total,
                    expected,
                    "an audit at t={} ms saw the bank hold {total}, not {expected}: {}",
                    self.now_us / 1000,
                    seen.join(", ")
                );
            }
            Plan::Transfer { .. } => {}
        }
    }

    // ---- the end ----

    fn quiescent(&self) -> bool {
        self.unsettled().is_empty()
    }

    fn unsettled(&self) -> String {
        let newest = self.controller.newest().num;
        let mut why = Vec::new();
        if self.clients.iter().any(|c| c.flight.is_some()) {
            why.push("clients in flight".to_string());
        }
        for (gid, r) in &self.groups {
            let s = r.log.decided_state();
            if !s.prepared().is_empty() {
                why.push(format!("group {gid}: {} prepared", s.prepared().len()));
            }
            if !s.decisions().is_empty() {
                why.push(format!(
                    "group {gid}: {} decisions unconfirmed",
                    s.decisions().len()
                ));
            }
            if s.config().num != newest {
                why.push(format!(
                    "group {gid} at config {} of {newest}",
                    s.config().num
                ));
            }
            if !s.settled() || !s.sending().is_empty() {
                why.push(format!("group {gid} still moving shards"));
            }
        }
        why.join("; ")
    }

    fn final_checks(self) -> Result<Report, String> {
        let mut total = 0;
        for i in 0..ACCOUNTS {
            let key = bank::account(i);
            let shard = synod_shard::shard_of(&key, SHARDS);
            let owner = self
                .controller
                .newest()
                .group_of(shard)
                .ok_or("an account's shard has no group")?;
            let Some(Slot::Serving(data)) =
                self.groups[&owner].log.decided_state().slots().get(&shard)
            else {
                return Err(format!("shard {shard} not served by its owner {owner}"));
            };
            total += bank::decode_value(data.read(&key).value.as_deref()).0;
        }
        let expected = bank::START_BALANCE * ACCOUNTS as i64;
        if total != expected {
            return Err(format!(
                "the bank holds {total} after the run, not {expected}"
            ));
        }
        let verdict = check_txns(&self.history).map_err(|e| format!("malformed history: {e}"))?;
        if !verdict.is_strictly_serializable() {
            return Err(format!("history not strictly serializable: {verdict}"));
        }
        Ok(self.report)
    }
}
