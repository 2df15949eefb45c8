//! What the tree keeps for ZooKeeper's `/zookeeper/config`: the server
//! line recorded for each id (`CoordOp::ServerLines`) and the config
//! version, the slot of the last membership change applied
//! (`Tree::on_membership_change`). Both live in the data of
//! `/zookeeper/config` itself, as ZooKeeper's text (`server.N=LINE` lines
//! in id order, then `version=HEX`), so snapshots carry them unchanged.
//!
//! Who is a member, and as voter or learner, is the engine's configuration,
//! not the tree's: the front door renders the node's data from both
//! (`synod_front`'s `zk_config`). A membership change consumes no zxid
//! (the node's `mzxid` is the last zxid when it applied), so the zxids of
//! a log written before this existed stay what they were.
//!
//! Limits: the front door records at most `LINES_MAX` lines of at most
//! `LINE_BYTES_MAX` bytes each; the tree applies whatever the log chose.

use crate::node::NodeKey;
use crate::tree::Tree;
use crate::types::EventKind;
use crate::write::node_trigger;
use std::collections::BTreeMap;

/// The node whose data this is.
pub const CONFIG_PATH: &str = "/zookeeper/config";
/// Ids with a recorded line, at most (the front door's limit).
pub const LINES_MAX: usize = 256;
/// One recorded line, at most, in bytes.
pub const LINE_BYTES_MAX: usize = 512;

/// The recorded lines and the version, as the data holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigRecord {
    pub lines: BTreeMap<u64, String>,
    /// The slot of the last membership change applied (0: none yet).
    pub version: u64,
}

impl ConfigRecord {
    /// Reads the node's data; what does not parse is skipped (the tree
    /// wrote every byte of it, so nothing should).
    pub fn parse(data: &[u8]) -> Self {
        let mut record = ConfigRecord::default();
        for line in String::from_utf8_lossy(data).lines() {
            if let Some(hex) = line.strip_prefix("version=") {
                record.version = u64::from_str_radix(hex, 16).unwrap_or(0);
            } else if let Some((key, spec)) = line.split_once('=') {
                if let Some(id) = key.strip_prefix("server.").and_then(|n| n.parse().ok()) {
                    record.lines.insert(id, spec.to_string());
                }
            }
        }
        record
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (id, spec) in &self.lines {
            out.push_str(&format!("server.{id}={spec}\n"));
        }
        out.push_str(&format!("version={:x}", self.version));
        out.into_bytes()
    }
}

impl Tree {
    /// The recorded lines and version.
    pub fn config_record(&self) -> ConfigRecord {
        let data = self
            .state
            .nodes
            .get_key_value(crate::path::key(CONFIG_PATH).as_bytes())
            .map(|(key, _)| key.data().to_vec())
            .unwrap_or_default();
        ConfigRecord::parse(&data)
    }

    pub(crate) fn on_server_lines(&mut self, lines: &[(u64, String)]) {
        let mut record = self.config_record();
        for (id, spec) in lines {
            record.lines.insert(*id, spec.clone());
        }
        let zxid = self.next_zxid();
        self.set_config_record(&record, zxid);
    }

    /// The engine applied a membership change in `slot`; `removed` is the
    /// id it removed, if it removed one (its line goes with it). Consumes
    /// no zxid; fires `/zookeeper/config`'s data watches.
    pub fn on_membership_change(&mut self, slot: u64, removed: Option<u64>) {
        let mut record = self.config_record();
        record.version = slot;
        if let Some(id) = removed {
            record.lines.remove(&id);
        }
        let zxid = self.last_zxid();
        self.set_config_record(&record, zxid);
    }

    fn set_config_record(&mut self, record: &ConfigRecord, zxid: i64) {
        self.replace_key(NodeKey::new(CONFIG_PATH, &record.encode()));
        let now_ms = self.now_ms();
        let n = self.node_mut(CONFIG_PATH).expect("the tree always has it");
        n.stat.version = n.stat.version.wrapping_add(1);
        n.stat.mzxid = zxid;
        n.stat.mtime = now_ms;
        let acl = self.acl_of(&self.node(CONFIG_PATH).expect("above")).clone();
        self.triggers
            .push(node_trigger(CONFIG_PATH, EventKind::DataChanged, zxid, acl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_reads_back_what_it_wrote() {
        let record = ConfigRecord {
            lines: BTreeMap::from([(100, "0.0.0.0:1:2:observer;0.0.0.0:3".to_string())]),
            version: 0x1a,
        };
        let text = record.encode();
        assert_eq!(
            String::from_utf8_lossy(&text),
            "server.100=0.0.0.0:1:2:observer;0.0.0.0:3\nversion=1a"
        );
        assert_eq!(ConfigRecord::parse(&text), record);
    }

    #[test]
    fn a_membership_change_sets_the_version_fires_the_watch_and_consumes_no_zxid() {
        let mut tree = Tree::new();
        tree.on_server_lines(&[(4, "h:1:2:participant;h:3".into())]);
        let zxid = tree.last_zxid();
        assert_eq!(zxid, 1, "recording a line is a write");
        tree.take_triggers();
        tree.on_membership_change(9, None);
        assert_eq!(tree.last_zxid(), zxid);
        let record = tree.config_record();
        assert_eq!(record.version, 9);
        assert_eq!(record.lines.len(), 1);
        let triggers = tree.take_triggers();
        assert!(
            matches!(&triggers[..], [crate::Trigger::Node { path, kind: EventKind::DataChanged, .. }] if path == CONFIG_PATH)
        );
        let stat = tree.exists(CONFIG_PATH).unwrap();
        assert_eq!((stat.version, stat.mzxid), (2, zxid));
        tree.on_membership_change(12, Some(4));
        assert!(
            tree.config_record().lines.is_empty(),
            "a removed id's line goes"
        );
    }
}
