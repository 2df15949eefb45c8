//! Jepsen-style runs of synod on real processes and a real network.
//!
//! Five `synod server` processes, each in its own network namespace on a
//! private bridge, with their peers on mutual TLS, their data on small
//! tmpfs mounts and their wall clocks under libfaketime. Clients in the
//! harness's namespace run three workloads at once (the key-value register
//! over gRPC, versioned znode registers over the ZooKeeper protocol, and
//! sessions with ephemeral znodes) while a nemesis injects one fault per
//! phase and heals it. Each phase works on its own keys and znodes; its
//! histories are checked on their own: linearizability with
//! `synod_check` (the key-value and znode registers) and the session rules
//! of [`sessions`]. A phase also has to serve again after its heal.
//!
//! Alongside them runs the Chubby lock workload of [`chubby`]: lock
//! holders as separate processes, each inside one node's namespace (so a
//! partition cuts it off as it cuts off its node), writing with their
//! sequencers to a fenced resource of the harness that compares
//! generations and calls CheckSequencer. Its checker ([`chubby::check`])
//! finds any write accepted from a stale holder and any generation granted
//! twice; the report counts the stale attempts the fence refused.
pub mod chubby;
pub mod history;
pub mod kv;
pub mod lab;
pub mod nemesis;
pub mod procs;
pub mod run;
pub mod sessions;
pub mod zk;
