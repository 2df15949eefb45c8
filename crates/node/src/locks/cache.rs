//! Chubby's consistent client cache (section 2.5), on the leader: which
//! sessions may cache which znode, and the gate that holds a write until
//! every session that may cache what it changes has flushed it.
//!
//! # What a client may cache
//!
//! A lock session that asked for it (`CoordOp::CacheSession`, replicated,
//! so a new leader knows) may keep what `GetContentsAndStat` answered
//! when the answer says it may (`cached` is this leader's term): the data
//! and the Stat's data and ACL fields of a *persistent* znode, or the
//! absence of a znode. Never an ephemeral, TTL or container znode, nor
//! anything under `/zookeeper`: those change without a client's write (a
//! session's expiry, a TTL, a container's cleanup, a reconfig), and only
//! writes pass the gate. A cached Stat's child fields (`cversion`,
//! `num_children`, `pzxid`) are not covered: the client drops them.
//!
//! # The gate
//!
//! Every command this node proposes while it leads passes `admit`: the
//! front door's proposals, the lock door's commands, the commands
//! followers forward, native writes. Its *targets* are the paths its
//! writes change (a sequential create: every child of its parent, since
//! the name is chosen at apply). A command is held when a target is
//! registered to a session, or while a new leader still waits for caching
//! sessions (below), or when an earlier command of the same client is
//! held (a client's commands stay in order). Each registered session is
//! sent an invalidation of the path (its held keepalive is answered at
//! once); the command goes into the log when every such session
//! acknowledged it (the `acked` number of its next keepalive) or its lease
//! ran out here (`lease_until_us`: the last keepalive's arrival plus the
//! session timeout; a client flushes its cache when its own lease runs out,
//! which is earlier). Meanwhile, and until the command is applied, a fill
//! of a target is answered but not cacheable: reads never wait.
//!
//! # A new leader
//!
//! A new leader knows no registration. Until each caching session sent it
//! a keepalive with `cache_term` equal to its term (the client flushed its
//! whole cache when it first heard the new term) or a session timeout
//! passed since it took over, it holds every command with a target. A
//! follower that takes over hands the writes it held for its clients back
//! to its front door (`EngineConfig::return_held_on_takeover`), so they
//! come through the gate too.
//!
//! # Limits
//!
//! `ENTRIES_MAX` registrations per node and `SESSION_ENTRIES_MAX` per
//! session (beyond, fills are answered not cacheable); `HELD_MAX` held
//! commands and `HELD_BYTES_MAX` of their bytes (beyond, a command is
//! refused `Busy`, or a forward dropped for the follower to send again).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use synod_coord::{CoordOp, Tree, Write};
use synod_front::front::COORD_TAG;
use synod_paxos::{ClientId, Input, Micros};

/// Registrations (session, path) a node keeps at most.
pub const ENTRIES_MAX: usize = 100_000;
/// Registrations one session may hold at most.
pub const SESSION_ENTRIES_MAX: usize = 10_000;
/// Commands held by the gate at most.
pub const HELD_MAX: usize = 10_000;
/// Bytes of the commands held by the gate at most.
pub const HELD_BYTES_MAX: usize = 64 << 20;

/// What a write changes that a cache may hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Path(String),
    /// Every child of this path (a sequential create's unknown name).
    ChildrenOf(String),
}

