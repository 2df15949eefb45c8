//! What the checker needs to know about the object under test.

use std::fmt::Debug;
use std::hash::Hash;

/// One operation of a history, as a client saw it.
///
/// `call` and `ret` are timestamps in any monotone unit shared by all
/// clients. An operation whose `ret` is `None` never returned (the client
/// timed out or crashed): it may have taken effect at any point after its
/// call, or not at all. An operation whose `output` is `None` has an
/// unobserved output: any output the model allows is accepted. A pending
/// operation normally has both `ret` and `output` set to `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued the operation; shown in explanations only.
    pub client: u64,
    pub input: I,
    /// When the client called the operation.
    pub call: u64,
    /// What the client received, if it received anything.
    pub output: Option<O>,
    /// When the client received the output; `None` if it never did.
    pub ret: Option<u64>,
}

impl<I, O> Operation<I, O> {
    /// True if the operation never returned, so it need not be linearized.
    pub fn is_pending(&self) -> bool {
        self.ret.is_none()
    }
}

/// A sequential specification: an initial state and a pure step function.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// `Some(next)` if `output` is a legal result of `input` in `state`,
    /// `None` otherwise. Must be pure.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// The state after `input` takes effect in `state` when its output was
    /// not observed (a pending operation). The model's operations must be
    /// deterministic given the state: the output may be unknown to the
    /// checker, but the next state is a function of state and input.
    fn step_unobserved(&self, state: &Self::State, input: &Self::Input) -> Self::State;

    /// True if `input` never changes the state (a read). An optimization
    /// hint: an unobserved read-only operation constrains nothing, so the
    /// checker drops it before searching. Default: false.
    fn is_read_only(&self, _input: &Self::Input) -> bool {
        false
    }

    /// The positions in `partition` of pending operations that provably
    /// need not be linearized: the partition is linearizable with them if
    /// and only if it is without them (typically, writes whose effect no
    /// observed output could show). An optimization hint, and an important
    /// one: every pending operation stays a candidate from its call to the
    /// end of the history, which multiplies the search. Default: none.
    fn droppable_pending(&self, _partition: &[Operation<Self::Input, Self::Output>]) -> Vec<usize> {
        Vec::new()
    }

    /// Splits a history into independent sub-histories (e.g. by key), each
    /// checked on its own from `init()`. Default: one partition.
    #[allow(clippy::type_complexity)]
    fn partition(
        &self,
        history: &[Operation<Self::Input, Self::Output>],
    ) -> Vec<Vec<Operation<Self::Input, Self::Output>>> {
        vec![history.to_vec()]
    }

    /// A name for a partition that a person can recognize (e.g. its key),
    /// used in explanations. Default: empty.
    fn describe_partition(&self, _partition: &[Operation<Self::Input, Self::Output>]) -> String {
        String::new()
    }
}
