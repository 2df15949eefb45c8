//! Stat bookkeeping for every op, as ZooKeeper 3.8 reports it.

mod common;
use common::*;
use synod_coord::{perms, Acl, CreateMode, Stat, Tree, WriteResult};

#[test]
fn initial_tree_is_zookeepers() {
    let tree = Tree::new();
    let zero = Stat::default();
    assert_eq!(
        tree.exists("/"),
        Some(Stat {
            num_children: 1,
            cversion: -1,
            ..zero.clone()
        })
    );
    assert_eq!(
        tree.exists("/zookeeper"),
        Some(Stat {
            num_children: 2,
            cversion: -2,
            ..zero.clone()
        })
    );
    assert_eq!(tree.exists("/zookeeper/quota"), Some(zero.clone()));
    assert_eq!(
        tree.exists("/zookeeper/config"),
        Some(Stat {
            aversion: -1,
            ..zero
        })
    );
    let (acl, _) = tree.get_acl("/zookeeper/config", &[]).unwrap();
    assert_eq!(acl, vec![Acl::new(perms::READ, "world", "anyone")]);
    let (acl, _) = tree.get_acl("/", &[]).unwrap();
    assert_eq!(acl, Acl::open_unsafe());
    assert_eq!(tree.get_children("/", &[]).unwrap().0, vec!["zookeeper"]);
    assert_eq!(
        tree.get_children("/zookeeper", &[]).unwrap().0,
        vec!["config", "quota"]
    );
    assert_eq!(tree.last_zxid(), 0);
    assert_eq!(tree.node_count(), 4);
}

#[test]
fn create_sets_the_new_nodes_stat_and_the_parents_cversion_and_pzxid() {
    let (mut tree, s) = setup();
    let before = stat(&tree, "/");
    let out = batch_at(&mut tree, s, &[], 1234, vec![create("/a", b"hello")]).remove(0);
    let Ok(WriteResult::Created { path, stat: st }) = out.result else {
        panic!("{out:?}")
    };
    assert_eq!(path, "/a");
    let z = out.zxid;
    assert_eq!(
        st,
        Stat {
            czxid: z,
            mzxid: z,
            ctime: 1234,
            mtime: 1234,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
            pzxid: z,
        }
    );
    assert_eq!(stat(&tree, "/a"), st);
    let root = stat(&tree, "/");
    // Child create: cversion +1, pzxid = zxid, numChildren +1; mzxid and
    // mtime of the parent do not move.
    assert_eq!(root.cversion, before.cversion + 1);
    assert_eq!(root.pzxid, z);
    assert_eq!(root.num_children, 2);
    assert_eq!(root.mzxid, before.mzxid);
    assert_eq!(root.mtime, before.mtime);
}

#[test]
fn delete_moves_parent_pzxid_and_reported_cversion_but_not_mzxid() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/p", b""));
    must_create(&mut tree, s, create("/p/c", b""));
    let p = stat(&tree, "/p");
    assert_eq!((p.cversion, p.num_children), (1, 1));
    let out = run(&mut tree, s, delete("/p/c", -1));
    assert_eq!(out.result, Ok(WriteResult::Deleted));
    let p2 = stat(&tree, "/p");
    // ZooKeeper reports 2 * creates - numChildren: one create and one delete.
    assert_eq!((p2.cversion, p2.num_children), (2, 0));
    assert_eq!(p2.pzxid, out.zxid);
    assert_eq!(p2.mzxid, p.mzxid);
    assert!(tree.exists("/p/c").is_none());
}

#[test]
fn set_data_bumps_version_mzxid_mtime_and_length() {
    let (mut tree, s) = setup();
    let (_, created) = must_create(&mut tree, s, create("/a", b"x"));
    let out = batch_at(&mut tree, s, &[], 9999, vec![set_data("/a", b"longer", 0)]).remove(0);
    let Ok(WriteResult::SetData { stat: st }) = out.result else {
        panic!("{out:?}")
    };
    assert_eq!(st.version, 1);
    assert_eq!(st.mzxid, out.zxid);
    assert_eq!(st.mtime, 9999);
    assert_eq!(st.data_length, 6);
    assert_eq!(st.czxid, created.czxid);
    assert_eq!(st.ctime, created.ctime);
    assert_eq!(st.pzxid, created.pzxid);
    assert_eq!(
        tree.get_data("/a", &[]).unwrap(),
        (Some(b"longer".to_vec()), st)
    );
    // Version -1 matches any version.
    let Ok(WriteResult::SetData { stat: st2 }) = res(&mut tree, s, set_data("/a", b"", -1)) else {
        panic!()
    };
    assert_eq!((st2.version, st2.data_length), (2, 0));
}

