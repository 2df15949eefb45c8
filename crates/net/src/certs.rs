//! Issuing a cluster's certificates: its CA, node certificates for peer TLS
//! (and the nodes' TLS client ports), client certificates.
//!
//! What `synod certs` and `synod dev` write. Keys are ECDSA P-256. A node
//! certificate names `node-<id>.synod` ([`crate::node_name`]), which is
//! what peers check, plus any host names or addresses clients dial, and
//! serves both purposes (server and client) because a node is both to its
//! peers. A client certificate carries its identity as the common name.

use crate::error::NetError;
use crate::tls::node_name;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use std::net::IpAddr;
use synod_paxos::NodeId;
use time::{Duration, OffsetDateTime};

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A cluster's certificate authority: the trust root of its peers and
/// clients. One CA per cluster: a node certificate says which node, not
/// which cluster.
pub struct ClusterCa {
    /// The CA certificate as issued (the trust root others hold).
    cert_pem: String,
    /// The same subject and key, re-signed, to sign with.
    issuer: rcgen::Certificate,
    key: KeyPair,
}

fn tls_error(what: &str) -> impl Fn(rcgen::Error) -> NetError + '_ {
    move |e| NetError::Tls(format!("{what}: {e}"))
}

/// From a day ago (clocks differ) for `days`.
fn validity(params: &mut CertificateParams, days: u32) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(i64::from(days));
}

impl ClusterCa {
    /// A new CA named `synod CA <label>`, valid for `days`.
    pub fn generate(label: &str, days: u32) -> Result<ClusterCa, NetError> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(tls_error("CA parameters"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("synod CA {label}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, days);
        let key = KeyPair::generate().map_err(tls_error("CA key"))?;
        let issuer = params
            .self_signed(&key)
            .map_err(tls_error("CA certificate"))?;
        Ok(ClusterCa {
            cert_pem: issuer.pem(),
            issuer,
            key,
        })
    }

    /// A CA from its certificate and key (PEM), to issue more certificates.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<ClusterCa, NetError> {
        let params = CertificateParams::from_ca_cert_pem(cert_pem)
            .map_err(tls_error("the CA certificate"))?;
        let key = KeyPair::from_pem(key_pem).map_err(tls_error("the CA key"))?;
        let issuer = params
            .self_signed(&key)
            .map_err(tls_error("the CA key does not fit its certificate"))?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            issuer,
            key,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Node `id`'s certificate: `node-<id>.synod`, plus `hosts` (DNS names
    /// or IP addresses clients dial), for `days`.
    pub fn issue_node(&self, id: NodeId, hosts: &[String], days: u32) -> Result<Issued, NetError> {
        let mut params = CertificateParams::new(vec![node_name(id)])
            .map_err(tls_error("node certificate parameters"))?;
        for host in hosts {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    host.clone()
                        .try_into()
                        .map_err(tls_error("a host name of the node certificate"))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        params
            .distinguished_name
            .push(DnType::CommonName, node_name(id));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params, days)
    }

    /// A client certificate whose identity is `name` (its common name).
    pub fn issue_client(&self, name: &str, days: u32) -> Result<Issued, NetError> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(tls_error("client certificate parameters"))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, days)
    }

    /// A certificate revocation list (PEM) signed by this CA, listing the
    /// certificates `revoked` (PEM, each issued by this CA), valid for
    /// `days`. Nodes given it (`crl` in `[peer_tls]` or `[client_tls]`)
    /// refuse those certificates at the handshake.
    pub fn revocation_list(&self, revoked: &[String], days: u32) -> Result<String, NetError> {
        let now = OffsetDateTime::now_utc();
        let mut revoked_certs = Vec::new();
        for pem in revoked {
            let params = CertificateParams::from_ca_cert_pem(pem)
                .map_err(tls_error("a certificate to revoke"))?;
            let serial_number = params.serial_number.ok_or_else(|| {
                NetError::Tls("a certificate to revoke has no serial number".into())
            })?;
            revoked_certs.push(RevokedCertParams {
                serial_number,
                revocation_time: now - Duration::minutes(1),
                reason_code: Some(RevocationReason::Unspecified),
                invalidity_date: None,
            });
        }
        let number = now.unix_timestamp_nanos().max(1) as u128;
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(1),
            next_update: now + Duration::days(i64::from(days)),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer, &self.key)
            .map_err(tls_error("signing the revocation list"))?;
        crl.pem().map_err(tls_error("the revocation list's PEM"))
    }

    fn sign(&self, mut params: CertificateParams, days: u32) -> Result<Issued, NetError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, days);
        let key = KeyPair::generate().map_err(tls_error("key"))?;
        let cert = params
            .signed_by(&key, &self.issuer, &self.key)
            .map_err(tls_error("signing"))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
