//! Hand-written key-value histories that the checker must accept or reject.
//! A checker that never fails proves nothing: most tests here feed it a
//! known-bad history.

mod support;

use support::*;
use synod_check::{check, Budget, CheckResult, KvModel};
use synod_kv::{KvOp, KvReply};

fn verdict(history: &[KvOperation]) -> CheckResult {
    check(&KvModel, history, Budget::default())
}

fn assert_linearizable(history: &[KvOperation]) {
    match verdict(history) {
        CheckResult::Ok => {}
        other => panic!("expected Ok, got {other:?}"),
    }
}

fn assert_illegal(history: &[KvOperation]) -> String {
    match verdict(history) {
        CheckResult::Illegal(explanation) => explanation.to_string(),
        other => panic!("expected Illegal, got {other:?}"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn sequential_legal_history_passes() {
    assert_linearizable(&[
        done(1, get("a"), 0, value(None), 1),
        done(1, put("a", "1"), 2, KvReply::Ok, 3),
        done(2, get("a"), 4, value(Some("1")), 5),
        done(2, append("a", "2"), 6, KvReply::Ok, 7),
        done(1, cas("a", Some("12"), "3"), 8, KvReply::CasOk, 9),
        done(
            1,
            cas("a", None, "4"),
            10,
            KvReply::CasFailed {
                current: Some(bytes("3")),
            },
            11,
        ),
        done(2, KvOp::Delete { key: bytes("a") }, 12, KvReply::Ok, 13),
        done(2, KvOp::Delete { key: bytes("a") }, 14, KvReply::Ok, 15),
        done(1, get("a"), 16, value(None), 17),
    ]);
}

#[test]
fn concurrent_writes_pass_whichever_order_a_later_read_sees() {
    for winner in ["1", "2"] {
        assert_linearizable(&[
            done(1, put("a", "1"), 0, KvReply::Ok, 10),
            done(2, put("a", "2"), 1, KvReply::Ok, 9),
            done(3, get("a"), 11, value(Some(winner)), 12),
        ]);
    }
}

#[test]
fn read_concurrent_with_a_write_may_see_old_or_new_value() {
    for seen in [None, Some("1")] {
        assert_linearizable(&[
            done(1, put("a", "1"), 0, KvReply::Ok, 10),
            done(2, get("a"), 5, value(seen), 6),
        ]);
    }
}

#[test]
fn operations_that_touch_in_time_count_as_concurrent() {
    // The read is called at the very time the write returns: a tie, which
    // the checker reads permissively.
    assert_linearizable(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 5),
        done(2, get("a"), 5, value(None), 6),
    ]);
}

#[test]
fn stale_read_after_completed_write_fails() {
    let shown = assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(1, put("a", "2"), 2, KvReply::Ok, 3),
        done(2, get("a"), 4, value(Some("1")), 5),
    ]);
    assert!(shown.contains("key b\"a\""), "{shown}");
}

#[test]
fn reads_going_back_in_time_fail() {
    // Both reads overlap the write, but once one read saw the new value a
    // later read may not see the old one.
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 100),
        done(2, get("a"), 10, value(Some("1")), 20),
        done(3, get("a"), 30, value(None), 40),
    ]);
}

#[test]
fn lost_write_fails() {
    assert_illegal(&[
        done(1, append("a", "x"), 0, KvReply::Ok, 1),
        done(2, append("a", "y"), 2, KvReply::Ok, 3),
        done(1, get("a"), 4, value(Some("x")), 5),
    ]);
}

#[test]
fn acknowledged_put_then_absent_key_fails() {
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(2, get("a"), 2, value(None), 3),
    ]);
}

#[test]
fn append_applied_twice_fails() {
    assert_illegal(&[
        done(1, append("a", "t1."), 0, KvReply::Ok, 10),
        done(2, get("a"), 11, value(Some("t1.t1.")), 12),
    ]);
}

#[test]
fn cas_that_succeeded_although_the_precondition_was_false_fails() {
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(2, cas("a", Some("2"), "3"), 2, KvReply::CasOk, 3),
    ]);
}

#[test]
fn cas_that_failed_although_the_precondition_held_fails() {
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(
            2,
            cas("a", Some("1"), "3"),
            2,
            KvReply::CasFailed {
                current: Some(bytes("1")),
            },
            3,
        ),
    ]);
}

