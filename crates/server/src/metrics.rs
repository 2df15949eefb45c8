//! The node's Prometheus metrics: one registry per node (several nodes may
//! share a process in tests), its metric handles, and the text the admin
//! listener serves at `/metrics`.
//!
//! Who updates what, so that nothing pure reads a clock or holds a metric:
//! - the node task advances the counters it can derive from the node's
//!   state after every step (commit and applied slots, leader changes) and
//!   times heartbeats to their acknowledgements (`observe.rs`);
//! - the disk thread times each persist (`disk.rs`);
//! - each ZooKeeper connection task counts and times its requests
//!   (`zk/conn.rs`);
//! - the gauges, and the per-peer byte counters the transport keeps, are
//!   set at each scrape from the node task's answer (`AdminView`), so they
//!   are exact as of the scrape.
//!
//! Label values are bounded: `peer` is a member's node id, `op` one of
//! ZooKeeper's opcode names (`synod_zkproto::op::name`, "unknown" for the
//! rest).

use crate::observe::AdminView;
use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric of one node.
pub struct Metrics {
    registry: Registry,
    /// Held while a scrape sets the gauges and advances the counters from
    /// totals, so two concurrent scrapes cannot count a difference twice.
    scrape: std::sync::Mutex<()>,
    has_leader: IntGauge,
    is_leader: IntGauge,
    proposals_pending: IntGauge,
    zk_connections: IntGauge,
    sessions: IntGauge,
    znodes: IntGauge,
    watches: IntGauge,
    peer_sent_bytes: IntCounterVec,
    peer_received_bytes: IntCounterVec,
    pub(crate) leader_changes: IntCounter,
    pub(crate) proposals_committed: IntCounter,
    pub(crate) proposals_applied: IntCounter,
    pub(crate) peer_round_trip: HistogramVec,
    pub(crate) wal_fsync: Histogram,
    pub(crate) snapshot_save: Histogram,
    pub(crate) zk_requests: IntCounterVec,
    pub(crate) zk_request_duration: HistogramVec,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid gauge");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid counter");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid counter");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

