//! Explanations of illegal histories, for people.

use std::fmt;

use crate::model::{Model, Operation};

/// At most this many operations of the linearizable prefix are shown; the
/// last ones matter most, being closest to where the search got stuck.
const PREFIX_SHOWN_MAX: usize = 20;

/// Why a partition of a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The partition, as the model names it (for KV: its key).
    pub partition: String,
    /// Its position among the partitions, from 0.
    pub partition_index: usize,
    pub partition_count: usize,
    /// Operations searched in the partition (unobserved reads are dropped).
    pub operation_count: usize,
    /// The longest sequence of operations the search could linearize.
    pub prefix: Vec<OpView>,
    /// The model state after `prefix`, rendered with Debug.
    pub state_after_prefix: String,
    /// The operations that real-time order allowed to go next after
    /// `prefix`, none of which led to a full linearization.
    pub stuck: Vec<StuckOp>,
}

/// One operation rendered for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpView {
    pub client: u64,
    pub call: u64,
    pub ret: Option<u64>,
    /// The input, rendered with Debug.
    pub input: String,
    /// The output, rendered with Debug; `None` if it was not observed.
    pub output: Option<String>,
}

/// An operation that could not be linearized after the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckOp {
    pub op: OpView,
    /// True if the model accepts this operation's output right after the
    /// prefix (the dead end comes later); false if it rejects it outright.
    pub model_accepts: bool,
}

impl OpView {
    fn new<I: fmt::Debug, O: fmt::Debug>(op: &Operation<I, O>) -> Self {
        OpView {
            client: op.client,
            call: op.call,
            ret: op.ret,
            input: format!("{:?}", op.input),
            output: op.output.as_ref().map(|output| format!("{output:?}")),
        }
    }
}

impl Explanation {
    pub(crate) fn new<M: Model>(
        model: &M,
        partition: String,
        (partition_index, partition_count): (usize, usize),
        ops: &[Operation<M::Input, M::Output>],
        prefix: &[usize],
        state: &M::State,
    ) -> Self {
        let mut in_prefix = vec![false; ops.len()];
        for &index in prefix {
            in_prefix[index] = true;
        }
        let left = || ops.iter().enumerate().filter(|&(i, _)| !in_prefix[i]);
        // An operation can go next if it was called no later than the
        // earliest return among those left (ties count as concurrent).
        let first_ret = left()
            .filter_map(|(_, op)| op.ret)
            .min()
            .unwrap_or(u64::MAX);
        let stuck = left()
            .filter(|(_, op)| op.call <= first_ret)
            .map(|(_, op)| StuckOp {
                op: OpView::new(op),
                model_accepts: match &op.output {
                    Some(output) => model.step(state, &op.input, output).is_some(),
                    None => true,
                },
            })
            .collect();
        Explanation {
            partition,
            partition_index,
            partition_count,
            operation_count: ops.len(),
            prefix: prefix.iter().map(|&i| OpView::new(&ops[i])).collect(),
            state_after_prefix: format!("{state:?}"),
            stuck,
        }
    }
}

impl fmt::Display for OpView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = match self.ret {
            Some(ret) => ret.to_string(),
            None => "never".to_string(),
        };
        let output = self.output.as_deref().unwrap_or("(not observed)");
        write!(
            f,
            "client {} [call {}, return {}] {} -> {}",
            self.client, self.call, ret, self.input, output
        )
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.partition.is_empty() {
            "history"
        } else {
            &self.partition
        };
        writeln!(
            f,
            "not linearizable: {name} (partition {} of {}, {} operations)",
            self.partition_index + 1,
            self.partition_count,
            self.operation_count
        )?;
        writeln!(
            f,
            "longest linearizable prefix: {} operations",
            self.prefix.len()
        )?;
        let omitted = self.prefix.len().saturating_sub(PREFIX_SHOWN_MAX);
        if omitted > 0 {
            writeln!(f, "  ... {omitted} earlier operations omitted")?;
        }
        for (position, op) in self.prefix.iter().enumerate().skip(omitted) {
            writeln!(f, "  {:>4}. {op}", position + 1)?;
        }
        writeln!(
            f,
            "model state after the prefix: {}",
            self.state_after_prefix
        )?;
        writeln!(f, "operations that could not be linearized next:")?;
        for stuck in &self.stuck {
            let why = if stuck.model_accepts {
                "legal here, but no linearization of the rest follows"
            } else {
                "the model rejects this output here"
            };
            writeln!(f, "  {}  <- {why}", stuck.op)?;
        }
        Ok(())
    }
}
