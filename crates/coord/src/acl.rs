//! ACL validation, expansion and checks, as ZooKeeper 3.8 does them with
//! its default providers (`ip` and `digest`) and the `super` identity.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::types::{Acl, ErrorCode, Id};

/// Whether `ip` ACLs may name IPv6 addresses. ZooKeeper 3.8's
/// IPAuthenticationProvider parses IPv4 only (an IPv6 ACL is InvalidACL and
/// never matches); we keep its behaviour so differential runs agree. The
/// IPv6 parsing below is ready for the day we choose to differ.
pub const IPV6_ACLS: bool = false;

/// The digest id for `user:password`: `user:base64(sha1("user:password"))`,
/// as DigestAuthenticationProvider.generateDigest computes it. Used for
/// `addauth digest` and the configured super digest.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The ACL rules a write is applied under. A command carries its rules
/// (`CoordOp::RuledBatch`), so a log replays the same on every build that
/// can read it: a scheme added later never changes what an older command
/// did (it was refused then, and is refused again on replay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rules {
    /// ZooKeeper's default providers: digest and ip (every `Batch`).
    V1 = 1,
    /// And x509: the subject of a verified client certificate, as
    /// ZooKeeper's X509AuthenticationProvider names it (RFC 2253).
    V2 = 2,
    /// And sasl: the user a SASL exchange proved, as ZooKeeper's
    /// SASLAuthenticationProvider names it.
    V3 = 3,
}

impl Rules {
    /// The rules this build's front door writes into its commands.
    pub const CURRENT: Rules = Rules::V3;

    /// The rules numbered `n`, if this build knows them.
    pub fn from_number(n: u16) -> Option<Rules> {
        match n {
            1 => Some(Rules::V1),
            2 => Some(Rules::V2),
            3 => Some(Rules::V3),
            _ => None,
        }
    }

    pub fn number(self) -> u16 {
        self as u16
    }
}

/// Checks an ACL list from a create or setACL and expands `auth` entries to
/// the connection's authenticated ids (PrepRequestProcessor.fixupACL).
pub fn fixup(acl: &[Acl], auth: &[Id], rules: Rules) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        let id = &a.id;
        if id.scheme == "world" && id.id == "anyone" {
            out.push(a.clone());
        } else if id.scheme == "auth" {
            let mut any = false;
            for cid in auth
                .iter()
                .filter(|cid| is_authenticated_scheme(&cid.scheme, rules))
            {
                any = true;
                out.push(Acl {
                    perms: a.perms,
                    id: cid.clone(),
                });
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(id, rules) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

/// Schemes whose provider says "authenticated": digest, x509 and sasl
/// (ip is not; super and world have no provider).
fn is_authenticated_scheme(scheme: &str, rules: Rules) -> bool {
    scheme == "digest"
        || (scheme == X509 && rules >= Rules::V2)
        || (scheme == SASL && rules >= Rules::V3)
}

/// The x509 scheme's name.
pub const X509: &str = "x509";
/// The sasl scheme's name.
pub const SASL: &str = "sasl";

/// A provider's `isValid` for an ACL id; unknown schemes have no provider.
fn is_valid_id(id: &Id, rules: Rules) -> bool {
    match id.scheme.as_str() {
        // Java's split(":") drops trailing empty strings: "a:" is one part.
        "digest" => java_split_count(&id.id, ':') == 2,
        "ip" => parse_ip_acl(&id.id).is_some(),
        // X500Principal accepts a distinguished name: at least one
        // TYPE=value.
        X509 if rules >= Rules::V2 => is_distinguished_name(&id.id),
        SASL if rules >= Rules::V3 => is_kerberos_name(&id.id),
        _ => false,
    }
}

/// What ZooKeeper's KerberosName accepts (SASLAuthenticationProvider's
/// isValid): `name`, `name/host` or either with `@REALM`, no part empty
/// and no other `/` or `@`.
fn is_kerberos_name(id: &str) -> bool {
    let (principal, realm) = match id.split_once('@') {
        Some((p, r)) => (p, Some(r)),
        None => (id, None),
    };
    let part_ok = |p: &str| !p.is_empty() && !p.contains(['/', '@']);
    let principal_ok = match principal.split_once('/') {
        Some((name, host)) => part_ok(name) && part_ok(host),
        None => part_ok(principal),
    };
    principal_ok && realm.is_none_or(part_ok)
}

/// Loosely, what `new X500Principal(name)` accepts: RDNs of `TYPE=value`,
/// the first one present.
fn is_distinguished_name(name: &str) -> bool {
    name.split(',')
        .next()
        .and_then(|rdn| rdn.split_once('='))
        .is_some_and(|(kind, _)| !kind.trim().is_empty())
}

fn java_split_count(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    let trailing_empty = parts.iter().rev().take_while(|p| p.is_empty()).count();
    // Java returns [""] for the empty string, a single part.
    (parts.len() - trailing_empty).max(if s.is_empty() { 1 } else { 0 })
}

/// ZooKeeperServer.checkACL under this build's rules (reads, which are not
/// replayed): may a connection with `auth` do `perm` on a node with `acl`?
pub fn check(acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
    check_under(Rules::CURRENT, acl, perm, auth)
}

/// As [`check`], under `rules` (a write, under its command's rules).
pub fn check_under(rules: Rules, acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        let matched = auth
            .iter()
            .filter(|cid| cid.scheme == a.id.scheme)
            .any(|cid| id_matches(&a.id.scheme, &cid.id, &a.id.id, rules));
        if matched {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

fn id_matches(scheme: &str, id: &str, acl_expr: &str, rules: Rules) -> bool {
    match scheme {
        "digest" => id == acl_expr,
        "ip" => ip_matches(id, acl_expr),
        X509 => rules >= Rules::V2 && id == acl_expr,
        SASL => rules >= Rules::V3 && id == acl_expr,
        _ => false,
    }
}

/// The ACL as a reader without ADMIN sees it: digest hashes hidden
/// (FinalRequestProcessor's getACL, ZOOKEEPER-1392).
pub fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            let mut a = a.clone();
            if a.id.scheme == "digest" {
                if let Some(colon) = a.id.id.find(':') {
                    a.id.id.truncate(colon);
                    a.id.id.push_str(":x");
                }
            }
            a
        })
        .collect()
}

/// Does a connection's `ip` id match an `ip` ACL expression (an address,
/// optionally `/bits`)?
pub fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let Some((mut acl_addr, bits)) = parse_ip_acl(acl_expr) else {
        return false;
    };
    let Some(mut remote) = parse_addr(id) else {
        return false;
    };
    if remote.len() != acl_addr.len() {
        return false;
    }
    mask(&mut acl_addr, bits);
    mask(&mut remote, bits);
    remote == acl_addr
}

