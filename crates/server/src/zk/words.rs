//! Four-letter words: the plain-text status commands ZooKeeper answers on
//! its client port (`echo srvr | nc localhost 2181`). Monitoring scripts and
//! client test harnesses parse these, so the field names and layout follow
//! ZooKeeper 3.8's.

use crate::config::{Member, ZkKnobs};
use std::collections::BTreeMap;
use synod_front::{ServingMode, ZkFront};
use synod_node::{ServiceNode, ServiceState};
use synod_paxos::{Config, Node, NodeId};
use synod_zkproto::FourLetterWord as W;

/// The version string clients and harnesses read (kazoo's reads it from
/// `envi` to decide which features to test).
pub const VERSION: &str = "3.8.0-synod-0.1.0, built on synod";

/// What `srvr` and `mntr` call this server: "read-only" while it serves
/// read-only clients (ZooKeeper's ReadOnlyZooKeeperServer state), else its
/// role.
fn mode(node: &Node<ServiceState>, zk: &ZkFront) -> &'static str {
    if zk.serving_mode() == ServingMode::ReadOnly {
        return "read-only";
    }
    role(node.is_leader(), node.id(), node.config())
}

/// ZooKeeper's `isro`: "ro" for a read-only server, "rw" for one that
/// serves writes, "null" for one that serves nobody (cut off without
/// read-only mode). Clients in read-only mode (kazoo, the Java client)
/// poll it to find a read-write server and move there.
fn isro(mode: ServingMode) -> &'static str {
    match mode {
        ServingMode::ReadWrite => "rw",
        ServingMode::ReadOnly => "ro",
        ServingMode::NotServing => "null",
    }
}

/// ZooKeeper's name for what a node is: the leader, a follower (a voter),
/// or an observer (a learner: it serves clients, forwards their writes and
/// does not vote, as a ZooKeeper observer does; also a node outside the
/// configuration, which votes on nothing).
fn role(is_leader: bool, id: NodeId, config: &Config) -> &'static str {
    if is_leader {
        "leader"
    } else if config.voters.contains(&id) {
        "follower"
    } else {
        "observer"
    }
}

/// A member's line in `conf`, as ZooKeeper 3.5+ writes its dynamic
/// configuration: `server.ID=PEER:participant` for a voter,
/// `:observer` for a learner; a member outside the configuration (a spare
/// of the config file) is left out.
fn server_line(id: NodeId, member: &Member, config: &Config) -> Option<String> {
    let kind = if config.voters.contains(&id) {
        "participant"
    } else if config.learners.contains(&id) {
        "observer"
    } else {
        return None;
    };
    Some(format!("server.{id}={}:{kind}\n", member.peer))
}

fn srvr(node: &Node<ServiceState>, zk: &ZkFront) -> String {
    let tree = &node.state_machine().tree;
    format!(
        "Zookeeper version: {VERSION}\nLatency min/avg/max: 0/0.0/0\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        zk.stats.received,
        zk.stats.sent,
        zk.connection_count(),
        zk.outstanding(),
        tree.last_zxid(),
        mode(node, zk),
        tree.node_count()
    )
}

/// The answer to `word`, from what the node holds. The front door's clock
/// (a connection's age in `cons` and `stat`) is as of the node's last step,
/// at most one engine tick ago.
pub fn answer(
    word: W,
    service: &ServiceNode,
    knobs: &ZkKnobs,
    members: &BTreeMap<NodeId, Member>,
) -> String {
    let node = service.engine();
    let zk = service.front();
    let tree = &node.state_machine().tree;
    match word {
        W::Ruok => "imok".into(),
        W::Isro => isro(zk.serving_mode()).into(),
        W::Srvr => srvr(node, zk),
        W::Stat => {
            let s = srvr(node, zk);
            let (head, tail) = s.split_once("Latency").unwrap_or((&s, ""));
            format!(
                "{head}Clients:\n{}\nLatency{tail}",
                zk.describe_connections()
            )
        }
        W::Cons => zk.describe_connections() + "\n",
        W::Wchs => format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            zk.watches.connections(),
            zk.watches.paths(),
            zk.watches.total()
        ),
        W::Envi => format!(
            "Environment:\nzookeeper.version={VERSION}\nhost.name=localhost\nos.name={}\nos.arch={}\nuser.dir={}\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
        ),
        W::Conf => {
            let mut out = format!(
                "tickTime={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nserverId={}\n",
                knobs.tick_ms,
                knobs.min_session_timeout_ms(),
                knobs.max_session_timeout_ms(),
                node.id()
            );
            for (id, m) in members {
                out.extend(server_line(*id, m, node.config()));
            }
            out
        }
        W::Mntr => {
            let lines = [
                ("zk_version", VERSION.to_string()),
                ("zk_server_state", mode(node, zk).to_string()),
                ("zk_avg_latency", "0".into()),
                ("zk_packets_received", zk.stats.received.to_string()),
                ("zk_packets_sent", zk.stats.sent.to_string()),
                ("zk_num_alive_connections", zk.connection_count().to_string()),
                ("zk_outstanding_requests", zk.outstanding().to_string()),
                ("zk_znode_count", tree.node_count().to_string()),
                ("zk_watch_count", zk.watches.total().to_string()),
                ("zk_ephemerals_count", tree.ephemeral_count().to_string()),
                ("zk_approximate_data_size", tree.data_bytes().to_string()),
                ("zk_global_sessions", tree.session_count().to_string()),
                ("zk_last_zxid", tree.last_zxid().to_string()),
                ("synod_commit_slot", node.commit().to_string()),
                ("synod_applied_slot", node.applied().to_string()),
                ("synod_snapshot_slot", node.snapshot_slot().to_string()),
                (
                    "synod_leader",
                    node.leader().map_or("none".into(), |l| l.to_string()),
                ),
            ];
            let mut out = String::new();
            for (k, v) in lines {
                out.push_str(&format!("{k}\t{v}\n"));
            }
            out
        }
        other => format!("{other:?} is not served by synod\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learners_are_observers_and_voters_participants() {
        let mut config = Config::new([1, 2, 3]);
        config.learners.insert(4);
        assert_eq!(role(true, 1, &config), "leader");
        assert_eq!(role(false, 2, &config), "follower");
        assert_eq!(role(false, 4, &config), "observer");
        assert_eq!(role(false, 5, &config), "observer");
        let member = Member {
            peer: "synod-3.synod:7000".parse().unwrap(),
            client: "synod-3.synod:8000".parse().unwrap(),
        };
        assert_eq!(
            server_line(2, &member, &config).unwrap(),
            "server.2=synod-3.synod:7000:participant\n"
        );
        assert_eq!(
            server_line(4, &member, &config).unwrap(),
            "server.4=synod-3.synod:7000:observer\n"
        );
        assert_eq!(server_line(5, &member, &config), None);
    }

    #[test]
    fn isro_says_ro_only_for_a_read_only_server() {
        assert_eq!(isro(ServingMode::ReadWrite), "rw");
        assert_eq!(isro(ServingMode::ReadOnly), "ro");
        assert_eq!(isro(ServingMode::NotServing), "null");
    }
}
