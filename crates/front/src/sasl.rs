//! SASL on the ZooKeeper port: DIGEST-MD5 (RFC 2831), as ZooKeeper's server
//! runs it with JAAS's `DigestLoginModule` (`user_<name>="<password>"`).
//!
//! The exchange, one `GetSASLRequest` (opcode 102) per step:
//! 1. the client sends an empty token; the server answers a challenge
//!    naming the realm `zk-sasl-md5`, a fresh nonce, `qop="auth"`;
//! 2. the client answers with its digest response (username, cnonce,
//!    `digest-uri="zookeeper/zk-sasl-md5"`, response hash); the server
//!    checks it against the user's password and answers `rspauth=...`,
//!    which proves to the client that the server knows the password too.
//!
//! The connection is then authenticated as `sasl:<username>` (an ACL id,
//! matched by equality as ZooKeeper's SASLAuthenticationProvider does), and
//! as `super` if the user is the configured SASL super user. Any failure is
//! a typed [`SaslError`]; the front door answers AuthFailed and closes the
//! connection, as ZooKeeper does.
//!
//! Limits: a token is at most [`TOKEN_BYTES_MAX`] bytes (a real response is
//! about 300); one exchange per connection (a second is refused). A failed
//! exchange is answered [`FAILURE_DELAY_MS`] late, and the connection
//! takes no other request meanwhile: with the per-address connection cap
//! (`max_client_cnxns`) that bounds how fast one address can guess
//! passwords. Nonces are keyed with a secret the runtime draws from the
//! operating system, so no one can predict them.
//! Only `qop=auth` is offered: no integrity or confidentiality layer (use
//! the TLS port for that, as ZooKeeper deployments do).

use std::collections::BTreeMap;

use md5::{Digest as _, Md5};

/// The realm ZooKeeper's DIGEST-MD5 uses for every server.
pub const REALM: &str = "zk-sasl-md5";
/// The digest-uri a ZooKeeper client names: service `zookeeper`, host
/// `zk-sasl-md5` (fixed, not the server's name).
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// The largest token the front door reads.
pub const TOKEN_BYTES_MAX: usize = 4096;
/// How long a failed exchange waits for its AuthFailed answer.
pub const FAILURE_DELAY_MS: u64 = 1000;

/// Why a SASL exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("SASL is not configured on this server ([zk] sasl_users)")]
    NotConfigured,
    #[error("a SASL token of {0} bytes exceeds the limit of {TOKEN_BYTES_MAX}")]
    TokenTooLong(usize),
    #[error("this connection already finished a SASL exchange")]
    AlreadyDone,
    #[error("a first token of {0} bytes: only DIGEST-MD5 (whose first token is empty) is served, not Kerberos (GSSAPI)")]
    OtherMechanism(usize),
    #[error("malformed DIGEST-MD5 response: {0}")]
    Malformed(&'static str),
    #[error("the DIGEST-MD5 response names {0}, expected {1}")]
    Mismatch(&'static str, &'static str),
    #[error("unknown SASL user `{0}`")]
    UnknownUser(String),
    #[error("user `{user}` may not act as `{authzid}`")]
    NotAuthorized { user: String, authzid: String },
    #[error("wrong password for SASL user `{0}`")]
    BadPassword(String),
}

/// Where a connection is in its exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Exchange {
    #[default]
    Idle,
    /// A challenge with this nonce was sent.
    Challenged { nonce: String },
    /// Authenticated (or failed and closing): no further steps.
    Done,
}

/// What to answer a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token; the exchange goes on.
    Challenge(Vec<u8>),
    /// Send this token (`rspauth`); the connection is now `user`.
    Authenticated { user: String, token: Vec<u8> },
}

/// The server's side: the users and their passwords.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaslUsers {
    pub passwords: BTreeMap<String, String>,
    /// A secret (from the operating system's randomness) that makes nonces
    /// unpredictable; see [`SaslUsers::nonce`].
    pub nonce_key: [u8; 16],
}

