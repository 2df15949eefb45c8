//! Shared samples for the zkproto tests: one value of every request and
//! response kind, and a small deterministic pseudo-random generator.

#![allow(dead_code)]

use synod_zkproto::*;

pub fn world_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub fn sample_stat(seed: i64) -> Stat {
    Stat {
        czxid: seed,
        mzxid: seed + 1,
        ctime: 1_700_000_000_000 + seed,
        mtime: 1_700_000_000_500 + seed,
        version: 3,
        cversion: 4,
        aversion: 5,
        ephemeral_owner: 0x0123_4567_89ab_cdef,
        data_length: 6,
        num_children: 7,
        pzxid: seed + 2,
    }
}

/// One request of every kind the crate decodes, with the xid a client
/// would send it under.
pub fn every_request() -> Vec<(i32, Request)> {
    let create = |kind| Request::Create {
        kind,
        path: "/a".into(),
        data: Some(b"hello".to_vec()),
        acl: world_acl(),
        flags: create_mode::EPHEMERAL_SEQUENTIAL,
    };
    let create_ttl = Request::CreateTtl {
        path: "/ttl".into(),
        data: Some(vec![]),
        acl: world_acl(),
        flags: create_mode::PERSISTENT_WITH_TTL,
        ttl_ms: 60_000,
    };
    let delete = Request::Delete {
        path: "/a".into(),
        version: -1,
    };
    let set_data = Request::SetData {
        path: "/a".into(),
        data: Some(vec![0, 1, 2, 255]),
        version: 7,
    };
    let check = Request::Check {
        path: "/a".into(),
        version: 2,
    };
    let get_data = Request::GetData {
        path: "/a".into(),
        watch: true,
    };
    let get_children = Request::GetChildren {
        path: "/".into(),
        watch: false,
    };
    vec![
        (1, create(CreateKind::Create)),
        (2, create(CreateKind::Create2)),
        (3, create(CreateKind::Container)),
        (4, create_ttl.clone()),
        (5, delete.clone()),
        (
            6,
            Request::DeleteContainer {
                path: "/container".into(),
            },
        ),
        (
            7,
            Request::Exists {
                path: "/a".into(),
                watch: true,
            },
        ),
        (8, get_data.clone()),
        (9, get_children.clone()),
        (
            10,
            Request::GetChildren2 {
                path: "/".into(),
                watch: true,
            },
        ),
        (11, set_data.clone()),
        (12, Request::GetAcl { path: "/a".into() }),
        (
            13,
            Request::SetAcl {
                path: "/a".into(),
                acl: world_acl(),
                version: 0,
            },
        ),
        (14, Request::Sync { path: "/".into() }),
        (xid::PING, Request::Ping),
        (15, check.clone()),
        (
            16,
            Request::Multi(vec![
                create(CreateKind::Create),
                create(CreateKind::Create2),
                create(CreateKind::Container),
                create_ttl,
                delete,
                set_data,
                check,
            ]),
        ),
        (17, Request::Multi(vec![])),
        (18, Request::MultiRead(vec![get_data, get_children])),
        (
            19,
            Request::CheckWatches {
                path: "/a".into(),
                watcher_type: watcher_type::DATA,
            },
        ),
        (
            20,
            Request::RemoveWatches {
                path: "/a".into(),
                watcher_type: watcher_type::ANY,
            },
        ),
        (
            xid::AUTH,
            Request::Auth {
                auth_type: 0,
                scheme: "digest".into(),
                auth: b"user:secret".to_vec(),
            },
        ),
        (
            xid::SET_WATCHES,
            Request::SetWatches {
                relative_zxid: 0x1_0000_0005,
                data: vec!["/a".into()],
                exist: vec![],
                child: vec!["/".into(), "/b".into()],
            },
        ),
        (
            xid::SET_WATCHES,
            Request::SetWatches2 {
                relative_zxid: 9,
                data: vec!["/a".into()],
                exist: vec!["/missing".into()],
                child: vec![],
                persistent: vec!["/p".into()],
                persistent_recursive: vec!["/r".into()],
            },
        ),
        (
            21,
            Request::GetEphemerals {
                prefix_path: "/".into(),
            },
        ),
        (22, Request::GetAllChildrenNumber { path: "/".into() }),
        (
            23,
            Request::AddWatch {
                path: "/w".into(),
                mode: add_watch_mode::PERSISTENT_RECURSIVE,
            },
        ),
        (24, Request::WhoAmI),
        (25, Request::CloseSession),
        (
            26,
            Request::Sasl {
                token: b"charset=utf-8,username=\"u\"".to_vec(),
            },
        ),
    ]
}

