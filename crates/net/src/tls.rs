//! Mutual TLS between peers: who a peer is, proven by the cluster's CA.
//!
//! Every node holds a certificate signed by the cluster's CA (the trust
//! root; one CA per cluster) whose DNS name is [`node_name`]`(id)`, e.g.
//! `node-3.synod`, and the key for it. A dialer verifies that the acceptor
//! presents the certificate of the node it dialled; an acceptor requires a
//! client certificate from the same CA and, once the hello names the
//! sender, checks that the certificate is that node's
//! ([`PeerTls::check_peer`]). So a hello can no longer claim to come from
//! any member: the certificate decides, and the hello's cluster id and
//! addressee stay as checks against misconfiguration.
//!
//! TLS 1.3 only, no session resumption (peers hold long connections).

use crate::error::{NetError, Refusal};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::ring;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use synod_paxos::NodeId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The DNS name a node's peer certificate carries: `node-<id>.synod`.
pub fn node_name(id: NodeId) -> String {
    format!("node-{id}.synod")
}

/// A node's peer TLS identity and trust root, ready for both directions.
/// Clones share one current identity, which [`PeerTls::reload`] replaces
/// while the node runs: handshakes after it use the new files, connections
/// already open keep theirs.
#[derive(Clone)]
pub struct PeerTls {
    me: NodeId,
    current: Arc<RwLock<Arc<Loaded>>>,
}

/// What one set of files gives.
struct Loaded {
    /// Checks a chain against the CA (and its revocation lists) and a
    /// node's name.
    verifier: Arc<WebPkiServerVerifier>,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerTls({})", node_name(self.me))
    }
}

impl PeerTls {
    /// Reads the CA certificate(s), this node's certificate chain and its
    /// private key from PEM files, and the CA's revocation lists from `crl`
    /// if given (a peer whose certificate is listed is refused).
    pub fn load(
        me: NodeId,
        ca: &Path,
        cert: &Path,
        key: &Path,
        crl: Option<&Path>,
    ) -> Result<PeerTls, NetError> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| NetError::Tls(format!("cannot read {}: {e}", path.display())))
        };
        let crl_pem = crl.map(read).transpose()?.unwrap_or_default();
        PeerTls::from_pem_with_crls(me, &read(ca)?, &read(cert)?, &read(key)?, &crl_pem).map_err(
            |e| {
                NetError::Tls(format!(
                    "{e} (files {}, {}, {}{})",
                    ca.display(),
                    cert.display(),
                    key.display(),
                    crl.map_or(String::new(), |c| format!(", {}", c.display()))
                ))
            },
        )
    }

    /// Makes `fresh` (this node's newly read files) the identity of every
    /// clone of this `PeerTls`: the next handshakes, both ways, and the
    /// checks of the next hellos use it.
    pub fn reload(&self, fresh: &PeerTls) -> Result<(), NetError> {
        if fresh.me != self.me {
            return Err(NetError::Tls(format!(
                "the new files are node {}'s, this is node {}",
                fresh.me, self.me
            )));
        }
        let loaded = fresh.loaded();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(())
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// As [`load`](PeerTls::load), from PEM bytes. Refuses a certificate
    /// that is not this node's (`node-<me>.synod`) or not signed by the CA:
    /// a node started with another node's files fails here, not at its
    /// peers.
    pub fn from_pem(
        me: NodeId,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<PeerTls, NetError> {
        PeerTls::from_pem_with_crls(me, ca_pem, cert_pem, key_pem, &[])
    }

    /// As [`from_pem`](PeerTls::from_pem), with the CA's certificate
    /// revocation lists (PEM, any number; empty: none).
    pub fn from_pem_with_crls(
        me: NodeId,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
        crl_pem: &[u8],
    ) -> Result<PeerTls, NetError> {
        let fail = |what: String| NetError::Tls(what);
        let roots = pem_roots(ca_pem).map_err(fail)?;
        let chain = pem_chain(cert_pem).map_err(fail)?;
        let key = pem_key(key_pem).map_err(fail)?;
        let crls = pem_crls(crl_pem).map_err(fail)?;
        let roots = Arc::new(roots);
        let provider = crypto_provider();
        let verifier = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .with_crls(crls.clone())
            .only_check_end_entity_revocation()
            .build()
            .map_err(|e| fail(format!("cannot build the peer verifier: {e}")))?;
        if let Err(refusal) = check_node_cert(&verifier, &chain[0], &chain[1..], me) {
            return Err(fail(format!("this node's own certificate: {refusal}")));
        }

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls(crls)
                .only_check_end_entity_revocation()
                .build()
                .map_err(|e| fail(format!("cannot build the peer verifier: {e}")))?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| fail(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| fail(format!("the key does not fit the certificate: {e}")))?;
        // Acceptors never write after the handshake; no tickets to send.
        server.send_tls13_tickets = 0;

        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| fail(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| fail(format!("the key does not fit the certificate: {e}")))?;
        client.resumption = Resumption::disabled();

        let loaded = Loaded {
            verifier,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        };
        Ok(PeerTls {
            me,
            current: Arc::new(RwLock::new(Arc::new(loaded))),
        })
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.loaded().acceptor.clone()
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        self.loaded().connector.clone()
    }

    /// The name a dialer expects the acceptor of node `peer` to prove.
    pub(crate) fn server_name(peer: NodeId) -> ServerName<'static> {
        ServerName::try_from(node_name(peer)).expect("node names are valid DNS names")
    }

    /// Whether the certificate chain an acceptor received (verified against
    /// the CA by the handshake already) is that of node `from`, the sender
    /// its hello names.
    pub(crate) fn check_peer(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
        from: NodeId,
    ) -> Result<(), Refusal> {
        match peer_certs {
            Some([leaf, intermediates @ ..]) => {
                check_node_cert(&self.loaded().verifier, leaf, intermediates, from)
            }
            _ => Err(Refusal::NoCertificate),
        }
    }
}

