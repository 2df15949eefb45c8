//! `synod server --log-format json`: every line on stderr is one JSON object
//! with `timestamp`, `level`, `target` and `message` at the top level, and a
//! line about a ZooKeeper client names it (`client`: its address).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A one-member cluster serving the ZooKeeper protocol, its log as JSON.
fn start(dir: &std::path::Path) -> (std::process::Child, SocketAddr, std::path::PathBuf) {
    let (config, zk) = common::one_node_config(dir);
    let log = dir.join("n1.log");
    let child = Command::new(common::synod_exe())
        .args(["server", "--init", "--config"])
        .arg(&config)
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawning synod server");
    (child, zk, log)
}

#[test]
fn json_log_lines_are_objects_and_name_the_client() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, zk, log) = start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match TcpStream::connect(zk) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(common::POLL),
            Err(e) => panic!("the ZooKeeper port never opened: {e}"),
        }
    };
    let me = stream.local_addr().unwrap();
    // A frame whose length prefix exceeds jute.maxbuffer: the server logs
    // why it closes the connection, naming this client, and closes it.
    stream
        .write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    // The close is logged after the socket closes: wait for the line.
    let wanted = me.to_string();
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains(&wanted) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(common::POLL);
    };
    let _ = child.kill();
    let _ = child.wait();

    let mut objects = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v.get(key).is_some(), "no `{key}` in {line}");
        }
        objects.push(v);
    }
    assert!(
        objects
            .iter()
            .any(|v| v["message"].as_str() == Some("synod node serving") && v["node"] == 1),
        "no startup line naming the node in:\n{lines}"
    );
    let about_me: Vec<_> = objects
        .iter()
        .filter(|v| v["client"].as_str() == Some(wanted.as_str()))
        .collect();
    assert!(
        about_me.iter().any(|v| v["message"]
            .as_str()
            .is_some_and(|m| m.contains("ZooKeeper connection"))),
        "no line naming client {wanted} in:\n{lines}"
    );
}
