//! Verdicts and anomalies rendered for people: transaction ids, keys,
//! revs, edge kinds.

use std::fmt;

use super::anomaly::{
    CycleStep, Dependency, InternalViolation, RevConflict, TxnAnomaly, TxnCycle, TxnVerdict,
};

/// At most this many anomalies are printed by [`TxnVerdict`]'s `Display`;
/// the vector holds them all.
const ANOMALIES_SHOWN_MAX: usize = 20;

fn key_text(key: &[u8]) -> String {
    format!("\"{}\"", key.escape_ascii())
}

fn version_text(rev: u64, tag: Option<u64>) -> String {
    match tag {
        Some(tag) => format!("rev {rev} (tag {tag})"),
        None => format!("rev {rev} (absent)"),
    }
}

impl fmt::Display for TxnVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnVerdict::StrictlySerializable {
                txns_checked,
                edges,
            } => write!(
                f,
                "strictly serializable: {txns_checked} txns, {edges} edges, no cycle"
            ),
            TxnVerdict::Anomalies(anomalies) => {
                let noun = if anomalies.len() == 1 {
                    "anomaly"
                } else {
                    "anomalies"
                };
                writeln!(f, "{} {noun}:", anomalies.len())?;
                for anomaly in anomalies.iter().take(ANOMALIES_SHOWN_MAX) {
                    writeln!(f, "- {anomaly}")?;
                }
                match anomalies.len().checked_sub(ANOMALIES_SHOWN_MAX) {
                    Some(more) if more > 0 => writeln!(f, "... and {more} more"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for TxnAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            TxnAnomaly::AbortedRead {
                reader,
                writer,
                key,
                rev,
                tag,
            } => write!(
                f,
                "{name}: txn {reader} read {} {}, written by txn {writer}, which aborted",
                key_text(key),
                version_text(*rev, Some(*tag))
            ),
            TxnAnomaly::GarbageRead {
                reader,
                key,
                rev,
                tag,
            } => write!(
                f,
                "{name}: txn {reader} read {} {}, which no committed or unknown write explains",
                key_text(key),
                version_text(*rev, *tag)
            ),
            TxnAnomaly::RevMismatch {
                reader,
                key,
                rev,
                tag,
                conflict,
            } => write!(
                f,
                "{name}: txn {reader} read {} {}, but {conflict}",
                key_text(key),
                version_text(*rev, *tag)
            ),
            TxnAnomaly::Internal {
                txn,
                key,
                violation,
            } => write!(f, "{name}: txn {txn} on {}: {violation}", key_text(key)),
            TxnAnomaly::Cycle(cycle) => write!(f, "{cycle}"),
        }
    }
}

impl fmt::Display for RevConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevConflict::InitialWithTag => {
                write!(f, "rev 0 is the never-written state, which has no tag")
            }
            RevConflict::RevHasOtherTag {
                writer: Some(writer),
                tag,
            } => write!(f, "that rev holds txn {writer}'s write, {}", tag_text(*tag)),
            RevConflict::RevHasOtherTag { writer: None, tag } => write!(
                f,
                "another read saw that rev as an unknown txn's delete, {}",
                tag_text(*tag)
            ),
            RevConflict::TagAtOtherRev { writer, rev } => {
                write!(f, "that tag is txn {writer}'s write, at rev {rev}")
            }
        }
    }
}

fn tag_text(tag: Option<u64>) -> String {
    match tag {
        Some(tag) => format!("tag {tag}"),
        None => "absent".to_string(),
    }
}

impl fmt::Display for InternalViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InternalViolation::ReadsDisagree {
                first_rev,
                first_tag,
                second_rev,
                second_tag,
            } => write!(
                f,
                "one read saw {} and another {}",
                version_text(*first_rev, *first_tag),
                version_text(*second_rev, *second_tag)
            ),
            InternalViolation::ReadOwnOrLaterWrite {
                read_rev,
                write_rev,
            } => write!(
                f,
                "read rev {read_rev}, not before its own write at rev {write_rev}"
            ),
        }
    }
}

impl fmt::Display for TxnCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: a cycle of {} txns (in a strongly connected component of {})",
            self.name(),
            self.steps.len(),
            self.component_txns
        )?;
        if self.realtime {
            write!(f, "; serializable, but not in real-time order")?;
        }
        for step in &self.steps {
            write!(f, "\n    {step}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CycleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = (self.from, self.to);
        match &self.dependency {
            Dependency::WriteWrite {
                key,
                from_rev,
                to_rev,
            } => write!(
                f,
                "txn {from} -ww-> txn {to}: txn {to} wrote {} rev {to_rev} after txn {from}'s rev {from_rev}",
                key_text(key)
            ),
            Dependency::WriteRead { key, rev } => write!(
                f,
                "txn {from} -wr-> txn {to}: txn {to} read txn {from}'s {} rev {rev}",
                key_text(key)
            ),
            Dependency::ReadWrite {
                key,
                read_rev,
                overwrite_rev,
            } => write!(
                f,
                "txn {from} -rw-> txn {to}: txn {from} read {} rev {read_rev}, which txn {to} overwrote at rev {overwrite_rev}",
                key_text(key)
            ),
            Dependency::RealTime { ret, call } => write!(
                f,
                "txn {from} -rt-> txn {to}: txn {from} returned at {ret}, before txn {to} was called at {call}"
            ),
        }
    }
}
