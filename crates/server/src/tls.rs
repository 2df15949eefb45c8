//! TLS on the client ports: the certificate clients see, and the client
//! certificates they may have to present (`[client_tls]`); and the reload
//! of every TLS file, client and peer, while the node runs.

use crate::config::{ClientAuth, ClientTlsFiles};
use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use synod_net::tls::{pem_chain, pem_crls, pem_key, pem_roots};
use synod_net::PeerTls;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("[client_tls]: cannot read {}", path.display()))
}

/// A PEM helper's complaint, naming the file.
fn in_file(path: &Path) -> impl Fn(String) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("[client_tls]: {e} ({})", path.display())
}

/// This node's certificate chain and key, checked to belong together.
///
/// rustls's own check (`with_single_cert`) parses the certificate with
/// webpki, which refuses X.509 version 1 certificates; ZooKeeper (Java)
/// serves them, OpenSSL and Java clients accept them, and key stores made
/// for ZooKeeper hold them (kazoo's test harness makes one). So the match
/// is checked here on the certificate's SubjectPublicKeyInfo as
/// x509-parser reads it, which any version has.
fn served_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> anyhow::Result<SingleCertAndKey> {
    let signer = provider
        .key_provider
        .load_private_key(key)
        .context("[client_tls]: the key cannot sign TLS handshakes")?;
    let end = chain
        .first()
        .context("[client_tls]: the certificate file holds no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(end)
        .map_err(|e| anyhow::anyhow!("[client_tls]: the certificate does not parse: {e}"))?;
    if let Some(public) = signer.public_key() {
        anyhow::ensure!(
            public.as_ref() == cert.tbs_certificate.subject_pki.raw,
            "[client_tls]: the key does not fit the certificate"
        );
    }
    Ok(SingleCertAndKey::from(CertifiedKey::new(chain, signer)))
}

/// The acceptor of the client TLS ports: TLS 1.2 and 1.3 (ZooKeeper's Java
/// client and Python's `ssl` speak both), this node's certificate, and
/// client certificates under `ca` as `client_auth` says, and `alpn`, the
/// application protocols offered (gRPC clients insist on `h2`; ZooKeeper
/// clients name none).
fn client_acceptor(files: &ClientTlsFiles, alpn: &[Vec<u8>]) -> anyhow::Result<TlsAcceptor> {
    let chain = pem_chain(&read(&files.cert)?).map_err(in_file(&files.cert))?;
    let key = pem_key(&read(&files.key)?).map_err(in_file(&files.key))?;
    let provider = synod_net::tls::crypto_provider();
    let served = served_key(chain, key, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("[client_tls]: TLS versions")?;
    let builder = match (&files.ca, files.client_auth) {
        (None, _) | (Some(_), ClientAuth::None) => builder.with_no_client_auth(),
        (Some(ca), mode) => {
            let roots = pem_roots(&read(ca)?).map_err(in_file(ca))?;
            let crls = match &files.crl {
                Some(crl) => pem_crls(&read(crl)?).map_err(in_file(crl))?,
                None => Vec::new(),
            };
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .with_crls(crls)
                .only_check_end_entity_revocation();
            let verifier = match mode {
                ClientAuth::Want => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().with_context(
                || match &files.crl {
                    Some(crl) => format!(
                        "[client_tls]: the client certificate verifier ({}, {})",
                        ca.display(),
                        crl.display()
                    ),
                    None => format!(
                        "[client_tls]: the client certificate verifier ({})",
                        ca.display()
                    ),
                },
            )?)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(served));
    config.alpn_protocols = alpn.to_vec();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One client TLS port's acceptor; clones share it, and [`ClientTls::reload`]
/// replaces it for the handshakes that follow.
#[derive(Clone)]
pub struct ClientTls {
    files: ClientTlsFiles,
    alpn: Vec<Vec<u8>>,
    current: Arc<RwLock<TlsAcceptor>>,
}

impl ClientTls {
    /// Reads the files; `alpn` as for the port (see `client_acceptor`).
    pub fn load(files: &ClientTlsFiles, alpn: &[&[u8]]) -> anyhow::Result<ClientTls> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(ClientTls {
            current: Arc::new(RwLock::new(client_acceptor(files, &alpn)?)),
            files: files.clone(),
            alpn,
        })
    }

    /// A TLS handshake on `stream` with the current files.
    pub fn accept<IO>(&self, stream: IO) -> tokio_rustls::Accept<IO>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let acceptor = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        acceptor.accept(stream)
    }

    /// Reads the files again; on any error the current acceptor stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = client_acceptor(&self.files, &self.alpn)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn paths(&self) -> Vec<PathBuf> {
        let f = &self.files;
        [Some(&f.cert), Some(&f.key), f.ca.as_ref(), f.crl.as_ref()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// The peer TLS identity and where its files are, for reloads.
#[derive(Clone)]
pub struct PeerTlsReload {
    pub tls: PeerTls,
    pub me: synod_paxos::NodeId,
    pub files: crate::config::PeerTlsFiles,
}

impl PeerTlsReload {
    fn reload(&self) -> anyhow::Result<()> {
        let f = &self.files;
        let fresh = PeerTls::load(self.me, &f.ca, &f.cert, &f.key, f.crl.as_deref())?;
        self.tls.reload(&fresh)?;
        Ok(())
    }

    fn paths(&self) -> Vec<PathBuf> {
        let f = &self.files;
        [Some(&f.ca), Some(&f.cert), Some(&f.key), f.crl.as_ref()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// How often the reloader looks at the files' modification times.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// What the reloader watches: every TLS identity of the node.
#[derive(Clone, Default)]
pub struct TlsSet {
    pub peer: Option<PeerTlsReload>,
    /// The client ports' acceptors, by port name (for the log).
    pub client: Vec<(&'static str, ClientTls)>,
}

impl TlsSet {
    fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.peer.iter().flat_map(|p| p.paths()).collect();
        paths.extend(self.client.iter().flat_map(|(_, c)| c.paths()));
        paths.sort();
        paths.dedup();
        paths
    }

    /// Each file's modification time and length (a missing file: none), to
    /// notice a rotation without a signal. A Kubernetes Secret volume swaps
    /// a symlink, which changes what `metadata` (it follows links) sees.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths()
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }

    /// Reads every file again. Each identity is replaced only if its new
    /// files all load; one that fails keeps what it had, and the error
    /// names it.
    pub fn reload(&self) -> Result<usize, String> {
        let mut errors = Vec::new();
        let mut reloaded = 0;
        if let Some(peer) = &self.peer {
            match peer.reload() {
                Ok(()) => reloaded += 1,
                Err(e) => errors.push(format!("[peer_tls]: {e:#}")),
            }
        }
        for (port, tls) in &self.client {
            match tls.reload() {
                Ok(()) => reloaded += 1,
                Err(e) => errors.push(format!("{port} port: {e:#}")),
            }
        }
        if errors.is_empty() {
            Ok(reloaded)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Reloads on SIGHUP, and when a file's modification time or length
    /// changes (checked every [`RELOAD_CHECK_INTERVAL`]), until `stop`.
    pub async fn watch(self, stop: impl std::future::Future<Output = ()>) {
        if self.peer.is_none() && self.client.is_empty() {
            return;
        }
        tokio::pin!(stop);
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!("cannot watch for SIGHUP ({e}); TLS files reload when they change");
                None
            }
        };
        let mut seen = self.stamp();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = &mut stop => return,
                _ = hangup => "SIGHUP",
                _ = tokio::time::sleep(RELOAD_CHECK_INTERVAL) => {
                    if self.stamp() == seen {
                        continue;
                    }
                    "a TLS file changed"
                }
            };
            // What this reload reads; a change after it is the next one's.
            seen = self.stamp();
            match self.reload() {
                Ok(n) => {
                    info!("{why}: TLS files read again ({n} identities); new handshakes use them")
                }
                Err(e) => warn!("{why}: TLS files not reloaded, the old ones stay in use: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_net::certs::ClusterCa;

    /// An X.509 version 1 certificate (`openssl x509 -req` without
    /// extensions, as ZooKeeper key stores often hold) and its key: a
    /// test-only pair, for localhost, valid until 2126.
    const V1_CERT: &str = include_str!("testdata/x509v1.crt");
    const V1_KEY: &str = include_str!("testdata/x509v1.key");

    fn served(cert: &str, key: &str) -> anyhow::Result<SingleCertAndKey> {
        let chain = pem_chain(cert.as_bytes()).unwrap();
        let key = pem_key(key.as_bytes()).unwrap();
        served_key(chain, key, &synod_net::tls::crypto_provider())
    }

    #[test]
    fn a_version_1_certificate_is_served_and_a_foreign_key_refused() {
        served(V1_CERT, V1_KEY).expect("an X.509 v1 certificate with its own key");
        let ca = ClusterCa::generate("t", 30).unwrap();
        let node = ca.issue_node(1, &[], 30).unwrap();
        served(&node.cert_pem, &node.key_pem).expect("a v3 certificate with its own key");
        let err = served(V1_CERT, &node.key_pem).expect_err("another key");
        assert!(err.to_string().contains("does not fit"), "{err}");
        let err = served(&node.cert_pem, V1_KEY).expect_err("another key");
        assert!(err.to_string().contains("does not fit"), "{err}");
    }

    fn current(tls: &ClientTls) -> Arc<ServerConfig> {
        tls.current.read().unwrap().config().clone()
    }

    #[test]
    fn a_reload_that_fails_keeps_the_acceptor_and_one_that_succeeds_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::generate("t", 30).unwrap();
        let node = ca.issue_node(1, &[], 30).unwrap();
        let put = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let files = ClientTlsFiles {
            cert: put("n.crt", &node.cert_pem),
            key: put("n.key", &node.key_pem),
            ca: Some(put("ca.crt", ca.cert_pem())),
            client_auth: ClientAuth::Need,
            grpc: false,
            crl: Some(put("ca.crl", "")),
        };
        let tls = ClientTls::load(&files, &[]).unwrap();
        let set = TlsSet {
            peer: None,
            client: vec![("ZooKeeper TLS", tls.clone())],
        };
        let before = current(&tls);
        put("n.key", "not a key");
        let err = set.reload().unwrap_err();
        assert!(
            err.contains("ZooKeeper TLS port") && err.contains("n.key"),
            "{err}"
        );
        assert!(
            Arc::ptr_eq(&before, &current(&tls)),
            "a failed reload replaced the acceptor"
        );
        put(
            "ca.crl",
            "-----BEGIN X509 CRL-----\nbad\n-----END X509 CRL-----\n",
        );
        put("n.key", &node.key_pem);
        let err = set.reload().unwrap_err();
        assert!(err.contains("ca.crl"), "{err}");
        put("ca.crl", &ca.revocation_list(&[], 30).unwrap());
        assert_eq!(set.reload(), Ok(1));
        assert!(!Arc::ptr_eq(&before, &current(&tls)));
        let stamp = set.stamp();
        put("n.crt", &ca.issue_node(1, &[], 30).unwrap().cert_pem);
        assert_ne!(stamp, set.stamp(), "a rewritten certificate went unnoticed");
    }
}
