//! Chubby's locks from Rust: a [`LockSession`] with keepalives, jeopardy
//! and grace, and [`LockHandle`]s that acquire, release and hand out
//! sequencers.
//!
//! # The session and its local lease
//!
//! [`LockSession::open`] opens a session on the cluster (the leader
//! answers) and starts a keepalive task. A keepalive is applied through the
//! log and answered with whether the session still lives; the answer to a
//! keepalive sent at local time `t` proves the session lives until at
//! least `t + timeout` on the leader's log clock. The library keeps a
//! *local lease* a margin short of that (`LEASE_MARGIN`: the leader's
//! log-time tick, message delays and clock drift) and keeps one keepalive
//! outstanding: the leader holds it for up to a third of what is left of
//! the local lease and answers early with the session's events
//! ([`LockSession::events`]), and the next goes out when it is answered
//! (about one keepalive per quarter of the lease).
//!
//! - **Safe**: the local lease runs. Held locks are held.
//! - **Jeopardy**: the local lease ran out without a keepalive answer (the
//!   leader died, a partition, a long pause of this process). The session
//!   may have expired on the cluster. Keepalives go on, to any node, for
//!   the grace period ([`LockOptions::grace`], 45 s as in Chubby). A lock
//!   holder must stop acting on its locks until it is safe again;
//!   sequencers it hands out then may be refused.
//! - Back to **Safe** when a keepalive succeeds within the grace period (a
//!   new leader gives every session a full timeout, so a failover does not
//!   expire healthy sessions).
//! - **Expired**: the cluster said the session has ended, or the grace
//!   period ran out. Its locks are gone (released after their
//!   lock-delay); open a new session.
//!
//! [`LockSession::state`] reads the state; [`LockSession::watch_state`]
//! follows it.
//!
//! # The consistent cache
//!
//! A session opened with [`LockOptions::cache`] (the default) is marked a
//! caching session on the cluster, and [`LockHandle::get_contents_and_stat`]
//! answers from a local cache when it can: Chubby's consistent client
//! cache. A read the cache cannot answer asks the leader, which says
//! whether the answer may be kept (a persistent znode's data and Stat, or
//! a znode's absence; never an ephemeral, TTL or container znode, nothing
//! under `/zookeeper`). The leader remembers who may cache what, and holds
//! every write to such a znode (whichever client writes it, ZooKeeper
//! clients too) until this session's keepalive task dropped the entry and
//! acknowledged it, or this session's lease ran out there. So a cached
//! read is linearizable: it never returns a value older than a write that
//! completed before the read began.
//!
//! - The cache is used only while the session is *safe* (the local lease
//!   runs); in jeopardy it is dropped whole, and filled again afterwards.
//! - A keepalive answer from a new leader (another `term`) drops it whole
//!   too, before the next keepalive says so: the new leader does not know
//!   what the old one let this session cache, and holds writes until every
//!   caching session flushed or a session timeout passed.
//! - Invalidated entries are dropped, never updated; the next read asks
//!   the leader again. A write of this session drops its own entry first.
//! - From a caching session the Stat's child fields (`cversion`,
//!   `num_children`, `pzxid`) are -1: children come and go without a write
//!   the cache sees (an ephemeral child's session expires), and Chubby's
//!   metadata has no such fields.

use std::sync::Arc;
use std::time::Duration;

use std::collections::{BTreeMap, HashMap};
use synod_api::pb::{self, lock_client::LockClient};

use tokio::sync::{broadcast, watch, Mutex};
use tokio::time::Instant;

use crate::client::{refused, Answer};
use crate::{Client, ClientError, ClientOptions};

/// What the local lease leaves out of the session timeout: the leader's
/// log-time tick (500 ms), message delays and clock drift.
pub const LEASE_MARGIN: Duration = Duration::from_millis(1500);

/// How often a waiting acquire is asked again (see `LockHandle::acquire`).
pub const WAIT_REASK: Duration = Duration::from_secs(30);

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One holder (a writer).
    Exclusive,
    /// Many holders (readers).
    Shared,
}