/// Names the users, never their passwords (limits are logged).
impl std::fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslUsers")
            .field("users", &self.passwords.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SaslUsers {
    /// The nonce for the `n`th challenge of this server: a keyed hash, so
    /// distinct for every challenge and unpredictable without the key.
    pub fn nonce(&self, n: u64) -> String {
        hex(&Md5::new()
            .chain_update(self.nonce_key)
            .chain_update(n.to_be_bytes())
            .finalize())
    }

    /// One step of `exchange` on the client's `token`; `nonce` makes a
    /// fresh nonce when a challenge is due (the caller's randomness, so
    /// this stays pure).
    pub fn step(
        &self,
        exchange: &mut Exchange,
        token: &[u8],
        nonce: impl FnOnce() -> String,
    ) -> Result<Step, SaslError> {
        if token.len() > TOKEN_BYTES_MAX {
            *exchange = Exchange::Done;
            return Err(SaslError::TokenTooLong(token.len()));
        }
        match std::mem::replace(exchange, Exchange::Done) {
            Exchange::Done => Err(SaslError::AlreadyDone),
            Exchange::Idle if !token.is_empty() => Err(SaslError::OtherMechanism(token.len())),
            Exchange::Idle => {
                let nonce = nonce();
                let challenge = format!(
                    "realm=\"{REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess"
                );
                *exchange = Exchange::Challenged { nonce };
                Ok(Step::Challenge(challenge.into_bytes()))
            }
            Exchange::Challenged { nonce } => self.check_response(&nonce, token),
        }
    }

    fn check_response(&self, nonce: &str, token: &[u8]) -> Result<Step, SaslError> {
        let text = std::str::from_utf8(token).map_err(|_| SaslError::Malformed("not UTF-8"))?;
        let d = directives(text)?;
        let get = |k: &'static str| d.get(k).map(String::as_str);
        let user = get("username").ok_or(SaslError::Malformed("no username"))?;
        let realm = get("realm").unwrap_or(REALM);
        if realm != REALM {
            return Err(SaslError::Mismatch("another realm", REALM));
        }
        if get("nonce") != Some(nonce) {
            return Err(SaslError::Mismatch("another nonce", "the one sent"));
        }
        let nc = get("nc").ok_or(SaslError::Malformed("no nc"))?;
        if nc != "00000001" {
            return Err(SaslError::Mismatch("another nonce count", "00000001"));
        }
        let qop = get("qop").unwrap_or("auth");
        if qop != "auth" {
            return Err(SaslError::Mismatch("another qop", "auth"));
        }
        if get("digest-uri") != Some(DIGEST_URI) {
            return Err(SaslError::Mismatch("another digest-uri", DIGEST_URI));
        }
        let cnonce = get("cnonce").ok_or(SaslError::Malformed("no cnonce"))?;
        let response = get("response").ok_or(SaslError::Malformed("no response"))?;
        let authzid = get("authzid");
        if let Some(z) = authzid.filter(|z| *z != user) {
            return Err(SaslError::NotAuthorized {
                user: user.to_string(),
                authzid: z.to_string(),
            });
        }
        let password = self
            .passwords
            .get(user)
            .ok_or_else(|| SaslError::UnknownUser(user.to_string()))?;
        let ha1 = {
            let secret = Md5::new()
                .chain_update(latin1_or_utf8(user))
                .chain_update(b":")
                .chain_update(latin1_or_utf8(realm))
                .chain_update(b":")
                .chain_update(latin1_or_utf8(password))
                .finalize();
            let mut a1 = Md5::new()
                .chain_update(secret)
                .chain_update(format!(":{nonce}:{cnonce}"));
            if let Some(z) = authzid {
                a1.update(format!(":{z}"));
            }
            hex(&a1.finalize())
        };
        let digest = |a2: &str| {
            let ha2 = hex(&Md5::digest(a2.as_bytes()));
            hex(&Md5::digest(
                format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}").as_bytes(),
            ))
        };
        let expected = digest(&format!("AUTHENTICATE:{DIGEST_URI}"));
        if !equal_in_constant_time(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(SaslError::BadPassword(user.to_string()));
        }
        let rspauth = digest(&format!(":{DIGEST_URI}"));
        Ok(Step::Authenticated {
            user: user.to_string(),
            token: format!("rspauth={rspauth}").into_bytes(),
        })
    }
}

