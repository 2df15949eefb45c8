//! The ZooKeeper front door's engine-side half: it lives on the engine
//! task, next to the state machine, so that everything a connection is sent
//! (replies and watch events) is produced in the order the state changed.
//!
//! Per connection, requests are handled strictly in arrival order. Reads
//! are answered from this server's applied state at once; consecutive
//! writes are gathered into one `Batch` command and proposed through the
//! log (a follower forwards it to the leader); requests behind a write wait
//! until this server has applied it. So a session reads its own writes, its
//! replies come back in request order, and a watch event is queued before
//! any reply that could show the change that fired it.

use crate::budget::{self, BatchBuilder};
use crate::convert::{self, Shape};
use crate::quota;
use crate::watches::{ConnId, WatchKind, WatcherType, Watches};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use std::net::SocketAddr;
use synod_coord::{CoordOp, CoordReply, ErrorCode, Id, Tree, Trigger};
use synod_paxos::{Command, Outcome, Rng};
use synod_zkproto as wire;
use tracing::{debug, info, warn};

mod keepalive;
mod read_only;

pub use read_only::{is_read_only_session, ServingMode, READ_ONLY_SESSION_TAG};
mod reconfig;

pub use reconfig::{RETRY_MS as RECONFIG_RETRY_MS, STEP_WAIT_MS as RECONFIG_STEP_WAIT_MS};

/// Writes gathered into one log command at most.
const BATCH_WRITES_MAX: usize = 256;
/// How often this server tells the log which sessions were active.
const TOUCH_INTERVAL_MS: u64 = 1000;
/// How often the leader advances log time (session expiry, TTLs).
const TICK_INTERVAL_MS: u64 = 500;
/// A server without a leader for this long sends its clients elsewhere.
pub const LEADERLESS_CLOSE_MS: u64 = 3000;
/// A keepalive command not answered within this is given up on.
const HOUSEKEEPING_TIMEOUT_MS: u64 = 5000;

/// The front door's limits and session settings.
#[derive(Clone, Debug)]
pub struct ZkLimits {
    pub min_session_timeout_ms: u64,
    pub max_session_timeout_ms: u64,
    /// `super:<base64 sha1>`: a client that adds this digest passes every ACL.
    pub super_digest: Option<String>,
    /// A client whose certificate subject is this distinguished name passes
    /// every ACL (ZooKeeper's `zookeeper.X509Util.superUser`).
    pub x509_super_user: Option<String>,
    /// SASL DIGEST-MD5 users (`sasl`); none: SASL requests fail.
    pub sasl_users: Option<std::sync::Arc<crate::sasl::SaslUsers>>,
    /// A SASL user that passes every ACL (ZooKeeper's `zookeeper.superUser`).
    pub sasl_super_user: Option<String>,
    /// jute.maxbuffer.
    pub max_buffer_bytes: usize,
    pub connections_max: usize,
    /// The largest `Command::op` the log takes (the engine's
    /// `command_bytes_max`): no command the front door builds is larger
    /// (see `budget`). At least `budget::COMMAND_BYTES_MIN`.
    pub command_bytes_max: usize,
    /// Writes that would take the tree past this many znodes are refused
    /// with `QuotaExceeded` (see `quota`).
    pub znodes_max: u64,
    /// Writes that would take the tree's paths and data past this many
    /// bytes are refused with `QuotaExceeded` (see `quota`).
    pub data_bytes_max: u64,
    /// ZooKeeper's `readonlymode.enabled`: a server cut off from its
    /// leader serves reads to clients that ask for read-only sessions (see
    /// `read_only`).
    pub read_only_mode: bool,
}

impl ZkLimits {
    /// The default `znodes_max`: ten times what the benchmarks hold.
    pub const ZNODES_MAX_DEFAULT: u64 = 10_000_000;
    /// The default `data_bytes_max`: 2 GiB, half of the snapshot limit, so
    /// the per-node overhead of a snapshot (stat, ACL, owner: about 100
    /// bytes a node) fits beside it at `ZNODES_MAX_DEFAULT` nodes.
    pub const DATA_BYTES_MAX_DEFAULT: u64 = 2 << 30;
}

/// What a connection is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A reply to a request (counts against the in-flight limit).
    Reply(Vec<u8>),
    /// A watch event or the connect response.
    Frame(Vec<u8>),
    /// Send what is queued, then close, logging the reason.
    Close(String),
}

/// A request waiting its turn on a connection.
#[derive(Debug)]
pub enum Pending {
    Request(wire::Request),
    /// Answered with this error code when its turn comes (for an opcode
    /// synod would not serve; every opcode of ZooKeeper 3.8 is served now).
    Refuse(i32),
    /// A reconfig (opcode 16; see `zkconfig` and `front/reconfig.rs`).
    Reconfig(crate::zkconfig::ReconfigRequest),
}

/// Writes on their way through the log for one connection.
enum InFlight {
    CreateSession {
        passwd: Vec<u8>,
    },
    Batch {
        requests: Vec<(i32, Shape)>,
    },
    Close {
        xid: i32,
    },
    /// A reconfig, step by step (`front/reconfig.rs`).
    Reconfig(Box<reconfig::Run>),
}

