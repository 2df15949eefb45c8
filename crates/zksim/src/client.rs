//! A simulated ZooKeeper client: one session at a time ("a life"), its
//! connection, its pending requests and the watches it would re-arm after
//! reconnecting, as the Java client keeps them. The world (`clients.rs`)
//! drives it; this file holds its state and the requests it makes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use synod_paxos::Rng;
use synod_zkproto as wire;
use synod_zkproto::{create_mode, CreateKind, Request};

/// Simulated time in microseconds.
pub use synod_simcluster::Time;

/// Parents every client writes under: plain nodes, ephemerals, and
/// sequential ephemerals.
pub const PARENTS: [&str; 3] = ["/w", "/e", "/q"];
/// Plain nodes that clients create, change, delete and watch.
pub const NODES: [&str; 4] = ["/w/n0", "/w/n1", "/w/n2", "/w/n3"];
/// Where adversarial clients write values up to the frame limit (under
/// the parent `BIG_PARENT`).
pub const BIG: [&str; 2] = ["/big/b0", "/big/b1"];
pub const BIG_PARENT: &str = "/big";
/// Requests an adversarial client's burst holds at most.
pub const BURST_MAX: usize = 40;

/// How a life ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client sends closeSession.
    Close,
    /// The client process dies: its socket closes, it never comes back.
    Vanish,
    /// The client process hangs: its socket stays open, nothing is sent.
    Hang,
    /// It runs to the end of the simulation.
    Never,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
}

/// The connection a life is using.
#[derive(Clone, Debug)]
pub struct Link {
    pub serial: u64,
    pub node: u64,
    /// The ConnectResponse arrived.
    pub established: bool,
    pub decoder: wire::FrameDecoder,
    pub opened_at: Time,
}

/// Watches the client holds and would re-arm with SetWatches.
#[derive(Clone, Debug, Default)]
pub struct HeldWatches {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub recursive: BTreeSet<String>,
}

impl HeldWatches {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    /// The Java client's bookkeeping when an event arrives.
    pub fn on_event(&mut self, event_type: i32, path: &str) {
        use wire::event_type as t;
        match event_type {
            t::NODE_CREATED | t::NODE_DATA_CHANGED => {
                self.data.remove(path);
                self.exist.remove(path);
            }
            t::NODE_DELETED => {
                self.data.remove(path);
                self.exist.remove(path);
                self.child.remove(path);
            }
            t::NODE_CHILDREN_CHANGED => {
                self.child.remove(path);
            }
            _ => {}
        }
    }

    pub fn set_watches(&self, relative_zxid: i64) -> Request {
        let v = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        Request::SetWatches2 {
            relative_zxid,
            data: v(&self.data),
            exist: v(&self.exist),
            child: v(&self.child),
            persistent: v(&self.persistent),
            persistent_recursive: v(&self.recursive),
        }
    }
}

/// One session's worth of a client.
#[derive(Clone, Debug)]
pub struct Life {
    pub number: u32,
    pub started_at: Time,
    pub timeout_ms: i32,
    pub ending: Ending,
    pub ends_at: Time,
    pub session: Option<Session>,
    pub link: Option<Link>,
    pub last_zxid: i64,
    pub next_xid: i32,
    pub outstanding: VecDeque<(i32, Request)>,
    pub watches: HeldWatches,
    pub last_sent: Time,
    pub last_heard: Time,
    pub next_op_at: Time,
    /// closeSession sent.
    pub closing: bool,
    /// Path -> this session's latest acknowledged create/setData of it.
    pub written: BTreeMap<String, Written>,
    pub own_sequential: Vec<String>,
    /// The parents are created (or found existing).
    pub setup_done: bool,
    /// Requests it keeps in flight at most (a few, or a burst).
    pub pipeline_max: usize,
}

/// A create or setData a session had acknowledged: its zxid, and the data
/// it stored (`None`: null). While the node's mzxid is still that zxid, a
/// read must return exactly this data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub zxid: i64,
    pub data: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct ZkClient {
    pub id: u64,
    pub lives: u32,
    pub life: Option<Life>,
    pub next_life_at: Time,
}

impl ZkClient {
    pub fn new(id: u64, first_life_at: Time) -> Self {
        ZkClient {
            id,
            lives: 0,
            life: None,
            next_life_at: first_life_at,
        }
    }
}