/// Whether `leaf` (with its `intermediates`) chains to the CA and is valid
/// for `node-<id>.synod`. Node certificates carry both the server and the
/// client purpose, so the server check fits both ends.
fn check_node_cert(
    verifier: &WebPkiServerVerifier,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    id: NodeId,
) -> Result<(), Refusal> {
    verifier
        .verify_server_cert(
            leaf,
            intermediates,
            &PeerTls::server_name(id),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| Refusal::NotNodeCertificate {
            node: id,
            reason: e.to_string(),
        })
}

/// The CA certificates of a PEM file, as a trust root; at least one.
pub fn pem_roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pem) {
        let ca = ca.map_err(|e| format!("bad CA certificate PEM: {e}"))?;
        roots
            .add(ca)
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CA certificate in the CA file".into());
    }
    Ok(roots)
}

/// Certificate revocation lists from a PEM file (`X509 CRL` blocks); an
/// empty file gives none.
pub fn pem_crls(pem: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate revocation list PEM: {e}"))
}

/// A certificate chain from a PEM file, leaf first; at least one.
pub fn pem_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the certificate file".into());
    }
    Ok(chain)
}

/// The private key of a PEM file.
pub fn pem_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("bad private key PEM: {e}"))
}

/// rustls on *ring*. rustls 0.23.48 deprecates *ring*'s provider because
/// it lacks post-quantum key exchange; aws-lc-rs, which has it, wants a
/// cmake build of a large C library on every machine that builds synod.
/// Peers of one cluster on one network are the case where that trade is
/// easiest to revisit; the choice lives here alone.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(ring::default_provider())
}

/// A peer connection's byte stream: plain TCP, or TLS over it.
pub(crate) trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerIo for T {}
pub(crate) type PeerStream = Box<dyn PeerIo>;
