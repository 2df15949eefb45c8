//! A ZooKeeper reconfig request turned into synod's membership steps.
//!
//! synod changes membership one node at a time (`ConfigChange`), so a
//! request becomes a sequence of steps, run one after the other, each
//! committed before the next (see `reconfig/run.rs`):
//! - an unknown id joining as observer: `AddLearner`;
//! - an unknown id joining as participant: `AddLearner`, then `Promote`
//!   (once the learner has caught up);
//! - an observer joining as participant: `Promote`;
//! - a leaving id: `Remove`;
//! - `newMembers` (non-incremental): the difference from the current
//!   configuration, taken the same way.
//!
//! Adds and promotions come before removals, so the voters never shrink
//! below what the request leaves. Demoting a voter to observer is refused:
//! the engine has no such step (remove it and add it back instead).

use std::collections::BTreeMap;
use synod_coord::zk_config::LINE_BYTES_MAX;
use synod_paxos::{Config, ConfigChange, NodeId};

/// The role a server line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Participant,
    Observer,
}

/// One `server.N=SPEC` of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: NodeId,
    /// What follows `server.N=`, verbatim.
    pub spec: String,
    pub role: Role,
}

/// Why a request cannot be planned: ZooKeeper answers all of them
/// `BadArguments`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("`{0}` is not a server line (server.ID=HOST:PORT:PORT[:ROLE];[HOST:]PORT)")]
    BadSpec(String),
    #[error("a server line is over {LINE_BYTES_MAX} bytes")]
    SpecTooLong,
    #[error("`{0}` is not a server id")]
    BadId(String),
    #[error("synod cannot demote voter {0} to observer: remove it, then add it back as observer")]
    Demote(NodeId),
    #[error("the new configuration has no participant")]
    NoVoters,
}

/// The steps, in order, and the lines to record before them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub lines: Vec<(NodeId, String)>,
    pub steps: Vec<ConfigChange>,
}