struct Conn {
    peer: SocketAddr,
    /// Whether the client's ConnectRequest carried the readOnly byte.
    read_only_field: bool,
    session: Option<i64>,
    timeout_ms: i32,
    auth: Vec<Id>,
    /// Where the connection's SASL exchange is.
    sasl: crate::sasl::Exchange,
    /// A failed SASL exchange waits for its answer (see
    /// `sasl::FAILURE_DELAY_MS`); the connection takes nothing else.
    auth_failing: bool,
    /// The connection's identity for exactly-once commands.
    client: u64,
    seq: u64,
    queue: VecDeque<(i32, i32, Pending)>,
    in_flight: Option<InFlight>,
    opened_ms: u64,
    received: u64,
    sent: u64,
    last_zxid: i64,
}

/// How log lines name the client behind a connection: its address, and
/// its session (`0x...`, or "none" before the handshake finished).
fn who(c: &Conn) -> (String, String) {
    let session = c
        .session
        .map_or_else(|| "none".to_string(), |s| format!("{s:#x}"));
    (c.peer.to_string(), session)
}

/// The watches a reconnecting client asks to have back (SetWatches and
/// SetWatches2 alike).
struct SetWatches {
    relative_zxid: i64,
    data: Vec<String>,
    exist: Vec<String>,
    child: Vec<String>,
    persistent: Vec<String>,
    persistent_recursive: Vec<String>,
}

/// First byte of every coordination operation in the log: the server's
/// state machine holds the key-value store and the tree side by side, and
/// no key-value encoding starts with this byte.
pub const COORD_TAG: u8 = 0xC0;

/// A coordination operation as the log carries it.
pub fn coord_command(op: &CoordOp) -> Vec<u8> {
    let mut out = vec![COORD_TAG];
    out.extend_from_slice(&op.encode());
    out
}

/// Counters for the four-letter words.
#[derive(Default)]
pub struct FrontStats {
    pub received: u64,
    pub sent: u64,
    pub connections_total: u64,
}

pub struct ZkFront {
    pub limits: ZkLimits,
    conns: BTreeMap<ConnId, Conn>,
    pub watches: Watches,
    next_conn: ConnId,
    /// (client, seq) of proposed writes -> the connection waiting, and the
    /// command (proposed again, same seq, if a leader that took it stepped
    /// down before choosing it).
    proposed: HashMap<(u64, u64), (ConnId, Command)>,
    /// Since when (monotonic ms) this server has known no leader.
    leaderless_since: Option<u64>,
    /// The sessions of read-only clients while this server is cut off
    /// (local to this server, never in the log).
    read_only: read_only::ReadOnlySessions,
    proposals: Vec<Command>,
    touched: BTreeSet<i64>,
    /// The last `Touch` left sessions of `touched` behind (more than fit
    /// one command): the next goes without waiting for the interval.
    touch_backlog: bool,
    last_touch_ms: u64,
    touch_client: u64,
    touch_seq: u64,
    /// Sent at (monotonic ms), while unanswered.
    touch_pending: Option<u64>,
    last_tick_ms: u64,
    /// Where this leader's log time counts from: its term, the log time it
    /// started the term at, and its monotonic time then (see `on_timer`).
    tick_anchor: Option<TickAnchor>,
    tick_client: u64,
    tick_seq: u64,
    pub stats: FrontStats,
    /// Frames for connections, in the order they must be written.
    output: Vec<(ConnId, Outgoing)>,
    rng: Rng,
    /// SASL challenges sent (each gets its own nonce).
    sasl_challenges: u64,
    /// Failed SASL exchanges waiting for their answer: (connection, due at
    /// monotonic ms, xid, reason), in the order they failed.
    auth_failures: VecDeque<(ConnId, u64, i32, String)>,
    /// Monotonic time (ms) and wall-clock time (ms since the epoch), as of
    /// the runtime's last `set_clock`.
    now_ms: u64,
    wall_ms: i64,
    /// Reconfig settings, the engine's membership, and runs' steps.
    reconfig: reconfig::ReconfigState,
}

/// A leader's log time is `log_ms + (now_ms - mono_ms)`: the log time it
/// took its term over at, advanced by its own monotonic clock.
#[derive(Clone, Copy, Debug)]
struct TickAnchor {
    term: u64,
    log_ms: i64,
    mono_ms: u64,
}

impl ZkFront {
    /// `seed` picks connection identities for exactly-once commands; it
    /// need not be secret (session passwords come from the caller).
    pub fn new(limits: ZkLimits, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        ZkFront {
            limits,
            conns: BTreeMap::new(),
            watches: Watches::default(),
            next_conn: 1,
            proposed: HashMap::new(),
            proposals: Vec::new(),
            leaderless_since: None,
            read_only: read_only::ReadOnlySessions::default(),
            touched: BTreeSet::new(),
            touch_backlog: false,
            last_touch_ms: 0,
            touch_client: rng.next_u64() | 1,
            touch_seq: 0,
            touch_pending: None,
            last_tick_ms: 0,
            tick_anchor: None,
            tick_client: rng.next_u64() | 1,
            tick_seq: 0,
            stats: FrontStats::default(),
            output: Vec::new(),
            rng,
            sasl_challenges: 0,
            auth_failures: VecDeque::new(),
            now_ms: 0,
            wall_ms: 0,
            reconfig: reconfig::ReconfigState::default(),
        }
    }

