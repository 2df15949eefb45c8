//! The data oracle: a getData shows what was last written. A session
//! remembers its last acknowledged create or setData of each path (its
//! zxid and data, `client::Written`); while the node's mzxid is still that
//! zxid nobody has changed it since, so the reply must carry exactly that
//! data, null told apart from empty (ZooKeeper keeps them apart). Every
//! reply's data must also agree with its Stat's dataLength (0 for null).

use crate::client::Written;
use synod_zkproto as wire;

/// What the oracle made of one getData reply.
#[derive(Debug, Default)]
pub(crate) struct ReadVerdict {
    /// Violations, each with the check that found it.
    pub problems: Vec<(&'static str, String)>,
    /// The data was compared with the session's write: `Some(true)` if
    /// that write stored null.
    pub compared_null: Option<bool>,
}

/// Judges a successful getData of `path` that returned `data` and `stat`,
/// against this session's last write of the path, if any.
pub(crate) fn judge_read(
    path: &str,
    written: Option<&Written>,
    data: Option<&[u8]>,
    stat: &wire::Stat,
) -> ReadVerdict {
    let mut verdict = ReadVerdict::default();
    let length = data.map_or(0, <[u8]>::len);
    if i64::from(stat.data_length) != length as i64 {
        verdict.problems.push((
            "data",
            format!(
                "getData {path} returned {} with a Stat saying dataLength {}",
                show(data),
                stat.data_length
            ),
        ));
    }
    let Some(w) = written else {
        return verdict;
    };
    if stat.mzxid < w.zxid {
        verdict.problems.push((
            "read-your-writes",
            format!(
                "getData {path} shows mzxid {:#x} after this session wrote it at zxid {:#x}",
                stat.mzxid, w.zxid
            ),
        ));
    } else if stat.mzxid == w.zxid {
        verdict.compared_null = Some(w.data.is_none());
        if data != w.data.as_deref() {
            verdict.problems.push((
                "data",
                format!(
                    "getData {path} returned {}, but its last change (mzxid {:#x}) is this session's write of {}",
                    show(data),
                    w.zxid,
                    show(w.data.as_deref())
                ),
            ));
        }
    }
    verdict
}

/// Data as a person reads it in a violation.
fn show(data: Option<&[u8]>) -> String {
    match data {
        None => "null".into(),
        Some([]) => "empty data".into(),
        Some(bytes) => format!("{} bytes", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mzxid: i64, data_length: i32) -> wire::Stat {
        wire::Stat {
            czxid: 1,
            mzxid,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length,
            num_children: 0,
            pzxid: 1,
        }
    }

    fn checks(v: &ReadVerdict) -> Vec<&'static str> {
        v.problems.iter().map(|(check, _)| *check).collect()
    }

    #[test]
    fn empty_data_where_the_session_wrote_null_is_a_violation() {
        let null = Written {
            zxid: 7,
            data: None,
        };
        let v = judge_read("/n", Some(&null), Some(b""), &stat(7, 0));
        assert_eq!(checks(&v), ["data"]);
        assert!(v.problems[0].1.contains("returned empty data"), "{v:?}");
        assert!(v.problems[0].1.contains("write of null"), "{v:?}");
        let v = judge_read("/n", Some(&null), None, &stat(7, 0));
        assert!(
            v.problems.is_empty() && v.compared_null == Some(true),
            "{v:?}"
        );
    }

    #[test]
    fn null_where_the_session_wrote_empty_data_is_a_violation() {
        let empty = Written {
            zxid: 7,
            data: Some(Vec::new()),
        };
        let v = judge_read("/n", Some(&empty), None, &stat(7, 0));
        assert_eq!(checks(&v), ["data"]);
        assert_eq!(v.compared_null, Some(false));
    }

    #[test]
    fn a_node_changed_since_the_write_is_not_compared() {
        let w = Written {
            zxid: 7,
            data: None,
        };
        let v = judge_read("/n", Some(&w), Some(b"xy"), &stat(9, 2));
        assert!(v.problems.is_empty() && v.compared_null.is_none(), "{v:?}");
        let v = judge_read("/n", Some(&w), None, &stat(5, 0));
        assert_eq!(checks(&v), ["read-your-writes"]);
    }

    #[test]
    fn data_that_disagrees_with_its_stat_is_a_violation() {
        let v = judge_read("/n", None, Some(b"abc"), &stat(3, 2));
        assert_eq!(checks(&v), ["data"]);
        assert!(judge_read("/n", None, None, &stat(3, 0))
            .problems
            .is_empty());
    }
}
