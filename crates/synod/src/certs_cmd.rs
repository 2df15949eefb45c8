//! `synod certs`: a cluster's certificate authority and the certificates
//! it signs, as PEM files in one directory (the CockroachDB `cert` and etcd
//! `--auto-tls` spirit, with a real CA so every side can verify).
//!
//! `DIR/ca.crt` and `DIR/ca.key` are the CA; `node-<id>.crt|key` a node's
//! (for `[peer_tls]`); `client-<name>.crt|key` a client's. Keys are written
//! readable by their owner only, and nothing existing is overwritten.
//! `revoke` keeps the revoked certificates in `DIR/revoked.pem` and writes
//! `DIR/ca.crl`, the CA's revocation list of all of them, anew.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};
use synod_net::certs::{ClusterCa, Issued};

#[derive(clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(clap::Subcommand)]
enum CertsCommand {
    /// A new CA: DIR/ca.crt (give it to every node and client) and
    /// DIR/ca.key (keep it offline; it signs the others).
    #[command(name = "create-ca")]
    Ca {
        #[arg(long)]
        dir: PathBuf,
        /// A label for the CA's name, e.g. the cluster's.
        #[arg(long, default_value = "cluster")]
        name: String,
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Node ID's certificate (`node-ID.synod`), signed by DIR's CA.
    #[command(name = "create-node")]
    Node {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        id: u64,
        /// A host name or IP address clients dial this node at (repeat).
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long, default_value_t = 730)]
        days: u32,
    },
    /// A client certificate whose identity is NAME, signed by DIR's CA.
    #[command(name = "create-client")]
    Client {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 730)]
        days: u32,
    },
    /// Adds CERT files (issued by DIR's CA) to DIR/revoked.pem and writes
    /// DIR/ca.crl listing every certificate revoked so far. Nodes whose
    /// `crl` points at a copy of it refuse those certificates after their
    /// next reload (SIGHUP, or within 10 s of the file changing). Without
    /// CERT it only signs the list again (for a new validity).
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        /// How long the list is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(value_name = "CERT")]
        certs: Vec<PathBuf>,
    },
}

pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    match args.command {
        CertsCommand::Ca { dir, name, days } => {
            let ca = ClusterCa::generate(&name, days)?;
            write_ca(&dir, &ca)?;
            println!(
                "wrote {} and {}",
                dir.join("ca.crt").display(),
                dir.join("ca.key").display()
            );
        }
        CertsCommand::Node {
            dir,
            id,
            hosts,
            days,
        } => {
            let ca = load_ca(&dir)?;
            let issued = ca.issue_node(id, &hosts, days)?;
            let (cert, _) = write_pair(&dir, &format!("node-{id}"), &issued)?;
            println!("wrote {} (node-{id}.synod)", cert.display());
        }
        CertsCommand::Client { dir, name, days } => {
            if name.is_empty() || name.contains(['/', '\\']) {
                bail!("a client name must be non-empty and have no path separator");
            }
            let ca = load_ca(&dir)?;
            let issued = ca.issue_client(&name, days)?;
            let (cert, _) = write_pair(&dir, &format!("client-{name}"), &issued)?;
            println!("wrote {}", cert.display());
        }
        CertsCommand::Revoke { dir, days, certs } => {
            let ca = load_ca(&dir)?;
            let listed = dir.join("revoked.pem");
            let mut revoked: Vec<String> = match std::fs::read_to_string(&listed) {
                Ok(text) => split_pem(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => bail!("cannot read {}: {e}", listed.display()),
            };
            for path in &certs {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let Some(leaf) = split_pem(&text).into_iter().next() else {
                    bail!("{} holds no certificate", path.display());
                };
                if !revoked.contains(&leaf) {
                    revoked.push(leaf);
                }
            }
            // Checks every certificate before anything is written.
            let crl = ca.revocation_list(&revoked, days)?;
            replace(&listed, revoked.concat().as_bytes())?;
            replace(&dir.join("ca.crl"), crl.as_bytes())?;
            println!(
                "wrote {}: {} certificate(s) revoked; give it to the nodes as `crl`",
                dir.join("ca.crl").display(),
                revoked.len()
            );
        }
    }
    Ok(())
}

/// Each certificate block of a PEM text, as its own PEM text.
fn split_pem(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

/// Replaces `path` at once (a new file renamed over it): a node reloading
/// it never reads half a file.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

pub fn load_ca(dir: &Path) -> anyhow::Result<ClusterCa> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (run `synod certs create-ca` first)",
                path.display()
            )
        })
    };
    Ok(ClusterCa::load(&read("ca.crt")?, &read("ca.key")?)?)
}

pub fn write_ca(dir: &Path, ca: &ClusterCa) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_new(&dir.join("ca.key"), ca.key_pem().as_bytes(), true)?;
    write_new(&dir.join("ca.crt"), ca.cert_pem().as_bytes(), false)
}

/// Writes `<stem>.crt` and `<stem>.key`; returns their paths.
pub fn write_pair(dir: &Path, stem: &str, issued: &Issued) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    write_new(&key, issued.key_pem.as_bytes(), true)?;
    write_new(&cert, issued.cert_pem.as_bytes(), false)?;
    Ok((cert, key))
}

/// Creates `path` readable by its owner only (never overwrites).
pub fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_new(path, bytes, true)
}

/// Creates `path` (never overwrites), mode 0600 for a key.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (it is never overwritten; remove it first)",
            path.display()
        )
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// A new random token for identity NAME: prints the token (give it to
    /// the client, e.g. as SYNOD_TOKEN) and the `[access.tokens]` line for
    /// the servers' configs, which holds only its SHA-256.
    New { name: String },
    /// The `[access.tokens]` form (sha256:...) of a token read from stdin.
    Hash,
}

pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    use synod_server::access::token_hash_text;
    match args.command {
        TokenCommand::New { name } => {
            let mut bytes = [0u8; 24];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            println!("token: {token}");
            println!("[access.tokens]");
            println!("{name} = \"{}\"", token_hash_text(&token));
        }
        TokenCommand::Hash => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from stdin")?;
            println!("{}", token_hash_text(token.trim()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_keeps_every_certificate_once_and_signs_a_list_of_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = ClusterCa::generate("t", 30).unwrap();
        write_ca(d, &ca).unwrap();
        let (one, _) = write_pair(d, "node-1", &ca.issue_node(1, &[], 30).unwrap()).unwrap();
        let (two, _) = write_pair(d, "node-2", &ca.issue_node(2, &[], 30).unwrap()).unwrap();
        let revoke = |certs: Vec<PathBuf>| {
            run(CertsArgs {
                command: CertsCommand::Revoke {
                    dir: d.to_path_buf(),
                    days: 30,
                    certs,
                },
            })
        };
        revoke(vec![one.clone()]).unwrap();
        revoke(vec![two.clone(), one.clone()]).unwrap();
        let listed = split_pem(&std::fs::read_to_string(d.join("revoked.pem")).unwrap());
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0], std::fs::read_to_string(&one).unwrap());
        let crl = std::fs::read_to_string(d.join("ca.crl")).unwrap();
        assert_eq!(synod_net::tls::pem_crls(crl.as_bytes()).unwrap().len(), 1);
        // A file that holds no certificate changes nothing.
        let junk = d.join("junk.crt");
        std::fs::write(&junk, "hello").unwrap();
        assert!(revoke(vec![junk]).is_err());
        assert_eq!(std::fs::read_to_string(d.join("ca.crl")).unwrap(), crl);
    }
}
