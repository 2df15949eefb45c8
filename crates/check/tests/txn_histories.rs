//! The strict-serializability checker on transaction histories: correct
//! histories pass, and each anomaly it names is caught in a history built
//! to show it.

mod support;

use std::time::Instant;

use support::txn::*;
use support::Rng;
use synod_check::{
    check_txns, CycleClass, Dependency, EdgeKind, InternalViolation, MalformedTxnHistory,
    RevConflict, TxnAnomaly, TxnCycle, TxnOutcome, TxnRecord, TxnVerdict,
};

fn verdict(history: &[TxnRecord]) -> TxnVerdict {
    check_txns(history).expect("a well-formed history")
}

fn assert_passes(history: &[TxnRecord]) -> (usize, usize) {
    match verdict(history) {
        TxnVerdict::StrictlySerializable {
            txns_checked,
            edges,
        } => (txns_checked, edges),
        anomalies => panic!("expected no anomaly, got {anomalies}"),
    }
}

/// The one anomaly of `history`.
fn only_anomaly(history: &[TxnRecord]) -> TxnAnomaly {
    let verdict = verdict(history);
    match verdict.anomalies() {
        [anomaly] => anomaly.clone(),
        _ => panic!("expected exactly one anomaly, got {verdict}"),
    }
}

/// The one anomaly of `history`, which must be a cycle.
fn only_cycle(history: &[TxnRecord]) -> TxnCycle {
    match only_anomaly(history) {
        TxnAnomaly::Cycle(cycle) => cycle,
        other => panic!("expected a cycle, got {other}"),
    }
}

fn kinds(cycle: &TxnCycle) -> Vec<EdgeKind> {
    let mut kinds: Vec<EdgeKind> = cycle.steps.iter().map(|s| s.dependency.kind()).collect();
    kinds.sort_unstable();
    kinds
}

// ---- Correct histories pass ----

#[test]
fn serial_bank_transfers_pass() {
    // Accounts a, b, c opened by txn 1; then transfers, one after another,
    // each reading the two balances it moves money between.
    let mut history = vec![committed(
        1,
        (0, 1),
        vec![],
        vec![
            wrote("a", 1, Some(1)),
            wrote("b", 2, Some(1)),
            wrote("c", 3, Some(1)),
        ],
    )];
    let mut latest = [(1, 1), (2, 1), (3, 1)];
    let accounts = ["a", "b", "c"];
    let mut rev = 3;
    for id in 2..50u64 {
        let (from, to) = ((id % 3) as usize, ((id + 1) % 3) as usize);
        let reads = vec![
            read(accounts[from], latest[from].0, Some(latest[from].1)),
            read(accounts[to], latest[to].0, Some(latest[to].1)),
        ];
        let writes = vec![
            wrote(accounts[from], rev + 1, Some(id)),
            wrote(accounts[to], rev + 2, Some(id)),
        ];
        latest[from] = (rev + 1, id);
        latest[to] = (rev + 2, id);
        rev += 2;
        history.push(committed(id, (10 * id, 10 * id + 5), reads, writes));
    }
    assert_eq!(assert_passes(&history).0, 49);
}

#[test]
fn concurrent_transactions_on_disjoint_keys_pass() {
    // Every transaction overlaps every other, each on its own key.
    let history: Vec<TxnRecord> = (1..=20u64)
        .map(|id| {
            let key = format!("k{id}");
            committed(
                id,
                (id, 100 + id),
                vec![read(&key, 0, None)],
                vec![wrote(&key, id, Some(id))],
            )
        })
        .collect();
    assert_passes(&history);
}

#[test]
fn an_observed_unknown_txn_counts_as_committed_and_an_unobserved_one_is_dropped() {
    let history = vec![
        unknown(1, 0, None, vec![tried("x", Some(7)), tried("z", Some(1))]),
        unknown(2, 0, Some(3), vec![tried("y", Some(8))]),
        committed(
            3,
            (10, 20),
            vec![read("x", 4, Some(7)), read("y", 0, None)],
            vec![],
        ),
    ];
    // Txns 1 and 3; txn 2's write was never seen.
    assert_eq!(assert_passes(&history).0, 2);
}

