//! `RLIMIT_NOFILE` at start (crates/server/src/fds.rs): a server admits no
//! more ZooKeeper sockets than its descriptors allow beside the reserve for
//! its disk and peers, and says so; with nothing left it refuses to start.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `synod server` for a one-node cluster under `ulimit -n limit` (soft and
/// hard), stopped once `ready` holds for its log or it exits.
fn run_under(limit: u32, ready: impl Fn(&str) -> bool) -> (String, Option<Output>) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _zk) = common::one_node_config(dir.path());
    let log = dir.path().join("n1.log");
    let script = format!(
        "ulimit -n {limit} && exec '{}' server --init --config '{}'",
        common::synod_exe(),
        config.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = child.try_wait().unwrap() {
            let out = Output {
                status,
                stdout: Vec::new(),
                stderr: text.clone().into_bytes(),
            };
            return (text, Some(out));
        }
        if ready(&text) {
            let _ = child.kill();
            let _ = child.wait();
            return (text, None);
        }
        assert!(
            Instant::now() < deadline,
            "neither ready nor stopped:\n{text}"
        );
        std::thread::sleep(common::POLL);
    }
}

#[test]
fn a_low_descriptor_limit_lowers_the_client_socket_caps_with_a_warning() {
    let _serial = common::serial();
    let (log, exited) = run_under(300, |log| log.contains("serving the ZooKeeper protocol"));
    assert!(exited.is_none(), "the server stopped:\n{log}");
    assert!(
        log.contains("admits 33 ZooKeeper and 11 gRPC sockets"),
        "no warning about the lowered cap:\n{log}"
    );
}

#[test]
fn no_descriptor_left_for_clients_refuses_to_start_and_says_what_to_do() {
    let _serial = common::serial();
    let (log, exited) = run_under(200, |_| false);
    let out = exited.expect("the server refused to start");
    assert!(!out.status.success());
    assert!(log.contains("RLIMIT_NOFILE is 200"), "{log}");
    assert!(log.contains("ulimit -n"), "{log}");
    assert!(!log.contains("synod node serving"), "{log}");
}
