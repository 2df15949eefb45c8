//! The admin HTTP listener (`admin_listen`): `/metrics` in the Prometheus
//! text format, `/health` (JSON), `/livez`, `/readyz` and the status page
//! `/`. HTTP/1.1 through hyper, routes through axum.
//!
//! Every answer comes from one `AdminView` the node task builds when asked
//! through its request channel; the handler waits at most
//! `[admin] answer_timeout_ms` for it and answers 503 if the node does not
//! answer, so a stuck node is reported, never waited on forever. Nothing
//! here can stall the node: asking is one message on its bounded channel.
//!
//! # Limits, and what happens at each
//!
//! | limit | value | at the limit |
//! |---|---|---|
//! | connections open at once | [`CONNECTIONS_MAX`] | a further one is answered 503 at once and closed |
//! | request head | [`HEAD_BYTES_MAX`] | hyper answers 431 and closes |
//! | time to send the request head | [`HEAD_TIMEOUT`] | the connection is closed |
//! | a connection's whole life | `answer_timeout_ms` + [`WRITE_TIME_MAX`] | the connection is closed |
//! | requests per connection | 1 (no keep-alive) | the connection closes after its answer |
//! | the node task's answer | `answer_timeout_ms` (default 1 s) | 503 saying so |
//! | TLS handshake (`[admin] tls`) | [`HEAD_TIMEOUT`] | the connection is closed |
//!
//! # Who may see what
//!
//! `GET /snapshot` (a backup, `synod snapshot save`) needs the `admin`
//! right under `[access]`. With `[access]`, the status page and `/metrics`
//! need the `read` right:
//! a client certificate's common name (`[admin] tls`) or an
//! `authorization: Bearer` token; without an identity the answer is 401,
//! with one that lacks the right 403. `/health`, `/livez` and `/readyz`
//! stay open (load balancers and kubelets probe them without credentials;
//! they say whether the node serves, nothing more).

pub mod health;
pub mod page;

use crate::access::{Access, Refusal, Right};
use crate::config::{AdminKnobs, Member};
use crate::metrics::Metrics;
use crate::observe::AdminView;
use crate::runtime::{NoBackup, NodeHandle};
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use health::{HealthBody, Problem};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use synod_paxos::NodeId;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// Admin connections served at once.
pub const CONNECTIONS_MAX: usize = 32;
/// The largest request head (request line and headers) read, in bytes
/// (hyper's smallest buffer limit).
pub const HEAD_BYTES_MAX: usize = 8192;
/// A client must send its request head within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to write an answer, beyond the node's answer time.
pub const WRITE_TIME_MAX: Duration = Duration::from_secs(10);

/// What the handlers share.
#[derive(Clone)]
struct Admin {
    node: NodeHandle,
    metrics: Arc<Metrics>,
    members: Arc<BTreeMap<NodeId, Member>>,
    knobs: AdminKnobs,
    zk_served: bool,
    access: Access,
    cluster_id: u64,
    node_id: NodeId,
}

/// The common name of the client certificate a connection's TLS handshake
/// verified, if any.
#[derive(Clone, Debug, Default)]
struct PeerCert(Option<String>);

impl Admin {
    /// `None` if the request may see what `right` covers; the 401 or 403
    /// answer otherwise.
    fn refusal(&self, headers: &HeaderMap, cert: &PeerCert, right: Right) -> Option<Response> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::access::bearer_token);
        self.access
            .check_identity(cert.0.as_deref(), bearer, right)
            .err()
            .map(|refusal| match refusal {
                Refusal::NoIdentity(why) => {
                    let mut r = text(StatusCode::UNAUTHORIZED, format!("{why}\n"));
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"synod\""),
                    );
                    r
                }
                Refusal::Lacks(why) => text(StatusCode::FORBIDDEN, format!("{why}\n")),
            })
    }

    /// The node's view, or why there is none.
    async fn view(&self) -> Result<Box<AdminView>, Problem> {
        let timeout = Duration::from_millis(self.knobs.answer_timeout_ms);
        match tokio::time::timeout(timeout, self.node.admin_view()).await {
            Ok(Ok(view)) => Ok(view),
            _ => Err(Problem::NotAnswering(self.knobs.answer_timeout_ms)),
        }
    }
}

