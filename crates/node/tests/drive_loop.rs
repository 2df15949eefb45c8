//! The drive loop's rules (see the crate's documentation), each checked on
//! a three-node cluster driven by hand. The harness checks every node's
//! invariants after every step, so each test also shows they hold along
//! its run.

mod harness;

use harness::{create, get_data, set_data, xid, zk_items, Cluster};
use synod_coord::CoordOp;
use synod_front::front::COORD_TAG;
use synod_front::Outgoing;
use synod_kv::KvOp;
use synod_node::{NodeInput, NodeOutput, SNAPSHOT_CLOSE};
use synod_paxos::{Command, EngineConfig, Event, NodeId, Outcome, Record, Value};
use synod_zkproto as wire;

fn engine() -> EngineConfig {
    EngineConfig {
        events: true,
        ..EngineConfig::default()
    }
}

fn follower_of(leader: NodeId) -> NodeId {
    if leader == 1 {
        2
    } else {
        1
    }
}

/// The coordination operations the leader accepted in these outputs.
fn accepted_coord_ops(outputs: &[NodeOutput]) -> Vec<CoordOp> {
    let mut ops = Vec::new();
    for o in outputs {
        let NodeOutput::Persist { records, .. } = o else {
            continue;
        };
        for r in records {
            let Record::Accept {
                value: Value::Batch(commands),
                ..
            } = r
            else {
                continue;
            };
            for c in commands {
                if let Some((&COORD_TAG, rest)) = c.op.split_first() {
                    ops.push(CoordOp::decode(rest).expect("a coordination op decodes"));
                }
            }
        }
    }
    ops
}

fn put(client: u64, seq: u64, key: &str) -> Command {
    Command {
        client,
        seq,
        op: KvOp::Put {
            key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
        }
        .encode(),
    }
}

#[test]
fn a_watch_event_is_output_before_the_reply_of_the_write_that_fired_it() {
    let mut c = Cluster::new(engine());
    let leader = c.elect();
    // On a follower, the write is answered when the follower applies it:
    // the step that applies it fires the watch and answers the write.
    let f = follower_of(leader);
    let conn = c.zk_session(f);
    c.zk_request(f, conn, wire::op::CREATE, create("/x"));
    c.run();
    c.zk_request(f, conn, wire::op::GET_DATA, get_data("/x", true));
    let (set_xid, _) = c.zk_request(f, conn, wire::op::SET_DATA, set_data("/x", b"v"));
    let before = c.frames[&(f, conn)].len();
    c.run();
    let after: Vec<i32> = c.frames[&(f, conn)][before..]
        .iter()
        .map(|item| match item {
            Outgoing::Reply(b) | Outgoing::Frame(b) => xid(b),
            Outgoing::Close(why) => panic!("closed: {why}"),
        })
        .collect();
    assert_eq!(
        after,
        vec![wire::xid::WATCH_EVENT, set_xid],
        "the watch event, then the setData reply"
    );
}

#[test]
fn front_door_proposals_are_stepped_in_the_same_step() {
    let mut c = Cluster::new(engine());
    let leader = c.elect();
    // On the leader the session's creation is accepted (persisted) in the
    // very call that opened the connection.
    let (_, out) = c.zk_open(leader);
    let ops = accepted_coord_ops(&out);
    assert!(
        matches!(ops.as_slice(), [CoordOp::CreateSession { .. }]),
        "the CreateSession proposal was stepped into the engine: {ops:?}"
    );
    // On a follower it is forwarded to the leader in the same call.
    let f = follower_of(leader);
    let (_, out) = c.zk_open(f);
    assert!(
        out.iter()
            .any(|o| matches!(o, NodeOutput::Send { to, .. } if *to == leader)),
        "the follower forwarded the proposal at once: {out:?}"
    );
}