/// Settings of a [`LockSession`].
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// The client settings of the session's calls.
    pub client: ClientOptions,
    /// The session timeout asked for (the servers clamp it to their `[zk]`
    /// session timeout bounds, 4 s to 40 s by default).
    pub session_timeout: Duration,
    /// How long the session stays in jeopardy before the library gives it
    /// up as expired.
    pub grace: Duration,
    /// Whether the session caches what `get_contents_and_stat` reads (see
    /// the module docs).
    pub cache: bool,
    /// Entries the cache keeps at most (the leader registers at most
    /// 10,000 per session); a read beyond it is answered but not kept.
    pub cache_entries_max: usize,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            client: ClientOptions::default(),
            session_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(45),
            cache: true,
            cache_entries_max: 10_000,
        }
    }
}

/// A session's state as the library sees it (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// The local lease runs.
    Safe,
    /// The local lease ran out; keepalives go on for the grace period.
    Jeopardy,
    /// The session has ended; its locks are gone.
    Expired,
}

/// Why a lock call failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The cluster refused the call; `code` is a stable name
    /// (`conflict`, `session-expired`, `no-node`, `no-auth`, ...).
    #[error("{code}: {message}")]
    Failed {
        /// The stable name of the failure.
        code: String,
        /// What it means.
        message: String,
    },
    /// The call did not reach a leader, or was refused outright.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl LockError {
    /// The stable failure name, if the cluster refused the call.
    pub fn code(&self) -> Option<&str> {
        match self {
            LockError::Failed { code, .. } => Some(code),
            LockError::Client(_) => None,
        }
    }
}

fn failed(f: pb::LockFailed) -> LockError {
    LockError::Failed {
        code: f.code,
        message: f.message,
    }
}

/// A lock as `Status` shows it.
pub type LockState = pb::LockState;

/// Why a sequencer is not valid: a stable code (`free`, `superseded`,
/// `not-holder`, `wrong-mode`, `unparsable`) and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct InvalidSequencer {
    /// The stable name.
    pub code: String,
    /// What it means.
    pub message: String,
}

/// What a session shares with its keepalive task and its handles.
struct Shared {
    endpoints: Vec<String>,
    options: LockOptions,
    session: i64,
    state: watch::Sender<SessionState>,
    /// What the session subscribed to: path and `event` mask bits.
    subscriptions: std::sync::Mutex<BTreeMap<String, u32>>,
    /// Events as keepalives bring them.
    events: broadcast::Sender<Event>,
    /// The consistent cache (see the module docs).
    cache: std::sync::Mutex<Cache>,
    /// The term of the leader that last answered a keepalive, and the
    /// address it answered at: a waiting acquire asks again there when it
    /// changes (`LockHandle::acquire`).
    leader: watch::Sender<(u64, Option<String>)>,
}

/// What `get_contents_and_stat` answers: data (`None`: null) and Stat, or
/// the failure (no-node is cached as the znode's absence).
type Contents = Result<(Option<Vec<u8>>, pb::ZnodeStat), pb::LockFailed>;

/// The consistent cache of a session.
#[derive(Default)]
struct Cache {
    /// The cluster marked the session a caching session.
    enabled: bool,
    /// The leader term the entries were filled under (0: none yet).
    term: u64,
    /// The number of the last invalidation applied under `term`.
    acked: u64,
    /// Bumped by every flush and invalidation: a fill asked before one is
    /// not kept.
    generation: u64,
    /// The local lease: entries are used only before it.
    lease: Option<Instant>,
    entries: HashMap<String, Contents>,
    hits: u64,
    misses: u64,
}

impl Cache {
    fn flush(&mut self) {
        self.entries.clear();
        self.generation += 1;
    }

    /// A keepalive answer from the leader of `term`: a new leader's drops
    /// everything; then the invalidated paths go.
    fn on_alive(&mut self, term: u64, invalidated: &[String], invalidation: u64, lease: Instant) {
        if term != self.term {
            self.flush();
            self.term = term;
            self.acked = 0;
        }
        if !invalidated.is_empty() {
            for path in invalidated {
                self.entries.remove(path);
            }
            self.generation += 1;
        }
        self.acked = self.acked.max(invalidation);
        self.lease = Some(lease);
    }