    /// The runtime's clocks, before each call that may use them.
    pub fn set_clock(&mut self, now_ms: u64, wall_ms: i64) {
        self.now_ms = now_ms;
        self.wall_ms = wall_ms;
    }

    /// Frames to write, per connection in order, produced since the last call.
    pub fn take_output(&mut self) -> Vec<(ConnId, Outgoing)> {
        std::mem::take(&mut self.output)
    }

    fn emit(&mut self, conn: ConnId, item: Outgoing) {
        self.output.push((conn, item));
    }

    /// Commands to propose through the log, produced since the last call.
    pub fn take_proposals(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.proposals)
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    fn propose(&mut self, conn: ConnId, op: &CoordOp) {
        let c = self
            .conns
            .get_mut(&conn)
            .expect("proposing for a live connection");
        c.seq += 1;
        let command = Command {
            client: c.client,
            seq: c.seq,
            op: coord_command(op),
        };
        // The budget's arithmetic is exact (`CoordOp::encoded_bytes`); a
        // larger command here is a bug that the log would refuse.
        assert!(
            command.op.len() <= self.limits.command_bytes_max,
            "a {}-byte command exceeds the {}-byte budget",
            command.op.len(),
            self.limits.command_bytes_max
        );
        self.proposed
            .insert((c.client, c.seq), (conn, command.clone()));
        self.proposals.push(command);
    }

    // ---- connections ----

