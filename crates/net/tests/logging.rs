//! A connection closed for bad input leaves a `warn` that names the peer's
//! address and the reason. A small capturing subscriber records warnings;
//! the runtime is single-threaded so every task logs on this thread, where
//! the subscriber is installed.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synod_net::codec::{encode_frame, Frame, Hello, PROTOCOL_VERSION};
use synod_net::{NetConfig, PeerTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    fn any(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(|w| matches(w))
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Warnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn bad_input_is_logged_with_the_peer_address_and_the_reason() {
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    tokio::time::timeout(Duration::from_secs(20), async {
        let peers: BTreeMap<_, _> = [(1, "127.0.0.1:9".parse().unwrap())].into_iter().collect();
        let config = NetConfig::new(7, 2, "127.0.0.1:0".parse().unwrap(), peers);
        let (b, _inbound) = PeerTransport::start(config).await.unwrap();

        let mut garbage = TcpStream::connect(b.local_addr()).await.unwrap();
        let garbage_addr = garbage.local_addr().unwrap().to_string();
        garbage
            .write_all(&[0, 0, 0, 5, 1, 0xff, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        closed_by_server(&mut garbage).await;

        let mut stranger = TcpStream::connect(b.local_addr()).await.unwrap();
        let stranger_addr = stranger.local_addr().unwrap().to_string();
        let mut hello = Vec::new();
        let frame = Frame::Hello(Hello {
            cluster_id: 8,
            from: 1,
            to: 2,
            protocol_version: PROTOCOL_VERSION,
            incarnation: 1,
        });
        encode_frame(&frame, &mut hello, 1024).unwrap();
        stranger.write_all(&hello).await.unwrap();
        closed_by_server(&mut stranger).await;

        // The server logs before it closes, so both lines are already in.
        assert!(
            warnings.any(|w| w.contains(&garbage_addr) && w.contains("malformed frame body")),
            "no warning for the garbage frame: {:?}",
            warnings.0.lock().unwrap()
        );
        assert!(
            warnings.any(|w| w.contains(&stranger_addr) && w.contains("from cluster 8")),
            "no warning for the wrong cluster: {:?}",
            warnings.0.lock().unwrap()
        );
        b.shutdown().await;
    })
    .await
    .expect("test did not finish in time");
}
