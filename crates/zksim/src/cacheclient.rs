//! A simulated caching Chubby client (Chubby section 2.5), as crates/client
//! caches: it marks its lock session as caching (`CacheSession`) and,
//! once answered `Caching`, keeps what the leader's fills say it may
//! keep (the data and Stat of a znode, or its absence) for a few of
//! `CACHE_PATHS`, answering reads of them from memory, without a message,
//! while its local lease runs. The rules it follows (and the library
//! follows) are:
//!
//! 1. After OpenSession it sends CacheSession; it caches only after the
//!    `Caching` answer.
//! 2. Every keepalive carries `cache_term` (the term of the last `Alive`
//!    it acted on, 0 at first) and `acked` (the last invalidation it
//!    applied under that term, 0 at first). One keepalive is always
//!    outstanding, held by the leader (`KEEPALIVE_HOLD_MS`), so an
//!    invalidation is answered at once.
//! 3. On `Alive`: a new term flushes the whole cache (`cache_term` becomes
//!    it, `acked` 0); then every path in `invalidated` is dropped and
//!    `acked` becomes at least `invalidation`. Each flush or invalidation
//!    bumps `generation`.
//! 4. The local lease is the lock clients' (`LEASE_MARGIN_US` short of the
//!    timeout from sending the keepalive answered); when it runs out the
//!    whole cache is flushed.
//! 5. A fill's answer is kept only when `cached` is non-zero and equals
//!    `cache_term`, and `generation` did not change since the fill was
//!    sent.
//! 6. A read of a cached path under a valid lease is answered from the
//!    cache at once; any other read is a fill, answered with its result.
//!
//! Sometimes a client pauses (a GC pause: nothing sent, nothing read) and
//! on resuming reads once before it looks at the answers that arrived
//! meanwhile, as a reader thread would race the keepalive thread: only
//! the lease keeps that read from an entry the leader stopped waiting
//! for.
//!
//! This file holds the client's state and those rules; `cacheclients.rs`
//! drives it through the node's lock door, `cachecheck.rs` judges its
//! reads.

use crate::client::Time;
use crate::lockclient::{Call, Chan};
use std::collections::{BTreeMap, BTreeSet};
use synod_coord::{ErrorCode, Stat};
use synod_paxos::{ClientId, NodeId};

/// The paths the cache clients read and write: two that the ZooKeeper
/// clients also create, change and delete (`client::NODES`), and one only
/// the cache clients write (created by them with `LockRequest::Create`).
pub const CACHE_PATHS: [&str; 3] = ["/w/n0", "/w/n1", OWN_PATH];
/// The path only the cache clients create and write.
pub const OWN_PATH: &str = "/c/x";
/// Cache clients in every run.
pub const CACHE_CLIENTS: u64 = 2;
/// How long the leader may hold a keepalive: a quarter of the session
/// timeout, so that a keepalive answered at the end of its hold still
/// extends the lease well before it runs out.
pub const KEEPALIVE_HOLD_MS: u32 = 1_000;
/// The engine client ids of cache client `n` are this plus `2n` and
/// `2n+1`.
const CLIENT_ID_BASE: ClientId = 0x10c6_0000_0000_0000;

/// What a cache keeps of a path: its data (`None`: null) and Stat, or its
/// absence (`Err(NoNode)`).
pub type Entry = Result<(Option<Vec<u8>>, Stat), ErrorCode>;

/// The client's session as it sees it.
#[derive(Clone, Debug)]
pub struct CacheSessionView {
    pub id: i64,
    /// The local lease: cached entries are used only before it.
    pub lease_end: Time,
    /// The `Caching` answer arrived.
    pub caching: bool,
}

/// A fill on its way: what the read and the insert rule need.
#[derive(Clone, Debug)]
pub struct Fill {
    pub path: String,
    /// `generation` when it was sent.
    pub generation: u64,
    /// When it was first sent, and the highest zxid known committed then.
    pub started: Time,
    pub known: i64,
}

/// One cache client.
#[derive(Clone, Debug)]
pub struct CacheClient {
    pub n: u64,
    pub leader: NodeId,
    pub seqs: [u64; 2],
    pub session: Option<CacheSessionView>,
    pub calls: [Option<Call>; 2],
    pub calls_started: u64,
    pub cache: BTreeMap<String, Entry>,
    pub cache_term: u64,
    pub acked: u64,
    /// Bumped by every flush and invalidation (rule 3).
    pub generation: u64,
    pub fill: Option<Fill>,
    /// `OWN_PATH` exists (created once: it is persistent).
    pub created: bool,
    /// When the ops channel does its next call or read.
    pub next_op_at: Time,
    /// Values written, to make each one different.
    pub writes: u64,
    /// Wake-ups already scheduled.
    pub wakes: BTreeSet<Time>,
    /// Paused (a GC pause) until then: nothing is sent, answers wait.
    pub paused_until: Option<Time>,
    /// Answers that arrived during a pause, with their call's channel and
    /// serial.
    pub buffered: Vec<(Chan, u64, synod_node::LockAnswer)>,
    /// `LockBug::CacheWithoutLease`: entries are used and kept whatever
    /// the lease says.
    pub no_lease: bool,
}

impl CacheClient {
    pub fn new(n: u64, start: Time, nodes: u64) -> Self {
        CacheClient {
            n,
            leader: 1 + (n + 1) % nodes,
            seqs: [0, 0],
            session: None,
            calls: [None, None],
            calls_started: 0,
            cache: BTreeMap::new(),
            cache_term: 0,
            acked: 0,
            generation: 0,
            fill: None,
            created: false,
            next_op_at: start,
            writes: 0,
            wakes: BTreeSet::new(),
            paused_until: None,
            buffered: Vec::new(),
            no_lease: false,
        }
    }

