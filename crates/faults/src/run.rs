//! One run: the cluster, the workloads, the phases, the checks and the
//! report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use synod_bench::zk::conn::ZkConn;
use synod_check::{check, Budget, CheckResult, Model, Operation};
use synod_client::{Client, Role};

use crate::history::{Counts, Ctx, Tagged};
use crate::lab::{self, Lab};
use crate::nemesis::{self, Fault};
use crate::procs::{Nodes, CLIENT_PORT, ELECTION_TIMEOUT_MS, ZK_PORT};
use crate::sessions::{self, End};
use crate::{chubby, kv, zk};

/// What a run does.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub synod: PathBuf,
    pub nodes: u64,
    pub faults: Vec<Fault>,
    pub rounds: u32,
    pub fault_time: Duration,
    pub heal_time: Duration,
    pub kv_clients: u64,
    pub zk_clients: u64,
    pub owners: u64,
    pub observers: u64,
    /// Keep the run's directory (logs, configs) instead of deleting it.
    pub keep: bool,
    /// A Python with kazoo, for the fenced-lock workload
    /// (tests/faults/kazoo_lock.py); none: the workload is left out.
    pub python: Option<PathBuf>,
    pub lock_script: PathBuf,
    pub lock_workers: u64,
    /// Chubby lock holders (processes); 0 leaves the workload out.
    pub chubby_holders: u64,
}

/// The fenced-lock workload's figures in one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct LockFigures {
    pub holds: u64,
    /// Holds whose worker stayed connected throughout.
    pub clean: u64,
    /// Writes the fence turned away (from holders that had lost their
    /// connection: the fence doing its job).
    pub fenced_out: u64,
}

/// The linearizability search's bound per key or znode.
const CHECK_STEPS: u64 = 20_000_000;
/// How long the cluster may take to show a leader after a heal: 20
/// election timeouts (the process tests' bound).
const LEADER_BOUND: Duration = Duration::from_millis(20 * ELECTION_TIMEOUT_MS);

struct Phase {
    fault: Fault,
    description: String,
    start: u64,
    heal: u64,
    end: u64,
    restarted: Vec<u64>,
    leader_after_heal: Option<Duration>,
    /// Anomalies seen while running the phase.
    notes: Vec<String>,
}

/// One phase's figures and findings.
pub struct PhaseReport {
    pub fault: Fault,
    pub description: String,
    pub kv: Counts,
    pub zk: Counts,
    pub lives: usize,
    pub expired: usize,
    pub observations: usize,
    pub lock: Option<LockFigures>,
    pub chubby: Option<chubby::check::Figures>,
    pub anomalies: Vec<String>,
}