/// Parses `server.N=HOST:PORT:PORT[:ROLE];[HOST:]PORT`. As ZooKeeper, the
/// client address is required: it is what clients of the server dial.
pub fn parse_spec(text: &str) -> Result<ServerSpec, PlanError> {
    let bad = || PlanError::BadSpec(text.to_string());
    let text = text.trim();
    let (key, spec) = text.split_once('=').ok_or_else(bad)?;
    let id: NodeId = key
        .trim()
        .strip_prefix("server.")
        .and_then(|n| n.parse().ok())
        .filter(|id| *id > 0)
        .ok_or_else(bad)?;
    if spec.len() > LINE_BYTES_MAX {
        return Err(PlanError::SpecTooLong);
    }
    let (server, client) = spec.split_once(';').ok_or_else(bad)?;
    let parts: Vec<&str> = server.split(':').collect();
    let role = match parts.as_slice() {
        [host, p1, p2] if valid_host_port(host, p1) && valid_port(p2) => Role::Participant,
        [host, p1, p2, role] if valid_host_port(host, p1) && valid_port(p2) => match *role {
            "participant" => Role::Participant,
            "observer" => Role::Observer,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let client_ok = match client.rsplit_once(':') {
        Some((host, port)) => valid_host_port(host, port),
        None => valid_port(client),
    };
    if !client_ok {
        return Err(bad());
    }
    Ok(ServerSpec {
        id,
        spec: spec.to_string(),
        role,
    })
}

fn valid_port(p: &str) -> bool {
    p.parse::<u16>().is_ok_and(|p| p > 0)
}

fn valid_host_port(host: &str, port: &str) -> bool {
    !host.is_empty() && !host.contains(char::is_whitespace) && valid_port(port)
}

/// A comma-separated list, empty items dropped (ZooKeeper's StringUtils.split).
fn items(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or("")
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The plan for a request against `current`: incremental (`joining`,
/// `leaving`) unless `new_members` is given, as in ZooKeeper.
pub fn plan(
    current: &Config,
    joining: Option<&str>,
    leaving: Option<&str>,
    new_members: Option<&str>,
) -> Result<Plan, PlanError> {
    let mut target: BTreeMap<NodeId, Role> = BTreeMap::new();
    let mut lines = Vec::new();
    if let Some(members) = new_members {
        for item in items(Some(members)) {
            let s = parse_spec(item)?;
            target.insert(s.id, s.role);
            lines.push((s.id, s.spec));
        }
    } else {
        for id in &current.voters {
            target.insert(*id, Role::Participant);
        }
        for id in &current.learners {
            target.insert(*id, Role::Observer);
        }
        for item in items(leaving) {
            let id: NodeId = item.parse().map_err(|_| PlanError::BadId(item.into()))?;
            target.remove(&id);
        }
        for item in items(joining) {
            let s = parse_spec(item)?;
            target.insert(s.id, s.role);
            lines.push((s.id, s.spec));
        }
    }
    if !target.values().any(|r| *r == Role::Participant) {
        return Err(PlanError::NoVoters);
    }
    let mut steps = Vec::new();
    for (id, role) in &target {
        let (id, role) = (*id, *role);
        if current.voters.contains(&id) {
            if role == Role::Observer {
                return Err(PlanError::Demote(id));
            }
        } else if current.learners.contains(&id) {
            if role == Role::Participant {
                steps.push(ConfigChange::Promote(id));
            }
        } else {
            steps.push(ConfigChange::AddLearner(id));
            if role == Role::Participant {
                steps.push(ConfigChange::Promote(id));
            }
        }
    }
    for id in current.members() {
        if !target.contains_key(&id) {
            steps.push(ConfigChange::Remove(id));
        }
    }
    Ok(Plan { lines, steps })
}

/// Whether `config` already shows `change` done (a step a retry or
/// another caller made): it is then skipped, not proposed again.
pub fn already_done(config: &Config, change: ConfigChange) -> bool {
    match change {
        ConfigChange::AddLearner(id) => config.contains(id),
        ConfigChange::Promote(id) => config.voters.contains(&id),
        ConfigChange::Remove(id) => !config.contains(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConfigChange::*;

    fn config(voters: &[NodeId], learners: &[NodeId]) -> Config {
        let mut c = Config::new(voters.iter().copied());
        c.learners = learners.iter().copied().collect();
        c
    }

    #[test]
    fn a_server_line_needs_two_ports_a_known_role_and_a_client_port() {
        let s = parse_spec("server.100=0.0.0.0:1:2:observer;0.0.0.0:3").unwrap();
        assert_eq!((s.id, s.role), (100, Role::Observer));
        assert_eq!(s.spec, "0.0.0.0:1:2:observer;0.0.0.0:3");
        assert_eq!(
            parse_spec("server.5=h:1:2;3").unwrap().role,
            Role::Participant
        );
        for bad in [
            "some thing",
            "server.x=h:1:2;3",
            "server.0=h:1:2;3",
            "server.5=h:1:2",
            "server.5=h:1;3",
            "server.5=h:1:2:voter;3",
            "server.5=h:1:99999;3",
            "server.5=h:1:2;",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn joining_maps_to_add_learner_then_promote_and_leaving_to_remove() {
        let c = config(&[1, 2, 3], &[4]);
        let p = plan(&c, Some("server.9=h:1:2:observer;3"), None, None).unwrap();
        assert_eq!(p.steps, vec![AddLearner(9)]);
        assert_eq!(p.lines, vec![(9, "h:1:2:observer;3".to_string())]);
        let p = plan(
            &c,
            Some("server.9=h:1:2;3,server.4=h:4:5;6"),
            Some("2"),
            None,
        )
        .unwrap();
        assert_eq!(
            p.steps,
            vec![Promote(4), AddLearner(9), Promote(9), Remove(2)]
        );
    }

    #[test]
    fn new_members_is_the_difference_from_the_current_config() {
        let c = config(&[1, 2, 3], &[4]);
        let p = plan(
            &c,
            None,
            None,
            Some("server.1=h:1:2;3\nserver.2=h:1:2;3,server.5=h:1:2:observer;3"),
        )
        .unwrap();
        assert_eq!(p.steps, vec![AddLearner(5), Remove(3), Remove(4)]);
    }

    #[test]
    fn demotion_no_voters_and_bad_ids_are_refused() {
        let c = config(&[1, 2], &[]);
        assert_eq!(
            plan(&c, Some("server.2=h:1:2:observer;3"), None, None),
            Err(PlanError::Demote(2))
        );
        assert_eq!(plan(&c, None, Some("1,2"), None), Err(PlanError::NoVoters));
        assert!(matches!(
            plan(&c, None, Some("x"), None),
            Err(PlanError::BadId(_))
        ));
    }

    #[test]
    fn a_step_the_config_already_shows_is_done() {
        let c = config(&[1], &[2]);
        assert!(already_done(&c, AddLearner(2)));
        assert!(!already_done(&c, Promote(2)));
        assert!(already_done(&c, Remove(3)));
    }
}
