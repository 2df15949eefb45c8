//! TLS on the client ports: the certificate clients see, and the client
//! certificates they may have to present (`[client_tls]`).

use crate::config::{ClientAuth, ClientTlsFiles};
use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use std::path::Path;
use std::sync::Arc;
use synod_net::tls::{pem_chain, pem_key, pem_roots};
use tokio_rustls::TlsAcceptor;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("[client_tls]: cannot read {}", path.display()))
}

/// A PEM helper's complaint, naming the file.
fn in_file(path: &Path) -> impl Fn(String) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("[client_tls]: {e} ({})", path.display())
}

/// The acceptor of the client TLS ports: TLS 1.2 and 1.3 (ZooKeeper's Java
/// client and Python's `ssl` speak both), this node's certificate, and
/// client certificates under `ca` as `client_auth` says, and `alpn`, the
/// application protocols offered (gRPC clients insist on `h2`; ZooKeeper
/// clients name none).
pub fn client_acceptor(files: &ClientTlsFiles, alpn: &[&[u8]]) -> anyhow::Result<TlsAcceptor> {
    let chain = pem_chain(&read(&files.cert)?).map_err(in_file(&files.cert))?;
    let key = pem_key(&read(&files.key)?).map_err(in_file(&files.key))?;
    let provider = synod_net::tls::crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("[client_tls]: TLS versions")?;
    let builder = match (&files.ca, files.client_auth) {
        (None, _) | (Some(_), ClientAuth::None) => builder.with_no_client_auth(),
        (Some(ca), mode) => {
            let roots = pem_roots(&read(ca)?).map_err(in_file(ca))?;
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