#[test]
fn the_tick_runs_the_front_doors_timer_which_stamps_log_time_with_the_leaders_term() {
    let mut c = Cluster::new(engine());
    let leader = c.elect();
    let ballot = c.node(leader).engine().promised();
    let term = (ballot.round << 16) | (ballot.node & 0xffff);
    // The front door advances log time every 500 ms; within a second of
    // ticks one tick step must propose it.
    for _ in 0..100 {
        c.now_us += harness::TICK_US;
        let wall_ms = c.clock().wall_ms;
        let out = c.step(leader, NodeInput::Tick);
        c.run();
        let ticks: Vec<CoordOp> = accepted_coord_ops(&out)
            .into_iter()
            .filter(|op| matches!(op, CoordOp::Tick { .. }))
            .collect();
        if !ticks.is_empty() {
            assert_eq!(
                ticks,
                vec![CoordOp::Tick {
                    time_ms: wall_ms,
                    term
                }]
            );
            return;
        }
    }
    panic!("the leader proposed no log-time tick in a second of ticks");
}

#[test]
fn native_writes_are_answered_with_write_reply_and_the_front_doors_are_not() {
    let mut c = Cluster::new(engine());
    let leader = c.elect();
    c.step(leader, NodeInput::Write(put(42, 1, "k")));
    let replies: Vec<_> = c
        .run()
        .into_iter()
        .filter_map(|(id, o)| match o {
            NodeOutput::WriteReply {
                client,
                seq,
                outcome,
            } => Some((id, client, seq, outcome)),
            _ => None,
        })
        .collect();
    assert!(
        matches!(replies.as_slice(), [(id, 42, 1, Outcome::Ok(_))] if *id == leader),
        "{replies:?}"
    );
    // A follower refuses a native write in the same step, naming the leader.
    let f = follower_of(leader);
    let out = c.step(f, NodeInput::Write(put(43, 1, "k")));
    assert!(
        out.iter().any(|o| matches!(
            o,
            NodeOutput::WriteReply { client: 43, seq: 1, outcome: Outcome::NotLeader { leader: Some(l) } }
                if *l == leader
        )),
        "{out:?}"
    );
    // The front door's commands (a session, a create) are answered to it.
    let conn = c.zk_session(f);
    c.zk_request(f, conn, wire::op::CREATE, create("/y"));
    let out = c.run();
    assert!(
        !out.iter()
            .any(|(_, o)| matches!(o, NodeOutput::WriteReply { .. })),
        "{out:?}"
    );
    assert_eq!(
        c.frames[&(f, conn)].len(),
        2,
        "connect response, create reply"
    );
}

#[test]
fn a_snapshot_install_closes_zookeeper_connections_before_any_frame_of_the_new_state() {
    let mut c = Cluster::new(EngineConfig {
        snapshot_interval_slots: 10,
        log_retain_slots: 2,
        ..engine()
    });
    let leader = c.elect();
    let f = follower_of(leader);
    // A client on the follower watches /x.
    let conn = c.zk_session(f);
    c.zk_request(f, conn, wire::op::CREATE, create("/x"));
    c.run();
    c.zk_request(f, conn, wire::op::GET_DATA, get_data("/x", true));
    let seen = c.frames[&(f, conn)].len();
    // Cut off, the follower misses a change to /x and enough writes for
    // the leader to compact its log past it.
    c.cut.insert(f);
    let writer = c.zk_session(leader);
    c.zk_request(leader, writer, wire::op::SET_DATA, set_data("/x", b"new"));
    c.run();
    for seq in 1..=40 {
        c.step(leader, NodeInput::Write(put(42, seq, "k")));
        c.run();
    }
    assert!(c.node(leader).engine().snapshot_slot() > c.node(f).engine().applied() + 2);
    c.cut.clear();
    let mut outputs = Vec::new();
    for _ in 0..100 {
        outputs.extend(c.tick().into_iter().filter(|(id, _)| *id == f));
        if c.node(f).engine().applied() >= c.node(leader).engine().applied() {
            break;
        }
    }
    let installed = outputs
        .iter()
        .position(|(_, o)| matches!(o, NodeOutput::Event(Event::SnapshotInstalled { .. })))
        .expect("the follower caught up from a snapshot");
    // The watch on /x never fired: the snapshot skipped the change. So the
    // connection is closed, and that is the last thing it is sent.
    assert_eq!(
        c.frames[&(f, conn)][seen..],
        [Outgoing::Close(SNAPSHOT_CLOSE.into())]
    );
    let after: Vec<NodeOutput> = outputs
        .into_iter()
        .skip(installed)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        zk_items(&after, conn),
        vec![&Outgoing::Close(SNAPSHOT_CLOSE.into())]
    );
    assert_eq!(c.node(f).front().connection_count(), 0);
}