    /// The engine client id of `chan`.
    pub fn client_id(&self, chan: Chan) -> ClientId {
        CLIENT_ID_BASE + 2 * self.n + chan as u64
    }

    pub fn call(&self, chan: Chan) -> Option<&Call> {
        self.calls[chan as usize].as_ref()
    }

    /// The next seq of `chan`.
    pub fn take_seq(&mut self, chan: Chan) -> u64 {
        self.seqs[chan as usize] += 1;
        self.seqs[chan as usize]
    }

    /// Whether the local lease runs at `now`.
    pub fn leased(&self, now: Time) -> bool {
        self.session.as_ref().is_some_and(|s| s.lease_end > now)
    }

    /// Drops every entry (a new term, a lease out, a session lost).
    pub fn flush(&mut self) {
        self.cache.clear();
        self.generation += 1;
    }

    /// Rule 4: the lease ran out, so the cache goes. Whether it flushed.
    pub fn settle_lease(&mut self, now: Time) -> bool {
        if self.cache.is_empty() || self.leased(now) || self.no_lease {
            return false;
        }
        self.flush();
        true
    }

    /// Rule 3, an `Alive` answer's cache part. `ignore` is the broken
    /// client's (`LockBug::CacheIgnoresInvalidations`): it acknowledges
    /// invalidations without dropping anything. Returns whether the term
    /// changed and how many new invalidations it applied.
    pub fn on_alive(
        &mut self,
        term: u64,
        invalidated: &[String],
        invalidation: u64,
        ignore: bool,
    ) -> (bool, u64) {
        let new_term = term != self.cache_term;
        if new_term {
            self.flush();
            self.cache_term = term;
            self.acked = 0;
        }
        let fresh = if invalidation > self.acked {
            invalidated.len() as u64
        } else {
            0
        };
        if !invalidated.is_empty() {
            if !ignore {
                for path in invalidated {
                    self.cache.remove(path);
                }
            }
            self.generation += 1;
        }
        self.acked = self.acked.max(invalidation);
        (new_term, fresh)
    }

    /// Rule 5: a fill answered `result` with `cached`; keeps it if it may.
    /// `raced` is the broken client's (`LockBug::CacheKeepsRacedFills`):
    /// it does not look at `generation`.
    pub fn on_fill(&mut self, fill: &Fill, result: &Entry, cached: u64, raced: bool) -> bool {
        let kind_ok = matches!(result, Ok(_) | Err(ErrorCode::NoNode));
        let caching = self.session.as_ref().is_some_and(|s| s.caching);
        let keep = kind_ok
            && caching
            && cached != 0
            && cached == self.cache_term
            && (raced || fill.generation == self.generation);
        if keep {
            self.cache.insert(fill.path.clone(), result.clone());
        }
        keep
    }

    /// Rule 6: the cached answer to a read of `path` at `now`, if any.
    pub fn cached(&self, path: &str, now: Time) -> Option<&Entry> {
        self.cache
            .get(path)
            .filter(|_| self.leased(now) || self.no_lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> CacheClient {
        let mut c = CacheClient::new(1, 0, 3);
        c.session = Some(CacheSessionView {
            id: 7,
            lease_end: 1_000,
            caching: true,
        });
        c
    }

    fn fill(c: &CacheClient, path: &str) -> Fill {
        Fill {
            path: path.into(),
            generation: c.generation,
            started: 0,
            known: 0,
        }
    }

    fn entry(mzxid: i64) -> Entry {
        let stat = Stat {
            mzxid,
            ..Stat::default()
        };
        Ok((Some(b"v".to_vec()), stat))
    }

    #[test]
    fn a_fill_is_kept_only_under_the_term_the_client_acted_on() {
        let mut c = client();
        let f = fill(&c, "/a");
        assert!(!c.on_fill(&f, &entry(1), 5, false), "no Alive heard yet");
        c.on_alive(5, &[], 0, false);
        let f = fill(&c, "/a");
        assert!(!c.on_fill(&f, &entry(1), 0, false), "not cacheable");
        assert!(!c.on_fill(&f, &entry(1), 6, false), "another term");
        assert!(c.on_fill(&f, &entry(1), 5, false));
        assert!(c.cached("/a", 999).is_some());
        assert!(c.cached("/a", 1_000).is_none(), "the lease ran out");
    }

    #[test]
    fn an_invalidation_between_a_fill_and_its_answer_makes_it_not_kept() {
        let mut c = client();
        c.on_alive(5, &[], 0, false);
        let f = fill(&c, "/a");
        assert_eq!(c.on_alive(5, &["/a".into()], 1, false), (false, 1));
        assert_eq!(c.acked, 1);
        assert!(!c.on_fill(&f, &entry(1), 5, false));
        assert!(c.cache.is_empty());
    }

    #[test]
    fn a_new_term_flushes_everything_and_restarts_the_acks() {
        let mut c = client();
        c.on_alive(5, &[], 3, false);
        let f = fill(&c, "/a");
        assert!(c.on_fill(&f, &entry(1), 5, false));
        let (new_term, _) = c.on_alive(9, &[], 0, false);
        assert!(new_term);
        assert!(c.cache.is_empty());
        assert_eq!((c.cache_term, c.acked), (9, 0));
    }

    #[test]
    fn a_lease_that_ran_out_flushes_the_cache() {
        let mut c = client();
        c.on_alive(5, &[], 0, false);
        let f = fill(&c, "/a");
        assert!(c.on_fill(&f, &entry(1), 5, false));
        assert!(!c.settle_lease(999));
        assert!(c.settle_lease(1_000));
        assert!(c.cache.is_empty());
    }
}