    /// A client completed its ConnectRequest. Returns the connection id, or
    /// the reason to refuse it (the socket is then closed unanswered, and
    /// the client tries another server).
    /// `passwd` is the password a new session gets: 16 unpredictable bytes.
    /// `x509` is the subject (RFC 2253) of the client's verified
    /// certificate, if it presented one: the connection is then
    /// authenticated as `x509:<subject>`, as ZooKeeper's
    /// X509AuthenticationProvider does, and as `super` too if that is the
    /// configured `x509_super_user`.
    pub fn open(
        &mut self,
        tree: &Tree,
        connect: wire::ConnectRequest,
        peer: SocketAddr,
        passwd: Vec<u8>,
        x509: Option<String>,
    ) -> Result<ConnId, String> {
        if connect.last_zxid_seen > tree.last_zxid() {
            return Err(format!(
                "the client has seen zxid {:#x} but this server has only applied {:#x}",
                connect.last_zxid_seen,
                tree.last_zxid()
            ));
        }
        if let Some(reason) = self.refusal_while_cut_off(&connect) {
            return Err(reason);
        }
        if self.conns.len() >= self.limits.connections_max {
            return Err(format!(
                "{} connections are open, the limit ([zk] connections_max)",
                self.conns.len()
            ));
        }
        let mut auth = vec![Id {
            scheme: "ip".into(),
            id: peer.ip().to_string(),
        }];
        if let Some(subject) = x509 {
            if self.limits.x509_super_user.as_deref() == Some(subject.as_str()) {
                auth.push(Id {
                    scheme: "super".into(),
                    id: subject.clone(),
                });
            }
            auth.push(Id {
                scheme: synod_coord::acl::X509.into(),
                id: subject,
            });
            if !budget::auth_within_bound(&auth) {
                return Err(format!(
                    "the client certificate's subject makes an auth list over {} ids or {} bytes",
                    budget::AUTH_IDS_MAX,
                    budget::AUTH_BYTES_MAX
                ));
            }
        }
        let id = self.next_conn;
        self.next_conn += 1;
        self.stats.connections_total += 1;
        let min = self.limits.min_session_timeout_ms as i64;
        let max = self.limits.max_session_timeout_ms as i64;
        let timeout_ms = (connect.timeout_ms as i64).clamp(min, max) as i32;
        let mut conn = Conn {
            peer,
            read_only_field: connect.read_only.is_some(),
            session: None,
            timeout_ms,
            auth,
            sasl: Default::default(),
            auth_failing: false,
            client: self.rng.next_u64() | 1,
            seq: 0,
            queue: VecDeque::new(),
            in_flight: None,
            opened_ms: self.now_ms,
            received: 0,
            sent: 0,
            last_zxid: tree.last_zxid(),
        };
        if self.serving_mode() == ServingMode::ReadOnly {
            // Only read-only clients got past `refusal_while_cut_off`.
            return Ok(self.open_read_only(id, conn, &connect, passwd));
        }
        if connect.session_id == 0 {
            conn.in_flight = Some(InFlight::CreateSession {
                passwd: passwd.clone(),
            });
            self.conns.insert(id, conn);
            self.propose(
                id,
                &CoordOp::CreateSession {
                    passwd,
                    timeout_ms,
                    time_ms: self.wall_ms,
                },
            );
            return Ok(id);
        }
        let known = tree
            .session(connect.session_id)
            .filter(|s| s.passwd == connect.passwd);
        match known {
            Some(info) => {
                // A session lives on one connection: an older one on this
                // server is stale (the client moved on).
                let stale: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.session == Some(connect.session_id))
                    .map(|(id, _)| *id)
                    .collect();
                for s in stale {
                    self.close(s, "the session reconnected on a new connection");
                }
                conn.session = Some(connect.session_id);
                conn.timeout_ms = info.timeout_ms;
                self.touched.insert(connect.session_id);
                let response = wire::ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: info.timeout_ms,
                    session_id: connect.session_id,
                    passwd: connect.passwd.clone(),
                    read_only: conn.read_only_field.then_some(false),
                };
                self.conns.insert(id, conn);
                self.emit(
                    id,
                    Outgoing::Frame(wire::encode_connect_response(&response)),
                );
            }
            None => {
                // ZooKeeper's answer to an unknown or expired session: the
                // client reports Expired and starts over.
                let response = wire::ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: 0,
                    session_id: 0,
                    passwd: vec![0; 16],
                    read_only: conn.read_only_field.then_some(false),
                };
                self.emit(
                    id,
                    Outgoing::Frame(wire::encode_connect_response(&response)),
                );
                self.emit(
                    id,
                    Outgoing::Close(format!(
                        "session {:#x} is unknown or expired",
                        connect.session_id
                    )),
                );
            }
        }
        Ok(id)
    }

    /// The socket closed (or the connection task ended).
    pub fn on_closed(&mut self, conn: ConnId) {
        if self.conns.remove(&conn).is_some() {
            self.watches.drop_conn(conn);
        }
    }

    /// Closes every connection: this server's state jumped (a snapshot from
    /// the leader replaced it), so no watch could see what changed in
    /// between. Clients reconnect and SetWatches tells them what they
    /// missed, as with ZooKeeper's followers after a resync.
    pub fn close_all(&mut self, reason: &str) {
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in all {
            self.close(conn, reason);
        }
    }

    /// The client behind `conn` for log lines: its address and session.
    fn who(&self, conn: ConnId) -> (String, String) {
        match self.conns.get(&conn) {
            Some(c) => who(c),
            None => (format!("(closed connection {conn})"), "none".into()),
        }
    }

    /// Closes a connection from the server's side.
    pub fn close(&mut self, conn: ConnId, reason: &str) {
        if self.conns.remove(&conn).is_some() {
            self.watches.drop_conn(conn);
            self.emit(conn, Outgoing::Close(reason.to_string()));
        }
    }

    // ---- requests ----

    pub fn on_packet(&mut self, tree: &Tree, conn: ConnId, xid: i32, op: i32, req: Pending) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.received += 1;
        self.stats.received += 1;
        match c.session {
            Some(s) if is_read_only_session(s) => self.read_only.heard(s, self.now_ms),
            Some(s) => {
                self.touched.insert(s);
            }
            None => {}
        }
        c.queue.push_back((xid, op, req));
        self.pump(tree, conn);
    }

    /// Handles queued requests in order until one must wait for the log.
    fn pump(&mut self, tree: &Tree, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.in_flight.is_some() || c.auth_failing {
                return;
            }
            // Known here, so a request of a replicated session costs no
            // read-only lookup.
            let read_only = c.session.filter(|s| is_read_only_session(*s));
            let Some((xid, op, pending)) = c.queue.pop_front() else {
                return;
            };
            let req = match pending {
                Pending::Refuse(code) => {
                    let zxid = tree.last_zxid();
                    self.send_reply(conn, xid, zxid, code, None);
                    continue;
                }
                Pending::Reconfig(req) => {
                    self.start_reconfig(tree, conn, xid, req);
                    continue;
                }
                Pending::Request(req) => req,
            };
            if let Some(session) = read_only {
                if self.serve_read_only_write(tree, conn, session, xid, &req) {
                    continue;
                }
            }
            let c = self.conns.get_mut(&conn).expect("live connection");
            if convert::is_write(&req) {
                c.queue.push_front((xid, op, Pending::Request(req)));
                self.start_batch(tree, conn);
                continue;
            }
            if matches!(req, wire::Request::CloseSession) {
                let Some(session) = c.session else {
                    self.close(conn, "closeSession before the session existed");
                    return;
                };
                c.in_flight = Some(InFlight::Close { xid });
                self.propose(conn, &CoordOp::CloseSession { session });
                return;
            }
            self.read(tree, conn, xid, op, req);
        }
    }

    /// Gathers the writes at the head of the queue into one command, as
    /// many as fit the byte budget (and `BATCH_WRITES_MAX`), or answers the
    /// head at once when it cannot be proposed: the tree would refuse it
    /// anyway, or its command alone would exceed the budget.
    fn start_batch(&mut self, tree: &Tree, conn: ConnId) {
        let time_ms = self.wall_ms;
        let bytes_max = self.limits.command_bytes_max;
        let c = self.conns.get_mut(&conn).expect("live connection");
        let Some(session) = c.session else {
            self.close(conn, "a write before the session existed");
            return;
        };
        let mut batch = BatchBuilder::new(session, c.auth.clone(), time_ms, bytes_max);
        let (znodes_max, data_bytes_max) = (self.limits.znodes_max, self.limits.data_bytes_max);
        let mut growth = quota::Growth::default();
        let mut requests = Vec::new();
        while batch.len() < BATCH_WRITES_MAX {
            let c = self.conns.get_mut(&conn).expect("live connection");
            let Some((xid, _, Pending::Request(req))) = c.queue.front() else {
                break;
            };
            if !convert::is_write(req) {
                break;
            }
            let xid = *xid;
            let converted = convert::to_write(req).and_then(|(write, shape)| {
                let mut after = growth;
                match quota::admit(tree, &write, &mut after, znodes_max, data_bytes_max) {
                    None => Ok((write, shape, after)),
                    Some(over) if batch.is_empty() => {
                        let (client, session) = who(c);
                        warn!(conn, %client, %session, xid, "refusing a write: {over}");
                        Err(ErrorCode::QuotaExceeded)
                    }
                    // Judged again when it heads the next batch.
                    Some(_) => Err(ErrorCode::QuotaExceeded),
                }
            });
            let refusal = match converted {
                Ok((write, shape, after)) => match batch.push(write) {
                    Ok(()) => {
                        c.queue.pop_front();
                        requests.push((xid, shape));
                        growth = after;
                        continue;
                    }
                    // The next command takes it, once this one is answered.
                    Err(_) if !batch.is_empty() => break,
                    Err(over) => {
                        // See `budget` for why BadArguments.
                        let (client, session) = who(c);
                        warn!(conn, %client, %session, xid, "refusing a write: {over}");
                        ErrorCode::BadArguments
                    }
                },
                Err(code) if batch.is_empty() => code,
                // Answered when its turn comes, after the batch ahead.
                Err(_) => break,
            };
            // Nothing waits ahead of it: answer now, in order.
            c.queue.pop_front();
            let zxid = tree.last_zxid();
            self.send_reply(conn, xid, zxid, refusal.code(), None);
            return;
        }
        if batch.is_empty() {
            return;
        }
        let c = self.conns.get_mut(&conn).expect("live connection");
        c.in_flight = Some(InFlight::Batch { requests });
        self.propose(conn, &batch.into_op());
    }

    fn send_reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        err: i32,
        body: Option<&wire::Response>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let header = wire::ReplyHeader { xid, zxid, err };
        let frame = if err == 0 {
            wire::encode_reply(&header, body)
        } else {
            wire::encode_reply(&header, None)
        };
        if frame.len() > self.limits.max_buffer_bytes + 1024 {
            // The client would refuse it and drop the connection; tell it
            // plainly instead.
            let (client, session) = who(c);
            warn!(
                conn,
                %client,
                %session,
                bytes = frame.len(),
                "a reply exceeds jute.maxbuffer; closing the connection"
            );
            self.close(conn, "a reply exceeded jute.maxbuffer");
            return;
        }
        c.sent += 1;
        c.last_zxid = c.last_zxid.max(zxid);
        self.stats.sent += 1;
        self.emit(conn, Outgoing::Reply(frame));
    }

    /// Answers a request that does not change replicated state.
    fn read(&mut self, tree: &Tree, conn: ConnId, xid: i32, op: i32, req: wire::Request) {
        use wire::Request as R;
        let zxid = tree.last_zxid();
        if let R::Auth {
            scheme,
            auth: bytes,
            ..
        } = &req
        {
            return self.add_auth(tree, conn, xid, scheme, bytes);
        }
        if let R::Sasl { token } = &req {
            return self.sasl_step(tree, conn, xid, token);
        }
        // Borrowed out of the connection for the read (no copy per
        // request), and put back below.
        let c = self.conns.get_mut(&conn).expect("live connection");
        let auth = std::mem::take(&mut c.auth);
        let session = c.session;
        let result: Result<wire::Response, i32> = match req {
            R::Ping => Ok(wire::Response::Empty),
            R::Exists { path, watch } => match tree.exists_checked(&path, &auth) {
                Err(e) => Err(e.code()),
                Ok(Some(mut stat)) => {
                    if watch {
                        self.watches.add(conn, &path, WatchKind::Data);
                    }
                    if path == synod_coord::zk_config::CONFIG_PATH {
                        stat.data_length = self.config_data(tree).len() as i32;
                    }
                    Ok(wire::Response::Stat {
                        stat: convert::stat(&stat),
                    })
                }
                Ok(None) => {
                    if watch && convert::valid_path(&path) {
                        self.watches.add(conn, &path, WatchKind::Exist);
                    }
                    Err(ErrorCode::NoNode.code())
                }
            },
            R::GetData { path, watch } => self
                .get_data(tree, conn, &auth, &path, watch)
                .map(|(data, stat)| wire::Response::GetData { data, stat }),
            R::GetChildren { path, watch } => self
                .get_children(tree, conn, &auth, &path, watch)
                .map(|(children, _)| wire::Response::GetChildren { children }),
            R::GetChildren2 { path, watch } => self
                .get_children(tree, conn, &auth, &path, watch)
                .map(|(children, stat)| wire::Response::GetChildren2 { children, stat }),
            R::GetAcl { path } => tree
                .get_acl(&path, &auth)
                .map(|(acl, stat)| wire::Response::GetAcl {
                    acl: acl.iter().map(convert::acl_to_wire).collect(),
                    stat: convert::stat(&stat),
                })
                .map_err(|e| e.code()),
            R::GetEphemerals { prefix_path } => Ok(wire::Response::GetEphemerals {
                paths: session.map_or_else(Vec::new, |s| tree.ephemerals(s, &prefix_path)),
            }),
            R::GetAllChildrenNumber { path } => tree
                .all_children_number_checked(&path, &auth)
                .map(|n| wire::Response::AllChildrenNumber { n })
                .map_err(|e| e.code()),
            R::AddWatch { path, mode } => {
                let kind = match mode {
                    0 => Some(WatchKind::Persistent),
                    1 => Some(WatchKind::PersistentRecursive),
                    _ => None,
                };
                match kind {
                    Some(kind) if convert::valid_path(&path) => {
                        self.watches.add(conn, &path, kind);
                        Ok(wire::Response::AddWatch { err: 0 })
                    }
                    _ => Err(ErrorCode::BadArguments.code()),
                }
            }
            R::CheckWatches { path, watcher_type } | R::RemoveWatches { path, watcher_type } => {
                let remove = op == wire::op::REMOVE_WATCHES;
                match WatcherType::from_code(watcher_type) {
                    None => Err(ErrorCode::BadArguments.code()),
                    Some(which) => {
                        let had = if remove {
                            self.watches.remove(conn, &path, which)
                        } else {
                            self.watches.has(conn, &path, which)
                        };
                        if had {
                            Ok(wire::Response::Empty)
                        } else {
                            Err(wire::err::NO_WATCHER)
                        }
                    }
                }
            }
            R::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                let sw = SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                    persistent: Vec::new(),
                    persistent_recursive: Vec::new(),
                };
                self.set_watches(tree, conn, sw);
                Ok(wire::Response::Empty)
            }
            R::SetWatches2 {
                relative_zxid,
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
            } => {
                let sw = SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                };
                self.set_watches(tree, conn, sw);
                Ok(wire::Response::Empty)
            }
            R::WhoAmI => Ok(wire::Response::WhoAmI(
                auth.iter()
                    .filter(|id| id.scheme != "super")
                    .map(|id| wire::ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: id.id.clone(),
                    })
                    .collect(),
            )),
            R::MultiRead(ops) => Ok(wire::Response::MultiRead(
                ops.into_iter()
                    .map(|sub| self.multi_read_one(tree, conn, &auth, sub))
                    .collect(),
            )),
            other => {
                debug!(conn, ?other, "a write reached the read path");
                Err(ErrorCode::SystemError.code())
            }
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = auth;
        }
        match result {
            Ok(body) => self.send_reply(conn, xid, zxid, 0, Some(&body)),
            Err(code) => self.send_reply(conn, xid, zxid, code, None),
        }
    }

    /// getData: the node's data (`None` when null) and Stat, and a data
    /// watch if asked (only when the read succeeds, as in ZooKeeper).
    fn get_data(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        auth: &[Id],
        path: &str,
        watch: bool,
    ) -> Result<(Option<Vec<u8>>, wire::Stat), i32> {
        let (mut data, mut stat) = tree.get_data(path, auth).map_err(|e| e.code())?;
        if watch {
            self.watches.add(conn, path, WatchKind::Data);
        }
        if path == synod_coord::zk_config::CONFIG_PATH {
            // What the tree holds is the recorded lines; clients read the
            // membership (see `zkconfig::render`).
            let rendered = self.config_data(tree);
            stat.data_length = rendered.len() as i32;
            data = Some(rendered);
        }
        Ok((data, convert::stat(&stat)))
    }

    /// getChildren: the child names and the node's Stat, and a child watch
    /// if asked (only when the read succeeds).
    fn get_children(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        auth: &[Id],
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, wire::Stat), i32> {
        let (children, stat) = tree.get_children(path, auth).map_err(|e| e.code())?;
        if watch {
            self.watches.add(conn, path, WatchKind::Child);
        }
        Ok((children, convert::stat(&stat)))
    }

    fn multi_read_one(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        auth: &[Id],
        sub: wire::Request,
    ) -> wire::MultiReadResult {
        let result = match sub {
            wire::Request::GetData { path, watch } => self
                .get_data(tree, conn, auth, &path, watch)
                .map(|(data, stat)| wire::MultiReadResult::GetData { data, stat }),
            wire::Request::GetChildren { path, watch } => self
                .get_children(tree, conn, auth, &path, watch)
                .map(|(children, _)| wire::MultiReadResult::GetChildren { children }),
            _ => Err(ErrorCode::Unimplemented.code()),
        };
        result.unwrap_or_else(|err| wire::MultiReadResult::Error { err })
    }

    /// Re-arms a reconnecting client's watches; what changed since the
    /// zxid it last saw fires at once (ZooKeeper's DataTree.setWatches).
    fn set_watches(&mut self, tree: &Tree, conn: ConnId, sw: SetWatches) {
        use synod_coord::EventKind as E;
        let rel = sw.relative_zxid;
        let mut fire = Vec::new();
        for path in sw.data {
            match tree.exists(&path) {
                None => fire.push((E::Deleted, path)),
                Some(stat) if stat.mzxid > rel => fire.push((E::DataChanged, path)),
                Some(_) => self.watches.add(conn, &path, WatchKind::Data),
            }
        }
        for path in sw.exist {
            match tree.exists(&path) {
                Some(_) => fire.push((E::Created, path)),
                None => self.watches.add(conn, &path, WatchKind::Exist),
            }
        }
        for path in sw.child {
            match tree.exists(&path) {
                None => fire.push((E::Deleted, path)),
                Some(stat) if stat.pzxid > rel => fire.push((E::ChildrenChanged, path)),
                Some(_) => self.watches.add(conn, &path, WatchKind::Child),
            }
        }
        for path in sw.persistent {
            self.watches.add(conn, &path, WatchKind::Persistent);
        }
        for path in sw.persistent_recursive {
            self.watches
                .add(conn, &path, WatchKind::PersistentRecursive);
        }
        for (kind, path) in fire {
            self.send_event(conn, kind, &path);
        }
    }

    fn add_auth(&mut self, tree: &Tree, conn: ConnId, xid: i32, scheme: &str, bytes: &[u8]) {
        let zxid = tree.last_zxid();
        let id = match (scheme, std::str::from_utf8(bytes)) {
            ("digest", Ok(text)) if text.contains(':') => Some(Id {
                scheme: "digest".into(),
                id: synod_coord::digest_id(text),
            }),
            _ => None,
        };
        let Some(id) = id else {
            // ZooKeeper answers AuthFailed and closes the connection.
            self.send_reply(conn, xid, zxid, ErrorCode::AuthFailed.code(), None);
            self.close(
                conn,
                &format!("authentication with scheme `{scheme}` failed"),
            );
            return;
        };
        let is_super = self
            .limits
            .super_digest
            .as_deref()
            .is_some_and(|d| d == id.id);
        if self.grant(conn, xid, zxid, id, is_super) {
            self.send_reply(conn, xid, zxid, 0, Some(&wire::Response::Empty));
        }
    }

    /// One step of the connection's SASL exchange (see `sasl`): a
    /// challenge, or the proof that ends it and the `sasl` identity; a
    /// failure answers AuthFailed and closes, as ZooKeeper does.
    fn sasl_step(&mut self, tree: &Tree, conn: ConnId, xid: i32, token: &[u8]) {
        use crate::sasl::{SaslError, Step};
        let zxid = tree.last_zxid();
        let challenges = &mut self.sasl_challenges;
        let c = self.conns.get_mut(&conn).expect("live connection");
        let step = match &self.limits.sasl_users {
            None => Err(SaslError::NotConfigured),
            Some(users) => users.step(&mut c.sasl, token, || {
                *challenges += 1;
                users.nonce(*challenges)
            }),
        };
        match step {
            Ok(Step::Challenge(token)) => {
                self.send_reply(conn, xid, zxid, 0, Some(&wire::Response::Sasl { token }));
            }
            Ok(Step::Authenticated { user, token }) => {
                let is_super = self.limits.sasl_super_user.as_deref() == Some(user.as_str());
                let id = Id {
                    scheme: "sasl".into(),
                    id: user,
                };
                if self.grant(conn, xid, zxid, id, is_super) {
                    self.send_reply(conn, xid, zxid, 0, Some(&wire::Response::Sasl { token }));
                }
            }
            Err(e) => {
                c.auth_failing = true;
                let due = self.now_ms + crate::sasl::FAILURE_DELAY_MS;
                let reason = format!("SASL authentication failed: {e}");
                self.auth_failures.push_back((conn, due, xid, reason));
            }
        }
    }

    /// Answers the failed SASL exchanges whose delay is over: AuthFailed,
    /// then the connection closes, as ZooKeeper answers a failure.
    pub(crate) fn answer_auth_failures(&mut self, tree: &Tree) {
        while let Some(&(conn, due, xid, _)) = self.auth_failures.front() {
            if due > self.now_ms {
                return;
            }
            let (.., reason) = self.auth_failures.pop_front().expect("a front entry");
            let zxid = tree.last_zxid();
            self.send_reply(conn, xid, zxid, ErrorCode::AuthFailed.code(), None);
            self.close(conn, &reason);
        }
    }

    /// Adds `id` (and `super` with it) to the connection's auth list;
    /// false, having answered AuthFailed and closed the connection, when
    /// the list would outgrow its bound.
    fn grant(&mut self, conn: ConnId, xid: i32, zxid: i64, id: Id, is_super: bool) -> bool {
        let c = self.conns.get_mut(&conn).expect("live connection");
        let mut auth = c.auth.clone();
        if !auth.contains(&id) {
            auth.push(id);
        }
        if is_super {
            let s = Id {
                scheme: "super".into(),
                id: String::new(),
            };
            if !auth.contains(&s) {
                auth.push(s);
            }
        }
        if !budget::auth_within_bound(&auth) {
            // Every Batch of the connection carries its whole auth list, so
            // the list is bounded (see `budget`); beyond the bound the auth
            // fails as ZooKeeper fails one.
            self.send_reply(conn, xid, zxid, ErrorCode::AuthFailed.code(), None);
            self.close(
                conn,
                &format!(
                    "the auth list would exceed {} ids or {} bytes",
                    budget::AUTH_IDS_MAX,
                    budget::AUTH_BYTES_MAX
                ),
            );
            return false;
        }
        c.auth = auth;
        true
    }

    fn send_event(&mut self, conn: ConnId, kind: synod_coord::EventKind, path: &str) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let event = wire::WatcherEvent {
            event_type: convert::event_type(kind),
            state: wire::keeper_state::SYNC_CONNECTED,
            path: path.to_string(),
        };
        self.emit(conn, Outgoing::Frame(wire::encode_watch_event(&event)));
    }

    // ---- the log's answers ----

    /// A command this server proposed was applied here (or refused).
    /// Returns false when the command was not the front door's.
    pub fn on_reply(&mut self, tree: &Tree, client: u64, seq: u64, outcome: &Outcome) -> bool {
        if client == self.touch_client {
            if seq == self.touch_seq {
                self.touch_pending = None;
            }
            return true;
        }
        if client == self.tick_client {
            return true;
        }
        if let Outcome::NotLeader { .. } = outcome {
            // The leader that took it stepped down before choosing it: the
            // same command (same seq, so applied at most once) goes again,
            // this time to whoever leads next.
            if let Some((_, command)) = self.proposed.get(&(client, seq)) {
                self.proposals.push(command.clone());
                return true;
            }
        }
        let Some((conn, _)) = self.proposed.remove(&(client, seq)) else {
            return false;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        let Some(in_flight) = c.in_flight.take() else {
            return true;
        };
        let reply = match outcome {
            Outcome::Ok(bytes) => match CoordReply::decode(bytes) {
                Ok(r) => r,
                Err(e) => {
                    let (client, session) = who(c);
                    warn!(conn, %client, %session, "undecodable reply from the state machine: {e}");
                    self.close(conn, "internal error");
                    return true;
                }
            },
            other => {
                // Busy, or an exactly-once refusal: the outcome of the
                // writes is unknown to the client, as after a lost
                // connection, so that is what it gets.
                let (client, session) = who(c);
                info!(
                    conn,
                    %client,
                    %session,
                    ?other,
                    "a write was not accepted; closing the connection"
                );
                self.close(conn, "the cluster could not take the write");
                return true;
            }
        };
        match (in_flight, reply) {
            (
                InFlight::CreateSession { passwd },
                CoordReply::Session {
                    id,
                    timeout_ms,
                    zxid,
                    ..
                },
            ) => {
                c.session = Some(id);
                c.timeout_ms = timeout_ms;
                c.last_zxid = zxid;
                let response = wire::ConnectResponse {
                    protocol_version: 0,
                    timeout_ms,
                    session_id: id,
                    passwd,
                    read_only: c.read_only_field.then_some(false),
                };
                self.emit(
                    conn,
                    Outgoing::Frame(wire::encode_connect_response(&response)),
                );
                self.touched.insert(id);
            }
            (InFlight::Batch { requests }, CoordReply::Batch(outcomes)) => {
                for ((xid, shape), outcome) in requests.into_iter().zip(outcomes) {
                    match convert::write_reply(shape, outcome.result) {
                        Ok(body) => self.send_reply(conn, xid, outcome.zxid, 0, Some(&body)),
                        Err(code) => self.send_reply(conn, xid, outcome.zxid, code, None),
                    }
                }
            }
            (InFlight::Reconfig(run), CoordReply::Done) => {
                self.on_lines_recorded(tree, conn, run);
            }
            (InFlight::Close { xid }, CoordReply::Closed { zxid }) => {
                self.send_reply(conn, xid, zxid, 0, Some(&wire::Response::Empty));
                self.close(conn, "the client closed its session");
                return true;
            }
            (_, reply) => {
                let (client, session) = self.who(conn);
                warn!(conn, %client, %session, ?reply, "a reply that does not match the request");
                self.close(conn, "internal error");
                return true;
            }
        }
        self.pump(tree, conn);
        true
    }

    /// What the state machine changed, in apply order: watch events, and
    /// the connections of sessions that ended.
    pub fn on_triggers(&mut self, triggers: Vec<Trigger>) {
        for t in triggers {
            match t {
                Trigger::Node {
                    path, kind, acl, ..
                } => {
                    for fired in self.watches.trigger(&path, kind) {
                        // The watch is spent either way; the event goes only
                        // to a client that may read the node (ZooKeeper 3.8
                        // with the CVE-2024-23944 fix, which Debian ships).
                        let may_read = self.conns.get(&fired.conn).is_some_and(|c| {
                            synod_coord::acl::check(&acl, synod_coord::perms::READ, &c.auth).is_ok()
                        });
                        if may_read {
                            self.send_event(fired.conn, fired.kind, &fired.path);
                        }
                    }
                }
                Trigger::SessionClosed { session, .. } => {
                    let gone: Vec<ConnId> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| {
                            c.session == Some(session)
                                && !matches!(c.in_flight, Some(InFlight::Close { .. }))
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    for conn in gone {
                        self.close(conn, "the session expired");
                    }
                    self.touched.remove(&session);
                }
            }
        }
    }

    /// One line per connection, as ZooKeeper's `cons`.
    pub fn describe_connections(&self) -> String {
        let mut out = String::new();
        let mut ids: Vec<&ConnId> = self.conns.keys().collect();
        ids.sort();
        for id in ids {
            let c = &self.conns[id];
            out.push_str(&format!(
                " /{}[1](queued={},recved={},sent={},sid={:#x},lzxid={:#x},to={},age_ms={})\n",
                c.peer,
                c.queue.len(),
                c.received,
                c.sent,
                c.session.unwrap_or(0),
                c.last_zxid,
                c.timeout_ms,
                self.now_ms.saturating_sub(c.opened_ms)
            ));
        }
        out
    }

    /// Requests waiting behind writes, over all connections.
    pub fn outstanding(&self) -> usize {
        self.conns
            .values()
            .map(|c| c.queue.len() + usize::from(c.in_flight.is_some()))
            .sum()
    }
}
