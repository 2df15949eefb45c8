//! Backups on real processes: `synod snapshot save` from a cluster under
//! write load, `synod snapshot inspect`, and a new cluster started from the
//! file with `synod server --restore` holding every write acknowledged
//! before the save began.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cluster, Layout};

const SETTLE: Duration = Duration::from_secs(20);

#[test]
fn a_backup_taken_under_load_restores_every_write_acknowledged_before_it() {
    common::run(async {
        let cluster = Cluster::start_all(Layout::three());
        let all = cluster.ids();
        cluster.wait_leader(&all, SETTLE).await;

        // Writers put unique keys and note when each was acknowledged.
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let mut writers = Vec::new();
        for w in 0..3 {
            let mut client = cluster.client(&all, Duration::from_secs(5)).await;
            let (stop, acked) = (stop.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}-{n}");
                    if client.put(key.as_bytes(), key.as_bytes()).await.is_ok() {
                        acked.lock().unwrap().push((Instant::now(), key));
                    }
                    n += 1;
                }
            }));
        }
        while acked.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let file = cluster.dir.path().join("backup.synod");
        let file_arg = file.to_str().unwrap().to_string();
        let admin: Vec<String> = all
            .iter()
            .map(|id| format!("http://{}", cluster.node(*id).admin))
            .collect();
        let save_began = Instant::now();
        let out = cluster
            .cli(
                &["snapshot", "save", &file_arg, "--admin", &admin.join(",")],
                SETTLE,
            )
            .await;
        assert!(out.success, "snapshot save: {out:?}");
        // Keep writing a little after the save: those may or may not be in it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        let before: Vec<String> = acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at < save_began)
            .map(|(_, key)| key.clone())
            .collect();
        let total = acked.lock().unwrap().len();
        println!(
            "{} writes acknowledged before the save began, {total} in all; {}",
            before.len(),
            out.stdout.trim()
        );

        let inspect = cluster
            .cli(&["snapshot", "inspect", &file_arg], SETTLE)
            .await;
        assert!(inspect.success, "inspect: {inspect:?}");
        assert!(inspect.stdout.contains("checksum good"), "{inspect:?}");
        // A damaged copy is refused by inspect and by a restore.
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let damaged = cluster.dir.path().join("damaged.synod");
        std::fs::write(&damaged, &bytes).unwrap();
        let refused = cluster
            .cli(&["snapshot", "inspect", damaged.to_str().unwrap()], SETTLE)
            .await;
        assert!(
            !refused.success && refused.stderr.contains("damaged"),
            "{refused:?}"
        );

        // A new cluster (other ports, other directories) from the file.
        let mut restored = Cluster::new(Layout::three());
        for id in restored.ids() {
            restored.start_with(id, &["--restore", &file_arg]);
        }
        let ids = restored.ids();
        restored.wait_leader(&ids, SETTLE).await;
        assert!(
            restored.log_text(1).contains("restored from"),
            "{}",
            restored.log_text(1)
        );
        let mut client = restored.client(&ids, Duration::from_secs(10)).await;
        for key in &before {
            let got = client.get(key.as_bytes()).await.expect("get");
            assert_eq!(
                got.as_deref(),
                Some(key.as_bytes()),
                "{key} was acknowledged before the save"
            );
        }
        // The restored cluster takes writes.
        client.put(b"after-restore", b"yes").await.expect("put");
        assert_eq!(
            client.get(b"after-restore").await.expect("get").as_deref(),
            Some(&b"yes"[..])
        );
        // A restore into a directory that holds a node is refused.
        let again = restored.ids()[0];
        restored.kill9(again);
        restored.start_with(again, &["--restore", &file_arg]);
        let status = restored.wait_exit(again, SETTLE).await;
        assert!(
            !status.success(),
            "a restore over an initialized directory must be refused"
        );
    })
}
