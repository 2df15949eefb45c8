//! Read-only mode (ZooKeeper's `readonlymode.enabled`, `[zk]
//! read_only_mode`): what a server cut off from its leader still serves.
//!
//! *Cut off* means this server has known no leader for
//! `LEADERLESS_CLOSE_MS` (3 s). The engine stops naming a leader one
//! election timeout after it last heard from one (or at once when this
//! server steps down as leader, which it does after an election timeout
//! without a majority), so a server is cut off an election timeout plus
//! 3 s after its quorum went away; ZooKeeper starts its read-only server
//! `max(2 s, tickTime)` into looking for a leader. A server that is cut off
//! closes every other connection and refuses every other client, as it
//! does without read-only mode, so the two never overlap.
//!
//! While cut off, a client whose ConnectRequest asks for read-only
//! (`readOnly = true`) gets a *read-only session*: local to this server and
//! never in the log. Its id carries `READ_ONLY_SESSION_TAG` in the top
//! byte, which a replicated session id never reaches (the tree counts them
//! up from a time shifted into the low 56 bits), so the two can never
//! collide, and a read-write server answers such an id as an unknown
//! session (the client reports it expired and starts over, as with
//! ZooKeeper). Reads are served from the tree this server applied, which
//! may be stale by everything the cluster chose since it was cut off.
//! Every write (and `sync`, `multi`, `check`) is answered `NotReadOnly`
//! (-119), as ZooKeeper's ReadOnlyRequestProcessor does; `closeSession`
//! ends the local session and proposes nothing. A read-only session
//! expires after its negotiated timeout without a request (pings count),
//! on this server's monotonic clock. A client that asks for read-only
//! while reconnecting a replicated session is refused (ZooKeeper:
//! "Refusing global session reconnection in RO mode"): that session lives
//! in the log, which this server cannot reach.
//!
//! When a leader is known again every read-only connection is closed and
//! every read-only session forgotten, as ZooKeeper shuts its read-only
//! server down; clients reconnect, and a read-only client that reaches a
//! server with a leader gets a normal, replicated session (`readOnly =
//! false` in its ConnectResponse).
//!
//! Limits: at most `connections_max` read-only sessions at once (a session
//! outlives its connection until its timeout, at most
//! `max_session_timeout_ms`), each about 40 bytes (id, 16-byte password,
//! timeout, last request time); a connect beyond that is refused.

use super::{Conn, ZkFront, LEADERLESS_CLOSE_MS};
use crate::convert;
use crate::watches::ConnId;
use crate::Outgoing;
use std::collections::BTreeMap;
use synod_coord::{ErrorCode, Tree};
use synod_zkproto as wire;
use tracing::info;

/// The top byte of every read-only session id (`0x7E`): replicated ids
/// keep their top byte zero, and the ephemeral-owner encodings (containers,
/// TTLs) have their top bit set.
pub const READ_ONLY_SESSION_TAG: i64 = 0x7E << 56;

/// Whether `session` is a read-only (local) session's id.
pub fn is_read_only_session(session: i64) -> bool {
    session >> 56 == READ_ONLY_SESSION_TAG >> 56
}

/// What this server serves ZooKeeper clients now (the `isro` word, the
/// `Mode` of `srvr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingMode {
    /// It knows a leader (or has not been without one for long): every
    /// client is served.
    ReadWrite,
    /// Cut off, in read-only mode: only read-only clients, only reads.
    ReadOnly,
    /// Cut off without read-only mode: no client is served (ZooKeeper's
    /// `isro` answers "null" while its server is not running).
    NotServing,
}

/// A read-only session, as this server alone knows it.
struct ReadOnlySession {
    passwd: Vec<u8>,
    timeout_ms: i32,
    /// The last request from its client (monotonic ms).
    heard_ms: u64,
}

/// The read-only sessions of a cut-off server, by id.
#[derive(Default)]
pub(super) struct ReadOnlySessions {
    sessions: BTreeMap<i64, ReadOnlySession>,
}

impl ReadOnlySessions {
    /// A request arrived on the session's connection.
    pub(super) fn heard(&mut self, session: i64, now_ms: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.heard_ms = now_ms;
        }
    }
}

impl ZkFront {
    /// Whether this server has known no leader for `LEADERLESS_CLOSE_MS`.
    fn cut_off(&self) -> bool {
        self.leaderless_since
            .is_some_and(|since| self.now_ms.saturating_sub(since) >= LEADERLESS_CLOSE_MS)
    }

    /// What this server serves now (as of the last `on_timer`).
    pub fn serving_mode(&self) -> ServingMode {
        match (self.cut_off(), self.limits.read_only_mode) {
            (false, _) => ServingMode::ReadWrite,
            (true, true) => ServingMode::ReadOnly,
            (true, false) => ServingMode::NotServing,
        }
    }

    /// Read-only sessions held now.
    pub fn read_only_sessions(&self) -> usize {
        self.read_only.sessions.len()
    }

    /// Why a ConnectRequest is refused because this server is cut off, if
    /// it is.
    pub(super) fn refusal_while_cut_off(&self, connect: &wire::ConnectRequest) -> Option<String> {
        const NO_LEADER: &str = "this server has no leader (no quorum)";
        match self.serving_mode() {
            ServingMode::ReadWrite => None,
            ServingMode::NotServing => Some(NO_LEADER.into()),
            ServingMode::ReadOnly if connect.read_only != Some(true) => {
                Some(format!("{NO_LEADER} and serves read-only clients only"))
            }
            ServingMode::ReadOnly
                if connect.session_id != 0 && !is_read_only_session(connect.session_id) =>
            {
                Some(format!(
                    "{NO_LEADER}: replicated session {:#x} cannot be renewed on a read-only server",
                    connect.session_id
                ))
            }
            ServingMode::ReadOnly
                if connect.session_id == 0
                    && self.read_only.sessions.len() >= self.limits.connections_max =>
            {
                Some(format!(
                    "{} read-only sessions are open, the limit ([zk] connections_max)",
                    self.read_only.sessions.len()
                ))
            }
            ServingMode::ReadOnly => None,
        }
    }