#[test]
fn an_unknown_txn_may_take_effect_after_its_client_gave_up() {
    // Txn 1 timed out at 5; txn 2, called at 10, does not see it yet, txn
    // 3 does. Had txn 1 committed by 5, txn 2 would have had to see it.
    let history = vec![
        unknown(1, 0, Some(5), vec![tried("x", Some(7))]),
        committed(2, (10, 11), vec![read("x", 0, None)], vec![]),
        committed(3, (20, 21), vec![read("x", 1, Some(7))], vec![]),
    ];
    assert_passes(&history);
    let mut committed_history = history.clone();
    committed_history[0] = committed(1, (0, 5), vec![], vec![wrote("x", 1, Some(7))]);
    assert_eq!(only_cycle(&committed_history).name(), "G-single-realtime");
}

#[test]
fn an_unknown_delete_read_by_rev_is_pinned_on_the_only_unknown_deleter() {
    let history = vec![
        committed(1, (0, 1), vec![], vec![wrote("x", 1, Some(1))]),
        unknown(2, 2, None, vec![tried("x", None)]),
        committed(
            3,
            (10, 11),
            vec![read("x", 2, None)],
            vec![wrote("x", 3, Some(3))],
        ),
    ];
    assert_eq!(assert_passes(&history).0, 3);
}

#[test]
fn deletes_by_several_unknown_txns_explain_no_more_reads_than_there_are_deleters() {
    let mut history = vec![
        unknown(1, 0, None, vec![tried("x", None)]),
        unknown(2, 0, None, vec![tried("x", None)]),
        committed(3, (10, 11), vec![read("x", 4, None)], vec![]),
        committed(4, (12, 13), vec![read("x", 6, None)], vec![]),
    ];
    // Neither deleter can be told to be the one read: neither is checked.
    assert_eq!(assert_passes(&history).0, 2);
    history.push(committed(5, (14, 15), vec![read("x", 8, None)], vec![]));
    let anomaly = only_anomaly(&history);
    assert_eq!(
        anomaly,
        TxnAnomaly::GarbageRead {
            reader: 5,
            key: b"x".to_vec(),
            rev: 8,
            tag: None
        }
    );
}

#[test]
fn aborted_txns_that_nobody_read_pass() {
    let history = vec![
        committed(1, (0, 1), vec![], vec![wrote("x", 1, Some(1))]),
        aborted(2, (2, 3), vec![tried("x", Some(2)), tried("y", None)]),
        committed(
            3,
            (4, 5),
            vec![read("x", 1, Some(1)), read("y", 0, None)],
            vec![],
        ),
    ];
    assert_eq!(assert_passes(&history).0, 2);
}

#[test]
fn reads_may_skip_revs() {
    let history = vec![
        committed(1, (0, 1), vec![], vec![wrote("x", 3, Some(1))]),
        committed(2, (2, 3), vec![], vec![wrote("x", 9, Some(2))]),
        committed(3, (4, 5), vec![], vec![wrote("x", 12, None)]),
        committed(4, (6, 7), vec![read("x", 12, None)], vec![]),
    ];
    assert_passes(&history);
}

// ---- Each anomaly is caught ----