/// Runs the whole thing; `Ok(reports)` whether or not anomalies were found.
pub fn run(options: &RunOptions) -> anyhow::Result<Vec<PhaseReport>> {
    lab::require_root()?;
    if !options.synod.exists() {
        bail!(
            "no synod binary at {}: build it (cargo build --release -p synod) or pass --synod",
            options.synod.display()
        );
    }
    let ids: Vec<u64> = (1..=options.nodes).collect();
    let mut lab = Lab::create(&ids)?;
    let mut nodes = Nodes::create(&lab, &options.synod, &ids)?;
    if !nodes.can_step_clocks() && options.faults.contains(&Fault::ClockStep) {
        bail!("clock-step needs libfaketime: apt-get install faketime");
    }
    println!(
        "faults: {} nodes in network namespaces {}..., run directory {}",
        ids.len(),
        lab.ns(1),
        nodes.dir().display()
    );
    for &id in &ids {
        nodes.start(id)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(drive(options, &mut lab, &mut nodes, &ids));
    runtime.shutdown_timeout(Duration::from_secs(1));
    if options.keep || result.is_err() {
        let dir = nodes.keep();
        println!("faults: run directory kept at {}", dir.display());
    }
    drop(lab);
    result
}

async fn drive(
    options: &RunOptions,
    lab: &mut Lab,
    nodes: &mut Nodes,
    ids: &[u64],
) -> anyhow::Result<Vec<PhaseReport>> {
    let grpc: Vec<String> = ids
        .iter()
        .map(|&id| format!("http://{}:{CLIENT_PORT}", lab.addr(id)))
        .collect();
    let zk_endpoints: Vec<String> = ids
        .iter()
        .map(|&id| format!("{}:{ZK_PORT}", lab.addr(id)))
        .collect();
    let mut admin = Client::connect(grpc.clone(), kv::options()).await?;
    let first = wait_leader(&mut admin, &grpc, ids, Duration::from_secs(60))
        .await
        .context("no leader within 60 s of the start")?;
    println!("faults: node {first} leads");

    let plan: Vec<Fault> = (0..options.rounds)
        .flat_map(|_| options.faults.iter().copied())
        .collect();
    let leader_zk = &zk_endpoints[(first - 1) as usize];
    let mut created = false;
    for _ in 0..50 {
        match zk::create_registers(leader_zk, plan.len()).await {
            Ok(()) => {
                created = true;
                break;
            }
            Err(e) => {
                eprintln!("faults: creating the registers: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    if !created {
        bail!("could not create the registers");
    }

    let ctx = Ctx::new();
    let mut lock_run = match &options.python {
        Some(python) => Some(LockRun::start(
            python,
            &options.lock_script,
            &zk_endpoints,
            options.lock_workers,
            nodes.dir(),
        )?),
        None => None,
    };
    let mut chubby_run = match options.chubby_holders {
        0 => None,
        holders => {
            Some(chubby::ChubbyRun::start(lab, ids, &grpc, holders, &ctx, nodes.dir()).await?)
        }
    };
    let kv_history: kv::KvHistory = Arc::default();
    let zk_history: zk::ZkHistory = Arc::default();
    let record: sessions::Shared = Arc::default();
    let mut tasks = Vec::new();
    for id in 1..=options.kv_clients {
        tasks.push(tokio::spawn(kv::client(
            id,
            grpc.clone(),
            ctx.clone(),
            kv_history.clone(),
        )));
    }
    for id in 1..=options.zk_clients {
        tasks.push(tokio::spawn(zk::client(
            id,
            zk_endpoints.clone(),
            id as usize,
            ctx.clone(),
            zk_history.clone(),
        )));
    }
    for id in 1..=options.owners {
        tasks.push(tokio::spawn(sessions::owner(
            id,
            zk_endpoints.clone(),
            ctx.clone(),
            record.clone(),
        )));
    }
    for id in 1..=options.observers {
        tasks.push(tokio::spawn(sessions::observer(
            id,
            zk_endpoints.clone(),
            ctx.clone(),
            record.clone(),
        )));
    }

    let mut phases = Vec::new();
    let mut leader = first;
    for (index, &fault) in plan.iter().enumerate() {
        ctx.set_phase(index);
        if let Some(lock) = &lock_run {
            lock.set_phase(index)?;
        }
        if let Some(run) = &mut chubby_run {
            run.set_phase(index).await?;
        }
        let start = ctx.now();
        if let Some(l) = wait_leader(&mut admin, &grpc, ids, Duration::from_secs(5)).await {
            leader = l;
        }
        let injected = nemesis::inject(fault, lab, nodes, ids, leader, index as u64)?;
        println!(
            "faults: phase {index} {fault}: {} (leader was {leader})",
            injected.description
        );
        tokio::time::sleep(options.fault_time / 2).await;
        nemesis::midway(&injected, nodes)?;
        tokio::time::sleep(options.fault_time / 2).await;
        let restarted = nemesis::heal(&injected, lab, nodes, ids)?;
        let mut notes = Vec::new();
        for &id in &restarted {
            if !injected.may_stop().contains(&id) {
                notes.push(format!(
                    "node {id} stopped under {fault}, which should not stop it; its log ends:\n{}",
                    nodes.log_tail(id, 20)
                ));
            } else if injected.disk() == Some(id) {
                // The previous life's log must say why, clearly.
                let said = nodes
                    .grep_logs("No space left on device")
                    .iter()
                    .any(|l| l.starts_with(&format!("n{id}.")));
                if !said {
                    notes.push(format!(
                        "node {id} stopped on a full disk without saying \"No space left on device\""
                    ));
                }
            }
        }
        let heal = ctx.now();
        let healed_at = std::time::Instant::now();
        let elected = wait_leader(&mut admin, &grpc, ids, LEADER_BOUND).await;
        let leader_after_heal = elected.map(|_| healed_at.elapsed());
        if let Some(l) = elected {
            leader = l;
        }
        tokio::time::sleep(options.heal_time.saturating_sub(healed_at.elapsed())).await;
        phases.push(Phase {
            fault,
            description: injected.description,
            start,
            heal,
            end: ctx.now(),
            restarted,
            leader_after_heal,
            notes,
        });
    }
    // A last phase number that no workload checks: owners end their lives
    // on keys no phase reads.
    ctx.set_phase(plan.len());
    ctx.stop();
    let chubby_outcome = match chubby_run.take() {
        Some(run) => Some(run.finish().await),
        None => None,
    };
    let chubby_anomalies = chubby_outcome
        .as_ref()
        .map(|o| chubby::check::anomalies(&o.acquisitions, &o.writes))
        .unwrap_or_default();
    let lock_outcome = match lock_run.take() {
        Some(run) => Some(run.finish().await?),
        None => None,
    };
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }

    // Every session has ended; wait out two session timeouts (and an
    // election, in case the last phase left one to do), then look.
    tokio::time::sleep(Duration::from_millis(
        2 * sessions::SESSION_TIMEOUT_MS as u64 + 2000,
    ))
    .await;
    let lives = std::mem::take(&mut record.lock().expect("record lock").lives);
    let observations = std::mem::take(&mut record.lock().expect("record lock").observations);
    let remaining = remaining(&lives, &zk_endpoints).await?;

    let kv_history = std::mem::take(&mut *kv_history.lock().expect("history lock"));
    let zk_history = std::mem::take(&mut *zk_history.lock().expect("history lock"));
    let mut reports = Vec::new();
    for (index, phase) in phases.iter().enumerate() {
        let mut anomalies = phase.notes.clone();
        let kv_ops = of_phase(&kv_history, index);
        let zk_ops = of_phase(&zk_history, index);
        let kv_counts = counts(&kv_ops, phase.heal);
        let zk_counts = counts(&zk_ops, phase.heal);
        verdict("key-value", &synod_check::KvModel, &kv_ops, &mut anomalies);
        verdict("znode register", &zk::ZkRegister, &zk_ops, &mut anomalies);
        let phase_lives: Vec<sessions::Life> =
            lives.iter().filter(|l| l.phase == index).cloned().collect();
        let paths: Vec<&str> = phase_lives.iter().map(|l| l.path.as_str()).collect();
        let phase_obs: Vec<sessions::Observation> = observations
            .iter()
            .filter(|o| paths.contains(&o.path.as_str()))
            .cloned()
            .collect();
        anomalies.extend(sessions::check(&phase_lives, &phase_obs, &remaining));
        let expired = phase_lives
            .iter()
            .filter(|l| matches!(l.end, End::Expired(_)))
            .count();
        if expired > 0 && !phase.fault.may_expire_sessions() {
            anomalies.push(format!(
                "{expired} sessions expired though their owners kept them alive and no node or link failed"
            ));
        }
        match phase.leader_after_heal {
            None => anomalies.push(format!(
                "no leader within {} s of the heal",
                LEADER_BOUND.as_secs()
            )),
            Some(_) if kv_counts.ok_after_heal == 0 || zk_counts.ok_after_heal == 0 => anomalies
                .push(format!(
                    "no operation completed after the heal (key-value {}, znodes {})",
                    kv_counts.ok_after_heal, zk_counts.ok_after_heal
                )),
            Some(_) => {}
        }
        let lock = lock_outcome.as_ref().map(|outcome| {
            let tag = format!("/locks/p{index}:");
            anomalies.extend(
                outcome
                    .anomalies
                    .iter()
                    .filter(|a| a.starts_with(&tag))
                    .map(|a| format!("fenced lock: {a}")),
            );
            let figures = outcome.phases.get(&index).copied().unwrap_or_default();
            if figures.holds == 0 {
                anomalies.push("fenced lock: nobody held the lock in this phase".into());
            }
            figures
        });
        let chubby = chubby_outcome.as_ref().map(|o| {
            // Figures by time; anomalies by the phase whose lock they hit.
            let figures =
                chubby::check::figures(&o.acquisitions, &o.writes, phase.start, phase.heal, phase.end);
            anomalies.extend(
                chubby_anomalies
                    .iter()
                    .filter(|(lock, _)| chubby::phase_of(lock) == Some(index))
                    .map(|(lock, a)| format!("chubby lock {lock}: {a}")),
            );
            if figures.acquisitions_after_heal == 0 {
                anomalies.push(format!(
                    "chubby lock: nobody acquired a lock after the heal ({} acquisitions before it)",
                    figures.acquisitions
                ));
            }
            if index == 0 {
                anomalies.extend(o.notes.iter().map(|n| format!("chubby lock (the run): {n}")));
            }
            figures
        });
        let mut description = phase.description.clone();
        if !phase.restarted.is_empty() {
            description.push_str(&format!("; restarted {:?}", phase.restarted));
        }
        // A leader usually stands before the heal; say so when it did not.
        if let Some(d) = phase.leader_after_heal.filter(|d| d.as_millis() >= 100) {
            description.push_str(&format!("; leader {:.1} s after the heal", d.as_secs_f64()));
        }
        reports.push(PhaseReport {
            fault: phase.fault,
            description,
            kv: kv_counts,
            zk: zk_counts,
            lives: phase_lives.len(),
            expired,
            observations: phase_obs.len(),
            lock,
            chubby,
            anomalies,
        });
    }
    Ok(reports)
}

/// The leader, as the nodes report it, within `bound`.
async fn wait_leader(
    admin: &mut Client,
    endpoints: &[String],
    ids: &[u64],
    bound: Duration,
) -> Option<u64> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        for (endpoint, &id) in endpoints.iter().zip(ids) {
            if let Ok(status) = admin.status(endpoint).await {
                if status.role == Role::Leader {
                    return Some(id);
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ephemeral znodes of `lives` that still exist, read after a `sync`
/// on the first node that answers.
async fn remaining(lives: &[sessions::Life], endpoints: &[String]) -> anyhow::Result<Vec<String>> {
    for endpoint in endpoints {
        let Ok((conn, _)) = ZkConn::connect_with(endpoint, Duration::from_secs(2), 10_000).await
        else {
            continue;
        };
        let mut found = Vec::new();
        let mut complete = true;
        for life in lives {
            match sessions::exists(&conn, &life.path).await {
                Some(true) => found.push(life.path.clone()),
                Some(false) => {}
                None => {
                    complete = false;
                    break;
                }
            }
        }
        conn.close(Duration::from_secs(1)).await;
        if complete {
            return Ok(found);
        }
    }
    bail!("no node answered the final reads of the ephemeral znodes")
}

fn of_phase<T: Clone>(history: &[Tagged<T>], phase: usize) -> Vec<T> {
    history
        .iter()
        .filter(|t| t.phase == phase)
        .map(|t| t.op.clone())
        .collect()
}

fn counts<I, O>(ops: &[Operation<I, O>], heal: u64) -> Counts {
    let mut c = Counts::default();
    for op in ops {
        if op.output.is_some() {
            c.ok += 1;
            if op.call >= heal {
                c.ok_after_heal += 1;
            }
        } else {
            c.unknown += 1;
        }
    }
    c
}

fn verdict<M: Model>(
    what: &str,
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    anomalies: &mut Vec<String>,
) {
    match check(model, ops, Budget::steps(CHECK_STEPS)) {
        CheckResult::Ok => {}
        CheckResult::Illegal(explanation) => {
            anomalies.push(format!("{what}: not linearizable:\n{explanation}"))
        }
        CheckResult::Unknown { partition } => anomalies.push(format!(
            "{what}: the checker's budget ran out on {partition} (not a pass)"
        )),
        CheckResult::Malformed(m) => anomalies.push(format!("{what}: malformed history: {m:?}")),
    }
}

/// Prints the per-fault table and every anomaly; returns how many there are.
pub fn print_report(reports: &[PhaseReport]) -> usize {
    println!(
        "\n{:<17} {:>14} {:>14} {:>24} {:>18} {:>26}  {:<9} what was done",
        "fault",
        "kv ok/unknown",
        "zk ok/unknown",
        "sessions/expired",
        "lock holds/fenced",
        "chubby acq/ok/refused",
        "anomalies"
    );
    let mut total = 0;
    let (mut kv_ok, mut zk_ok, mut lives, mut holds) = (0, 0, 0, 0);
    let mut chubby_total = chubby::check::Figures::default();
    for r in reports {
        let lock = r.lock.map_or("-".to_string(), |l| {
            format!("{}/{} ({} clean)", l.holds, l.fenced_out, l.clean)
        });
        let chubby = r.chubby.map_or("-".to_string(), |c| {
            format!(
                "{}/{}/{} (o{} i{} u{})",
                c.acquisitions,
                c.accepted,
                c.refused(),
                c.refused_older,
                c.refused_invalid,
                c.refused_unanswered
            )
        });
        println!(
            "{:<17} {:>14} {:>14} {:>24} {:>18} {:>26}  {:<9} {}",
            r.fault.name(),
            format!("{}/{}", r.kv.ok, r.kv.unknown),
            format!("{}/{}", r.zk.ok, r.zk.unknown),
            format!("{}/{} ({} reads)", r.lives, r.expired, r.observations),
            lock,
            chubby,
            r.anomalies.len(),
            r.description
        );
        total += r.anomalies.len();
        kv_ok += r.kv.ok;
        zk_ok += r.zk.ok;
        lives += r.lives;
        holds += r.lock.map_or(0, |l| l.holds);
        if let Some(c) = &r.chubby {
            chubby_total.add(c);
        }
    }
    for r in reports {
        for a in &r.anomalies {
            println!("ANOMALY in {}: {a}", r.fault.name());
        }
    }
    let c = chubby_total;
    println!(
        "faults: {} phases, {kv_ok} key-value and {zk_ok} znode operations with an answer, {lives} sessions, {holds} lock holds, \
         {} chubby acquisitions, {} fenced writes accepted, {} refused ({} older generation, {} CheckSequencer invalid, \
         {} check unanswered), {total} anomalies",
        reports.len(),
        c.acquisitions,
        c.accepted,
        c.refused(),
        c.refused_older,
        c.refused_invalid,
        c.refused_unanswered
    );
    total
}

/// The fenced-lock workload: kazoo in a child process, told the phase
/// through a file.
struct LockRun {
    child: tokio::process::Child,
    phase_file: PathBuf,
    stop_file: PathBuf,
}

/// What the lock workload reported.
struct LockOutcome {
    phases: std::collections::BTreeMap<usize, LockFigures>,
    anomalies: Vec<String>,
}

impl LockRun {
    fn start(
        python: &std::path::Path,
        script: &std::path::Path,
        endpoints: &[String],
        workers: u64,
        dir: &std::path::Path,
    ) -> anyhow::Result<LockRun> {
        let phase_file = dir.join("lock-phase");
        let stop_file = dir.join("lock-stop");
        std::fs::write(&phase_file, "0")?;
        let child = tokio::process::Command::new(python)
            .arg(script)
            .arg("--hosts")
            .arg(endpoints.join(","))
            .arg("--workers")
            .arg(workers.to_string())
            .arg("--phase-file")
            .arg(&phase_file)
            .arg("--stop-file")
            .arg(&stop_file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.join("kazoo-lock.log"))?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        Ok(LockRun {
            child,
            phase_file,
            stop_file,
        })
    }

    fn set_phase(&self, phase: usize) -> anyhow::Result<()> {
        // Written whole, then renamed: the workers never read half a number.
        let tmp = self.phase_file.with_extension("tmp");
        std::fs::write(&tmp, phase.to_string())?;
        std::fs::rename(&tmp, &self.phase_file)?;
        Ok(())
    }

    async fn finish(self) -> anyhow::Result<LockOutcome> {
        std::fs::write(&self.stop_file, "")?;
        let out = tokio::time::timeout(Duration::from_secs(60), self.child.wait_with_output())
            .await
            .context("the kazoo lock workload did not stop within 60 s")??;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .last()
            .with_context(|| format!("the kazoo lock workload printed nothing ({})", out.status))?;
        let json: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("the kazoo lock workload printed {line:?}"))?;
        let mut phases = std::collections::BTreeMap::new();
        if let Some(map) = json["phases"].as_object() {
            for (phase, f) in map {
                let figures = LockFigures {
                    holds: f["holds"].as_u64().unwrap_or(0),
                    clean: f["clean"].as_u64().unwrap_or(0),
                    fenced_out: f["fenced_out"].as_u64().unwrap_or(0),
                };
                phases.insert(phase.parse().unwrap_or(usize::MAX), figures);
            }
        }
        let anomalies = json["anomalies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(LockOutcome { phases, anomalies })
    }
}