    /// The cached answer for `path`, if the lease still runs.
    fn get(&mut self, path: &str) -> Option<Contents> {
        let valid = self.enabled && self.lease.is_some_and(|l| Instant::now() < l);
        let hit = valid.then(|| self.entries.get(path).cloned()).flatten();
        match hit {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        hit
    }
}

/// Hits and misses of a session's cache so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that asked the leader.
    pub misses: u64,
}

impl Shared {
    /// The cache's answer for `path`, if it has one and may use it.
    fn cached(&self, path: &str) -> Option<Contents> {
        self.cache().get(path)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .expect("the cache's lock is never poisoned")
    }

    fn subscriptions(&self) -> Vec<pb::Subscription> {
        self.subscriptions
            .lock()
            .expect("the subscriptions' lock is never poisoned")
            .iter()
            .map(|(path, mask)| pb::Subscription {
                path: path.clone(),
                mask: *mask,
            })
            .collect()
    }
}

/// A Chubby event (see `event` for the mask bits that subscribe to each):
/// `kind` is contents-modified, child-added, child-removed, child-modified,
/// handle-invalid, lock-acquired, conflicting-lock-request,
/// master-failover or events-lost.
pub type Event = pb::LockEvent;

/// The bits of a subscription's mask.
pub mod event {
    /// The znode's data changed.
    pub const CONTENTS: u32 = 1;
    /// A child was added, removed or its data changed.
    pub const CHILDREN: u32 = 2;
    /// Someone acquired the lock (a primary was elected).
    pub const LOCK_ACQUIRED: u32 = 4;
    /// Someone else asked for a lock this session holds.
    pub const CONFLICT: u32 = 8;
    /// The znode was deleted.
    pub const INVALID: u32 = 16;
    /// Everything.
    pub const ALL: u32 = 31;
}

/// Events a session's channel buffers for a slow receiver; past it the
/// receiver is told it lagged.
pub const EVENTS_BUFFERED: usize = 1024;

/// An open session: its locks live while it does.
pub struct LockSession {
    shared: Arc<Shared>,
    /// Session-level commands (close, create) and reads.
    calls: Mutex<Client>,
    keepalive: tokio::task::JoinHandle<()>,
}