#[test]
fn cas_failure_reporting_a_wrong_current_value_fails() {
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(
            2,
            cas("a", Some("2"), "3"),
            2,
            KvReply::CasFailed {
                current: Some(bytes("9")),
            },
            3,
        ),
    ]);
}

#[test]
fn read_of_a_value_never_written_fails() {
    assert_illegal(&[
        done(1, put("a", "1"), 0, KvReply::Ok, 10),
        done(2, get("a"), 5, value(Some("ghost")), 6),
    ]);
}

#[test]
fn error_reply_is_never_a_legal_output() {
    assert_illegal(&[done(1, put("a", "1"), 0, KvReply::Error("boom".into()), 1)]);
}

#[test]
fn read_observing_a_pending_write_passes() {
    assert_linearizable(&[
        pending(1, put("a", "1"), 0),
        done(2, get("a"), 5, value(Some("1")), 6),
        done(2, get("a"), 7, value(Some("1")), 8),
    ]);
}

#[test]
fn pending_write_never_observed_passes() {
    assert_linearizable(&[
        done(1, put("a", "0"), 0, KvReply::Ok, 1),
        pending(2, put("a", "1"), 2),
        done(3, get("a"), 5, value(Some("0")), 6),
        done(3, get("a"), 7, value(Some("0")), 8),
    ]);
}

#[test]
fn pending_write_observed_then_unobserved_fails() {
    // A write may or may not take effect, but it cannot be undone once a
    // read saw it.
    assert_illegal(&[
        done(1, put("a", "0"), 0, KvReply::Ok, 1),
        pending(2, put("a", "1"), 2),
        done(3, get("a"), 5, value(Some("1")), 6),
        done(3, get("a"), 7, value(Some("0")), 8),
    ]);
}

#[test]
fn pending_write_cannot_take_effect_before_its_call() {
    assert_illegal(&[
        done(1, get("a"), 0, value(Some("1")), 1),
        pending(2, put("a", "1"), 2),
    ]);
}

#[test]
fn pending_append_may_take_effect_only_once() {
    assert_linearizable(&[
        pending(1, append("a", "t."), 0),
        done(2, get("a"), 5, value(Some("t.")), 6),
    ]);
    assert_illegal(&[
        pending(1, append("a", "t."), 0),
        done(2, get("a"), 5, value(Some("t.t.")), 6),
    ]);
}

#[test]
fn one_bad_key_among_good_keys_fails_and_the_explanation_names_it() {
    let history = [
        done(1, put("good", "1"), 0, KvReply::Ok, 1),
        done(2, put("bad", "1"), 0, KvReply::Ok, 1),
        done(1, get("good"), 2, value(Some("1")), 3),
        done(2, get("bad"), 2, value(Some("2")), 3),
        done(3, put("zzz", "1"), 2, KvReply::Ok, 3),
    ];
    let CheckResult::Illegal(explanation) = verdict(&history) else {
        panic!("expected Illegal");
    };
    assert_eq!(explanation.partition, "key b\"bad\"");
    assert_eq!(explanation.partition_index, 0);
    assert_eq!(explanation.partition_count, 3);
    assert_eq!(explanation.prefix.len(), 1);
    assert_eq!(explanation.state_after_prefix, "Some([49])");
    assert_eq!(explanation.stuck.len(), 1);
    assert!(!explanation.stuck[0].model_accepts);
    let shown = explanation.to_string();
    assert!(shown.contains("not linearizable: key b\"bad\""), "{shown}");
    assert!(
        shown.contains(
            "client 2 [call 2, return 3] Get { key: b\"bad\" } -> Value(Some(b\"2\"))  <- the model rejects this output here"
        ),
        "{shown}"
    );
    assert!(!shown.contains("good"), "{shown}");
}

#[test]
fn explanation_lists_every_operation_that_could_go_next() {
    let history = [
        done(1, put("a", "1"), 0, KvReply::Ok, 1),
        done(2, get("a"), 2, value(Some("x")), 10),
        done(3, get("a"), 3, value(Some("y")), 10),
        done(4, get("a"), 11, value(Some("1")), 12),
    ];
    let CheckResult::Illegal(explanation) = verdict(&history) else {
        panic!("expected Illegal");
    };
    let clients: Vec<u64> = explanation.stuck.iter().map(|s| s.op.client).collect();
    assert_eq!(clients, vec![2, 3]);
}

#[test]
fn return_before_call_is_reported_as_malformed() {
    let history = [done(1, put("a", "1"), 5, KvReply::Ok, 4)];
    assert!(matches!(verdict(&history), CheckResult::Malformed(_)));
}