/// What a client answers a challenge with `nonce` (the response token) and
/// the `rspauth` token it then expects from the server, computed as
/// Java's and puresasl's clients do; for tests and tools that play the
/// client.
pub fn client_response(
    user: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    uri: &str,
) -> (Vec<u8>, Vec<u8>) {
    let secret = Md5::digest(format!("{user}:{REALM}:{password}").as_bytes());
    let ha1 = hex(&Md5::new()
        .chain_update(secret)
        .chain_update(format!(":{nonce}:{cnonce}"))
        .finalize());
    let hash = |a2: &str| {
        let ha2 = hex(&Md5::digest(a2.as_bytes()));
        hex(&Md5::digest(
            format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes(),
        ))
    };
    let response = format!(
        "qop=auth,realm=\"{REALM}\",username=\"{user}\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",\
         nc=00000001,digest-uri=\"{uri}\",response={}",
        hash(&format!("AUTHENTICATE:{uri}"))
    );
    let rspauth = format!("rspauth={}", hash(&format!(":{uri}")));
    (response.into_bytes(), rspauth.into_bytes())
}

/// The nonce a challenge token carries.
pub fn challenge_nonce(challenge: &[u8]) -> Option<String> {
    directives(std::str::from_utf8(challenge).ok()?)
        .ok()?
        .remove("nonce")
}

/// A response's `key=value` directives, values bare or quoted (with `\`
/// escapes). A directive given twice is malformed (RFC 2831 forbids it and
/// an attacker could hope the two are read differently).
fn directives(text: &str) -> Result<BTreeMap<String, String>, SaslError> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or(SaslError::Malformed("a directive without `=`"))?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(SaslError::Malformed("an empty directive name"));
        }
        rest = &rest[eq + 1..];
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(
                        chars
                            .next()
                            .ok_or(SaslError::Malformed("a dangling `\\`"))?
                            .1,
                    ),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.ok_or(SaslError::Malformed("an unterminated quote"))?..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value.push_str(rest[..end].trim());
            rest = &rest[end..];
        }
        if out.insert(key, value).is_some() {
            return Err(SaslError::Malformed("a directive given twice"));
        }
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(SaslError::Malformed("text after a quoted value")),
        }
    }
    Ok(out)
}

