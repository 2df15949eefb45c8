//! TLS on the client ports: the certificate clients see, and the client
//! certificates they may have to present (`[client_tls]`).

use crate::config::{ClientAuth, ClientTlsFiles};
use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("[client_tls]: cannot read {}", path.display()))
}

/// The acceptor of the client TLS ports: TLS 1.2 and 1.3 (ZooKeeper's Java
/// client and Python's `ssl` speak both), this node's certificate, and
/// client certificates under `ca` as `client_auth` says, and `alpn`, the
/// application protocols offered (gRPC clients insist on `h2`; ZooKeeper
/// clients name none).
pub fn client_acceptor(files: &ClientTlsFiles, alpn: &[&[u8]]) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(&read(&files.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "[client_tls]: bad certificate PEM in {}",
                files.cert.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "[client_tls]: no certificate in {}",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?).with_context(|| {
        format!(
            "[client_tls]: bad private key PEM in {}",
            files.key.display()
        )
    })?;
    let provider = synod_net::tls::crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("[client_tls]: TLS versions")?;
    let builder = match (&files.ca, files.client_auth) {
        (None, _) | (Some(_), ClientAuth::None) => builder.with_no_client_auth(),
        (Some(ca), mode) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                let cert =
                    cert.with_context(|| format!("[client_tls]: bad CA PEM in {}", ca.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("[client_tls]: unusable CA in {}", ca.display()))?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "[client_tls]: no CA certificate in {}",
                ca.display()
            );
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match mode {
                ClientAuth::Want => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .context("[client_tls]: the client certificate verifier")?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("[client_tls]: the key does not fit the certificate")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}