    /// Opens a read-only client's connection: a new local session, or the
    /// session it reconnects. `conn` is the connection as `open` built it.
    pub(super) fn open_read_only(
        &mut self,
        id: ConnId,
        mut conn: Conn,
        connect: &wire::ConnectRequest,
        passwd: Vec<u8>,
    ) -> ConnId {
        let now_ms = self.now_ms;
        let (session, response) = if connect.session_id == 0 {
            let session = self.new_read_only_id();
            let response = wire::ConnectResponse {
                protocol_version: 0,
                timeout_ms: conn.timeout_ms,
                session_id: session,
                passwd: passwd.clone(),
                read_only: Some(true),
            };
            self.read_only.sessions.insert(
                session,
                ReadOnlySession {
                    passwd,
                    timeout_ms: conn.timeout_ms,
                    heard_ms: now_ms,
                },
            );
            (session, response)
        } else {
            let known = self
                .read_only
                .sessions
                .get_mut(&connect.session_id)
                .filter(|s| s.passwd == connect.passwd);
            let Some(known) = known else {
                self.emit(
                    id,
                    Outgoing::Frame(wire::encode_connect_response(
                        &wire::ConnectResponse::expired(connect.read_only),
                    )),
                );
                self.emit(
                    id,
                    Outgoing::Close(format!(
                        "read-only session {:#x} is unknown or expired",
                        connect.session_id
                    )),
                );
                return id;
            };
            known.heard_ms = now_ms;
            conn.timeout_ms = known.timeout_ms;
            let response = wire::ConnectResponse {
                protocol_version: 0,
                timeout_ms: known.timeout_ms,
                session_id: connect.session_id,
                passwd: connect.passwd.clone(),
                read_only: Some(true),
            };
            // A session lives on one connection: an older one is stale.
            self.close_session_conns(connect.session_id, "the session reconnected");
            (connect.session_id, response)
        };
        conn.session = Some(session);
        info!(conn = id, client = %conn.peer, session = format!("{session:#x}"), "a read-only session (no leader: reads may be stale)");
        self.conns.insert(id, conn);
        self.emit(
            id,
            Outgoing::Frame(wire::encode_connect_response(&response)),
        );
        id
    }

    /// A fresh read-only session id: the tag and 56 random bits, drawn
    /// again while it names a live read-only session.
    fn new_read_only_id(&mut self) -> i64 {
        loop {
            let low = (self.rng.next_u64() >> 8) as i64;
            let id = READ_ONLY_SESSION_TAG | low;
            if !self.read_only.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// A request of read-only `session` that the log would have to take:
    /// a write is answered `NotReadOnly`, `closeSession` ends the local
    /// session. Returns whether it was handled here.
    pub(super) fn serve_read_only_write(
        &mut self,
        tree: &Tree,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: &wire::Request,
    ) -> bool {
        let zxid = tree.last_zxid();
        if convert::is_write(req) {
            self.send_reply(conn, xid, zxid, ErrorCode::NotReadOnly.code(), None);
            return true;
        }
        if matches!(req, wire::Request::CloseSession) {
            self.read_only.sessions.remove(&session);
            self.send_reply(conn, xid, zxid, 0, Some(&wire::Response::Empty));
            self.close(conn, "the client closed its read-only session");
            return true;
        }
        false
    }

    /// Called on every timer with whether a leader is known: tracks how
    /// long this server has been without one, and while cut off closes
    /// every connection but read-only ones and expires read-only sessions
    /// that went quiet; with a leader back, ends read-only mode.
    pub(super) fn track_leader(&mut self, has_leader: bool) {
        let now = self.now_ms;
        if has_leader {
            self.leaderless_since = None;
            self.end_read_only();
            return;
        }
        self.leaderless_since.get_or_insert(now);
        if !self.cut_off() {
            return;
        }
        let others: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.session.is_some_and(is_read_only_session))
            .map(|(id, _)| *id)
            .collect();
        for conn in others {
            self.close(conn, "this server has no leader (no quorum)");
        }
        let expired: Vec<i64> = self
            .read_only
            .sessions
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.heard_ms) >= s.timeout_ms.max(0) as u64)
            .map(|(id, _)| *id)
            .collect();
        for session in expired {
            self.read_only.sessions.remove(&session);
            self.close_session_conns(session, "the read-only session expired");
        }
    }

    /// A leader is known again: every read-only connection is closed (its
    /// client looks for a read-write server) and every read-only session
    /// forgotten.
    fn end_read_only(&mut self) {
        if self.read_only.sessions.is_empty() {
            return;
        }
        let sessions = std::mem::take(&mut self.read_only.sessions);
        info!(
            sessions = sessions.len(),
            "a leader is known again: closing the read-only sessions"
        );
        for session in sessions.into_keys() {
            self.close_session_conns(session, "this server has a leader again (read-write)");
        }
    }

    fn close_session_conns(&mut self, session: i64, reason: &str) {
        let on: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.session == Some(session))
            .map(|(id, _)| *id)
            .collect();
        for conn in on {
            self.close(conn, reason);
        }
    }
}
