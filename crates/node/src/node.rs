//! `ServiceNode`: the engine, the front door and the bookkeeping of the
//! node's own invariants, with the public calls that step them. The drive
//! loop itself (what a step does, in which order) is in `drive.rs`.

use crate::bugs::Hooks;
use crate::invariants::Audit;
use crate::io::{Clock, NodeInput, NodeOptions, NodeOutput, Refused};
use crate::locks::LockDoor;
use crate::state::ServiceState;
use std::net::SocketAddr;
use synod_front::{ConnId, ZkFront, ZkLimits};
use synod_paxos::{DurableState, Input, Message, Micros, Node, StateMachine};
use synod_zkproto::ConnectRequest;

/// One synod node: the Paxos engine over the service state, and the
/// ZooKeeper front door next to it. Pure: see the crate's documentation.
pub struct ServiceNode {
    pub(crate) engine: Node<ServiceState>,
    pub(crate) front: ZkFront,
    pub(crate) audit: Audit,
    pub(crate) hooks: Hooks,
    /// Chubby's lock calls from native clients (`locks`).
    pub(crate) locks: LockDoor,
    /// The front door's limits, which bound lock sessions and creates too.
    pub(crate) zk_limits: ZkLimits,
    /// The local time of the step under way.
    pub(crate) now_us: Micros,
    /// Wall time of the step under way (ms since the epoch).
    pub(crate) wall_ms: i64,
}

impl ServiceNode {
    /// A node restarting from what its disk holds (`DurableState::default()`
    /// for an empty disk).
    /// The front door's `command_bytes_max` is taken from the engine's, so
    /// the two can never disagree: the front door builds no command the
    /// engine would refuse.
    pub fn new(mut opts: NodeOptions, durable: DurableState, clock: Clock) -> Self {
        opts.zk.command_bytes_max = opts.engine.command_bytes_max;
        // The client cache's gate must see every write this node proposes
        // as leader, including those it held for its clients as follower.
        opts.engine.return_held_on_takeover = true;
        let mut engine = Node::recover(
            opts.id,
            opts.engine,
            opts.initial,
            durable,
            ServiceState::new(),
            opts.seed,
            clock.now_us,
        );
        // Restoring our own snapshot is not a jump any connection could
        // have missed: there are no connections yet.
        engine.state_machine_mut().take_restored();
        let zk_limits = opts.zk.clone();
        let front = ZkFront::new(opts.zk, opts.seed.rotate_left(32));
        ServiceNode {
            engine,
            front,
            audit: Audit::new(clock.now_us),
            hooks: Hooks::new(clock.now_us),
            locks: LockDoor::default(),
            zk_limits,
            now_us: clock.now_us,
            wall_ms: clock.wall_ms,
        }
    }

    /// Feeds one input and appends what to do to `out`, in order.
    pub fn step(&mut self, clock: Clock, input: NodeInput, out: &mut Vec<NodeOutput>) {
        self.set_clock(clock);
        match input {
            NodeInput::Tick => {
                self.step_input(Input::Tick, out);
                self.on_timer(out);
            }
            NodeInput::Peer {
                from,
                msg: Message::Forward { commands },
            } if self.engine.is_leader() => {
                self.offer_forward(from, commands, out);
                self.after_front(out);
            }
            NodeInput::Peer { from, msg } => self.step_input(Input::Message { from, msg }, out),
            NodeInput::Persisted { id } => self.step_input(Input::Persisted { id }, out),
            NodeInput::Write(command) => {
                self.offer(Input::Command(command), out);
                self.after_front(out);
            }
            NodeInput::Propose(command) => {
                self.offer(Input::Propose(command), out);
                self.after_front(out);
            }
            NodeInput::Read { id, op } => self.step_input(Input::Read { client: 0, id, op }, out),
            // Submitted, not only offered to a leader: a follower forwards
            // the change to the leader it knows (`paxos::reconfig`).
            NodeInput::Reconfigure { id, change } => {
                self.step_input(Input::SubmitReconfigure { id, change }, out)
            }
            NodeInput::ZkPacket {
                conn,
                xid,
                op,
                request,
            } => {
                let live = &self.engine.state_machine().tree;
                let tree = self.hooks.read_tree(live, clock.now_us);
                self.front.on_packet(tree, conn, xid, op, request);
                self.after_front(out);
            }
            NodeInput::ZkClosed { conn } => {
                self.audit.on_closed(conn);
                self.front.on_closed(conn);
                self.after_front(out);
            }
            NodeInput::Lock { id, request } => {
                let tree = &self.engine.state_machine().tree;
                match self.hooks.stale_check(tree, clock.now_us, &request) {
                    Some(answer) => self.locks.answer_now(id, answer),
                    None => self
                        .locks
                        .request(id, request, tree, &self.zk_limits, clock.wall_ms),
                }
                self.after_front(out);
            }
        }
    }

