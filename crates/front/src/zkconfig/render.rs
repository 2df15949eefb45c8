//! `/zookeeper/config` as ZooKeeper clients read it: one line per member
//! of the engine's configuration, `server.N=SPEC` with the role it has
//! (participant for a voter, observer for a learner), then `version=HEX`.
//! SPEC is the line recorded for the id through the log
//! (`synod_coord::zk_config`) or, for a member never given one, this
//! node's static `[members]` address in ZooKeeper's form
//! (`PEER_HOST:PEER_PORT:GRPC_PORT`, as the compat shim maps it back).

use std::collections::BTreeMap;
use synod_coord::zk_config::ConfigRecord;
use synod_paxos::{Config, NodeId};

/// The config text for `config`.
pub fn render(
    config: &Config,
    record: &ConfigRecord,
    static_servers: &BTreeMap<NodeId, String>,
) -> Vec<u8> {
    let mut out = String::new();
    let mut ids: Vec<NodeId> = config.members().collect();
    ids.sort_unstable();
    for id in ids {
        let role = if config.voters.contains(&id) {
            "participant"
        } else {
            "observer"
        };
        let spec = match (record.lines.get(&id), static_servers.get(&id)) {
            (Some(line), _) => with_role(line, role),
            (None, Some(addr)) => format!("{addr}:{role}"),
            (None, None) => format!("unknown:0:0:{role}"),
        };
        out.push_str(&format!("server.{id}={spec}\n"));
    }
    out.push_str(&format!("version={:x}", record.version));
    out.into_bytes()
}

/// `line` with its role set to `role` (a recorded participant that is
/// still a learner, because its promotion failed, shows as observer).
fn with_role(line: &str, role: &str) -> String {
    let (server, client) = match line.split_once(';') {
        Some((s, c)) => (s, Some(c)),
        None => (line, None),
    };
    let mut parts: Vec<&str> = server.split(':').collect();
    if matches!(parts.last(), Some(&"participant") | Some(&"observer")) && parts.len() == 4 {
        parts.pop();
    }
    parts.push(role);
    match client {
        Some(c) => format!("{};{c}", parts.join(":")),
        None => parts.join(":"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_render_with_their_role_recorded_line_or_static_address_then_the_version() {
        let mut config = Config::new([1, 2]);
        config.learners.insert(7);
        let record = ConfigRecord {
            lines: BTreeMap::from([
                (7, "0.0.0.0:1:2:participant;0.0.0.0:3".to_string()),
                (9, "gone:1:2;3".to_string()),
            ]),
            version: 0x2f,
        };
        let statics = BTreeMap::from([(1, "127.0.0.1:7001:8001".to_string())]);
        let text = String::from_utf8(render(&config, &record, &statics)).unwrap();
        assert_eq!(
            text,
            "server.1=127.0.0.1:7001:8001:participant\n\
             server.2=unknown:0:0:participant\n\
             server.7=0.0.0.0:1:2:observer;0.0.0.0:3\n\
             version=2f"
        );
    }

    #[test]
    fn a_recorded_line_with_the_right_role_is_shown_verbatim() {
        let line = "0.0.0.0:1:2:observer;0.0.0.0:3";
        assert_eq!(with_role(line, "observer"), line);
        assert_eq!(with_role("h:1:2;3", "participant"), "h:1:2:participant;3");
    }
}
