//! The sequential specification of `synod-kv`'s store, per key.

use std::collections::BTreeMap;

use synod_kv::{KvOp, KvReply};

use crate::model::{Model, Operation};

/// The key-value store as a model: every [`KvOp`] touches exactly one key,
/// so a history is partitioned by key and each key is a register whose
/// state is its value (`None`: absent).
///
/// It is written independently of `synod_kv::KvStore` on purpose, so a bug
/// in the store's semantics shows up as a failed check rather than being
/// copied into the specification. Replies follow the store: `Delete`
/// replies `Ok` whether or not the key existed, and a `KvReply::Error` is
/// never a legal output (a client that got an error should record the
/// operation as pending if it may have taken effect).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

type KvOperation = Operation<KvOp, KvReply>;

impl KvModel {
    /// The value after `op`, and the reply the store must give.
    fn execute(state: &Option<Vec<u8>>, op: &KvOp) -> (Option<Vec<u8>>, KvReply) {
        match op {
            KvOp::Get { .. } => (state.clone(), KvReply::Value(state.clone())),
            KvOp::Put { value, .. } => (Some(value.clone()), KvReply::Ok),
            KvOp::Delete { .. } => (None, KvReply::Ok),
            KvOp::Cas { expected, new, .. } => {
                if state == expected {
                    (Some(new.clone()), KvReply::CasOk)
                } else {
                    let current = state.clone();
                    (state.clone(), KvReply::CasFailed { current })
                }
            }
            KvOp::Append { value, .. } => {
                let mut appended = state.clone().unwrap_or_default();
                appended.extend_from_slice(value);
                (Some(appended), KvReply::Ok)
            }
        }
    }
}

/// The most observed bytes a partition may have for pending appends to be
/// searched for in them.
const APPEND_SEARCH_BYTES_MAX: usize = 1 << 20;

/// Every value some operation's output pins the state to, and every value
/// an unobserved `Cas` may have found.
fn observations(partition: &[KvOperation]) -> Vec<&[u8]> {
    partition
        .iter()
        .filter_map(|op| match (&op.input, op.output.as_ref()?) {
            (KvOp::Get { .. }, KvReply::Value(value)) => value.as_deref(),
            (KvOp::Cas { .. }, KvReply::CasFailed { current }) => current.as_deref(),
            (KvOp::Cas { expected, .. }, KvReply::CasOk) => expected.as_deref(),
            _ => None,
        })
        .chain(
            partition
                .iter()
                .filter_map(|op| match (&op.input, &op.output) {
                    (KvOp::Cas { expected, .. }, None) => expected.as_deref(),
                    _ => None,
                }),
        )
        .collect()
}

impl Model for KvModel {
    type State = Option<Vec<u8>>;
    type Input = KvOp;
    type Output = KvReply;

    fn init(&self) -> Self::State {
        None
    }

    fn step(&self, state: &Self::State, input: &KvOp, output: &KvReply) -> Option<Self::State> {
        // Compare first, so a rejected Get or Cas costs no clone of the value.
        let legal = match (input, output) {
            (KvOp::Get { .. }, KvReply::Value(value)) => value == state,
            (KvOp::Cas { expected, .. }, KvReply::CasOk) => expected == state,
            (KvOp::Cas { expected, .. }, KvReply::CasFailed { current }) => {
                current == state && expected != state
            }
            (KvOp::Put { .. } | KvOp::Delete { .. } | KvOp::Append { .. }, KvReply::Ok) => true,
            _ => false,
        };
        legal.then(|| Self::execute(state, input).0)
    }

    fn step_unobserved(&self, state: &Self::State, input: &KvOp) -> Self::State {
        Self::execute(state, input).0
    }

    fn is_read_only(&self, input: &KvOp) -> bool {
        input.is_read()
    }

