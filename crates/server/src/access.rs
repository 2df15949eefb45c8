//! Who may do what on the gRPC port (`[access]`): identities, and the
//! rights each has.
//!
//! An identity is the common name of a verified client certificate (on a
//! gRPC port with TLS and client certificates), or the name of a bearer
//! token (`authorization: Bearer <token>` metadata) listed in
//! `[access.tokens]` by its SHA-256. Rights nest: `admins` may change
//! membership and do everything else; `writers` may write and read;
//! `readers` may read and ask for status. Without `[access]` every client
//! may do everything (the loopback dev cluster); with it, a request
//! without an identity that has the right gets `PermissionDenied`.

use crate::config::AccessConfig;
use ring::digest::{digest, SHA256};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use tonic::{Request, Status};

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Right {
    Read,
    Write,
    Admin,
}

impl Right {
    fn name(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Write => "write",
            Right::Admin => "admin",
        }
    }
}

/// What the gRPC port knows of a connection: the address, and the common
/// name of the client certificate its TLS handshake verified.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub remote: Option<SocketAddr>,
    pub certificate_name: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `None`: no `[access]`, everyone may do everything.
    rules: Option<Rules>,
}

#[derive(Clone, Debug)]
struct Rules {
    admins: BTreeSet<String>,
    writers: BTreeSet<String>,
    readers: BTreeSet<String>,
    /// (name, SHA-256 of the token)
    tokens: Vec<(String, [u8; 32])>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// A token's form in `[access.tokens]`: `sha256:<64 hex digits>`.
pub fn token_hash_text(token: &str) -> String {
    let hex: String = sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Equal without an early exit (a token's hash is compared to each).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Access {
    pub fn from_config(config: Option<&AccessConfig>) -> Result<Access, String> {
        let Some(config) = config else {
            return Ok(Access::default());
        };
        let mut tokens = Vec::new();
        for (name, hash) in &config.tokens {
            let hash = parse_hash(hash).ok_or_else(|| {
                format!(
                    "[access.tokens] {name}: expected sha256:<64 hex digits> (`synod token hash` prints it)"
                )
            })?;
            tokens.push((name.clone(), hash));
        }
        let set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<_>>();
        Ok(Access {
            rules: Some(Rules {
                admins: set(&config.admins),
                writers: set(&config.writers),
                readers: set(&config.readers),
                tokens,
            }),
        })
    }

    /// The identities a request carries: its certificate's name and its
    /// token's name.
    fn identities(
        rules: &Rules,
        certificate_name: Option<&str>,
        bearer: Option<&str>,
    ) -> Vec<String> {
        let mut names: Vec<String> = certificate_name.map(str::to_string).into_iter().collect();
        if let Some(token) = bearer {
            let hash = sha256(token.trim().as_bytes());
            names.extend(
                rules
                    .tokens
                    .iter()
                    .filter(|(_, h)| same(h, &hash))
                    .map(|(name, _)| name.clone()),
            );
        }
        names
    }

    /// Whether `[access]` is configured (without it everyone may do
    /// everything).
    pub fn is_configured(&self) -> bool {
        self.rules.is_some()
    }

    /// `Ok` if a client proving `certificate_name` (a verified client
    /// certificate's common name) and presenting the bearer token `bearer`
    /// may do what `right` covers.
    pub fn check_identity(
        &self,
        certificate_name: Option<&str>,
        bearer: Option<&str>,
        right: Right,
    ) -> Result<(), Refusal> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        let names = Access::identities(rules, certificate_name, bearer);
        let has = |name: &String| match right {
            Right::Admin => rules.admins.contains(name),
            Right::Write => rules.admins.contains(name) || rules.writers.contains(name),
            Right::Read => {
                rules.admins.contains(name)
                    || rules.writers.contains(name)
                    || rules.readers.contains(name)
            }
        };
        if names.iter().any(has) {
            return Ok(());
        }
        Err(if names.is_empty() {
            Refusal::NoIdentity(format!(
                "a client without an identity (no client certificate, no known token) may not {}",
                right.name()
            ))
        } else {
            Refusal::Lacks(format!(
                "identity {} may not {}: [access] grants it to none of them",
                names.join(", "),
                right.name()
            ))
        })
    }

    /// `Ok` if the gRPC request may do what `right` covers.
    pub fn check<T>(&self, request: &Request<T>, right: Right) -> Result<(), Status> {
        let certificate_name = request
            .extensions()
            .get::<ClientInfo>()
            .and_then(|info| info.certificate_name.clone());
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        self.check_identity(certificate_name.as_deref(), bearer, right)
            .map_err(|refusal| Status::permission_denied(refusal.to_string()))
    }
}

/// The token of an `authorization: Bearer <token>` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ")
}

