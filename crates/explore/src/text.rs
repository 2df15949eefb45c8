//! How records, actions and outcomes read in a trace.

use synod_paxos::{Action, NodeId, Outcome, Record};

pub(crate) fn describe_record(r: &Record) -> String {
    match r {
        Record::Promise(b) => format!("promise {b}"),
        Record::Accept {
            slot,
            ballot,
            value,
        } => format!("accept {slot}@{ballot}={}", value.describe()),
        Record::Learned { slot, value } => format!("learned {slot}={}", value.describe()),
        Record::Commit(slot) => format!("commit {slot}"),
        Record::Snapshot(s) => format!("snapshot at {}", s.last_slot),
    }
}

pub(crate) fn describe_action(node: NodeId, action: &Action) -> String {
    match action {
        Action::Persist { id, records } => {
            let r: Vec<String> = records.iter().map(describe_record).collect();
            format!("node {node} starts write #{id}: {}", r.join(", "))
        }
        Action::Send { to, msg } => format!("node {node} sends {node} -> {to}: {msg}"),
        Action::Reply {
            client,
            seq,
            outcome,
        } => format!(
            "node {node} replies to client {client} #{seq}: {}",
            describe_outcome(outcome)
        ),
        Action::ReadReply {
            client,
            id,
            outcome,
        } => format!(
            "node {node} answers read {id} of client {client}: {}",
            describe_outcome(outcome)
        ),
        Action::ReconfigReply { id, outcome } => format!(
            "node {node} answers membership change {id}: {}",
            describe_outcome(outcome)
        ),
        Action::Event(e) => format!("node {node}: {e:?}"),
    }
}

fn describe_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Ok(bytes) => format!("ok {bytes:?}"),
        other => format!("{other:?}"),
    }
}
