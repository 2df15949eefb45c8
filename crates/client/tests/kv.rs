//! The client against mock nodes on 127.0.0.1: redirects, failover with
//! exactly-once retries, giving up, and the key-value semantics.

mod mock;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mock::{MockNode, Mode, Store};
use synod_client::{CasOutcome, Client, ClientError, ClientOptions, Role};

/// Every test must end well within this, or it fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test did not finish in time")
}

fn store() -> Arc<Mutex<Store>> {
    Arc::new(Mutex::new(Store::default()))
}

fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

fn redirect_to(node: &MockNode) -> Mode {
    Mode::NotLeader {
        leader_id: Some(node.state.id),
        leader_addr: Some(node.addr.clone()),
    }
}

fn no_leader_known() -> Mode {
    Mode::NotLeader {
        leader_id: None,
        leader_addr: None,
    }
}

#[tokio::test]
async fn a_follower_redirects_the_client_to_the_leader_which_it_then_remembers() {
    bounded(async {
        let store = store();
        let leader = MockNode::start(2, Mode::Leader, store.clone());
        let follower = MockNode::start(1, redirect_to(&leader), store.clone());
        // Only the follower is given: the leader's address comes from the hint.
        let mut client = Client::connect(vec![follower.addr.clone()], options())
            .await
            .unwrap();
        let id = client.client_id();

        client.put(b"k", b"v").await.unwrap();
        assert_eq!(client.leader(), Some(leader.addr.as_str()));
        assert_eq!(client.get(b"k").await.unwrap(), Some(b"v".to_vec()));

        // The redirected write kept its pair; later requests went straight
        // to the leader.
        assert_eq!(follower.writes_seen(), vec![(id, 1)]);
        assert_eq!(follower.requests_seen(), 1);
        assert_eq!(leader.writes_seen(), vec![(id, 1)]);
        assert_eq!(store.lock().unwrap().applied, 1);
    })
    .await;
}