/// The targets of a command's op (empty for anything not a coordination
/// batch: sessions, ticks, locks, key-value writes).
pub fn targets(op: &[u8]) -> Vec<Target> {
    let Some((&COORD_TAG, rest)) = op.split_first() else {
        return Vec::new();
    };
    let Ok(op) = CoordOp::decode(rest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for w in op.batch_writes().unwrap_or_default() {
        write_targets(w, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn write_targets(w: &Write, out: &mut Vec<Target>) {
    match w {
        Write::Create { path, mode, .. } | Write::CreateNull { path, mode, .. } => {
            if mode.is_sequential() {
                out.push(Target::ChildrenOf(parent(path).to_string()));
            } else {
                out.push(Target::Path(path.clone()));
            }
        }
        Write::Delete { path, .. }
        | Write::SetData { path, .. }
        | Write::SetNullData { path, .. }
        | Write::SetAcl { path, .. } => out.push(Target::Path(path.clone())),
        Write::Multi(ws) => ws.iter().for_each(|w| write_targets(w, out)),
        Write::Check { .. } | Write::Sync { .. } => {}
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether a fill of `path` from `tree` may be cached: the znode is
/// absent or plainly persistent (`Tree::changes_only_by_writes`: the
/// Stat's `ephemeral_owner` does not tell, it reads 0 for TTL and
/// container znodes as in ZooKeeper), and not under `/zookeeper`.
pub fn cacheable_kind(tree: &Tree, path: &str) -> bool {
    let system = path == "/zookeeper" || path.starts_with("/zookeeper/");
    !system && tree.changes_only_by_writes(path)
}

/// One session's side of the cache.
#[derive(Debug, Default)]
struct Cacher {
    paths: BTreeSet<String>,
    /// Invalidations not acknowledged, by number.
    unacked: BTreeMap<u64, String>,
    /// Whether an invalidation was queued since the last answer.
    news: bool,
    /// Until when (local µs) the session's client may trust its cache, as
    /// far as this node can tell.
    lease_until_us: Micros,
}

/// A command the gate holds, and what it waits for.
pub struct Held {
    pub input: Input,
    pub client: ClientId,
    pub seq: u64,
    targets: Vec<Target>,
    bytes: usize,
}

impl Held {
    /// A command the gate never took (to answer it).
    pub fn new(input: Input, client: ClientId, seq: u64) -> Self {
        Held {
            input,
            client,
            seq,
            targets: Vec::new(),
            bytes: 0,
        }
    }
}

/// What `admit` did with a command.
pub enum Admit {
    /// Propose it now.
    Go(Input),
    Held,
    /// The gate is full: refuse it (`Busy`) or drop a forward.
    Full(Input),
}

/// The leader's cache bookkeeping (see the module's documentation).
#[derive(Default)]
pub struct CacheGate {
    /// The term this node leads in, 0 when it does not lead.
    term: u64,
    /// When this node finished phase 1 in `term` (it leads, preparing,
    /// before): the old leader answered no keepalive after that.
    active_since: Option<Micros>,
    /// Caching sessions this leader waits for, with their timeouts: each
    /// until it acknowledged the term or a timeout from `active_since`.
    failover: HashMap<i64, i32>,
    /// Sessions that sent a keepalive with `cache_term == term`.
    flushed: HashSet<i64>,
    /// `Tree::caching_marks` when `failover` was last computed.
    marks_seen: Option<u64>,
    holders: BTreeMap<String, BTreeSet<i64>>,
    entries: usize,
    cachers: HashMap<i64, Cacher>,
    /// Admitted commands with targets, until the engine no longer has them
    /// on their way into the log.
    in_flight: HashMap<Target, Vec<(ClientId, u64)>>,
    held: VecDeque<Held>,
    held_bytes: usize,
    held_clients: HashMap<ClientId, usize>,
    /// (client, seq) of every held command: a follower's retry of a
    /// forward held here is known without a walk of `held`.
    held_ids: HashSet<(ClientId, u64)>,
    /// The number of the last invalidation queued, in this term (so a
    /// client's `acked` never covers a later one).
    invalidations: u64,
    /// `NodeBug::NoFailoverWait` (`bugs.rs`): a new leader waits for no
    /// caching session. Always false without the `broken` feature.
    #[cfg(feature = "broken")]
    pub(crate) no_failover_wait: bool,
}

impl CacheGate {
    /// Called before anything else in every step: this node leads in
    /// `term` (0: it does not lead), `active` once phase 1 is done; `tree`
    /// is its applied state. On a change of term everything is
    /// forgotten and the held commands are returned for the node to
    /// answer. A leader waits for every caching session of its tree
    /// (sessions whose `CacheSession` it applies later too: it may have
    /// been chosen under the old leader).
    pub fn sync(&mut self, term: u64, active: bool, now_us: Micros, tree: &Tree) -> Vec<Held> {
        let mut held = Vec::new();
        if term != self.term {
            held = std::mem::take(&mut self.held).into();
            *self = CacheGate {
                term,
                #[cfg(feature = "broken")]
                no_failover_wait: self.no_failover_wait,
                ..CacheGate::default()
            };
        }
        if term == 0 {
            return held;
        }
        if active && self.active_since.is_none() {
            self.active_since = Some(now_us);
        }
        #[cfg(feature = "broken")]
        if self.no_failover_wait {
            self.marks_seen = Some(tree.caching_marks());
        }
        if self.marks_seen != Some(tree.caching_marks()) {
            self.marks_seen = Some(tree.caching_marks());
            for s in tree.caching_sessions() {
                if !self.flushed.contains(&s) {
                    let timeout = tree.session(s).map_or(0, |i| i.timeout_ms);
                    self.failover.insert(s, timeout);
                }
            }
        }
        if let Some(since) = self.active_since {
            self.failover
                .retain(|_, timeout| since.saturating_add(lease_us(*timeout)) > now_us);
        }
        held
    }

    /// This leader answered `session`'s `CacheSession`: its client caches
    /// from now on, so a new leader's wait does not concern it.
    pub fn caching_from_now(&mut self, session: i64) {
        if self.term != 0 {
            self.failover.remove(&session);
            self.flushed.insert(session);
        }
    }

    /// Whether this leader still waits for caching sessions.
    pub fn in_failover(&self) -> bool {
        !self.failover.is_empty()
    }

    /// The term the cache answers carry (0: not leading).
    pub fn term(&self) -> u64 {
        self.term
    }

    /// A keepalive of `session` arrived: its client applied every
    /// invalidation up to `acked` and caches under `cache_term`; its lease
    /// may now run until `timeout_ms` from now.
    pub fn on_keepalive(
        &mut self,
        session: i64,
        cache_term: u64,
        acked: u64,
        timeout_ms: i32,
        now_us: Micros,
    ) {
        if self.term == 0 {
            return;
        }
        let c = self.cachers.entry(session).or_default();
        c.lease_until_us = c
            .lease_until_us
            .max(now_us.saturating_add(lease_us(timeout_ms)));
        if cache_term != self.term {
            // Its acks count invalidations of another term.
            return;
        }
        self.failover.remove(&session);
        self.flushed.insert(session);
        let done: Vec<u64> = c.unacked.range(..=acked).map(|(n, _)| *n).collect();
        for n in done {
            if let Some(path) = c.unacked.remove(&n) {
                if c.paths.remove(&path) {
                    self.entries -= 1;
                    unregister(&mut self.holders, &path, session);
                }
            }
        }
        if c.paths.is_empty() && c.unacked.is_empty() {
            c.news = false;
        }
    }

    /// A fill of `path` for `session` was answered from the tree: whether
    /// it may be cached (under `term()`), registering it if so.
    /// `in_flight(client, seq)` says whether the engine still has a
    /// command on its way into the log.
    ///
    /// Only a caching session (`caching_session`) whose lease this node
    /// granted and that has not run out may register: its registrations
    /// last until its lease here ends, and when that passes its client
    /// has flushed them (its own lease ends first).
    pub fn on_fill(
        &mut self,
        session: i64,
        path: &str,
        caching_session: bool,
        now_us: Micros,
        in_flight: impl Fn(ClientId, u64) -> bool,
    ) -> bool {
        if self.term == 0 || !caching_session || self.entries >= ENTRIES_MAX {
            return false;
        }
        let leased = self
            .cachers
            .get(&session)
            .is_some_and(|c| c.lease_until_us > now_us && c.paths.len() < SESSION_ENTRIES_MAX);
        if !leased || self.pending(path, in_flight) {
            return false;
        }
        let c = self.cachers.entry(session).or_default();
        if c.paths.insert(path.to_string()) {
            self.entries += 1;
            self.holders
                .entry(path.to_string())
                .or_default()
                .insert(session);
        }
        true
    }

    /// Whether a write held or on its way may change `path`.
    fn pending(&mut self, path: &str, in_flight: impl Fn(ClientId, u64) -> bool) -> bool {
        let mine = Target::Path(path.to_string());
        let siblings = Target::ChildrenOf(parent(path).to_string());
        if self
            .held
            .iter()
            .any(|h| h.targets.contains(&mine) || h.targets.contains(&siblings))
        {
            return true;
        }
        [mine, siblings].into_iter().any(|t| {
            let Some(cmds) = self.in_flight.get_mut(&t) else {
                return false;
            };
            cmds.retain(|(c, s)| in_flight(*c, *s));
            if cmds.is_empty() {
                self.in_flight.remove(&t);
                false
            } else {
                true
            }
        })
    }

    /// Takes a command the node would propose. `targets` are
    /// `targets(op)`; `bytes` its size.
    pub fn admit(
        &mut self,
        input: Input,
        client: ClientId,
        seq: u64,
        targets: Vec<Target>,
        bytes: usize,
        now_us: Micros,
    ) -> Admit {
        if self.term == 0 {
            return Admit::Go(input);
        }
        if self.held_ids.contains(&(client, seq)) {
            // A follower's retry of a forward held here.
            return Admit::Held;
        }
        let behind = self.held_clients.contains_key(&client);
        if !behind && self.blockers(&targets, now_us).is_empty() {
            self.fly(&targets, client, seq);
            return Admit::Go(input);
        }
        if self.held.len() >= HELD_MAX || self.held_bytes + bytes > HELD_BYTES_MAX {
            return Admit::Full(input);
        }
        for session in self.blockers(&targets, now_us) {
            if session != FAILOVER {
                self.invalidate(session, &targets);
            }
        }
        self.held_bytes += bytes;
        *self.held_clients.entry(client).or_default() += 1;
        self.held_ids.insert((client, seq));
        self.held.push_back(Held {
            input,
            client,
            seq,
            targets,
            bytes,
        });
        Admit::Held
    }

    /// Held commands whose wait is over, in order, to propose now.
    pub fn release(&mut self, now_us: Micros) -> Vec<Input> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut blocked_clients = BTreeSet::new();
        let mut keep = VecDeque::new();
        for h in std::mem::take(&mut self.held) {
            if blocked_clients.contains(&h.client) || !self.blockers(&h.targets, now_us).is_empty()
            {
                blocked_clients.insert(h.client);
                keep.push_back(h);
                continue;
            }
            self.held_bytes -= h.bytes;
            self.held_ids.remove(&(h.client, h.seq));
            if let Some(n) = self.held_clients.get_mut(&h.client) {
                *n -= 1;
                if *n == 0 {
                    self.held_clients.remove(&h.client);
                }
            }
            self.fly(&h.targets, h.client, h.seq);
            out.push(h.input);
        }
        self.held = keep;
        out
    }

    /// Sessions that must flush before a write of `targets`; `FAILOVER`
    /// while a new leader still waits. Ends waits whose time is up.
    fn blockers(&mut self, targets: &[Target], now_us: Micros) -> Vec<i64> {
        if targets.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.failover.is_empty() {
            out.push(FAILOVER);
        }
        let mut sessions = BTreeSet::new();
        for t in targets {
            match t {
                Target::Path(p) => {
                    if let Some(s) = self.holders.get(p) {
                        sessions.extend(s.iter().copied());
                    }
                }
                Target::ChildrenOf(p) => {
                    let prefix = if p == "/" {
                        "/".to_string()
                    } else {
                        format!("{p}/")
                    };
                    for (path, s) in self.holders.range(prefix.clone()..) {
                        let Some(rest) = path.strip_prefix(&prefix) else {
                            break;
                        };
                        if !rest.is_empty() && !rest.contains('/') {
                            sessions.extend(s.iter().copied());
                        }
                    }
                }
            }
        }
        for session in sessions {
            let lease_over = self
                .cachers
                .get(&session)
                .is_none_or(|c| c.lease_until_us <= now_us);
            if lease_over {
                self.forget(session);
            } else {
                out.push(session);
            }
        }
        out
    }

    /// Queues invalidations of `targets` for `session`.
    fn invalidate(&mut self, session: i64, targets: &[Target]) {
        let Some(c) = self.cachers.get_mut(&session) else {
            return;
        };
        for path in c.paths.iter() {
            let hit = targets.iter().any(|t| match t {
                Target::Path(p) => p == path,
                Target::ChildrenOf(p) => parent(path) == p && path != p,
            });
            if hit && !c.unacked.values().any(|u| u == path) {
                self.invalidations += 1;
                c.unacked.insert(self.invalidations, path.clone());
                c.news = true;
            }
        }
    }

    /// A session whose lease ran out (or ended): its client's cache is
    /// flushed, so its registrations go.
    pub fn forget(&mut self, session: i64) {
        if let Some(c) = self.cachers.remove(&session) {
            for p in c.paths {
                self.entries -= 1;
                unregister(&mut self.holders, &p, session);
            }
        }
        self.failover.remove(&session);
        self.flushed.remove(&session);
    }

    fn fly(&mut self, targets: &[Target], client: ClientId, seq: u64) {
        for t in targets {
            self.in_flight
                .entry(t.clone())
                .or_default()
                .push((client, seq));
        }
    }

    /// Drops in-flight records the engine is done with (bounded memory).
    pub fn prune(&mut self, in_flight: impl Fn(ClientId, u64) -> bool) {
        self.in_flight.retain(|_, cmds| {
            cmds.retain(|(c, s)| in_flight(*c, *s));
            !cmds.is_empty()
        });
    }

    /// Sessions with invalidations not yet sent.
    pub fn ready(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .cachers
            .iter()
            .filter(|(_, c)| c.news)
            .map(|(s, _)| *s)
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether invalidations for `session` wait to be sent.
    pub fn has_news(&self, session: i64) -> bool {
        self.cachers.get(&session).is_some_and(|c| c.news)
    }

    /// What a keepalive answer for `session` carries: this node's term,
    /// the number of the last invalidation not acknowledged, and all of
    /// them (sent again until acknowledged).
    pub fn take_news(&mut self, session: i64) -> (u64, u64, Vec<String>) {
        let term = self.term;
        match self.cachers.get_mut(&session) {
            Some(c) => {
                c.news = false;
                let last = c.unacked.keys().next_back().copied().unwrap_or(0);
                (term, last, c.unacked.values().cloned().collect())
            }
            None => (term, 0, Vec::new()),
        }
    }

    /// Commands held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Registrations now.
    pub fn entries(&self) -> usize {
        self.entries
    }
}

/// The `blockers` entry that stands for a new leader's wait.
const FAILOVER: i64 = 0;

/// How long a client may trust its cache after a keepalive with this
/// session timeout (its own lease is shorter by its margin).
fn lease_us(timeout_ms: i32) -> Micros {
    Micros::try_from(timeout_ms.max(0)).unwrap_or(0) * 1000
}

fn unregister(holders: &mut BTreeMap<String, BTreeSet<i64>>, path: &str, session: i64) {
    if let Some(s) = holders.get_mut(path) {
        s.remove(&session);
        if s.is_empty() {
            holders.remove(path);
        }
    }
}