    /// A pending `Put`, `Cas` or `Append` whose (non-empty) value no
    /// observation could contain is dropped. Once such a write takes
    /// effect, every state until the next `Put`, `Delete` or successful
    /// `Cas` contains its value (a `Put`'s or `Cas`'s as a prefix, an
    /// `Append`'s as a substring), and every constrained operation in that
    /// stretch observes the state: a `Get`'s value, a failed `Cas`'s
    /// current value, a successful `Cas`'s expected value. If none of
    /// those contains the value, the same linearization without the write
    /// is valid. A pending `Cas` might have succeeded only because of
    /// the write, so its expected value counts as an observation too; one
    /// that failed in the original linearization is left out as well.
    /// Pending deletes and empty values are always kept, and nothing is
    /// dropped if a completed operation's output was not observed (a `Cas`
    /// that must be linearized but whose outcome is unknown could flip).
    fn droppable_pending(&self, partition: &[KvOperation]) -> Vec<usize> {
        if partition
            .iter()
            .any(|op| !op.is_pending() && op.output.is_none())
        {
            return Vec::new();
        }
        let observations = observations(partition);
        let observed_bytes: usize = observations.iter().map(|o| o.len()).sum();
        partition
            .iter()
            .enumerate()
            .filter(|(_, op)| op.is_pending())
            .filter(|(_, op)| match &op.input {
                KvOp::Put { value, .. } | KvOp::Cas { new: value, .. } => {
                    !value.is_empty() && !observations.iter().any(|o| o.starts_with(value))
                }
                // Substring search costs up to the observed bytes per
                // append; past a bound, keep the append rather than spend it.
                KvOp::Append { value, .. } => {
                    !value.is_empty()
                        && observed_bytes <= APPEND_SEARCH_BYTES_MAX
                        && !observations
                            .iter()
                            .any(|o| o.windows(value.len()).any(|w| w == value.as_slice()))
                }
                KvOp::Get { .. } | KvOp::Delete { .. } => false,
            })
            .map(|(index, _)| index)
            .collect()
    }

    fn partition(&self, history: &[KvOperation]) -> Vec<Vec<KvOperation>> {
        // A BTreeMap so partitions come in key order on every run.
        let mut by_key: BTreeMap<&[u8], Vec<KvOperation>> = BTreeMap::new();
        for op in history {
            by_key.entry(op.input.key()).or_default().push(op.clone());
        }
        by_key.into_values().collect()
    }

    fn describe_partition(&self, partition: &[KvOperation]) -> String {
        match partition.first() {
            Some(op) => format!("key b\"{}\"", op.input.key().escape_ascii()),
            None => "no operations".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_agrees_with_the_store_on_every_operation() {
        let key = b"k".to_vec();
        let ops = [
            KvOp::Get { key: key.clone() },
            KvOp::Put {
                key: key.clone(),
                value: b"1".to_vec(),
            },
            KvOp::Append {
                key: key.clone(),
                value: b"2".to_vec(),
            },
            KvOp::Cas {
                key: key.clone(),
                expected: Some(b"12".to_vec()),
                new: b"3".to_vec(),
            },
            KvOp::Cas {
                key: key.clone(),
                expected: None,
                new: b"4".to_vec(),
            },
            KvOp::Delete { key: key.clone() },
            KvOp::Delete { key: key.clone() },
            KvOp::Cas {
                key: key.clone(),
                expected: None,
                new: b"5".to_vec(),
            },
            KvOp::Get { key: key.clone() },
        ];
        let mut store = synod_kv::KvStore::new();
        let mut state = KvModel.init();
        for op in &ops {
            let reply = store.execute(op);
            state = KvModel
                .step(&state, op, &reply)
                .unwrap_or_else(|| panic!("model rejects {op:?} -> {reply:?}"));
            assert_eq!(state.as_deref(), store.get(&key));
            assert_eq!(KvModel.step_unobserved(&state, op), {
                let mut copy = store.clone();
                copy.execute(op);
                copy.get(&key).map(<[u8]>::to_vec)
            });
        }
    }
}