impl LockSession {
    /// Opens a session on the cluster at `endpoints` and starts keeping it
    /// alive.
    pub async fn open(
        endpoints: Vec<String>,
        options: LockOptions,
    ) -> Result<LockSession, ClientError> {
        let mut calls = Client::connect(endpoints.clone(), options.client.clone()).await?;
        let request = pb::OpenSessionRequest {
            client_id: calls.client_id(),
            seq: calls.take_seq(),
            timeout_ms: u32::try_from(options.session_timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let sent = Instant::now();
        let opened = calls
            .call_stub(true, move |stub| {
                let request = request;
                async move {
                    use pb::open_session_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(
                        match stub.open_session(request).await?.into_inner().result {
                            Some(R::Opened(o)) => Answer::Done(o),
                            Some(R::Refusal(r)) => refused(r),
                            None => Answer::Malformed("OpenSessionResponse without a result"),
                        },
                    )
                }
            })
            .await?;
        let (state, _) = watch::channel(SessionState::Safe);
        let (events, _) = broadcast::channel(EVENTS_BUFFERED);
        let lease = lease_end(sent, opened.timeout_ms);
        if options.cache {
            let request = pb::CacheSessionRequest {
                client_id: calls.client_id(),
                seq: calls.take_seq(),
                session: opened.session,
            };
            calls
                .call_stub(true, move |stub| {
                    let request = request;
                    async move {
                        use pb::cache_session_response::Result as R;
                        let mut stub = LockClient::new(stub);
                        Ok(
                            match stub.cache_session(request).await?.into_inner().result {
                                Some(R::Caching(_)) => Answer::Done(()),
                                Some(R::Expired(_)) => {
                                    Answer::Malformed("the session expired before it could cache")
                                }
                                Some(R::Refusal(r)) => refused(r),
                                None => Answer::Malformed("CacheSessionResponse without a result"),
                            },
                        )
                    }
                })
                .await?;
        }
        let cache = Cache {
            enabled: options.cache,
            ..Cache::default()
        };
        let shared = Arc::new(Shared {
            endpoints: endpoints.clone(),
            options: options.clone(),
            session: opened.session,
            state,
            subscriptions: std::sync::Mutex::new(BTreeMap::new()),
            events,
            cache: std::sync::Mutex::new(cache),
            leader: watch::channel((0, None)).0,
        });
        let keeper = Client::connect(endpoints, options.client.clone()).await?;
        let keepalive = tokio::spawn(keep_alive(shared.clone(), keeper, lease));
        Ok(LockSession {
            shared,
            calls: Mutex::new(calls),
            keepalive,
        })
    }

    /// The session's id (its 64 bits as ZooKeeper prints session ids).
    pub fn id(&self) -> i64 {
        self.shared.session
    }

    /// The cache's hits and misses so far.
    pub fn cache_stats(&self) -> CacheStats {
        let c = self.shared.cache();
        CacheStats {
            hits: c.hits,
            misses: c.misses,
        }
    }

    /// The session's state now.
    pub fn state(&self) -> SessionState {
        *self.shared.state.borrow()
    }

    /// Follows the session's state.
    pub fn watch_state(&self) -> watch::Receiver<SessionState> {
        self.shared.state.subscribe()
    }

    /// The session's events from now on, in the order the cluster applied
    /// their changes. `master-failover` and `events-lost` mean some may be
    /// missing: re-read what matters.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Subscribes to events of the znode at `path` (`event` mask bits;
    /// 0 unsubscribes). Takes effect with the next keepalive, within a
    /// third of the session's local lease.
    pub fn subscribe(&self, path: &str, mask: u32) {
        let mut subs = self
            .shared
            .subscriptions
            .lock()
            .expect("the subscriptions' lock is never poisoned");
        if mask == 0 {
            subs.remove(path);
        } else {
            subs.insert(path.to_string(), mask);
        }
    }

    /// A handle on the lock at `path`, creating its znode (and missing
    /// ancestors, persistent, open ACL) if absent: Chubby's open.
    pub async fn open_lock(&self, path: &str) -> Result<LockHandle, LockError> {
        self.create_node(path).await?;
        let client = Client::connect(
            self.shared.endpoints.clone(),
            self.shared.options.client.clone(),
        )
        .await?;
        Ok(LockHandle {
            shared: self.shared.clone(),
            client,
            path: path.to_string(),
            held: None,
            fence: None,
        })
    }

    /// Creates the znode at `path` (and missing ancestors, persistent,
    /// open ACL) if absent, as `open_lock` does, without a handle (one
    /// handle is one connection).
    pub async fn create_node(&self, path: &str) -> Result<(), LockError> {
        let session = self.shared.session;
        let path_owned = path.to_string();
        let mut calls = self.calls.lock().await;
        let request = pb::CreateNodeRequest {
            client_id: calls.client_id(),
            seq: calls.take_seq(),
            session,
            path: path_owned.clone(),
        };
        let created = calls
            .call_stub(true, move |stub| {
                let request = request.clone();
                async move {
                    use pb::create_node_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(match stub.create_node(request).await?.into_inner().result {
                        Some(R::Created(_)) => Answer::Done(Ok(())),
                        Some(R::Failed(f)) => Answer::Done(Err(failed(f))),
                        Some(R::Refusal(r)) => refused(r),
                        None => Answer::Malformed("CreateNodeResponse without a result"),
                    })
                }
            })
            .await?;
        created
    }

    /// Chubby's GetContentsAndStat of any znode through the session (its
    /// cache first), without a handle: see `LockHandle::get_contents_and_stat`.
    pub async fn get_contents_and_stat(
        &self,
        path: &str,
    ) -> Result<(Option<Vec<u8>>, pb::ZnodeStat), LockError> {
        if let Some(hit) = self.shared.cached(path) {
            return hit.map_err(failed);
        }
        let mut calls = self.calls.lock().await;
        fill(&self.shared, &mut calls, path).await
    }

    /// Chubby's CheckSequencer (linearizable: the leader answers).
    pub async fn check_sequencer(
        &self,
        sequencer: &str,
    ) -> Result<Result<(), InvalidSequencer>, ClientError> {
        let mut calls = self.calls.lock().await;
        check_sequencer(&mut calls, sequencer).await
    }

    /// A lock's holders, mode, generation and waiters.
    pub async fn status(&self, path: &str) -> Result<LockState, LockError> {
        let mut calls = self.calls.lock().await;
        status(&mut calls, path).await
    }

    /// Ends the session: its locks are released at once.
    pub async fn close(self) -> Result<(), ClientError> {
        self.keepalive.abort();
        let mut calls = self.calls.lock().await;
        let request = pb::CloseSessionRequest {
            client_id: calls.client_id(),
            seq: calls.take_seq(),
            session: self.shared.session,
        };
        calls
            .call_stub(true, move |stub| {
                let request = request;
                async move {
                    use pb::close_session_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(
                        match stub.close_session(request).await?.into_inner().result {
                            Some(R::Closed(_)) => Answer::Done(()),
                            Some(R::Refusal(r)) => refused(r),
                            None => Answer::Malformed("CloseSessionResponse without a result"),
                        },
                    )
                }
            })
            .await?;
        self.shared.state.send_replace(SessionState::Expired);
        Ok(())
    }
}

impl Drop for LockSession {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}

/// CheckSequencer through any client (no session needed).
pub async fn check_sequencer(
    client: &mut Client,
    sequencer: &str,
) -> Result<Result<(), InvalidSequencer>, ClientError> {
    let request = pb::CheckSequencerRequest {
        sequencer: sequencer.to_string(),
    };
    client
        .call_stub(true, move |stub| {
            let request = request.clone();
            async move {
                use pb::check_sequencer_response::Result as R;
                let mut stub = LockClient::new(stub);
                Ok(
                    match stub.check_sequencer(request).await?.into_inner().result {
                        Some(R::Valid(_)) => Answer::Done(Ok(())),
                        Some(R::Invalid(i)) => Answer::Done(Err(InvalidSequencer {
                            code: i.code,
                            message: i.message,
                        })),
                        Some(R::Refusal(r)) => refused(r),
                        None => Answer::Malformed("CheckSequencerResponse without a result"),
                    },
                )
            }
        })
        .await
}

/// A lock's status through any client (no session needed).
pub async fn status(client: &mut Client, path: &str) -> Result<LockState, LockError> {
    let request = pb::LockStatusRequest {
        path: path.to_string(),
    };
    client
        .call_stub(true, move |stub| {
            let request = request.clone();
            async move {
                use pb::lock_status_response::Result as R;
                let mut stub = LockClient::new(stub);
                Ok(match stub.status(request).await?.into_inner().result {
                    Some(R::State(s)) => Answer::Done(Ok(s)),
                    Some(R::Failed(f)) => Answer::Done(Err(failed(f))),
                    Some(R::Refusal(r)) => refused(r),
                    None => Answer::Malformed("LockStatusResponse without a result"),
                })
            }
        })
        .await?
}

/// Asks the leader for `path`'s contents through `client`, and keeps the
/// answer in the session's cache if the leader allows and nothing was
/// dropped from the cache meanwhile.
async fn fill(
    shared: &Shared,
    client: &mut Client,
    path: &str,
) -> Result<(Option<Vec<u8>>, pb::ZnodeStat), LockError> {
    let (caching, generation) = {
        let c = shared.cache();
        (c.enabled, c.generation)
    };
    let request = pb::GetContentsRequest {
        path: path.to_string(),
        session: if caching { shared.session } else { 0 },
    };
    let answer = client
        .call_stub(true, move |stub| {
            let request = request.clone();
            async move {
                use pb::get_contents_response::Result as R;
                let mut stub = LockClient::new(stub);
                let response = stub.get_contents(request).await?.into_inner();
                let cached = response.cached;
                Ok(match response.result {
                    Some(R::Contents(c)) => match c.stat {
                        Some(stat) => Answer::Done((Ok((c.data, stat)), cached)),
                        None => Answer::Malformed("Contents without a stat"),
                    },
                    Some(R::Failed(f)) => Answer::Done((Err(f), cached)),
                    Some(R::Refusal(r)) => refused(r),
                    None => Answer::Malformed("GetContentsResponse without a result"),
                })
            }
        })
        .await?;
    let (mut contents, cached): (Contents, u64) = answer;
    if caching {
        if let Ok((_, stat)) = &mut contents {
            stat.cversion = -1;
            stat.num_children = -1;
            stat.pzxid = -1;
        }
        let mut c = shared.cache();
        let lease_runs = c.lease.is_some_and(|l| Instant::now() < l);
        let keep = cached != 0
            && cached == c.term
            && c.generation == generation
            && lease_runs
            && c.entries.len() < shared.options.cache_entries_max;
        if keep {
            c.entries.insert(path.to_string(), contents.clone());
        }
    }
    contents.map_err(failed)
}

/// The local lease after a keepalive (or the open) sent at `sent` was
/// answered with `timeout_ms`.
fn lease_end(sent: Instant, timeout_ms: u32) -> Instant {
    let timeout = Duration::from_millis(timeout_ms.into());
    sent + timeout.saturating_sub(LEASE_MARGIN)
}

/// The keepalive task. One keepalive is always outstanding: the leader
/// holds it for up to a third of what is left of the local lease, and
/// answers early with the session's events; the next goes out as soon as
/// one is answered. The state moves with the answers and the clock.
async fn keep_alive(shared: Arc<Shared>, mut client: Client, mut lease: Instant) {
    let grace = shared.options.grace;
    let set = |s: SessionState| {
        shared.state.send_if_modified(|now| {
            let changed = *now != s;
            *now = s;
            changed
        });
    };
    // The first keepalive is answered at once: its term lets the cache
    // fill.
    let mut first = true;
    loop {
        let this_sent = Instant::now();
        let hold = if std::mem::take(&mut first) {
            Duration::ZERO
        } else {
            lease.saturating_duration_since(this_sent) / 3
        };
        let (cache_term, acked) = {
            let c = shared.cache();
            (c.term, c.acked)
        };
        let request = pb::KeepAliveRequest {
            client_id: client.client_id(),
            seq: client.take_seq(),
            session: shared.session,
            subscriptions: shared.subscriptions(),
            hold_ms: u32::try_from(hold.as_millis()).unwrap_or(u32::MAX),
            cache_term,
            acked,
        };
        let give_up = lease + grace;
        let timeout = client.options().request_timeout + hold;
        let answer = {
            let call = client.call_within(true, timeout, give_up, move |stub| {
                let request = request.clone();
                async move {
                    use pb::keep_alive_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(match stub.keep_alive(request).await?.into_inner().result {
                        Some(R::Alive(a)) => Answer::Done(Some(a)),
                        Some(R::Expired(_)) => Answer::Done(None),
                        Some(R::Refusal(r)) => refused(r),
                        None => Answer::Malformed("KeepAliveResponse without a result"),
                    })
                }
            });
            tokio::pin!(call);
            // Jeopardy as soon as the lease runs out, whatever the call does.
            tokio::select! {
                answer = &mut call => answer,
                () = tokio::time::sleep_until(lease) => {
                    set(SessionState::Jeopardy);
                    shared.cache().flush();
                    call.await
                }
            }
        };
        match answer {
            Ok(Some(alive)) => {
                lease = lease_end(this_sent, alive.timeout_ms);
                let at = client.leader().map(str::to_owned);
                shared.leader.send_if_modified(|now| {
                    let changed = now.0 != alive.term;
                    if changed {
                        *now = (alive.term, at);
                    }
                    changed
                });
                // Before the next keepalive acknowledges them.
                shared
                    .cache()
                    .on_alive(alive.term, &alive.invalidated, alive.invalidation, lease);
                if Instant::now() < lease {
                    set(SessionState::Safe);
                }
                for event in alive.events {
                    // No receiver, or one that lags: its loss, not ours.
                    let _ = shared.events.send(event);
                }
            }
            Ok(None) => {
                set(SessionState::Expired);
                return;
            }
            Err(_) if Instant::now() >= give_up => {
                set(SessionState::Expired);
                return;
            }
            Err(_) => {
                if Instant::now() >= lease {
                    set(SessionState::Jeopardy);
                    shared.cache().flush();
                }
                // A definitive refusal (not a lost leader): pause, retry.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A handle on one lock of a session (Chubby's handle): acquire, release,
/// and the sequencer of the current holding. Its calls go one at a time.
pub struct LockHandle {
    shared: Arc<Shared>,
    client: Client,
    path: String,
    held: Option<pb::Acquired>,
    /// Attached to this handle's writes (`set_sequencer`).
    fence: Option<String>,
}

impl LockHandle {
    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Acquires the lock, waiting in its queue as long as it takes (the
    /// call ends early only if the session ends or no leader answers
    /// within the client deadline between attempts). `lock_delay` is how
    /// long the lock stays unavailable to others if this session ends
    /// without releasing it (at most 60 s). Returns the sequencer's text.
    pub async fn acquire(&mut self, mode: Mode, lock_delay: Duration) -> Result<String, LockError> {
        self.acquire_inner(mode, lock_delay, false)
            .await
            .map(|s| s.expect("a waiting acquire holds when it returns"))
    }

    /// Acquires the lock if no one else holds or waits for it; `None` if
    /// someone does.
    pub async fn try_acquire(
        &mut self,
        mode: Mode,
        lock_delay: Duration,
    ) -> Result<Option<String>, LockError> {
        self.acquire_inner(mode, lock_delay, true).await
    }

    async fn acquire_inner(
        &mut self,
        mode: Mode,
        lock_delay: Duration,
        try_acquire: bool,
    ) -> Result<Option<String>, LockError> {
        let request = pb::AcquireRequest {
            client_id: self.client.client_id(),
            seq: self.client.take_seq(),
            session: self.shared.session,
            path: self.path.clone(),
            shared: mode == Mode::Shared,
            lock_delay_ms: u32::try_from(lock_delay.as_millis()).unwrap_or(u32::MAX),
            try_acquire,
        };
        // A waiting acquire is answered when it holds: no request timeout
        // for it, and the deadline runs until the session's grace is over.
        let (timeout, deadline) = if try_acquire {
            let o = self.client.options();
            (o.request_timeout, Instant::now() + o.deadline)
        } else {
            // Asked again (same seq: the cluster answers from where it
            // parked it) at once when a new leader answers the session's
            // keepalive, and every WAIT_REASK in any case, so a wait parked
            // on a node that lost its leadership moves to the new leader.
            let far = Duration::from_secs(365 * 24 * 3600);
            (WAIT_REASK, Instant::now() + far)
        };
        let mut state = self.shared.state.subscribe();
        let mut leader = self.shared.leader.subscribe();
        leader.mark_unchanged();
        let answer = loop {
            let request = request.clone();
            let call = self
                .client
                .call_within(true, timeout, deadline, move |stub| {
                    let request = request.clone();
                    async move {
                        use pb::acquire_response::Result as R;
                        let mut stub = LockClient::new(stub);
                        Ok(match stub.acquire(request).await?.into_inner().result {
                            Some(R::Acquired(a)) => Answer::Done(Ok(a)),
                            Some(R::Failed(f)) => Answer::Done(Err(f)),
                            Some(R::Refusal(r)) => refused(r),
                            None => Answer::Malformed("AcquireResponse without a result"),
                        })
                    }
                });
            tokio::select! {
                answer = call => break answer?,
                _ = state.wait_for(|s| *s == SessionState::Expired) => {
                    return Err(LockError::Failed {
                        code: "session-expired".into(),
                        message: "the session expired while waiting for the lock".into(),
                    });
                }
                // A new leader answered the session's keepalive: a wait
                // parked on the old one may never be answered (a partition
                // cut it off), so it is asked again, same seq, where the
                // keepalive was answered (the new leader parks it, or
                // answers from its client table).
                Ok(()) = leader.changed(), if !try_acquire => {
                    let at = leader.borrow_and_update().1.clone();
                    if let Some(addr) = at {
                        self.client.prefer_leader(&addr);
                    }
                }
            }
        };
        match answer {
            Ok(acquired) => {
                let text = acquired.sequencer.clone();
                self.held = Some(acquired);
                Ok(Some(text))
            }
            Err(f) if try_acquire && f.code == "conflict" => Ok(None),
            Err(f) => Err(failed(f)),
        }
    }

    /// The sequencer of the current holding, if this handle holds the lock.
    pub fn sequencer(&self) -> Option<&str> {
        self.held.as_ref().map(|a| a.sequencer.as_str())
    }

    /// Chubby's SetSequencer: from now on this handle's `set_contents`
    /// applies only while `sequencer` (of a lock this session holds,
    /// usually another handle's `sequencer()`) is still valid, and fails
    /// with code `fenced` once it is not (the lock changed hands, or the
    /// session ended). `None` detaches it.
    pub fn set_sequencer(&mut self, sequencer: Option<String>) {
        self.fence = sequencer;
    }

    /// The generation of the current holding, if this handle holds the lock.
    pub fn generation(&self) -> Option<u64> {
        self.held.as_ref().map(|a| a.generation)
    }

    /// Chubby's GetContentsAndStat: the znode's data (`None`: null) and
    /// Stat, read linearizably: from the session's cache when it holds
    /// them, else from the leader (under its lease), kept in the cache if
    /// the leader allows (see the module docs; a caching session's Stat
    /// has -1 for its child fields).
    pub async fn get_contents_and_stat(
        &mut self,
    ) -> Result<(Option<Vec<u8>>, pb::ZnodeStat), LockError> {
        if let Some(hit) = self.shared.cached(&self.path) {
            return hit.map_err(failed);
        }
        fill(&self.shared, &mut self.client, &self.path).await
    }

    /// Chubby's SetContents: writes the znode's data; with `version`, only
    /// if the znode's version is still that (else code `bad-version`);
    /// with a sequencer attached (`set_sequencer`), only while it is valid
    /// (else code `fenced`). Returns the Stat after the write.
    pub async fn set_contents(
        &mut self,
        data: &[u8],
        version: Option<i32>,
    ) -> Result<pb::ZnodeStat, LockError> {
        {
            // Dropped, never updated: the next read asks the leader.
            let mut c = self.shared.cache();
            if c.entries.remove(&self.path).is_some() {
                c.generation += 1;
            }
        }
        let request = pb::SetContentsRequest {
            client_id: self.client.client_id(),
            seq: self.client.take_seq(),
            session: self.shared.session,
            path: self.path.clone(),
            data: data.to_vec(),
            version,
            sequencer: self.fence.clone().unwrap_or_default(),
        };
        let answer = self
            .client
            .call_stub(true, move |stub| {
                let request = request.clone();
                async move {
                    use pb::set_contents_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(
                        match stub.set_contents(request).await?.into_inner().result {
                            Some(R::Stat(stat)) => Answer::Done(Ok(stat)),
                            Some(R::Failed(f)) => Answer::Done(Err(f)),
                            Some(R::Refusal(r)) => refused(r),
                            None => Answer::Malformed("SetContentsResponse without a result"),
                        },
                    )
                }
            })
            .await?;
        answer.map_err(failed)
    }

    /// Releases the lock (or withdraws a wait).
    pub async fn release(&mut self) -> Result<(), LockError> {
        let request = pb::ReleaseRequest {
            client_id: self.client.client_id(),
            seq: self.client.take_seq(),
            session: self.shared.session,
            path: self.path.clone(),
        };
        let answer = self
            .client
            .call_stub(true, move |stub| {
                let request = request.clone();
                async move {
                    use pb::release_response::Result as R;
                    let mut stub = LockClient::new(stub);
                    Ok(match stub.release(request).await?.into_inner().result {
                        Some(R::Released(_)) => Answer::Done(Ok(())),
                        Some(R::Failed(f)) => Answer::Done(Err(f)),
                        Some(R::Refusal(r)) => refused(r),
                        None => Answer::Malformed("ReleaseResponse without a result"),
                    })
                }
            })
            .await?;
        self.held = None;
        answer.map_err(failed)
    }
}