/// RFC 2831 section 2.1.2.1: with `charset=utf-8`, a string whose
/// characters all fit ISO 8859-1 is hashed in ISO 8859-1 (Java's
/// DigestMD5 does so; a client that does too computes the same hash).
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell an attacker how much of a guessed hash was right.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> SaslUsers {
        SaslUsers {
            passwords: [("jaasuser".to_string(), "jaas_password".to_string())].into(),
            nonce_key: [7; 16],
        }
    }

    /// A client's response, as puresasl and Java's client compute it.
    fn client_response(user: &str, password: &str, nonce: &str, uri: &str) -> (String, String) {
        let (response, rspauth) = super::client_response(user, password, nonce, "OA6MHXh6Vq", uri);
        (
            String::from_utf8(response).unwrap(),
            String::from_utf8(rspauth).unwrap(),
        )
    }

    /// A response recorded from puresasl 0.6.2 (kazoo's SASL library) for
    /// user jaasuser, password jaas_password, nonce "n0nce", checked
    /// against our server: the two sides agree on the hash.
    #[test]
    fn a_response_recorded_from_puresasl_is_accepted() {
        let users = users();
        let (mut ex, nonce) = challenged(&users);
        assert_eq!(nonce, "n0nce");
        let recorded = "qop=auth,realm=\"zk-sasl-md5\",username=\"jaasuser\",nonce=\"n0nce\",\
             cnonce=\"27722318442491434\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
             response=4aa272ec13ed9f24b9454810c937dabe";
        assert!(matches!(
            users.step(&mut ex, recorded.as_bytes(), || unreachable!()),
            Ok(Step::Authenticated { user, .. }) if user == "jaasuser"
        ));
    }

    fn challenged(users: &SaslUsers) -> (Exchange, String) {
        let mut ex = Exchange::Idle;
        let Ok(Step::Challenge(c)) = users.step(&mut ex, b"", || "n0nce".into()) else {
            panic!("no challenge");
        };
        let c = String::from_utf8(c).unwrap();
        let d = directives(&c).unwrap();
        assert_eq!(d["realm"], REALM);
        assert_eq!(d["qop"], "auth");
        (ex, d["nonce"].clone())
    }

    #[test]
    fn a_right_password_authenticates_and_the_server_proves_it_knows_it() {
        let users = users();
        let (mut ex, nonce) = challenged(&users);
        let (response, rspauth) = client_response("jaasuser", "jaas_password", &nonce, DIGEST_URI);
        let step = users.step(&mut ex, response.as_bytes(), || unreachable!());
        assert_eq!(
            step,
            Ok(Step::Authenticated {
                user: "jaasuser".into(),
                token: rspauth.into_bytes()
            })
        );
        assert_eq!(
            users.step(&mut ex, b"again", || unreachable!()),
            Err(SaslError::AlreadyDone)
        );
    }

    #[test]
    fn a_wrong_password_an_unknown_user_or_a_replayed_nonce_fail() {
        let users = users();
        let (mut ex, nonce) = challenged(&users);
        let (bad, _) = client_response("jaasuser", "guess", &nonce, DIGEST_URI);
        assert_eq!(
            users.step(&mut ex, bad.as_bytes(), || unreachable!()),
            Err(SaslError::BadPassword("jaasuser".into()))
        );
        let (mut ex, nonce) = challenged(&users);
        let (who, _) = client_response("baduser", "badpassword", &nonce, DIGEST_URI);
        assert_eq!(
            users.step(&mut ex, who.as_bytes(), || unreachable!()),
            Err(SaslError::UnknownUser("baduser".into()))
        );
        // A response computed for another nonce (a replay) is refused.
        let (mut ex, _) = challenged(&users);
        let (old, _) = client_response("jaasuser", "jaas_password", "stale", DIGEST_URI);
        assert!(matches!(
            users.step(&mut ex, old.as_bytes(), || unreachable!()),
            Err(SaslError::Mismatch("another nonce", _))
        ));
        // One computed for another service (reflected from elsewhere) too.
        let (mut ex, nonce) = challenged(&users);
        let (other, _) = client_response("jaasuser", "jaas_password", &nonce, "imap/zk-sasl-md5");
        assert!(matches!(
            users.step(&mut ex, other.as_bytes(), || unreachable!()),
            Err(SaslError::Mismatch("another digest-uri", _))
        ));
    }

    #[test]
    fn malformed_or_oversized_tokens_are_refused_with_the_reason() {
        let users = users();
        for (text, why) in [
            ("username", "a directive without `=`"),
            ("username=\"a,nonce=x", "an unterminated quote"),
            ("username=a,username=b", "a directive given twice"),
            ("username=\"a\"x,nonce=b", "text after a quoted value"),
            ("nonce=x", "no username"),
        ] {
            let (mut ex, _) = challenged(&users);
            assert_eq!(
                users.step(&mut ex, text.as_bytes(), || unreachable!()),
                Err(SaslError::Malformed(why)),
                "{text}"
            );
        }
        let mut ex = Exchange::Idle;
        assert_eq!(
            users.step(&mut ex, b"\x60\x82GSSAPI", || unreachable!()),
            Err(SaslError::OtherMechanism(8))
        );
        let mut ex = Exchange::Idle;
        let huge = vec![b'a'; TOKEN_BYTES_MAX + 1];
        assert_eq!(
            users.step(&mut ex, &huge, || unreachable!()),
            Err(SaslError::TokenTooLong(TOKEN_BYTES_MAX + 1))
        );
        assert_eq!(ex, Exchange::Done);
    }

    #[test]
    fn nonces_differ_per_challenge_and_per_key() {
        let a = users();
        let mut b = users();
        b.nonce_key[0] ^= 1;
        assert_ne!(a.nonce(1), a.nonce(2));
        assert_ne!(a.nonce(1), b.nonce(1));
        assert_eq!(a.nonce(1).len(), 32);
    }

    #[test]
    fn quoted_values_keep_escaped_characters() {
        let d = directives(r#"username="a\"b\\c", realm="zk-sasl-md5" ,qop=auth"#).unwrap();
        assert_eq!(d["username"], r#"a"b\c"#);
        assert_eq!(d["realm"], REALM);
        assert_eq!(d["qop"], "auth");
    }
}