#[test]
fn zero_budget_never_reports_ok() {
    let history = [done(1, put("a", "1"), 0, KvReply::Ok, 1)];
    let result = check(&KvModel, &history, Budget::steps(0));
    assert_eq!(
        result,
        CheckResult::Unknown {
            partition: "key b\"a\"".to_string()
        }
    );
}

/// Many long concurrent appends followed by a read of a value none of
/// their orders produces: refuting it means trying every order of every
/// subset, far beyond a small budget.
fn pathological_history(appends: u64) -> Vec<KvOperation> {
    let mut history: Vec<KvOperation> = (0..appends)
        .map(|i| done(i, append("a", &format!("{i}.")), 0, KvReply::Ok, 100))
        .collect();
    history.push(done(99, get("a"), 101, value(Some("impossible")), 102));
    history
}

#[test]
fn pathological_history_exhausts_the_budget_and_returns_unknown() {
    let result = check(&KvModel, &pathological_history(14), Budget::steps(100_000));
    assert!(
        matches!(result, CheckResult::Unknown { .. }),
        "expected Unknown, got {result:?}"
    );
}

#[test]
fn small_pathological_history_is_refuted_within_budget() {
    // The same shape with few appends is small enough to refute outright.
    assert_illegal(&pathological_history(5));
}

#[test]
fn illegal_partition_wins_over_an_exhausted_one() {
    let mut history = pathological_history(14);
    history.push(done(1, put("b", "1"), 200, KvReply::Ok, 201));
    history.push(done(1, get("b"), 202, value(None), 203));
    match check(&KvModel, &history, Budget::steps(100_000)) {
        CheckResult::Illegal(explanation) => assert_eq!(explanation.partition, "key b\"b\""),
        other => panic!("expected Illegal, got {other:?}"),
    }
}

/// Forty writes that never returned, then a long sequential history of
/// writes each read back. Without pruning configurations that differ only
/// in which pending writes were linearized, refuting a bad ending would
/// try every subset of them at every point.
fn history_with_many_pending_writes(bad_ending: bool) -> Vec<KvOperation> {
    let mut history: Vec<KvOperation> = (0..40)
        .map(|i| pending(i, put("a", &format!("p{i}")), i))
        .collect();
    for i in 0..500u64 {
        let t = 100 + 4 * i;
        let v = format!("v{i}");
        history.push(done(100, put("a", &v), t, KvReply::Ok, t + 1));
        history.push(done(101, get("a"), t + 2, value(Some(&v)), t + 3));
    }
    if bad_ending {
        history.push(done(102, get("a"), 10_000, value(Some("v0")), 10_001));
    }
    history
}

#[test]
fn many_pending_writes_never_observed_check_quickly() {
    let result = check(
        &KvModel,
        &history_with_many_pending_writes(false),
        Budget::steps(100_000),
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn many_pending_writes_do_not_slow_down_refuting_a_stale_read() {
    let result = check(
        &KvModel,
        &history_with_many_pending_writes(true),
        Budget::steps(1_000_000),
    );
    assert!(result.is_illegal(), "{result:?}");
}

#[test]
fn pending_cas_may_depend_on_a_pending_write_nobody_read() {
    // The pending put of "v" is never read, but the pending CAS from "v"
    // to "n" is what the read saw, so the put must have taken effect.
    assert_linearizable(&[
        pending(1, put("a", "v"), 0),
        pending(2, cas("a", Some("v"), "n"), 1),
        done(3, get("a"), 5, value(Some("n")), 6),
    ]);
}

#[test]
fn unobserved_completed_cas_keeps_every_pending_write() {
    // The CAS returned but its reply was lost: it succeeded only if the
    // pending put of "v" took effect before it, which the read confirms.
    let mut cas_done = done(2, cas("a", Some("v"), "n"), 1, KvReply::CasOk, 3);
    cas_done.output = None;
    assert_linearizable(&[
        pending(1, put("a", "v"), 0),
        cas_done,
        done(3, get("a"), 5, value(Some("n")), 6),
    ]);
}

#[test]
fn pending_appends_observed_in_the_middle_of_a_value_pass() {
    assert_linearizable(&[
        done(1, put("a", "x."), 0, KvReply::Ok, 1),
        pending(2, append("a", "p."), 2),
        done(3, append("a", "y."), 3, KvReply::Ok, 4),
        done(3, get("a"), 5, value(Some("x.p.y.")), 6),
    ]);
}
