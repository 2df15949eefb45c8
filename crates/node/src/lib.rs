//! One synod service node, pure: the node that ships, as a type the server
//! runtime and the simulators both drive.
//!
//! # What it owns
//!
//! - The Paxos engine over the replicated service state
//!   (`Node<ServiceState>`: the key-value store and the coordination tree
//!   side by side in one log).
//! - The ZooKeeper front door (`ZkFront`): connections, watches, session
//!   keepalives and log time.
//! - The drive loop between them: which input goes where, and in which
//!   order their outputs come out.
//!
//! Inputs are typed (`NodeInput`, plus `zk_open` for a new ZooKeeper
//! connection) and so are outputs (`NodeOutput`), in the openraft
//! engine/runtime style: `step` appends to a buffer the caller reuses.
//!
//! # What it never does
//!
//! No I/O (no sockets, no disk), no clock (every call is given a `Clock`),
//! no threads, no async, no OS randomness (a seed in `NodeOptions`; the
//! session passwords `zk_open` hands out come from the caller). So the same
//! inputs give the same outputs, and a single-threaded simulator can drive
//! it. It never waits for its outputs either: a `Persist` is acknowledged
//! by a later `Persisted` input, whatever the runtime's disk does.
//!
//! # The drive loop, in order
//!
//! For every call (`step`, `zk_open`):
//! 1. The front door's clock is set from the call's `Clock` (local ms and
//!    wall ms).
//! 2. The input goes to its owner: an engine input to `Node::step`, a
//!    ZooKeeper packet or close to the front door.
//! 3. After every engine step, with the apply tap on only, what it
//!    recorded goes out first, as `NodeOutput::Applied`, in apply order.
//!    Then, if a snapshot replaced the state machine
//!    (`ServiceState::take_restored`), every ZooKeeper connection is closed
//!    (`SNAPSHOT_CLOSE`): their watches missed what the snapshot skipped,
//!    and the clients reconnect and re-arm with SetWatches.
//! 4. Then the tree's triggers go to the front door, *before* the step's
//!    actions run, so a watch event precedes any reply that could show
//!    the change that fired it.
//! 5. Then the step's actions, in order: `Persist`, `Send`, `ReadReply`,
//!    `ReconfigReply` and `Event` go out as they are; an engine `Reply`
//!    goes to `ZkFront::on_reply` and comes out as `WriteReply` only if the
//!    front door did not take it.
//! 6. What the front door proposes is stepped into the engine as
//!    `Input::Propose` (rules 3-5 for each), until it proposes nothing more.
//! 7. The front door's frames come out as `NodeOutput::Zk`, in order.
//! 8. On `Tick` only, after 2-7 for the engine's tick: the front door's
//!    timer, `on_timer(tree, term, has_leader)` where `term` is
//!    `(round << 16) | (node & 0xffff)` of the ballot this node leads in
//!    (none unless it is the active leader), then 6 and 7 again.
//!
//! So the outputs of one call are: the engine's outputs of the input and of
//! every proposal it led to, then the front door's frames (and on a tick,
//! once more for the timer). This is the order the server runtime executed
//! before this crate existed.
//!
//! # Invariants
//!
//! `check_invariants(cheap_only)` checks the engine's
//! (`Node::check_invariants`) and the drive loop's own (`invariants.rs`):
//! the local clock never goes back; `Persist` ids are consecutive; a
//! ZooKeeper connection id is fresh when opened; nothing is output for a
//! connection after its close; the front door holds exactly the
//! connections the node opened and did not close. The runtime calls it with
//! `cheap_only = true` after every step and stops the node on a violation;
//! the simulators call it with `false`.
//!
//! # Limits
//!
//! The node holds no queue of its own: every output of a call is in the
//! caller's buffer when the call returns. Its memory is the engine's and
//! the front door's, each bounded by their own limits (`EngineConfig`'s
//! window, queue and `forwarded_max`; `ZkLimits::connections_max` and
//! `max_buffer_bytes`), plus one id per open ZooKeeper connection for the
//! invariants.
//!
//! # The apply tap
//!
//! A simulator's oracles need to see what happens inside the node at a
//! finer grain than its outputs: the triggers and session ends of every
//! single apply, and the tree's session table right after it (an engine
//! step may apply many entries, and an ephemeral must never outlive its
//! session even for one of them). `ServiceNode::set_apply_tap(true)`
//! switches on a recorder in `ServiceState::apply` (`tap.rs`): one
//! `tap::Applied` per coordination apply (and one per snapshot that
//! replaced the state), handed out by rule 3 above. It observes only:
//! the triggers still go to the front door, the replies and the state are
//! the same. Off (as the server runs it, and as every node starts), it
//! costs a branch per apply and per engine step, so it is in every build,
//! release included; `NodeOutput::Applied` then never appears.
//!
//! # Deliberate bugs
//!
//! With the `broken` feature (debug builds only), `set_bugs` puts bugs of
//! `NodeBug` into the node, for the coordination simulator's catch tests
//! (`bugs.rs`): in the drive loop (dropped or jumping log-time ticks,
//! stale reads, connections kept open across a snapshot), in the lock
//! door (a queued acquire answered as granted, sequencer checks answered
//! from a stale tree) and in the tree's apply (a close that keeps
//! ephemerals, a keepalive that deletes one, a diverging replica, acquires
//! without lock-delay).

#[cfg(all(feature = "broken", not(debug_assertions)))]
compile_error!(
    "the `broken` feature builds deliberately broken service nodes; never in release builds"
);

pub mod bugs;
mod drive;
pub mod invariants;
pub mod io;
pub mod locks;
mod node;
pub mod state;
mod status;
pub mod tap;

pub use bugs::{NodeBug, NodeBugs};
pub use drive::SNAPSHOT_CLOSE;
pub use invariants::NodeInvariantViolation;
pub use io::{Clock, NodeInput, NodeOptions, NodeOutput, Refused};
pub use locks::{LockAnswer, LockDoor, LockEvent, LockRequest};
pub use node::ServiceNode;
pub use state::ServiceState;
pub use status::NodeStatus;
pub use tap::{Applied, SessionEnd};