/// Buckets from `start` seconds, each twice the last.
fn doubling(start: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, 2.0, count).expect("valid buckets")
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("a valid histogram");
    registry
        .register(Box::new(h.clone()))
        .expect("registered once");
    h
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &[label])
        .expect("a valid histogram");
    registry
        .register(Box::new(h.clone()))
        .expect("registered once");
    h
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("registered once");
        Metrics {
            has_leader: gauge(
                &r,
                "synod_has_leader",
                "1 if this node knows a live leader (itself, or one it heard within its lease), else 0.",
            ),
            is_leader: gauge(&r, "synod_is_leader", "1 if this node is the leader, else 0."),
            proposals_pending: gauge(
                &r,
                "synod_proposals_pending",
                "Proposals this node waits on: as leader, log slots proposed and not yet chosen plus commands queued for a slot; as follower, commands it forwarded to the leader and has not yet applied.",
            ),
            zk_connections: gauge(
                &r,
                "synod_zk_connections",
                "ZooKeeper client connections open on this server.",
            ),
            sessions: gauge(
                &r,
                "synod_sessions",
                "ZooKeeper sessions alive in the replicated tree (on every server alike).",
            ),
            znodes: gauge(
                &r,
                "synod_znodes",
                "Znodes in this server's applied tree, the root included.",
            ),
            watches: gauge(
                &r,
                "synod_watches",
                "Watches set by this server's ZooKeeper connections (one per path and kind per connection).",
            ),
            peer_sent_bytes: counter_vec(
                &r,
                "synod_peer_sent_bytes_total",
                "Bytes this node wrote to peer `peer` (node id) on its connections to it, frame headers and hellos included, since the process started.",
                "peer",
            ),
            peer_received_bytes: counter_vec(
                &r,
                "synod_peer_received_bytes_total",
                "Bytes this node read from peer `peer` (node id) on connections whose hello named it, since the process started.",
                "peer",
            ),
            leader_changes: counter(
                &r,
                "synod_leader_changes_seen_total",
                "Times this node saw a leader other than the last one it saw (the first leader it sees counts), since the process started.",
            ),
            proposals_committed: counter(
                &r,
                "synod_proposals_committed_total",
                "Log slots this node learned chosen (its commit point's advance) since the process started; a slot holds a batch of commands, a no-op or a log-time tick.",
            ),
            proposals_applied: counter(
                &r,
                "synod_proposals_applied_total",
                "Log slots this node applied to its state machine since the process started.",
            ),
            peer_round_trip: histogram_vec(
                &r,
                "synod_peer_round_trip_time_seconds",
                "Seconds from a leader's heartbeat to peer `peer` being handed to the transport to its acknowledgement reaching this node's task: network both ways, queues on both sides, and the follower's wait for its own pending fsync if it had one. Only a leader observes it.",
                "peer",
                doubling(0.0001, 16),
            ),
            wal_fsync: histogram(
                &r,
                "synod_wal_fsync_duration_seconds",
                "Seconds the disk thread took for one group commit (append the waiting records to the WAL, then fsync), for calls that saved no snapshot.",
                doubling(0.001, 14),
            ),
            snapshot_save: histogram(
                &r,
                "synod_snapshot_save_duration_seconds",
                "Seconds the disk thread took for one group commit that saved a storage snapshot (an engine snapshot or a WAL compaction), the snapshot's write, fsync and rename and that call's WAL records included.",
                doubling(0.01, 14),
            ),
            zk_requests: counter_vec(
                &r,
                "synod_zk_requests_total",
                "ZooKeeper requests this server decoded from its clients, by opcode name `op` (pings included).",
                "op",
            ),
            zk_request_duration: histogram_vec(
                &r,
                "synod_zk_request_duration_seconds",
                "Seconds from a ZooKeeper request's frame being decoded by its connection task to its reply being written to the socket, by opcode name `op`: measured in the connection task, since the front door is pure and reads no clock. Includes waiting behind the connection's earlier requests, which are answered in order.",
                "op",
                doubling(0.0001, 16),
            ),
            registry: r,
            scrape: std::sync::Mutex::new(()),
        }
    }

    /// Makes the per-peer series of `peers` exist from the start (at zero),
    /// so a scrape shows a peer that was never reached as such rather than
    /// leaving it out.
    pub fn add_peers(&self, peers: impl IntoIterator<Item = synod_paxos::NodeId>) {
        for peer in peers {
            let label = peer.to_string();
            self.peer_sent_bytes.with_label_values(&[&label]);
            self.peer_received_bytes.with_label_values(&[&label]);
            self.peer_round_trip.with_label_values(&[&label]);
        }
    }

    /// Sets the gauges and the transport's counters from the node task's
    /// answer, then renders every metric in the Prometheus text format.
    pub fn render(&self, view: &AdminView) -> String {
        let families = {
            let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
            self.set_from(view);
            self.registry.gather()
        };
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    fn set_from(&self, view: &AdminView) {
        let s = &view.status;
        self.has_leader.set(s.leader.is_some() as i64);
        self.is_leader.set(view.is_leader as i64);
        self.proposals_pending.set(view.proposals_pending as i64);
        self.zk_connections.set(view.zk_connections as i64);
        self.sessions.set(view.sessions as i64);
        self.znodes.set(view.znodes as i64);
        self.watches.set(view.watches as i64);
        for (peer, bytes) in &view.peer_bytes {
            let label = peer.to_string();
            advance(
                &self.peer_sent_bytes.with_label_values(&[&label]),
                bytes.sent,
            );
            advance(
                &self.peer_received_bytes.with_label_values(&[&label]),
                bytes.received,
            );
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Moves `counter` up to `total`, a count kept elsewhere that only grows.
fn advance(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}
