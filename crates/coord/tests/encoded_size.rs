//! The front door budgets its log commands from `encoded_bytes` without
//! encoding them: the sizes must be exact, and additive over a batch.

use synod_coord::{Acl, CoordOp, CreateMode, Id, Write};

fn every_write() -> Vec<Write> {
    let create = Write::Create {
        path: "/a/b".into(),
        data: vec![7; 1000],
        acl: vec![
            Acl::new(31, "digest", "u:x"),
            Acl::new(1, "world", "anyone"),
        ],
        mode: CreateMode::PersistentSequential,
        ttl_ms: -1,
    };
    vec![
        create.clone(),
        Write::Delete {
            path: "/a".into(),
            version: 3,
        },
        Write::SetData {
            path: "/big".into(),
            data: vec![1; 100_000],
            version: -1,
        },
        Write::SetAcl {
            path: "/a".into(),
            acl: Acl::open_unsafe(),
            version: 0,
        },
        Write::Check {
            path: "/c".into(),
            version: 9,
        },
        Write::Sync { path: "/".into() },
        Write::CreateNull {
            path: "/n".into(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Ephemeral,
            ttl_ms: -1,
        },
        Write::SetNullData {
            path: "/n".into(),
            version: -1,
        },
        Write::Multi(vec![
            create,
            Write::set_data("/n".into(), None, 2),
            Write::Multi(vec![]),
            Write::Check {
                path: "/".into(),
                version: 0,
            },
        ]),
    ]
}

#[test]
fn the_encoded_size_of_every_operation_is_exact() {
    let mut ops = vec![
        CoordOp::CreateSession {
            passwd: vec![1; 16],
            timeout_ms: 4000,
            time_ms: 12,
        },
        CoordOp::CloseSession { session: 5 },
        CoordOp::Touch {
            sessions: (0..1000).collect(),
        },
        CoordOp::Tick {
            time_ms: 1,
            term: 2,
        },
    ];
    for write in every_write() {
        ops.push(CoordOp::Batch {
            session: 1,
            auth: vec![Id::new("ip", "127.0.0.1")],
            time_ms: 3,
            writes: vec![write],
        });
    }
    for op in ops {
        assert_eq!(op.encoded_bytes(), op.encode().len(), "{op:?}");
    }
}

#[test]
fn a_batch_takes_the_empty_batchs_bytes_plus_each_writes() {
    let auth = vec![Id::new("ip", "10.1.2.3"), Id::new("digest", "user:hash")];
    let empty = CoordOp::Batch {
        session: 77,
        auth: auth.clone(),
        time_ms: 1_700_000_000_000,
        writes: Vec::new(),
    };
    let writes = every_write();
    let sum: usize = writes.iter().map(Write::encoded_bytes).sum();
    let full = CoordOp::Batch {
        session: 77,
        auth,
        time_ms: 1_700_000_000_000,
        writes,
    };
    assert_eq!(full.encode().len(), empty.encoded_bytes() + sum);
}
