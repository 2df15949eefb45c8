//! End-of-run checks over what clients saw and what replicas hold.
//! (Agreement, replica state and durability are checked as the run goes,
//! in `world.rs`.)

use crate::client::tokens;
use crate::world::World;
use std::collections::BTreeMap;
use synod_check::{check, Budget, CheckResult, KvModel};
use synod_kv::{KvOp, KvReply};

/// Every client history must be linearizable, key by key.
pub fn check_history(world: &mut World) {
    let result = check(&KvModel, world.history(), Budget::default());
    match result {
        CheckResult::Ok => {}
        CheckResult::Illegal(explanation) => {
            world.report_violation("linearizability", explanation.to_string());
        }
        CheckResult::Unknown { partition } => {
            world.report_unknown(partition);
        }
        CheckResult::Malformed(m) => world.report_violation("history", m.to_string()),
    }
}

/// Every acknowledged append is in the final value exactly once, and no
/// append is there twice.
pub fn check_appends(world: &mut World) {
    let Some((node, store)) = world.final_store() else {
        return;
    };
    let mut problems = Vec::new();
    let mut acked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in world.history() {
        if let (KvOp::Append { key, value }, Some(KvReply::Ok)) = (&op.input, &op.output) {
            acked
                .entry(String::from_utf8_lossy(key).into_owned())
                .or_default()
                .push(String::from_utf8_lossy(value).into_owned());
        }
    }
    for key in World::append_keys() {
        let value = store.get(key.as_bytes()).unwrap_or_default();
        let found = tokens(value);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &found {
            *counts.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in &counts {
            if *n > 1 {
                problems.push((
                    "applied-twice",
                    format!("key {key} on node {node} holds append {t} {n} times"),
                ));
            }
        }
        for t in acked.get(*key).into_iter().flatten() {
            if !counts.contains_key(t.as_str()) {
                problems.push((
                    "lost-write",
                    format!("acknowledged append {t} to key {key} is missing on node {node}"),
                ));
            }
        }
    }
    for (check, detail) in problems {
        world.report_violation(check, detail);
    }
}
