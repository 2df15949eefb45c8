//! A numbered configuration: which group serves each shard, and which
//! servers make up each group. Also the key-to-shard placement function.

use std::collections::BTreeMap;
use std::hash::Hasher as _;

use serde::{Deserialize, Serialize};
use synod_paxos::Fnv64;

/// A replica group (one Paxos group of the storage tier). `0` is reserved:
/// it is [`UNASSIGNED`], never a joined group.
pub type GroupId = u64;

/// A shard: a fixed slice of the key space, `0..shard_count`.
pub type ShardId = u32;

/// The group of a shard that no group serves (no group is joined).
pub const UNASSIGNED: GroupId = 0;

/// One configuration of the sharded tier. Configurations are numbered
/// consecutively from 0; config 0 has no groups and every shard
/// [`UNASSIGNED`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// This configuration's number.
    pub num: u64,
    /// The group serving each shard, indexed by shard; [`UNASSIGNED`] iff
    /// `groups` is empty. Its length is the controller's shard count.
    pub shards: Vec<GroupId>,
    /// Every joined group and its servers' addresses (`host:port`), in
    /// group order.
    pub groups: BTreeMap<GroupId, Vec<String>>,
}

impl Config {
    /// Config 0: no groups, every one of `shard_count` shards unassigned.
    pub fn initial(shard_count: u32) -> Config {
        Config {
            num: 0,
            shards: vec![UNASSIGNED; shard_count as usize],
            groups: BTreeMap::new(),
        }
    }

    /// The number of shards (the same in every configuration of one
    /// controller).
    pub fn shard_count(&self) -> u32 {
        u32::try_from(self.shards.len()).expect("shard count fits in u32")
    }

    /// The group serving `shard`; `None` if the shard does not exist or no
    /// group serves it.
    pub fn group_of(&self, shard: ShardId) -> Option<GroupId> {
        match self.shards.get(shard as usize) {
            Some(&group) if group != UNASSIGNED => Some(group),
            _ => None,
        }
    }

    /// The servers of `group`, if it is joined.
    pub fn servers_of(&self, group: GroupId) -> Option<&[String]> {
        self.groups.get(&group).map(Vec::as_slice)
    }

    /// The shards `group` serves, in increasing order.
    pub fn shards_of(&self, group: GroupId) -> Vec<ShardId> {
        (0..self.shard_count())
            .filter(|&shard| self.shards[shard as usize] == group)
            .collect()
    }

    /// The shard holding `key` under this configuration's shard count.
    pub fn shard_of(&self, key: &[u8]) -> ShardId {
        shard_of(key, self.shard_count())
    }
}

/// The shard of `key` among `shard_count` shards.
///
/// Data placement depends on this function: every server and client must
/// compute the same shard for a key in every version of synod, or data
/// written under one version is looked for in the wrong shard under the
/// next. It must therefore never change, and it is written out here in
/// full rather than borrowed from a crate whose output may change:
///
/// 1. `h` = the 64-bit FNV-1a hash of the key's bytes (offset basis
///    `0xcbf29ce484222325`, prime `0x100000001b3`, bytes in order, no
///    length prefix);
/// 2. `h` = MurmurHash3's 64-bit finalizer (`fmix64`) of `h`, because
///    FNV's last multiplication leaves the top bits nearly blind to the
///    last byte: without it `user:1` and `user:2` share a shard;
/// 3. the shard is `(h * shard_count) >> 64`, which spreads `h` evenly over
///    any shard count, a power of two or not.
///
/// `placement_is_pinned` (a test) holds known answers, so any change to
/// this function fails the build.
///
/// # Panics
/// If `shard_count` is 0.
pub fn shard_of(key: &[u8], shard_count: u32) -> ShardId {
    assert!(shard_count > 0, "a controller has at least one shard");
    let mut hasher = Fnv64::default();
    hasher.write(key);
    let hash = fmix64(hasher.finish());
    let shard = (u128::from(hash) * u128::from(shard_count)) >> 64;
    ShardId::try_from(shard).expect("below shard_count")
}

/// MurmurHash3's 64-bit finalizer: every input bit flips each output bit
/// with probability near one half.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_zero_has_no_groups_and_every_shard_unassigned() {
        let config = Config::initial(10);
        assert_eq!(config.num, 0);
        assert_eq!(config.shards, vec![UNASSIGNED; 10]);
        assert!(config.groups.is_empty());
        assert_eq!((0..10).find_map(|s| config.group_of(s)), None);
        assert_eq!(config.shards_of(UNASSIGNED).len(), 10);
    }

    #[test]
    fn group_of_names_the_serving_group_and_none_for_a_bad_shard() {
        let mut config = Config::initial(4);
        config.shards = vec![7, 7, 9, 9];
        config.groups.insert(7, vec!["a:1".into()]);
        config.groups.insert(9, vec!["b:1".into()]);
        assert_eq!(config.group_of(0), Some(7));
        assert_eq!(config.group_of(3), Some(9));
        assert_eq!(config.group_of(4), None);
        assert_eq!(config.shards_of(9), vec![2, 3]);
        assert_eq!(config.servers_of(9), Some(&["b:1".to_string()][..]));
        assert_eq!(config.servers_of(8), None);
    }

    /// Known answers. FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (a published
    /// test vector) and fmix64 maps 0 to 0; the shards below were computed
    /// by this function when it was written. If this test fails, placement
    /// changed: every stored key would be looked for in the wrong shard.
    #[test]
    fn placement_is_pinned() {
        let mut hasher = Fnv64::default();
        hasher.write(b"a");
        assert_eq!(hasher.finish(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fmix64(0), 0);
        let keys = ["", "a", "user:1", "user:2", "k", "\u{0}"];
        let pinned: Vec<[ShardId; 3]> = keys
            .iter()
            .map(|key| [10, 256, 1 << 16].map(|count| shard_of(key.as_bytes(), count)))
            .collect();
        assert_eq!(pinned, PINNED);
    }

    /// The shards of the keys above among 10, 256 and 65,536 shards, as an
    /// independent implementation (a few lines of Python) computed them.
    const PINNED: [[ShardId; 3]; 6] = [
        [9, 239, 61392],
        [5, 130, 33442],
        [3, 76, 19685],
        [3, 91, 23403],
        [1, 43, 11172],
        [7, 185, 47363],
    ];

    #[test]
    fn placement_spreads_keys_over_every_shard() {
        let shard_count = 256;
        let mut counts = vec![0u32; shard_count as usize];
        for i in 0..256_000u32 {
            counts[shard_of(format!("key{i}").as_bytes(), shard_count) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        // 1,000 expected per shard; a fair hash stays well within ±20%.
        assert!(*min > 800 && *max < 1_200, "min {min} max {max}");
    }

    #[test]
    fn shard_of_is_below_the_shard_count() {
        for shard_count in [1, 2, 3, 10, 256, u32::MAX] {
            for key in [&b""[..], b"a", b"\xff\xff\xff\xff", b"some longer key"] {
                assert!(shard_of(key, shard_count) < shard_count);
            }
        }
    }
}
