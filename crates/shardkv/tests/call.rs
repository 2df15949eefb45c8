//! The client's side of a transaction (`TxnCall`): it stays with its
//! coordinator until that coordinator refuses it.

use std::collections::BTreeMap;

use synod_shard::{shard_of, Config};
use synod_shardkv::{
    AbortReason, CallStep, CallTimers, ClientReply, GroupMsg, Txn, TxnCall, TxnId, TxnOutcome,
};

fn config(num: u64, owners: [u64; 4]) -> Config {
    Config {
        num,
        shards: owners.to_vec(),
        groups: owners
            .iter()
            .map(|&g| (g, vec![]))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn txn_on_shard(shard: u32) -> Txn {
    let key = (0..)
        .map(|i: u32| format!("k{i}").into_bytes())
        .find(|k| shard_of(k, 4) == shard)
        .unwrap();
    Txn {
        reads: vec![key],
        ..Txn::default()
    }
}

fn sent_to(step: Option<CallStep>) -> u64 {
    match step {
        Some(CallStep::Send {
            to,
            msg: GroupMsg::ClientTxn { .. },
        }) => to,
        other => panic!("expected a send, got {other:?}"),
    }
}

#[test]
fn a_call_is_sent_again_only_to_its_coordinator_until_it_refuses() {
    let id = TxnId { client: 9, seq: 1 };
    let timers = CallTimers::default();
    let mut call = TxnCall::new(
        id,
        txn_on_shard(0),
        &config(1, [1, 2, 2, 2]),
        timers.clone(),
        0,
    );
    assert_eq!(sent_to(call.poll(0)), 1);
    assert_eq!(call.poll(1), None, "not yet due");
    // Unanswered: again to the same group, even if a newer configuration
    // names another (only a refusal releases it).
    call.on_config(10, &config(2, [2, 2, 2, 2]), TxnId { client: 9, seq: 2 });
    assert_eq!(sent_to(call.poll(timers.resend_us)), 1);
    assert_eq!(call.id(), id, "same id while with its coordinator");
    // Busy: again soon, same group.
    assert_eq!(call.on_reply(timers.resend_us, ClientReply::Busy), None);
    assert_eq!(sent_to(call.poll(timers.resend_us + timers.busy_us)), 1);
    // Refused: it needs a configuration, and moves with a new id.
    let step = call.on_reply(300_000, ClientReply::WrongGroup { num: 2 });
    assert_eq!(step, Some(CallStep::NeedConfig { num: 2 }));
    assert!(call.released());
    let new_id = TxnId { client: 9, seq: 3 };
    call.on_config(300_000, &config(2, [2, 2, 2, 2]), new_id);
    assert_eq!(sent_to(call.poll(300_000)), 2);
    assert_eq!(call.id(), new_id);
    let done = TxnOutcome::Aborted(AbortReason::Stale);
    assert_eq!(
        call.on_reply(300_001, ClientReply::Outcome(done.clone())),
        Some(CallStep::Done(done))
    );
}

#[test]
fn a_call_with_no_answer_gives_up_as_unknown() {
    let timers = CallTimers::default();
    let mut call = TxnCall::new(
        TxnId { client: 1, seq: 1 },
        txn_on_shard(1),
        &config(1, [1, 1, 1, 1]),
        timers.clone(),
        0,
    );
    assert_eq!(sent_to(call.poll(0)), 1);
    assert_eq!(call.poll(timers.give_up_us), Some(CallStep::GaveUp));
}