#[tokio::test]
async fn a_write_retried_after_the_leader_crashed_keeps_its_seq_and_is_applied_once() {
    bounded(async {
        let store = store();
        let mut old_leader = MockNode::start(1, Mode::Leader, store.clone());
        let new_leader = MockNode::start(2, redirect_to(&old_leader), store.clone());
        let endpoints = vec![old_leader.addr.clone(), new_leader.addr.clone()];
        let mut client = Client::connect(endpoints, options()).await.unwrap();
        let id = client.client_id();
        client.put(b"k", b"v1").await.unwrap();

        // The leader applies the next write, then crashes before replying.
        old_leader.set_mode(Mode::ApplyThenHang);
        let write = tokio::spawn(async move {
            let result = client.put(b"k", b"v2").await;
            (client, result)
        });
        while !old_leader.writes_seen().contains(&(id, 2)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        new_leader.set_mode(Mode::Leader);
        old_leader.stop();
        let (mut client, result) = write.await.unwrap();
        result.unwrap();

        // The retry went to the new leader with the same pair, which the
        // table recognised: applied once, not twice.
        assert_eq!(old_leader.writes_seen(), vec![(id, 1), (id, 2)]);
        assert_eq!(new_leader.writes_seen(), vec![(id, 2)]);
        assert_eq!(store.lock().unwrap().applied, 2);
        assert_eq!(client.leader(), Some(new_leader.addr.as_str()));

        // The next write gets a new seq.
        client.put(b"k", b"v3").await.unwrap();
        assert_eq!(new_leader.writes_seen(), vec![(id, 2), (id, 3)]);
        assert_eq!(store.lock().unwrap().applied, 3);
        assert_eq!(client.get(b"k").await.unwrap(), Some(b"v3".to_vec()));
    })
    .await;
}

#[tokio::test]
async fn the_client_gives_up_with_no_leader_after_the_deadline_when_no_node_knows_one() {
    bounded(async {
        let store = store();
        let nodes: Vec<MockNode> = (1..=3)
            .map(|id| MockNode::start(id, no_leader_known(), store.clone()))
            .collect();
        let deadline = Duration::from_millis(300);
        let options = ClientOptions {
            deadline,
            ..options()
        };
        let endpoints = nodes.iter().map(|n| n.addr.clone()).collect();
        let mut client = Client::connect(endpoints, options).await.unwrap();

        let started = tokio::time::Instant::now();
        let err = client.put(b"k", b"v").await.unwrap_err();
        let elapsed = started.elapsed();

        assert!(elapsed >= deadline, "gave up early, after {elapsed:?}");
        // Generous: a loaded machine may delay the last wake-up.
        assert!(
            elapsed < deadline + Duration::from_secs(3),
            "gave up late, after {elapsed:?}"
        );
        match &err {
            ClientError::NoLeader {
                tried, last_error, ..
            } => {
                let mut tried = tried.clone();
                tried.sort();
                let mut expected: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
                expected.sort();
                assert_eq!(tried, expected);
                assert!(last_error.contains("knows no leader"), "{last_error}");
            }
            other => panic!("expected NoLeader, got {other:?}"),
        }
        assert!(err.to_string().contains("majority"), "{err}");
        assert_eq!(store.lock().unwrap().applied, 0);
        // The failed write's seq is never reused.
        assert_eq!(client.next_seq(), 2);
    })
    .await;
}

#[tokio::test]
async fn cas_put_get_and_delete_round_trip() {
    bounded(async {
        let node = MockNode::start(1, Mode::Leader, store());
        let mut client = Client::connect(vec![node.addr.clone()], options())
            .await
            .unwrap();

        assert_eq!(client.get(b"k").await.unwrap(), None);
        assert_eq!(
            client.cas(b"k", None, b"a").await.unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(
            client.cas(b"k", None, b"b").await.unwrap(),
            CasOutcome::Failed {
                current: Some(b"a".to_vec())
            }
        );
        assert_eq!(
            client.cas(b"k", Some(b"x"), b"b").await.unwrap(),
            CasOutcome::Failed {
                current: Some(b"a".to_vec())
            }
        );
        assert_eq!(
            client.cas(b"k", Some(b"a"), b"b").await.unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(client.get(b"k").await.unwrap(), Some(b"b".to_vec()));
        client.put(b"k", b"").await.unwrap();
        assert_eq!(client.get(b"k").await.unwrap(), Some(Vec::new()));
        client.delete(b"k").await.unwrap();
        client.delete(b"k").await.unwrap();
        assert_eq!(client.get(b"k").await.unwrap(), None);
        assert_eq!(
            client.cas(b"k", Some(b"b"), b"c").await.unwrap(),
            CasOutcome::Failed { current: None }
        );
        let seqs: Vec<u64> = node.writes_seen().iter().map(|&(_, seq)| seq).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    })
    .await;
}

#[tokio::test]
async fn busy_is_retried_at_the_same_node_with_the_same_seq() {
    bounded(async {
        let store = store();
        let node = MockNode::start(1, Mode::Busy { remaining: 3 }, store.clone());
        let mut client = Client::connect(vec![node.addr.clone()], options())
            .await
            .unwrap();
        let id = client.client_id();
        client.put(b"k", b"v").await.unwrap();
        assert_eq!(node.writes_seen(), vec![(id, 1); 4]);
        assert_eq!(store.lock().unwrap().applied, 1);
    })
    .await;
}

#[tokio::test]
async fn stale_and_rejected_are_definitive_and_not_retried() {
    bounded(async {
        let store = store();
        store
            .lock()
            .unwrap()
            .clients
            .insert(42, (10, mock::Cached::Applied));
        let node = MockNode::start(1, Mode::Leader, store.clone());
        let options = ClientOptions {
            client_id: Some(42),
            ..options()
        };
        let mut client = Client::connect(vec![node.addr.clone()], options)
            .await
            .unwrap();

        let err = client.put(b"k", b"v").await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Stale {
                    client_id: 42,
                    last_applied_seq: 10
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("same client id"), "{err}");

        let err = client.put(b"", b"v").await.unwrap_err();
        assert!(matches!(err, ClientError::Rejected(_)), "{err:?}");
        assert_eq!(node.writes_seen(), vec![(42, 1), (42, 2)]);
        assert_eq!(store.lock().unwrap().applied, 0);
    })
    .await;
}

#[tokio::test]
async fn a_follower_serves_serializable_reads_but_not_linearizable_ones() {
    bounded(async {
        let store = store();
        store
            .lock()
            .unwrap()
            .data
            .insert(b"k".to_vec(), b"v".to_vec());
        let follower = MockNode::start(1, no_leader_known(), store);
        let options = ClientOptions {
            deadline: Duration::from_millis(200),
            ..options()
        };
        let mut client = Client::connect(vec![follower.addr.clone()], options)
            .await
            .unwrap();
        assert_eq!(
            client.get_serializable(b"k").await.unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(
            client.leader(),
            None,
            "a serializable read proves no leadership"
        );
        let err = client.get(b"k").await.unwrap_err();
        assert!(matches!(err, ClientError::NoLeader { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_dead_endpoint_is_skipped_and_status_reports_the_node_view() {
    bounded(async {
        let store = store();
        let mut dead = MockNode::start(9, Mode::Leader, store.clone());
        dead.stop();
        let node = MockNode::start(3, Mode::Leader, store);
        let endpoints = vec![dead.addr.clone(), node.addr.clone()];
        let mut client = Client::connect(endpoints, options()).await.unwrap();
        client.put(b"k", b"v").await.unwrap();
        assert_eq!(client.leader(), Some(node.addr.as_str()));

        let status = client.status(&node.addr).await.unwrap();
        assert_eq!(status.node_id, 3);
        assert_eq!(status.role, Role::Leader);
        assert_eq!((status.ballot.round, status.ballot.node), (7, 3));
        assert_eq!(status.leader_id, Some(3));
        assert_eq!((status.commit_slot, status.applied_slot), (1, 1));
        assert_eq!((status.voters, status.learners), (vec![1, 2, 3], vec![4]));
        assert_eq!(status.peers.len(), 1);

        let err = client.status(&dead.addr).await.unwrap_err();
        assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains(&dead.addr), "{err}");
    })
    .await;
}

#[tokio::test]
async fn connect_refuses_an_empty_or_invalid_endpoint_list() {
    bounded(async {
        let err = Client::connect(Vec::new(), options()).await.unwrap_err();
        assert!(matches!(err, ClientError::NoEndpoints), "{err:?}");
        let err = Client::connect(vec!["http://no such host".into()], options())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidEndpoint { .. }),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_write_the_node_finds_invalid_is_an_error_at_once_not_retried() {
    bounded(async {
        let store = store();
        let node = MockNode::start(1, Mode::Leader, store.clone());
        let other = MockNode::start(2, redirect_to(&node), store.clone());
        let mut client = Client::connect(vec![node.addr.clone(), other.addr.clone()], options())
            .await
            .unwrap();
        let err = client
            .put(b"k", &[0; mock::VALUE_BYTES_MAX + 1])
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Rejected(_)), "{err:?}");
        assert!(err.to_string().contains("1025 byte command"), "{err}");
        assert_eq!(node.requests_seen() + other.requests_seen(), 1);
        // The client goes on.
        client.put(b"k", b"v").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_write_past_the_stores_cap_is_quota_exceeded_at_once_not_retried() {
    bounded(async {
        let store = store();
        store.lock().unwrap().keys_max = Some(1);
        let node = MockNode::start(1, Mode::Leader, store.clone());
        let other = MockNode::start(2, redirect_to(&node), store.clone());
        let mut client = Client::connect(vec![node.addr.clone(), other.addr.clone()], options())
            .await
            .unwrap();
        client.put(b"a", b"1").await.unwrap();
        let seen = node.requests_seen() + other.requests_seen();
        let err = client.put(b"b", b"2").await.unwrap_err();
        assert!(matches!(err, ClientError::QuotaExceeded(_)), "{err:?}");
        assert!(err.to_string().contains("[kv] keys_max (1)"), "{err}");
        assert_eq!(node.requests_seen() + other.requests_seen(), seen + 1);
        // Overwrites and deletes go on; after a delete the put is taken.
        client.put(b"a", b"3").await.unwrap();
        client.delete(b"a").await.unwrap();
        client.put(b"b", b"2").await.unwrap();
    })
    .await;
}