/// Why a client may not do something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It proved no identity at all.
    NoIdentity(String),
    /// None of its identities has the right.
    Lacks(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoIdentity(text) | Refusal::Lacks(text) => f.write_str(text),
        }
    }
}

/// The common name of a certificate's subject, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = cert.subject().iter_common_name().next()?;
    name.as_str().ok().map(str::to_string)
}

/// The subject of a certificate as ZooKeeper's X509AuthenticationProvider
/// names it: Java's `X500Principal.getName()`, RFC 2253 (RDNs last to
/// first, `,` between them, `+` within one, short names for the common
/// attribute types, special characters escaped). `None` if the
/// certificate does not parse.
pub fn x509_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            let parts: Vec<String> = rdn
                .iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let value = match atv.as_str() {
                        Ok(text) => rfc2253_escape(text),
                        // Not a string type: RFC 2253's #hex of the DER value.
                        Err(_) => format!("#{}", hex(atv.attr_value().data)),
                    };
                    format!("{}={value}", short_name(&oid).unwrap_or(&oid))
                })
                .collect();
            parts.join("+")
        })
        .collect();
    Some(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// The keywords Java's RFC 2253 output uses.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn rfc2253_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn access() -> Access {
        Access::from_config(Some(&AccessConfig {
            admins: vec!["root".into()],
            writers: vec!["app".into()],
            readers: vec!["dash".into()],
            tokens: BTreeMap::from([
                ("app".to_string(), token_hash_text("app-secret")),
                ("dash".to_string(), token_hash_text("dash-secret")),
            ]),
        }))
        .unwrap()
    }

    fn with_token(token: Option<&str>, cert: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        r.extensions_mut().insert(ClientInfo {
            remote: None,
            certificate_name: cert.map(str::to_string),
        });
        r
    }

    #[test]
    fn rights_nest_and_unknown_or_missing_identities_are_denied() {
        let a = access();
        let root = with_token(None, Some("root"));
        for right in [Right::Read, Right::Write, Right::Admin] {
            a.check(&root, right).unwrap();
        }
        let app = with_token(Some("app-secret"), None);
        a.check(&app, Right::Write).unwrap();
        a.check(&app, Right::Read).unwrap();
        assert_eq!(
            a.check(&app, Right::Admin).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        let dash = with_token(Some("dash-secret"), None);
        a.check(&dash, Right::Read).unwrap();
        assert!(a.check(&dash, Right::Write).is_err());
        for nobody in [
            with_token(None, None),
            with_token(Some("wrong"), None),
            with_token(None, Some("mallory")),
        ] {
            let err = a.check(&nobody, Right::Read).unwrap_err();
            assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
        }
        // Without [access], everyone may.
        Access::default()
            .check(&with_token(None, None), Right::Admin)
            .unwrap();
    }

    #[test]
    fn a_malformed_token_hash_is_refused_at_start() {
        let bad = AccessConfig {
            tokens: BTreeMap::from([("x".to_string(), "plaintext".to_string())]),
            ..AccessConfig::default()
        };
        assert!(Access::from_config(Some(&bad)).is_err());
    }

    fn cert_der(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in dn {
            params.distinguished_name.push(kind.clone(), *value);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_subject_reads_as_javas_rfc_2253_name() {
        use rcgen::DnType;
        assert_eq!(
            x509_subject(&cert_der(&[(DnType::CommonName, "alice")])).as_deref(),
            Some("CN=alice")
        );
        // Last RDN first, short names, special characters escaped.
        let der = cert_der(&[
            (DnType::CountryName, "NL"),
            (DnType::OrganizationName, "Acme, Inc"),
            (DnType::CommonName, "#ops"),
        ]);
        assert_eq!(
            x509_subject(&der).as_deref(),
            Some("CN=\\#ops,O=Acme\\, Inc,C=NL")
        );
        assert_eq!(x509_subject(b"not a certificate"), None);
    }
}