/// The routes, over the node behind `node`.
fn router(admin: Admin) -> Router {
    // What shows the cluster's inside needs the read right under [access].
    let private = Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            (admin.clone(), Right::Read),
            need,
        ));
    // What exports the whole state needs the admin right.
    let admin_only = Router::new().route("/snapshot", get(snapshot)).route_layer(
        axum::middleware::from_fn_with_state((admin.clone(), Right::Admin), need),
    );
    Router::new()
        .merge(private)
        .merge(admin_only)
        .route("/health", get(health))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(admin)
}

/// What the admin listener serves, and how.
pub struct AdminSetup {
    pub node: NodeHandle,
    pub metrics: Arc<Metrics>,
    pub members: BTreeMap<NodeId, Member>,
    pub knobs: AdminKnobs,
    /// Whether this node serves ZooKeeper clients (`/readyz` asks for it).
    pub zk_served: bool,
    /// HTTPS (`[admin] tls`).
    pub tls: Option<crate::tls::ClientTls>,
    pub access: Access,
    pub cluster_id: u64,
    pub node_id: NodeId,
}

/// Serves the admin endpoints on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    setup: AdminSetup,
    stop: impl std::future::Future<Output = ()>,
) {
    let life = Duration::from_millis(setup.knobs.answer_timeout_ms) + WRITE_TIME_MAX;
    let tls = setup.tls;
    let app = router(Admin {
        node: setup.node,
        metrics: setup.metrics,
        members: Arc::new(setup.members),
        knobs: setup.knobs,
        zk_served: setup.zk_served,
        access: setup.access,
        cluster_id: setup.cluster_id,
        node_id: setup.node_id,
    });
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("accepting an admin connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // One write that does not wait: a client that does not read
            // it loses only this answer.
            let _ = stream.try_write(TOO_MANY.as_bytes());
            debug!(%peer, "admin connection refused: {CONNECTIONS_MAX} open");
            continue;
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_http(stream, app.layer(Extension(PeerCert(None))), life, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let name = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .and_then(|cert| crate::access::common_name(cert.as_ref()));
                            let app = app.layer(Extension(PeerCert(name)));
                            serve_http(stream, app, life, peer).await;
                        }
                        Ok(Err(e)) => debug!(%peer, "admin TLS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "admin TLS handshake took over {HEAD_TIMEOUT:?}"),
                    }
                }
            }
            drop(permit);
        });
    }
}

/// One HTTP/1.1 exchange on `stream`, bounded by `life`.
async fn serve_http<S>(stream: S, app: Router, life: Duration, peer: std::net::SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(false)
        .max_buf_size(HEAD_BYTES_MAX)
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(life, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, "admin connection: {e}"),
        Err(_) => debug!(%peer, "admin connection closed after {life:?}"),
    }
}

const TOO_MANY: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 29\r\nconnection: close\r\n\r\ntoo many admin connections.\r\n";