    /// A ZooKeeper client completed its ConnectRequest. `passwd` is the
    /// password a new session gets: 16 unpredictable bytes, which a pure
    /// node cannot make itself. `x509` is the subject of the client's
    /// verified certificate, if any (see `ZkFront::open`). The connection's
    /// first frames (if any) are appended to `out`.
    pub fn zk_open(
        &mut self,
        clock: Clock,
        connect: ConnectRequest,
        peer: SocketAddr,
        passwd: Vec<u8>,
        x509: Option<String>,
        out: &mut Vec<NodeOutput>,
    ) -> Result<ConnId, Refused> {
        self.set_clock(clock);
        let tree = &self.engine.state_machine().tree;
        let opened = self.front.open(tree, connect, peer, passwd, x509);
        if let Ok(conn) = opened {
            self.audit.on_opened(conn);
        }
        self.after_front(out);
        opened.map_err(|reason| Refused { reason })
    }

    /// This node's ZooKeeper reconfig settings (`[zk] reconfig_enabled`,
    /// the static members' addresses); reconfig is disabled until set.
    pub fn set_zk_reconfig(&mut self, settings: synod_front::ReconfigSettings) {
        self.front.set_reconfig(settings);
    }

    /// Whether a native key-value write may be proposed: refused only if
    /// it would take the store this replica has applied past a cap of
    /// `limits` (`synod_kv::quota`; the caps are the node's setting, so
    /// the runtime passes them). An operation that does not decode is let
    /// through: the state machine answers it with an error. Call it before
    /// `NodeInput::Write`, never on apply.
    pub fn admit_kv_write(
        &self,
        op: &[u8],
        limits: synod_kv::KvLimits,
    ) -> Result<(), synod_kv::QuotaExceeded> {
        match synod_kv::KvOp::decode(op) {
            Ok(op) => synod_kv::admit(&self.engine.state_machine().kv, &op, limits),
            Err(_) => Ok(()),
        }
    }

    /// A serializable read from this replica's applied state (may be stale).
    pub fn read_local(&self, op: &[u8]) -> Vec<u8> {
        self.engine.state_machine().query(op)
    }

    /// Switches the apply tap on or off (off when built): with it on, the
    /// node also outputs `NodeOutput::Applied` for every apply of the
    /// coordination tree (see `tap.rs`). For simulators' oracles; it
    /// changes nothing else.
    pub fn set_apply_tap(&mut self, on: bool) {
        self.engine.state_machine_mut().set_apply_tap(on);
    }

    pub fn engine(&self) -> &Node<ServiceState> {
        &self.engine
    }

    pub fn front(&self) -> &ZkFront {
        &self.front
    }

    pub fn lock_door(&self) -> &LockDoor {
        &self.locks
    }

    fn set_clock(&mut self, clock: Clock) {
        self.audit.on_clock(clock.now_us);
        self.now_us = clock.now_us;
        self.wall_ms = clock.wall_ms;
        self.locks.set_clock(clock.now_us);
        self.front.set_clock(clock.now_us / 1000, clock.wall_ms);
    }
}
