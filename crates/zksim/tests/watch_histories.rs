//! The watch oracle on hand-made histories: a correct connection passes,
//! and a lost, reordered, invented or late event is named.

use synod_coord::EventKind as E;
use synod_zksim::changes::Change;
use synod_zksim::watch::{check_conn, ConnRecord, End, History, Item, Reg, WatchKind};

fn node(zxid: i64, path: &str, kind: E) -> (i64, Change) {
    (
        zxid,
        Change::Node {
            path: path.into(),
            kind,
        },
    )
}

/// /a created at 1, changed at 2 and 3, deleted at 4.
fn history() -> History {
    History::new(vec![
        node(1, "/a", E::Created),
        node(1, "/", E::ChildrenChanged),
        node(2, "/a", E::DataChanged),
        node(3, "/a", E::DataChanged),
        node(4, "/a", E::Deleted),
        node(4, "/", E::ChildrenChanged),
    ])
}

fn reply(xid: i32, zxid: i64, regs: Vec<Reg>) -> Item {
    Item::Reply { xid, zxid, regs }
}

fn event(kind: E, path: &str) -> Item {
    Item::Event {
        kind,
        path: path.into(),
    }
}

fn watch(path: &str, kind: WatchKind) -> Vec<Reg> {
    vec![Reg::Watch {
        path: path.into(),
        kind,
    }]
}

fn record(items: Vec<Item>, end: End) -> ConnRecord {
    ConnRecord {
        serial: 1,
        client: 1,
        node: 1,
        session: 7,
        items,
        end: Some(end),
        unanswered_set_watches: Vec::new(),
    }
}

fn problems(items: Vec<Item>, end: End) -> Vec<&'static str> {
    check_conn(&record(items, end), &history())
        .problems
        .into_iter()
        .map(|(check, _)| check)
        .collect()
}

#[test]
fn a_one_shot_and_a_persistent_watch_seen_in_order_pass() {
    let items = vec![
        // getData /a at zxid 1 (one-shot), addWatch / recursive at zxid 1.
        reply(1, 1, watch("/a", WatchKind::Data)),
        reply(2, 1, watch("/", WatchKind::Recursive)),
        event(E::DataChanged, "/a"),
        reply(3, 2, vec![]),
        event(E::DataChanged, "/a"),
        event(E::Deleted, "/a"),
    ];
    assert!(problems(items, End::Zxid(4)).is_empty());
}

#[test]
fn a_lost_event_is_named() {
    let items = vec![
        reply(1, 1, watch("/", WatchKind::Recursive)),
        event(E::DataChanged, "/a"),
        event(E::Deleted, "/a"),
    ];
    assert_eq!(problems(items, End::Zxid(4)), vec!["watches"]);
}

#[test]
fn a_missing_tail_is_named_only_for_a_cleanly_ended_connection() {
    let items = vec![
        reply(1, 1, watch("/", WatchKind::Recursive)),
        event(E::DataChanged, "/a"),
    ];
    assert_eq!(problems(items.clone(), End::Zxid(4)), vec!["watches"]);
    assert!(problems(items.clone(), End::Zxid(2)).is_empty());
    assert!(problems(items, End::Partial).is_empty());
}

#[test]
fn reordered_and_invented_events_are_named() {
    let swapped = vec![
        reply(1, 1, watch("/", WatchKind::Recursive)),
        event(E::DataChanged, "/a"),
        event(E::Deleted, "/a"),
        event(E::DataChanged, "/a"),
    ];
    assert_eq!(problems(swapped, End::Partial), vec!["watches"]);
    let invented = vec![
        reply(1, 3, watch("/a", WatchKind::Data)),
        event(E::Deleted, "/a"),
        event(E::Deleted, "/a"),
    ];
    assert_eq!(problems(invented, End::Partial), vec!["watches"]);
}

#[test]
fn a_reply_that_overtakes_its_change_s_event_is_named() {
    let items = vec![
        reply(1, 1, watch("/a", WatchKind::Data)),
        reply(2, 3, vec![]),
        event(E::DataChanged, "/a"),
    ];
    assert_eq!(problems(items, End::Zxid(4)), vec!["watch-order"]);
}

#[test]
fn set_watches_fires_what_changed_since_the_clients_zxid_before_its_reply() {
    // The client last saw zxid 1 and re-arms a data watch on /a at zxid 3:
    // /a changed since, so DataChanged fires at once, and the watch is not
    // re-armed (the delete at 4 sends nothing more).
    let regs = vec![Reg::SetWatches {
        relative_zxid: 1,
        data: vec!["/a".into()],
        exist: vec![],
        child: vec![],
        persistent: vec![],
        recursive: vec![],
    }];
    let good = vec![event(E::DataChanged, "/a"), reply(-8, 3, regs.clone())];
    assert!(problems(good, End::Zxid(4)).is_empty());
    let late = vec![reply(-8, 3, regs), event(E::DataChanged, "/a")];
    assert_eq!(problems(late, End::Zxid(4)), vec!["watch-order"]);
}

#[test]
fn events_of_a_set_watches_whose_reply_never_came_are_not_judged() {
    // The client re-armed a child watch on / and went away between the
    // event the SetWatches fired and its reply: no recorded registration
    // owes the event. Another path's invented event is still named.
    let items = vec![event(E::ChildrenChanged, "/")];
    let mut rec = record(items, End::Partial);
    assert_eq!(check_conn(&rec, &history()).problems.len(), 1);
    rec.unanswered_set_watches = vec!["/".into()];
    assert!(check_conn(&rec, &history()).problems.is_empty());
    rec.items.push(event(E::Deleted, "/a"));
    assert_eq!(check_conn(&rec, &history()).problems.len(), 1);
}