#[test]
fn g0_write_cycle_on_two_keys_is_caught() {
    // Txn 1 wrote x first but y second; txn 2 the other way round.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![],
            vec![wrote("x", 1, Some(1)), wrote("y", 2, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![],
            vec![wrote("x", 2, Some(2)), wrote("y", 1, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::G0, false));
    assert_eq!(kinds(&cycle), [EdgeKind::Ww, EdgeKind::Ww]);
}

#[test]
fn g1a_read_of_an_aborted_write_is_caught() {
    let history = vec![
        aborted(1, (0, 5), vec![tried("x", Some(9))]),
        committed(2, (1, 6), vec![read("x", 1, Some(9))], vec![]),
    ];
    let anomaly = only_anomaly(&history);
    assert_eq!(
        anomaly,
        TxnAnomaly::AbortedRead {
            reader: 2,
            writer: 1,
            key: b"x".to_vec(),
            rev: 1,
            tag: 9
        }
    );
    assert_eq!(
        anomaly.to_string(),
        "G1a: txn 2 read \"x\" rev 1 (tag 9), written by txn 1, which aborted"
    );
}

#[test]
fn g1c_write_read_and_write_write_cycle_is_caught() {
    // Txn 2 read txn 1's x, yet txn 1's y overwrote txn 2's.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![],
            vec![wrote("x", 1, Some(1)), wrote("y", 3, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![read("x", 1, Some(1))],
            vec![wrote("y", 2, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::G1c, false));
    assert_eq!(kinds(&cycle), [EdgeKind::Ww, EdgeKind::Wr]);
}

#[test]
fn g_single_read_skew_is_caught() {
    // Txn 1 moves money from x to y; txn 2 reads x before and y after it.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![],
            vec![wrote("x", 1, Some(1)), wrote("y", 2, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![read("x", 0, None), read("y", 2, Some(1))],
            vec![],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::GSingle, false));
    assert_eq!(kinds(&cycle), [EdgeKind::Wr, EdgeKind::Rw]);
    let text = cycle.to_string();
    assert!(text.starts_with("G-single: a cycle of 2 txns"), "{text}");
    assert!(
        text.contains("txn 2 -rw-> txn 1: txn 2 read \"x\" rev 0, which txn 1 overwrote at rev 1"),
        "{text}"
    );
    assert!(
        text.contains("txn 1 -wr-> txn 2: txn 2 read txn 1's \"y\" rev 2"),
        "{text}"
    );
}

#[test]
fn g_single_lost_update_is_caught() {
    // Both read x at rev 0 and wrote it: the first write was lost.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![read("x", 0, None)],
            vec![wrote("x", 2, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![read("x", 0, None)],
            vec![wrote("x", 1, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!(cycle.class, CycleClass::GSingle);
    assert_eq!(kinds(&cycle), [EdgeKind::Ww, EdgeKind::Rw]);
}

#[test]
fn g2_write_skew_is_caught() {
    // Each reads both keys, then writes the one the other did not.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![read("x", 0, None), read("y", 0, None)],
            vec![wrote("x", 1, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![read("x", 0, None), read("y", 0, None)],
            vec![wrote("y", 2, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::G2, false));
    assert_eq!(kinds(&cycle), [EdgeKind::Rw, EdgeKind::Rw]);
}

#[test]
fn a_stale_read_after_a_commit_returned_is_serializable_but_not_strictly() {
    // Txn 1 returned at 10; txn 2, called at 20, misses its write.
    let history = vec![
        committed(1, (0, 10), vec![], vec![wrote("x", 1, Some(1))]),
        committed(2, (20, 30), vec![read("x", 0, None)], vec![]),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::GSingle, true));
    assert_eq!(kinds(&cycle), [EdgeKind::Rw, EdgeKind::Rt]);
    let rt = cycle
        .steps
        .iter()
        .find(|s| s.dependency.kind() == EdgeKind::Rt)
        .unwrap();
    assert_eq!(
        (rt.from, rt.to, &rt.dependency),
        (1, 2, &Dependency::RealTime { ret: 10, call: 20 })
    );
    assert!(cycle
        .to_string()
        .contains("serializable, but not in real-time order"));
    // Overlapping in time, the same reads are fine: txn 2 went first.
    let mut overlapping = history.clone();
    overlapping[1].call = 5;
    assert_passes(&overlapping);
}

#[test]
fn a_read_no_write_explains_is_caught_as_garbage() {
    let history = vec![
        committed(1, (0, 1), vec![], vec![wrote("x", 1, Some(1))]),
        committed(2, (2, 3), vec![read("x", 5, Some(99))], vec![]),
        committed(3, (4, 5), vec![read("x", 6, None)], vec![]),
    ];
    let verdict = verdict(&history);
    assert_eq!(
        verdict.anomalies(),
        [
            TxnAnomaly::GarbageRead {
                reader: 2,
                key: b"x".to_vec(),
                rev: 5,
                tag: Some(99)
            },
            TxnAnomaly::GarbageRead {
                reader: 3,
                key: b"x".to_vec(),
                rev: 6,
                tag: None
            },
        ]
    );
}

#[test]
fn reads_whose_rev_and_tag_disagree_are_caught() {
    let history = vec![
        committed(
            1,
            (0, 1),
            vec![],
            vec![wrote("x", 1, Some(1)), wrote("y", 2, Some(1))],
        ),
        unknown(2, 0, None, vec![tried("z", Some(5))]),
        committed(
            3,
            (2, 3),
            vec![
                read("x", 1, Some(2)),
                read("y", 3, Some(1)),
                read("w", 0, Some(4)),
                read("z", 7, Some(5)),
            ],
            vec![],
        ),
        committed(4, (4, 5), vec![read("z", 8, Some(5))], vec![]),
    ];
    let conflicts: Vec<(u64, RevConflict)> = verdict(&history)
        .anomalies()
        .iter()
        .map(|anomaly| match anomaly {
            TxnAnomaly::RevMismatch {
                reader, conflict, ..
            } => (*reader, conflict.clone()),
            other => panic!("expected a rev mismatch, got {other}"),
        })
        .collect();
    assert_eq!(
        conflicts,
        [
            (
                3,
                RevConflict::RevHasOtherTag {
                    writer: Some(1),
                    tag: Some(1)
                }
            ),
            (3, RevConflict::TagAtOtherRev { writer: 1, rev: 2 }),
            (3, RevConflict::InitialWithTag),
            (4, RevConflict::TagAtOtherRev { writer: 2, rev: 7 }),
        ]
    );
}

#[test]
fn a_txn_whose_reads_disagree_or_see_its_own_write_is_caught() {
    let history = vec![
        committed(1, (0, 1), vec![], vec![wrote("x", 1, Some(1))]),
        committed(
            2,
            (2, 3),
            vec![read("x", 0, None), read("x", 1, Some(1))],
            vec![],
        ),
        committed(
            3,
            (4, 5),
            vec![read("y", 2, Some(3))],
            vec![wrote("y", 2, Some(3))],
        ),
    ];
    let violations: Vec<(u64, InternalViolation)> = verdict(&history)
        .anomalies()
        .iter()
        .filter_map(|anomaly| match anomaly {
            TxnAnomaly::Internal { txn, violation, .. } => Some((*txn, violation.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        violations,
        [
            (
                2,
                InternalViolation::ReadsDisagree {
                    first_rev: 0,
                    first_tag: None,
                    second_rev: 1,
                    second_tag: Some(1)
                }
            ),
            (
                3,
                InternalViolation::ReadOwnOrLaterWrite {
                    read_rev: 2,
                    write_rev: 2
                }
            ),
        ]
    );
}

#[test]
fn malformed_histories_are_rejected_not_judged() {
    let ok = || committed(1, (0, 1), vec![], vec![wrote("x", 1, Some(1))]);
    let cases: Vec<(Vec<TxnRecord>, MalformedTxnHistory)> = vec![
        (vec![ok(), ok()], MalformedTxnHistory::DuplicateId { id: 1 }),
        (
            vec![committed(1, (5, 4), vec![], vec![])],
            MalformedTxnHistory::ReturnBeforeCall {
                id: 1,
                call: 5,
                ret: 4,
            },
        ),
        (
            vec![TxnRecord { ret: None, ..ok() }],
            MalformedTxnHistory::OutcomeWithoutReturn {
                id: 1,
                outcome: TxnOutcome::Committed,
            },
        ),
        (
            vec![TxnRecord {
                reads: vec![read("x", 0, None)],
                ..aborted(1, (0, 1), vec![])
            }],
            MalformedTxnHistory::ReadsWithoutCommit {
                id: 1,
                outcome: TxnOutcome::Aborted,
            },
        ),
        (
            vec![committed(1, (0, 1), vec![], vec![tried("x", Some(1))])],
            MalformedTxnHistory::CommittedWriteWithoutRev {
                id: 1,
                key: b"x".to_vec(),
            },
        ),
        (
            vec![committed(1, (0, 1), vec![], vec![wrote("x", 0, Some(1))])],
            MalformedTxnHistory::CommittedWriteAtInitialRev {
                id: 1,
                key: b"x".to_vec(),
            },
        ),
        (
            vec![unknown(1, 0, None, vec![wrote("x", 3, Some(1))])],
            MalformedTxnHistory::UncommittedWriteWithRev {
                id: 1,
                outcome: TxnOutcome::Unknown,
                key: b"x".to_vec(),
                rev: 3,
            },
        ),
        (
            vec![committed(
                1,
                (0, 1),
                vec![],
                vec![wrote("x", 1, Some(1)), wrote("x", 2, Some(2))],
            )],
            MalformedTxnHistory::KeyWrittenTwice {
                id: 1,
                key: b"x".to_vec(),
            },
        ),
        (
            vec![
                ok(),
                committed(2, (0, 1), vec![], vec![wrote("x", 1, Some(2))]),
            ],
            MalformedTxnHistory::DuplicateRev {
                key: b"x".to_vec(),
                rev: 1,
                first: 1,
                second: 2,
            },
        ),
        (
            vec![ok(), aborted(2, (0, 1), vec![tried("x", Some(1))])],
            MalformedTxnHistory::DuplicateTag {
                key: b"x".to_vec(),
                tag: 1,
                first: 1,
                second: 2,
            },
        ),
    ];
    for (history, expected) in cases {
        assert_eq!(check_txns(&history), Err(expected));
    }
}

#[test]
fn a_component_is_reported_by_its_weakest_cycle() {
    // Write skew on x and z (G2), but txn 2 also read txn 1's y, which
    // closes a cycle with one rw edge only (G-single) in the same component.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![read("z", 0, None)],
            vec![wrote("x", 1, Some(1)), wrote("y", 2, Some(1))],
        ),
        committed(
            2,
            (0, 10),
            vec![read("x", 0, None), read("y", 2, Some(1))],
            vec![wrote("z", 3, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!((cycle.class, cycle.realtime), (CycleClass::GSingle, false));
    assert_eq!(kinds(&cycle), [EdgeKind::Wr, EdgeKind::Rw]);
}

#[test]
fn a_cycle_is_marked_realtime_only_when_it_needs_an_rt_edge() {
    // A write cycle, and txn 1 returned before txn 2 began: the ww cycle
    // alone shows the history is not even serializable.
    let history = vec![
        committed(
            1,
            (0, 10),
            vec![],
            vec![wrote("x", 1, Some(1)), wrote("y", 2, Some(1))],
        ),
        committed(
            2,
            (20, 30),
            vec![],
            vec![wrote("x", 2, Some(2)), wrote("y", 1, Some(2))],
        ),
    ];
    let cycle = only_cycle(&history);
    assert_eq!(
        (cycle.name(), kinds(&cycle)),
        ("G0".to_string(), vec![EdgeKind::Ww, EdgeKind::Ww])
    );
}

#[test]
fn a_verdict_prints_its_first_twenty_anomalies_and_counts_the_rest() {
    let history: Vec<TxnRecord> = (0..25u64)
        .map(|id| committed(id, (0, 1), vec![read("x", 5, Some(id))], vec![]))
        .collect();
    let text = verdict(&history).to_string();
    assert!(
        text.starts_with("25 anomalies:\n- garbage-read: txn 0 read \"x\" rev 5 (tag 0)"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 22, "{text}");
    assert!(text.ends_with("... and 5 more\n"), "{text}");
}

// ---- Generated histories ----

fn workload(rng: &mut Rng, txns: usize) -> TxnWorkload {
    TxnWorkload {
        txns,
        keys: 4 + rng.below(28),
        reads_max: 1 + rng.below(4),
        writes_max: 1 + rng.below(3),
        overlap: 1 + rng.below(4),
        aborted_percent: rng.below(10),
        unknown_percent: rng.below(10),
    }
}

const SEEDS: u64 = 300;

#[test]
fn histories_of_a_serial_store_always_pass() {
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let workload = workload(&mut rng, 2_000);
        let generated = simulate_serial(&mut rng, workload);
        let verdict = verdict(&generated.history);
        assert!(
            verdict.is_strictly_serializable(),
            "seed {seed} {workload:?}: {verdict}"
        );
    }
}

/// Makes one committed read of `history` return an older version of its
/// key than it saw; false if no read has an older version.
fn make_one_read_stale(rng: &mut Rng, generated: &mut SerialHistory) -> bool {
    let mut candidates = Vec::new();
    for (t, txn) in generated.history.iter().enumerate() {
        for (r, read) in txn.reads.iter().enumerate() {
            if read.rev > 0 {
                candidates.push((t, r));
            }
        }
    }
    if candidates.is_empty() {
        return false;
    }
    let (t, r) = candidates[rng.below(candidates.len() as u64) as usize];
    let read = &mut generated.history[t].reads[r];
    let versions = &generated.versions[&read.key];
    let older = versions.partition_point(|&(rev, _)| rev < read.rev);
    (read.rev, read.tag) = versions[rng.below(older as u64) as usize];
    true
}

#[test]
fn a_read_of_an_older_version_in_a_serial_history_is_caught() {
    let (mut mutated, mut caught) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let workload = workload(&mut rng, 2_000);
        let mut generated = simulate_serial(&mut rng, workload);
        if !make_one_read_stale(&mut rng, &mut generated) {
            continue;
        }
        mutated += 1;
        caught += usize::from(!verdict(&generated.history).is_strictly_serializable());
    }
    eprintln!("stale reads caught in {caught} of {mutated} mutated histories");
    assert!(
        mutated > SEEDS as usize * 9 / 10,
        "only {mutated} histories mutated"
    );
    assert!(
        caught * 100 >= mutated * 95,
        "caught only {caught} of {mutated}"
    );
}

/// End to end, through the graph's barrier nodes: txn `a` reads what `b`
/// wrote (so `b` precedes `a`); the history has a cycle exactly when `a`
/// returned before `b` was called, among noise transactions on keys of
/// their own whose intervals make long barrier chains.
#[test]
fn realtime_cycles_are_found_exactly_when_the_naive_realtime_order_has_them() {
    let (mut cycles, mut tried) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let mut history: Vec<TxnRecord> = (0..2 + rng.below(40))
            .map(|id| {
                let call = rng.below(100);
                let ret = call + rng.below(20);
                let key = format!("noise{id}");
                committed(id, (call, ret), vec![], vec![wrote(&key, 1, Some(1))])
            })
            .collect();
        let a = rng.below(history.len() as u64) as usize;
        let b = (a + 1 + rng.below(history.len() as u64 - 1) as usize) % history.len();
        history[b].writes.push(wrote("x", 1, Some(1)));
        history[a].reads.push(read("x", 1, Some(1)));
        let naive = history[a].ret.unwrap() < history[b].call;
        let found = !verdict(&history).is_strictly_serializable();
        assert_eq!(found, naive, "seed {seed}: a={a} b={b} {history:?}");
        tried += 1;
        cycles += usize::from(found);
    }
    assert!(
        cycles > tried / 10 && cycles < tried * 9 / 10,
        "{cycles} of {tried}: both cases exercised"
    );
}

#[test]
fn a_hundred_thousand_txns_are_checked() {
    let mut rng = Rng::new(7);
    let workload = TxnWorkload {
        txns: 100_000,
        keys: 1_000,
        reads_max: 4,
        writes_max: 3,
        overlap: 4,
        aborted_percent: 5,
        unknown_percent: 5,
    };
    let generated = simulate_serial(&mut rng, workload);
    let started = Instant::now();
    let verdict = verdict(&generated.history);
    eprintln!("100k txns: {verdict} in {:?}", started.elapsed());
    assert!(verdict.is_strictly_serializable());
}