#[test]
fn set_acl_bumps_aversion_only() {
    let (mut tree, s) = setup();
    let (_, created) = must_create(&mut tree, s, create("/a", b"x"));
    let out = run(
        &mut tree,
        s,
        set_acl("/a", world(perms::READ | perms::ADMIN), 0),
    );
    let Ok(WriteResult::SetAcl { stat: st }) = out.result else {
        panic!("{out:?}")
    };
    assert_eq!(
        st,
        Stat {
            aversion: 1,
            ..created
        }
    );
    assert_eq!(
        tree.get_acl("/a", &[]).unwrap().0,
        world(perms::READ | perms::ADMIN)
    );
}

#[test]
fn config_node_setacl_with_any_version_starts_from_minus_one() {
    let (mut tree, s) = setup();
    // /zookeeper/config is READ-only for world; super may change it.
    let sup = [synod_coord::Id::new("super", "")];
    let out = run_as(
        &mut tree,
        s,
        &sup,
        set_acl("/zookeeper/config", world(ALL), -1),
    );
    let Ok(WriteResult::SetAcl { stat: st }) = out.result else {
        panic!("{out:?}")
    };
    assert_eq!(st.aversion, 0);
}

#[test]
fn check_leaves_the_stat_alone_and_consumes_a_zxid() {
    let (mut tree, s) = setup();
    must_create(&mut tree, s, create("/a", b"x"));
    let before = stat(&tree, "/a");
    let z = tree.last_zxid();
    let out = run(&mut tree, s, check("/a", 0));
    assert_eq!(out.result, Ok(WriteResult::Checked));
    assert_eq!(out.zxid, z + 1);
    assert_eq!(stat(&tree, "/a"), before);
}

#[test]
fn ephemeral_owner_is_the_session_and_hidden_for_containers_and_ttl() {
    let (mut tree, s) = setup();
    let (_, e) = must_create(&mut tree, s, create_mode("/e", CreateMode::Ephemeral));
    assert_eq!(e.ephemeral_owner, s);
    let (_, c) = must_create(&mut tree, s, create_mode("/c", CreateMode::Container));
    assert_eq!(
        c.ephemeral_owner, 0,
        "ZooKeeper's copyStat reports 0 for containers"
    );
    let (_, t) = must_create(
        &mut tree,
        s,
        create_with(
            "/t",
            b"",
            Acl::open_unsafe(),
            CreateMode::PersistentWithTtl,
            500,
        ),
    );
    assert_eq!(t.ephemeral_owner, 0, "and for TTL nodes");
    assert_eq!(tree.ephemeral_count(), 1);
    assert_eq!(tree.container_count(), 1);
    assert_eq!(tree.ttl_count(), 1);
}

#[test]
fn failed_writes_consume_a_zxid_and_sync_does_not() {
    let (mut tree, s) = setup();
    let z = tree.last_zxid();
    let out = run(&mut tree, s, delete("/missing", -1));
    assert_eq!(out.result, Err(synod_coord::ErrorCode::NoNode));
    assert_eq!(out.zxid, z + 1);
    assert_eq!(tree.last_zxid(), z + 1);
    let out = run(&mut tree, s, synod_coord::Write::Sync { path: "/x".into() });
    assert_eq!(out.result, Ok(WriteResult::Synced { path: "/x".into() }));
    assert_eq!(out.zxid, z + 1);
    assert_eq!(tree.last_zxid(), z + 1);
}

#[test]
fn counts_for_monitoring() {
    let (mut tree, s) = setup();
    let bytes = tree.data_bytes();
    must_create(&mut tree, s, create("/abc", b"12345"));
    assert_eq!(tree.data_bytes(), bytes + 4 + 5);
    run(&mut tree, s, set_data("/abc", b"1", -1));
    assert_eq!(tree.data_bytes(), bytes + 4 + 1);
    run(&mut tree, s, delete("/abc", -1));
    assert_eq!(tree.data_bytes(), bytes);
    assert_eq!(tree.session_count(), 1);
    assert_eq!(
        tree.sessions().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![s]
    );
}

#[test]
fn all_children_number_counts_descendants() {
    let (mut tree, s) = setup();
    for p in ["/a", "/a/b", "/a/b/c", "/a/d", "/ab"] {
        must_create(&mut tree, s, create(p, b""));
    }
    assert_eq!(tree.all_children_number("/a"), Ok(3));
    assert_eq!(tree.all_children_number("/a/b/c"), Ok(0));
    assert_eq!(tree.all_children_number("/zookeeper"), Ok(2));
    // The root counts everything but itself, /zookeeper's nodes included.
    assert_eq!(tree.all_children_number("/"), Ok(8));
    assert_eq!(
        tree.all_children_number("/nope"),
        Err(synod_coord::ErrorCode::NoNode)
    );
}