fn open_acl() -> Vec<wire::Acl> {
    vec![wire::Acl {
        perms: wire::perms::ALL,
        id: wire::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// A create of `data` (`None`: null).
pub fn create(path: &str, data: Option<&[u8]>, flags: i32) -> Request {
    Request::Create {
        kind: CreateKind::Create,
        path: path.to_string(),
        data: data.map(<[u8]>::to_vec),
        acl: open_acl(),
        flags,
    }
}

/// The length of `request`'s frame body (without the length prefix).
pub fn body_len(request: &Request) -> usize {
    wire::encode_request(0, request).len() - 4
}

/// `request` (a create or setData) with data that makes its frame body
/// `body` bytes long.
fn sized(mut request: Request, body: usize) -> Request {
    let overhead = body_len(&request);
    if let Request::Create { data, .. } | Request::SetData { data, .. } = &mut request {
        *data = Some(vec![b'x'; body.saturating_sub(overhead)]);
    }
    request
}

impl Life {
    pub fn next_xid(&mut self) -> i32 {
        self.next_xid += 1;
        self.next_xid
    }

    /// What an adversarial client sends besides the usual mix, now and
    /// then: a value whose frame is as long as `max_buffer` allows, or just
    /// longer (the node's connection cannot read it: the connection ends
    /// and the write never reaches the log); an addauth with a large id
    /// (the front door bounds a connection's auth list). A big value is
    /// overwritten by a small one right after, so the tree (and every
    /// state digest and snapshot) does not carry it for long.
    pub fn adversarial_requests(&mut self, rng: &mut Rng, max_buffer: usize) -> Vec<Request> {
        let path = BIG[rng.range(0, BIG.len() as u64) as usize].to_string();
        let set = |data: &[u8]| Request::SetData {
            path: path.clone(),
            data: Some(data.to_vec()),
            version: -1,
        };
        let big = |body: usize| {
            let request = if rng_pick(body) {
                set(b"")
            } else {
                create(&path, Some(b""), create_mode::PERSISTENT)
            };
            sized(request, body)
        };
        let roll = rng.range(0, 1000);
        match roll {
            0..=2 => {
                let body = rng.range(max_buffer as u64 / 2, max_buffer as u64 + 1) as usize;
                vec![big(body), set(b"small")]
            }
            3 => vec![big(max_buffer), set(b"small")],
            4 => vec![big(max_buffer + rng.range(1, 64) as usize)],
            5..=9 => {
                let user = "u".repeat(rng.range(1_000, 12_000) as usize);
                vec![Request::Auth {
                    auth_type: 0,
                    scheme: "digest".into(),
                    auth: format!("{user}:secret").into_bytes(),
                }]
            }
            _ => Vec::new(),
        }
    }

    /// A random request, as a mixed coordination workload makes them.
    pub fn next_request(&mut self, client: u64, clients: u64, rng: &mut Rng) -> Request {
        let node = NODES[rng.range(0, NODES.len() as u64) as usize];
        let mine = format!("/e/c{client}");
        let other = format!("/e/c{}", rng.range(0, clients) + 1);
        let data = value(client, rng.range(0, 1000));
        let roll = rng.range(0, 100);
        match roll {
            0..=9 => create(node, data.as_deref(), create_mode::PERSISTENT),
            10..=24 => Request::SetData {
                path: node.into(),
                data,
                version: -1,
            },
            25..=30 => Request::Delete {
                path: node.into(),
                version: -1,
            },
            31..=36 => create(&mine, data.as_deref(), create_mode::EPHEMERAL),
            37..=39 => Request::Delete {
                path: other,
                version: -1,
            },
            40..=43 => create("/q/m-", data.as_deref(), create_mode::EPHEMERAL_SEQUENTIAL),
            44..=46 => match self.own_sequential.pop() {
                Some(path) => Request::Delete { path, version: -1 },
                None => Request::Ping,
            },
            47..=56 => Request::GetData {
                path: if roll < 54 { node.into() } else { other },
                watch: true,
            },
            57..=64 => Request::Exists {
                path: if roll < 61 { node.into() } else { other },
                watch: true,
            },
            65..=72 => {
                let path = PARENTS[rng.range(0, 3) as usize].to_string();
                if roll < 69 {
                    Request::GetChildren { path, watch: true }
                } else {
                    Request::GetChildren2 { path, watch: true }
                }
            }
            73..=78 => {
                let written: Vec<&String> = self.written.keys().collect();
                let path = if written.is_empty() {
                    node.to_string()
                } else {
                    written[rng.range(0, written.len() as u64) as usize].clone()
                };
                Request::GetData { path, watch: false }
            }
            79..=80 => Request::AddWatch {
                path: node.into(),
                mode: wire::add_watch_mode::PERSISTENT,
            },
            81 => Request::AddWatch {
                path: if rng.chance(0.5) { "/w" } else { "/e" }.into(),
                mode: wire::add_watch_mode::PERSISTENT_RECURSIVE,
            },
            82..=85 => Request::Multi(vec![
                create(node, data.as_deref(), create_mode::PERSISTENT),
                Request::SetData {
                    path: node.into(),
                    data: Some(b"multi".to_vec()),
                    version: -1,
                },
            ]),
            86..=89 => Request::SetData {
                path: mine,
                data,
                version: -1,
            },
            90..=94 => Request::Sync { path: "/w".into() },
            _ => Request::Create {
                kind: CreateKind::Create2,
                path: node.into(),
                data,
                acl: open_acl(),
                flags: create_mode::PERSISTENT,
            },
        }
    }
}

/// The data a client writes: one time in ten null, one in ten empty (the
/// two must read back apart), otherwise its id and `n`.
fn value(client: u64, n: u64) -> Option<Vec<u8>> {
    match n % 10 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!("{client}.{n}").into_bytes()),
    }
}

/// Whether a big value goes in a setData (even lengths) or a create.
fn rng_pick(body: usize) -> bool {
    body.is_multiple_of(2)
}