/// One successful response of every kind, with the reply kind a client
/// would expect for it.
pub fn every_response() -> Vec<(ReplyKind, Response)> {
    vec![
        (ReplyKind::Empty, Response::Empty),
        (ReplyKind::AddWatch, Response::AddWatch { err: 0 }),
        (
            ReplyKind::Create,
            Response::Create {
                path: "/a0000000001".into(),
            },
        ),
        (
            ReplyKind::Create2,
            Response::Create2 {
                path: "/b".into(),
                stat: sample_stat(10),
            },
        ),
        (
            ReplyKind::Stat,
            Response::Stat {
                stat: sample_stat(20),
            },
        ),
        (
            ReplyKind::GetData,
            Response::GetData {
                data: Some(b"payload".to_vec()),
                stat: sample_stat(30),
            },
        ),
        (
            ReplyKind::GetAcl,
            Response::GetAcl {
                acl: world_acl(),
                stat: sample_stat(40),
            },
        ),
        (
            ReplyKind::GetChildren,
            Response::GetChildren {
                children: vec!["x".into(), "y".into()],
            },
        ),
        (
            ReplyKind::GetChildren2,
            Response::GetChildren2 {
                children: vec![],
                stat: sample_stat(50),
            },
        ),
        (ReplyKind::Sync, Response::Sync { path: "/".into() }),
        (
            ReplyKind::Multi,
            Response::Multi(vec![
                MultiResult::Create { path: "/a".into() },
                MultiResult::Create2 {
                    path: "/b".into(),
                    stat: sample_stat(60),
                },
                MultiResult::SetData {
                    stat: sample_stat(70),
                },
                MultiResult::Delete,
                MultiResult::Check,
            ]),
        ),
        (
            ReplyKind::Multi,
            Response::Multi(MultiResult::aborted(3, 1, err::NO_NODE)),
        ),
        (
            ReplyKind::MultiRead,
            Response::MultiRead(vec![
                MultiReadResult::GetData {
                    data: Some(b"d".to_vec()),
                    stat: sample_stat(80),
                },
                MultiReadResult::Error { err: err::NO_NODE },
                MultiReadResult::GetChildren {
                    children: vec!["c".into()],
                },
            ]),
        ),
        (
            ReplyKind::GetEphemerals,
            Response::GetEphemerals {
                paths: vec!["/e1".into(), "/e2".into()],
            },
        ),
        (
            ReplyKind::AllChildrenNumber,
            Response::AllChildrenNumber { n: 42 },
        ),
        (
            ReplyKind::WhoAmI,
            Response::WhoAmI(vec![ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into(),
            }]),
        ),
        (
            ReplyKind::Sasl,
            Response::Sasl {
                token: b"rspauth=0123".to_vec(),
            },
        ),
    ]
}

/// Strips and checks the 4-byte length prefix of an encoded frame.
pub fn body_of(frame: &[u8]) -> &[u8] {
    let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
    assert_eq!(
        len as usize,
        frame.len() - 4,
        "length prefix must match the body"
    );
    &frame[4..]
}

/// SplitMix64: a tiny deterministic generator, so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