/// A plain-text answer that no cache keeps.
fn text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    no_store(&mut r);
    r
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Lets the request through if its identity has `right`.
async fn need(
    State((admin, right)): State<(Admin, Right)>,
    Extension(cert): Extension<PeerCert>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match admin.refusal(request.headers(), &cert, right) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// How long a backup may wait for the leader to apply its commit point.
const BACKUP_WAIT: Duration = Duration::from_secs(30);

/// `GET /snapshot`: a backup file of the applied state (see `backup`),
/// from the leader only (409 naming the leader elsewhere), taken once the
/// leader has applied every slot it had committed when asked, so it holds
/// every write acknowledged before the request.
async fn snapshot(State(admin): State<Admin>) -> Response {
    let answer = Duration::from_millis(admin.knobs.answer_timeout_ms);
    let deadline = tokio::time::Instant::now() + BACKUP_WAIT;
    let mut at_least = None;
    let snap = loop {
        match tokio::time::timeout(answer, admin.node.backup(at_least)).await {
            Ok(Ok(Ok(snap))) => break snap,
            Ok(Ok(Err(NoBackup::NotLeader(leader)))) => {
                let who = leader.map_or("no node".to_string(), |l| format!("node {l}"));
                return text(
                    StatusCode::CONFLICT,
                    format!(
                        "node {} is not the leader ({who} leads): ask the leader's admin port\n",
                        admin.node_id
                    ),
                );
            }
            Ok(Ok(Err(NoBackup::Behind { commit }))) => {
                at_least = Some(commit);
                if tokio::time::Instant::now() >= deadline {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the leader did not apply slot {commit} within {BACKUP_WAIT:?}\n"),
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{}\n", Problem::NotAnswering(admin.knobs.answer_timeout_ms)),
                )
            }
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (cluster_id, node_id) = (admin.cluster_id, admin.node_id);
    let body =
        stream_backup(move |out| crate::backup::write(out, cluster_id, node_id, &snap, now_ms));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    no_store(&mut r);
    r
}

/// A response body that `write` fills from a blocking thread, 1 MiB at a
/// time, at most four pieces ahead of the client: a backup of gigabytes is
/// never one buffer. A client that goes away stops the writer (its next
/// piece has nowhere to go); a writer that fails ends the body with an
/// error, so the client sees a broken transfer, never a short file.
fn stream_backup(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<synod_paxos::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, ChannelWriter(tx.clone()));
        let result = write(&mut out).and_then(|()| std::io::Write::flush(&mut out));
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Sends each write as one piece of a response body.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<synod_paxos::Bytes>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(synod_paxos::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn metrics(State(admin): State<Admin>) -> Response {
    match admin.view().await {
        Ok(view) => {
            let mut r = admin.metrics.render(&view).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(prometheus::TEXT_FORMAT),
            );
            no_store(&mut r);
            r
        }
        Err(p) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{p}\n")),
    }
}

async fn health(State(admin): State<Admin>) -> Response {
    let max = admin.knobs.lag_slots_max;
    let view = admin.view().await;
    let (body, ok) = match &view {
        Ok(view) => {
            let verdict = health::health(view, max);
            (HealthBody::new(Some(view), &verdict, max), verdict.is_ok())
        }
        Err(p) => (HealthBody::new(None, &Err(p.clone()), max), false),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = (status, Json(body)).into_response();
    no_store(&mut r);
    r
}

async fn livez(State(admin): State<Admin>) -> Response {
    let timeout = Duration::from_millis(admin.knobs.answer_timeout_ms);
    match tokio::time::timeout(timeout, admin.node.status()).await {
        Ok(Ok(_)) => text(StatusCode::OK, "ok\n".into()),
        _ => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", Problem::NotAnswering(admin.knobs.answer_timeout_ms)),
        ),
    }
}

async fn readyz(State(admin): State<Admin>) -> Response {
    let verdict = match admin.view().await {
        Ok(view) => health::readiness(&view, admin.knobs.lag_slots_max, admin.zk_served),
        Err(p) => Err(p),
    };
    match verdict {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(p) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {p}\n")),
    }
}

async fn status_page(State(admin): State<Admin>) -> Response {
    let (status, body) = match admin.view().await {
        Ok(view) => (
            StatusCode::OK,
            page::render(&view, &admin.members, SystemTime::now()),
        ),
        Err(p) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\"><title>synod: not answering</title></head><body><p id=\"error\">{}</p></body></html>",
                maud::html! { (p.to_string()) }.into_string()
            ),
        ),
    };
    let mut r = (status, axum::response::Html(body)).into_response();
    no_store(&mut r);
    // The page loads nothing and runs no script.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.0\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_node_task_that_does_not_answer_gets_503_with_the_reason_not_a_hang() {
        // A node task that takes requests and never answers them.
        let (requests, mut stuck) = tokio::sync::mpsc::channel(4);
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(r) = stuck.recv().await {
                held.push(r);
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let knobs = AdminKnobs {
            answer_timeout_ms: 100,
            ..AdminKnobs::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let setup = AdminSetup {
            node: NodeHandle { requests },
            metrics: Arc::new(Metrics::new()),
            members: BTreeMap::new(),
            knobs,
            zk_served: false,
            tls: None,
            access: Access::default(),
            cluster_id: 1,
            node_id: 1,
        };
        let server = tokio::spawn(serve(listener, setup, async move {
            let _ = stopped.await;
        }));
        let reason = "the node task did not answer within 100 ms";
        for path in ["/livez", "/readyz", "/metrics", "/"] {
            let answer = get(addr, path).await;
            assert!(answer.starts_with("HTTP/1.0 503"), "{path}: {answer}");
            assert!(answer.contains(reason), "{path}: {answer}");
        }
        let answer = get(addr, "/health").await;
        assert!(answer.starts_with("HTTP/1.0 503"), "{answer}");
        assert!(
            answer.contains(&format!(r#""health":"false","reason":"{reason}""#)),
            "{answer}"
        );
        let _ = stop.send(());
        server.await.unwrap();
        hold.abort();
    }
}
