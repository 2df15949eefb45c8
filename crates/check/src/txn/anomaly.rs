//! The verdict of a check and the anomalies it names.

/// The verdict on a history that was well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnVerdict {
    /// No anomaly: the dependency graph, real-time edges included, is
    /// acyclic, so some serial order of the checked transactions explains
    /// every read and respects real time.
    StrictlySerializable {
        /// Committed transactions, plus unknown ones whose writes were read.
        txns_checked: usize,
        /// Edges of the graph that was checked, real-time edges counted as
        /// built (about three per transaction, see the module docs).
        edges: usize,
    },
    /// Every anomaly found: first those of single reads and transactions in
    /// history order, then one cycle per strongly connected component.
    Anomalies(Vec<TxnAnomaly>),
}

impl TxnVerdict {
    /// True only for [`TxnVerdict::StrictlySerializable`].
    pub fn is_strictly_serializable(&self) -> bool {
        matches!(self, TxnVerdict::StrictlySerializable { .. })
    }

    /// The anomalies found; empty when there are none.
    pub fn anomalies(&self) -> &[TxnAnomaly] {
        match self {
            TxnVerdict::StrictlySerializable { .. } => &[],
            TxnVerdict::Anomalies(anomalies) => anomalies,
        }
    }
}

/// Something no strictly serializable store could have shown its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnAnomaly {
    /// G1a: a committed transaction read a version written by an aborted one.
    AbortedRead {
        reader: u64,
        writer: u64,
        key: Vec<u8>,
        rev: u64,
        tag: u64,
    },
    /// A read no write in the history can explain (a phantom value): no
    /// committed write has its rev, and no unknown write has its tag.
    GarbageRead {
        reader: u64,
        key: Vec<u8>,
        rev: u64,
        tag: Option<u64>,
    },
    /// A read whose rev and tag contradict what is known of that version.
    RevMismatch {
        reader: u64,
        key: Vec<u8>,
        rev: u64,
        tag: Option<u64>,
        conflict: RevConflict,
    },
    /// A transaction whose reads contradict each other or its own writes.
    Internal {
        txn: u64,
        key: Vec<u8>,
        violation: InternalViolation,
    },
    /// A cycle in the dependency graph: no serial order exists.
    Cycle(TxnCycle),
}

/// What a [`TxnAnomaly::RevMismatch`] read contradicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevConflict {
    /// It read rev 0, the never-written state, yet saw a tag.
    InitialWithTag,
    /// The version at that rev is known to carry another tag: written by
    /// `writer` (committed, or unknown and seen by an earlier read), or by
    /// an unknown delete that cannot be told apart (`writer: None`).
    RevHasOtherTag {
        writer: Option<u64>,
        tag: Option<u64>,
    },
    /// Its tag was written by `writer` at another rev (the rev it committed
    /// at, or the rev an earlier read saw it at).
    TagAtOtherRev { writer: u64, rev: u64 },
}

/// What a [`TxnAnomaly::Internal`] transaction contradicts. Its reads all
/// happen before its own writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InternalViolation {
    /// Two reads of the key saw different versions.
    ReadsDisagree {
        first_rev: u64,
        first_tag: Option<u64>,
        second_rev: u64,
        second_tag: Option<u64>,
    },
    /// A read saw its own write of the key, or a later version.
    ReadOwnOrLaterWrite { read_rev: u64, write_rev: u64 },
}

/// One cycle of a cyclic strongly connected component: each step's `to` is
/// the next step's `from`, and the last step's `to` the first's `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnCycle {
    pub class: CycleClass,
    /// True when the cycle needs a real-time edge: plain serializability
    /// would accept it, strict serializability does not. Only set when the
    /// component has no cycle without one.
    pub realtime: bool,
    /// Transactions in the component the cycle was found in.
    pub component_txns: usize,
    pub steps: Vec<CycleStep>,
}

/// Adya's classes of dependency cycles, as Elle names them, by the edges
/// other than real-time ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CycleClass {
    /// Write-write edges only: a write cycle.
    G0,
    /// Write-write and write-read edges: circular information flow.
    G1c,
    /// Exactly one anti-dependency (read-write) edge: read skew, lost update.
    GSingle,
    /// More than one anti-dependency edge: write skew.
    G2,
}

/// One edge of a cycle: `from` must come before `to` in any serial order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleStep {
    pub from: u64,
    pub to: u64,
    pub dependency: Dependency,
}

/// Why one transaction must come before another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dependency {
    /// ww: `to` wrote the version of `key` right after `from`'s.
    WriteWrite {
        key: Vec<u8>,
        from_rev: u64,
        to_rev: u64,
    },
    /// wr: `to` read the version of `key` that `from` wrote.
    WriteRead { key: Vec<u8>, rev: u64 },
    /// rw (anti-dependency): `from` read a version of `key` that `to`
    /// overwrote with the next version known.
    ReadWrite {
        key: Vec<u8>,
        read_rev: u64,
        overwrite_rev: u64,
    },
    /// rt: `from` returned before `to` was called.
    RealTime { ret: u64, call: u64 },
}

/// The kinds of dependency edge, in the order cycles prefer them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    Ww,
    Wr,
    Rw,
    Rt,
}

impl Dependency {
    pub fn kind(&self) -> EdgeKind {
        match self {
            Dependency::WriteWrite { .. } => EdgeKind::Ww,
            Dependency::WriteRead { .. } => EdgeKind::Wr,
            Dependency::ReadWrite { .. } => EdgeKind::Rw,
            Dependency::RealTime { .. } => EdgeKind::Rt,
        }
    }
}

impl TxnAnomaly {
    /// The anomaly's name, as Elle would print it: "G1a", "G-single-realtime".
    pub fn name(&self) -> String {
        match self {
            TxnAnomaly::AbortedRead { .. } => "G1a".to_string(),
            TxnAnomaly::GarbageRead { .. } => "garbage-read".to_string(),
            TxnAnomaly::RevMismatch { .. } => "rev-mismatch".to_string(),
            TxnAnomaly::Internal { .. } => "internal".to_string(),
            TxnAnomaly::Cycle(cycle) => cycle.name(),
        }
    }
}

impl TxnCycle {
    /// "G0", "G1c", "G-single", "G2", with "-realtime" when an rt edge is
    /// needed.
    pub fn name(&self) -> String {
        let class = match self.class {
            CycleClass::G0 => "G0",
            CycleClass::G1c => "G1c",
            CycleClass::GSingle => "G-single",
            CycleClass::G2 => "G2",
        };
        match self.realtime {
            true => format!("{class}-realtime"),
            false => class.to_string(),
        }
    }
}

/// Classifies a cycle by its edges: the class, and whether it has an rt edge.
pub(crate) fn classify(kinds: impl Iterator<Item = EdgeKind>) -> (CycleClass, bool) {
    let (mut wr, mut rw, mut rt) = (false, 0, false);
    for kind in kinds {
        match kind {
            EdgeKind::Ww => {}
            EdgeKind::Wr => wr = true,
            EdgeKind::Rw => rw += 1,
            EdgeKind::Rt => rt = true,
        }
    }
    let class = match (rw, wr) {
        (0, false) => CycleClass::G0,
        (0, true) => CycleClass::G1c,
        (1, _) => CycleClass::GSingle,
        _ => CycleClass::G2,
    };
    (class, rt)
}