/// An ACL expression's address bytes and prefix length.
fn parse_ip_acl(expr: &str) -> Option<(Vec<u8>, u32)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (expr, None),
    };
    let addr = parse_addr(addr)?;
    let max = u32::try_from(addr.len() * 8).ok()?;
    let bits = match bits {
        Some(b) => {
            let b: i32 = b.parse().ok()?;
            u32::try_from(b).ok().filter(|b| *b <= max)?
        }
        None => max,
    };
    Some((addr, bits))
}

fn parse_addr(addr: &str) -> Option<Vec<u8>> {
    if let Some(v4) = parse_v4(addr) {
        return Some(v4.to_vec());
    }
    if IPV6_ACLS {
        return parse_v6(addr).map(|v6| v6.to_vec());
    }
    None
}

/// Four dot-separated decimal numbers 0..=255, as Java's parseInt reads
/// them (an optional sign, leading zeros allowed).
fn parse_v4(addr: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (o, p) in out.iter_mut().zip(parts) {
        let v: i32 = p.parse().ok()?;
        *o = u8::try_from(v).ok()?;
    }
    Some(out)
}

/// IPv6 in any textual form std accepts (a zone suffix is not accepted).
pub fn parse_v6(addr: &str) -> Option<[u8; 16]> {
    addr.parse::<std::net::Ipv6Addr>().ok().map(|a| a.octets())
}

fn mask(bytes: &mut [u8], bits: u32) {
    for (i, b) in bytes.iter_mut().enumerate() {
        let start = u32::try_from(i * 8).unwrap_or(u32::MAX);
        let keep = bits.saturating_sub(start).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeepers_generate_digest() {
        // DigestAuthenticationProvider.generateDigest("super:test"), a
        // value widely quoted in ZooKeeper's docs and tests.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn java_split_drops_trailing_empty_parts() {
        assert_eq!(java_split_count("a:b", ':'), 2);
        assert_eq!(java_split_count("a:", ':'), 1);
        assert_eq!(java_split_count(":b", ':'), 2);
        assert_eq!(java_split_count("a:b:", ':'), 2);
        assert_eq!(java_split_count("a:b:c", ':'), 3);
        assert_eq!(java_split_count("", ':'), 1);
    }

    #[test]
    fn mask_keeps_the_prefix_bits() {
        let mut b = [0xff, 0xff, 0xff, 0xff];
        mask(&mut b, 12);
        assert_eq!(b, [0xff, 0xf0, 0, 0]);
        let mut b = [0xff; 4];
        mask(&mut b, 0);
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn ipv6_parses_for_the_day_it_is_enabled() {
        let a = parse_v6("2001:db8::1").unwrap();
        let mut acl = parse_v6("2001:db8::").unwrap();
        let mut remote = a;
        mask(&mut acl, 32);
        mask(&mut remote, 32);
        assert_eq!(acl, remote);
        assert!(parse_v6("10.0.0.1").is_none());
    }
}
