//! Randomized histories: simulated clients of a real store produce only
//! linearizable histories, which must all pass; one read changed to a
//! value never written must make each fail.

mod support;

use support::*;
use synod_check::{check, Budget, CheckResult, KvModel};
use synod_kv::KvReply;

const SEEDS: u64 = 300;

fn workload(rng: &mut Rng) -> Workload {
    Workload {
        clients: 1 + rng.below(6),
        keys: 1 + rng.below(3),
        ops: 50 + rng.below(150) as usize,
        crash_percent: rng.below(3),
    }
}

#[test]
fn random_legal_histories_pass() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let workload = workload(&mut rng);
        let history = simulate(&mut rng, workload);
        let result = check(&KvModel, &history, Budget::default());
        assert!(
            result.is_ok(),
            "seed {seed} {workload:?}: expected Ok, got {result:?}"
        );
    }
}

#[test]
fn random_histories_with_a_read_of_a_value_never_written_fail() {
    let mut mutated = 0;
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let workload = workload(&mut rng);
        let mut history = simulate(&mut rng, workload);
        let reads: Vec<usize> = (0..history.len())
            .filter(|&i| history[i].input.is_read() && history[i].output.is_some())
            .collect();
        if reads.is_empty() {
            continue;
        }
        let victim = reads[rng.below(reads.len() as u64) as usize];
        history[victim].output = Some(KvReply::Value(Some(b"never-written".to_vec())));
        mutated += 1;
        let result = check(&KvModel, &history, Budget::default());
        let CheckResult::Illegal(explanation) = result else {
            panic!("seed {seed} {workload:?}: expected Illegal, got {result:?}");
        };
        let key = history[victim].input.key().escape_ascii().to_string();
        assert_eq!(explanation.partition, format!("key b\"{key}\""));
        assert!(explanation.to_string().contains("never-written"));
    }
    assert!(mutated > SEEDS * 9 / 10, "only {mutated} histories mutated");
}

#[test]
fn long_single_key_history_with_many_clients_checks_within_budget() {
    for seed in 0..4 {
        let mut rng = Rng::new(1000 + seed);
        let workload = Workload {
            clients: 8,
            keys: 1,
            ops: 3000,
            crash_percent: 1,
        };
        let history = simulate(&mut rng, workload);
        let result = check(&KvModel, &history, Budget::steps(1_000_000));
        assert!(result.is_ok(), "seed {seed}: expected Ok, got {result:?}");
    }
}
