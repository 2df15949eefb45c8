//! The status page at `/`: the cluster as this node sees it, rendered on
//! the server as plain HTML (it refreshes itself every 2 s; no script).
//! maud escapes every value it inserts, so addresses and other text from
//! configuration or clients cannot become markup.
//!
//! Elements a test or a script can find: `#node-id`, `#role` (with
//! `data-role`: leader, preparing, follower or candidate), `#leader` (with
//! `data-leader`: the leader's node id, or "none"), one `tr.member` per
//! member (with `data-node` and `data-role`), and `#leader-changes`.

use crate::config::Member;
use crate::observe::{AdminView, LeaderChange};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use synod_paxos::NodeId;

/// The page's style: small, inline, no external requests.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.self{background:#eef6ff}.leader{color:#0a6b0a;font-weight:bold}\
.none{color:#b00020;font-weight:bold}footer{color:#666;font-size:.9em}";

/// The page for `view`. `members` are the configured members' addresses.
pub fn render(view: &AdminView, members: &BTreeMap<NodeId, Member>, now: SystemTime) -> String {
    let s = &view.status;
    let role = if view.is_leader { "leader" } else { s.role };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="2";
                title { "synod node " (s.id) ": " (role) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "synod node " span #node-id { (s.id) } }
                p #summary {
                    "This node is " strong #role data-role=(role) { (role_phrase(role)) } ". "
                    "Leader: "
                    @match s.leader {
                        Some(l) => strong #leader .leader data-leader=(l) { "node " (l) },
                        None => strong #leader .none data-leader="none" { "none" },
                    }
                    "."
                }
                (this_node(view))
                h2 { "Members" }
                (members_table(view, members))
                h2 { "Recent leader changes" }
                (changes_table(&view.leader_changes, now))
                footer {
                    "As of " (rfc3339(now)) "; refreshes every 2 s. "
                    a href="/metrics" { "/metrics" } " · "
                    a href="/health" { "/health" } " · "
                    a href="/livez" { "/livez" } " · "
                    a href="/readyz" { "/readyz" }
                }
            }
        }
    };
    page.into_string()
}

fn role_phrase(role: &str) -> String {
    match role {
        "leader" => "the leader".into(),
        "preparing" => "preparing to lead (phase 1)".into(),
        other => format!("a {other}"),
    }
}

fn this_node(view: &AdminView) -> Markup {
    let s = &view.status;
    let rows: [(&str, String); 13] = [
        ("promised ballot", s.promised.to_string()),
        ("commit slot", s.commit.to_string()),
        ("applied slot", s.applied.to_string()),
        (
            "applied lag (slots)",
            s.commit.saturating_sub(s.applied).to_string(),
        ),
        ("snapshot slot", s.snapshot_slot.to_string()),
        ("last zxid", format!("{:#x}", view.last_zxid)),
        ("proposals pending", view.proposals_pending.to_string()),
        (
            "writes waiting for the disk",
            view.persist_backlog.to_string(),
        ),
        ("ZooKeeper sessions", view.sessions.to_string()),
        (
            "ZooKeeper connections",
            format!("{} of {}", view.zk_connections, view.zk_connections_max),
        ),
        ("znodes", view.znodes.to_string()),
        ("watches", view.watches.to_string()),
        ("up since", rfc3339(view.started)),
    ];
    html! {
        table #this-node {
            @for (name, value) in &rows {
                tr { th { (name) } td .n { (value) } }
            }
        }
    }
}

fn members_table(view: &AdminView, members: &BTreeMap<NodeId, Member>) -> Markup {
    let s = &view.status;
    let peer_commits: BTreeMap<NodeId, u64> = s.peer_commits.iter().copied().collect();
    // Every member configured, and any the log's configuration names that
    // the file does not (joined later).
    let mut ids: Vec<NodeId> = members.keys().copied().collect();
    ids.extend(s.config.members().filter(|id| !members.contains_key(id)));
    ids.sort_unstable();
    ids.dedup();
    html! {
        table #members {
            tr {
                th { "node" } th { "role" } th { "peer address" } th { "client address" }
                th { "commit (leader's view)" } th { "lag (slots)" }
                th { "heartbeat round trip" } th { "bytes sent" } th { "bytes received" }
            }
            @for id in ids {
                @let role = member_role(view, id);
                @let member = members.get(&id);
                @let bytes = view.peer_bytes.get(&id);
                tr .member .self[id == s.id] data-node=(id) data-role=(role) {
                    td .n { (id) @if id == s.id { " (this node)" } }
                    td {
                        (role)
                        @if s.leader == Some(id) { ", " span .leader { "leader" } }
                    }
                    td { (member.map_or("?".into(), |m| m.peer.to_string())) }
                    td { (member.map_or("?".into(), |m| m.client.to_string())) }
                    @match (id == s.id, peer_commits.get(&id)) {
                        (true, _) => {
                            td .n { (s.commit) }
                            td .n { (s.commit.saturating_sub(s.applied)) " (applied)" }
                        }
                        (false, Some(c)) => {
                            td .n { (c) }
                            td .n { (s.commit.saturating_sub(*c)) }
                        }
                        (false, None) => { td { "—" } td { "—" } }
                    }
                    td .n { (view.peer_rtt.get(&id).map_or("—".into(), |d| millis(*d))) }
                    td .n { (bytes.map_or("—".into(), |b| b.sent.to_string())) }
                    td .n { (bytes.map_or("—".into(), |b| b.received.to_string())) }
                }
            }
        }
    }
}

