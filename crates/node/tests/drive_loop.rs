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

fn ephemeral(path: &str) -> wire::Request {
    wire::Request::Create {
        kind: wire::CreateKind::Create,
        path: path.into(),
        data: Some(Vec::new()),
        acl: harness::open_acl(),
        flags: wire::create_mode::EPHEMERAL,
    }
}

/// The session a connection's connect response handed out.
fn session_of(c: &Cluster, node: NodeId, conn: synod_front::ConnId) -> i64 {
    let Outgoing::Frame(frame) = &c.frames[&(node, conn)][0] else {
        panic!("a connect response first");
    };
    wire::decode_connect_response(&frame[4..])
        .expect("decodes")
        .session_id
}

#[test]
fn the_apply_tap_records_every_apply_on_every_replica_and_the_front_door_still_gets_the_triggers() {
    use synod_coord::{EventKind, Trigger};
    let mut c = Cluster::new(engine());
    for node in c.nodes.values_mut() {
        node.set_apply_tap(true);
    }
    let leader = c.elect();
    let f = follower_of(leader);
    let watcher = c.zk_session(f);
    c.zk_request(
        f,
        watcher,
        wire::op::EXISTS,
        wire::Request::Exists {
            path: "/x".into(),
            watch: true,
        },
    );
    c.run();
    let owner = c.zk_session(leader);
    let session = session_of(&c, leader, owner);
    c.zk_request(leader, owner, wire::op::CREATE, ephemeral("/x"));
    let outputs = c.run();
    for id in 1..=3 {
        let applied: Vec<_> = outputs
            .iter()
            .filter_map(|(n, o)| match o {
                NodeOutput::Applied(a) if *n == id => Some(a),
                _ => None,
            })
            .collect();
        let create = applied
            .iter()
            .find(|a| a.op.as_ref().is_some_and(|op| op.batch_writes().is_some()))
            .unwrap_or_else(|| panic!("n{id} recorded the create: {applied:?}"));
        assert!(create.triggers.iter().any(|t| matches!(
            t,
            Trigger::Node { path, kind: EventKind::Created, .. } if path == "/x"
        )));
        assert_eq!(create.sessions[&session], vec!["/x".to_string()]);
        assert_eq!(create.ephemeral_count, 1);
        assert_eq!(
            create.zxid,
            c.node(id).engine().state_machine().tree.last_zxid()
        );
    }
    // The watcher on the follower was told: the tap took no trigger away.
    let events = c.frames[&(f, watcher)]
        .iter()
        .filter(|item| matches!(item, Outgoing::Frame(b) if xid(b) == wire::xid::WATCH_EVENT))
        .count();
    assert_eq!(events, 1);

    // The session's close ends it, and the record says so.
    c.zk_request(
        leader,
        owner,
        wire::op::CLOSE_SESSION,
        wire::Request::CloseSession,
    );
    let outputs = c.run();
    let close = outputs
        .iter()
        .find_map(|(_, o)| match o {
            NodeOutput::Applied(a) if matches!(a.op, Some(CoordOp::CloseSession { .. })) => Some(a),
            _ => None,
        })
        .expect("the close was recorded");
    assert_eq!(close.ends.len(), 1);
    assert_eq!(
        (close.ends[0].session, close.ends[0].expired),
        (session, false)
    );
    assert!(!close.sessions.contains_key(&session));
    assert_eq!(close.ephemeral_count, 0);
}

#[test]
fn without_the_apply_tap_nothing_is_recorded() {
    let mut c = Cluster::new(engine());
    let leader = c.elect();
    let conn = c.zk_session(leader);
    c.zk_request(leader, conn, wire::op::CREATE, create("/x"));
    let outputs = c.run();
    assert!(!outputs
        .iter()
        .any(|(_, o)| matches!(o, NodeOutput::Applied(_))));
}