fn member_role(view: &AdminView, id: NodeId) -> &'static str {
    let config = &view.status.config;
    if config.voters.contains(&id) {
        "voter"
    } else if config.learners.contains(&id) {
        "learner"
    } else {
        "not in the configuration"
    }
}

fn changes_table(changes: &[LeaderChange], now: SystemTime) -> Markup {
    let who = |n: Option<NodeId>| n.map_or("none".to_string(), |n| format!("node {n}"));
    html! {
        @if changes.is_empty() {
            p #leader-changes { "None since this node started." }
        } @else {
            table #leader-changes {
                tr { th { "when" } th { "ago" } th { "from" } th { "to" } th { "ballot promised" } }
                @for c in changes.iter().rev() {
                    tr {
                        td { (rfc3339(c.at)) }
                        td .n { (ago(now, c.at)) }
                        td { (who(c.from)) }
                        td { (who(c.to)) }
                        td .n { (c.ballot) }
                    }
                }
            }
        }
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn ago(now: SystemTime, at: SystemTime) -> String {
    let d = now.duration_since(at).unwrap_or_default();
    format!("{:.1} s", d.as_secs_f64())
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_node::NodeStatus;
    use synod_paxos::{Ballot, Config};

    fn view() -> AdminView {
        AdminView {
            status: NodeStatus {
                id: 2,
                role: "follower",
                promised: Ballot::new(4, 1),
                leader: Some(1),
                commit: 40,
                applied: 38,
                snapshot_slot: 0,
                config: Config::new([1, 2, 3]),
                peer_commits: Vec::new(),
            },
            is_leader: false,
            proposals_pending: 0,
            zk_connections: 1,
            zk_connections_max: 10,
            sessions: 1,
            znodes: 3,
            watches: 0,
            last_zxid: 0x1f,
            persist_backlog: 0,
            leader_changes: vec![LeaderChange {
                at: SystemTime::UNIX_EPOCH,
                from: None,
                to: Some(1),
                ballot: Ballot::new(4, 1),
            }],
            peer_rtt: Default::default(),
            peer_bytes: Default::default(),
            started: SystemTime::UNIX_EPOCH,
        }
    }

    fn members() -> BTreeMap<NodeId, Member> {
        (1..=3)
            .map(|id| {
                let m = Member {
                    peer: format!("127.0.0.1:{}", 7000 + id).parse().unwrap(),
                    client: format!("127.0.0.1:{}", 8000 + id).parse().unwrap(),
                };
                (id, m)
            })
            .collect()
    }

    #[test]
    fn the_page_names_this_node_its_role_the_leader_and_every_member() {
        let page = render(&view(), &members(), SystemTime::UNIX_EPOCH);
        assert!(page.contains(r#"<span id="node-id">2</span>"#), "{page}");
        assert!(page.contains(r#"id="role" data-role="follower""#), "{page}");
        assert!(page.contains(r#"data-leader="1">node 1<"#), "{page}");
        for id in 1..=3 {
            assert!(
                page.contains(&format!(r#"data-node="{id}" data-role="voter""#)),
                "{page}"
            );
            assert!(page.contains(&format!("127.0.0.1:{}", 7000 + id)), "{page}");
        }
        assert!(page.contains(r#"<meta http-equiv="refresh" content="2">"#));
        assert!(page.contains("1970-01-01T00:00:00.000Z"), "{page}");
    }

    #[test]
    fn text_is_escaped_so_it_cannot_become_markup() {
        // Role names and addresses are what the page inserts; an invented
        // role stands in for any text that reaches it.
        let mut v = view();
        v.status.role = "<script>alert(1)</script>";
        let page = render(&v, &members(), SystemTime::UNIX_EPOCH);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }

    #[test]
    fn a_node_without_a_leader_says_none() {
        let mut v = view();
        v.status.leader = None;
        let page = render(&v, &members(), SystemTime::UNIX_EPOCH);
        assert!(page.contains(r#"data-leader="none">none<"#), "{page}");
    }
}
