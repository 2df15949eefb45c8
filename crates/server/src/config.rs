//! The server's configuration file (TOML) and its checks.
//!
//! ```toml
//! node_id = 1
//! cluster_id = 7
//! data_dir = "data/n1"
//! peer_listen = "127.0.0.1:7001"
//! client_listen = "127.0.0.1:8001"
//! zk_listen = "127.0.0.1:2181"   # optional: serve the ZooKeeper protocol
//! secure_zk_listen = "127.0.0.1:2281" # optional: the same over TLS
//! admin_listen = "127.0.0.1:9001" # optional: /metrics, /health, status page
//! worker_threads = 0             # optional: async threads, 0 = one per core
//!
//! [members.1]
//! peer = "127.0.0.1:7001"
//! client = "127.0.0.1:8001"
//! [members.2]
//! peer = "127.0.0.1:7002"
//! client = "127.0.0.1:8002"
//!
//! [engine]            # optional; defaults shown in EngineKnobs
//! election_timeout_ms = 500
//!
//!
//! [zk]                # optional; defaults shown in ZkKnobs
//! tick_ms = 2000
//! super_digest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
//! x509_super_user = "CN=admin"   # a TLS client certificate that is super
//! sasl_users = { kafka = "secret" } # SASL DIGEST-MD5 users (ZooKeeper's JAAS)
//! sasl_super_user = "kafka"       # optional: a SASL user that is super
//! read_only_mode = true          # serve reads when cut off (readonlymode.enabled)
//!
//! [kv]                # optional; defaults shown in KvKnobs
//! keys_max = 10000000
//! bytes_max = 536870912
//!
//! [admin]             # optional; defaults shown in AdminKnobs
//! lag_slots_max = 1000
//!
//! [client_tls]        # needed by secure_zk_listen
//! cert = "tls/node-1.crt"
//! key = "tls/node-1.key"
//! ca = "tls/ca.crt"   # optional: client certificates, checked
//! client_auth = "need" # need (default) | want | none
//!
//! [peer_tls]          # mutual TLS between peers (`synod certs`); required
//! ca = "tls/ca.crt"   # when a peer address is not loopback, unless
//! cert = "tls/node-1.crt" # `synod server --insecure`
//! key = "tls/node-1.key"
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use synod_net::HostPort;
use synod_paxos::{Config, EngineConfig, NodeId};
use synod_zkproto::FourLetterWord;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where one member listens: `host:port`, the host an IP address or a DNS
/// name. A name is looked up at every dial (a Kubernetes pod keeps its
/// name, not its address, when it is rescheduled), so it need not resolve
/// when the node starts.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Peer (Paxos) traffic.
    pub peer: HostPort,
    /// Client traffic (gRPC): where redirects send clients.
    pub client: HostPort,
}

/// Engine timings and limits a operator may tune.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineKnobs {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub lease_ms: u64,
    pub drift_ppm_max: u64,
    pub window_slots: u64,
    pub snapshot_interval_slots: u64,
    pub tick_ms: u64,
    /// The largest command the log takes, in bytes (the engine's
    /// `command_bytes_max`): the ZooKeeper front door never builds a
    /// larger one (a write too large alone is answered BadArguments) and
    /// the gRPC API refuses a larger put or cas with InvalidArgument. At
    /// least 64 KiB.
    pub command_bytes_max: usize,
}

impl Default for EngineKnobs {
    fn default() -> Self {
        let e = EngineConfig::default();
        EngineKnobs {
            heartbeat_interval_ms: e.heartbeat_interval_us / 1000,
            election_timeout_ms: e.election_timeout_us / 1000,
            lease_ms: e.lease_us / 1000,
            drift_ppm_max: e.drift_ppm_max,
            window_slots: e.window_slots,
            snapshot_interval_slots: 10_000,
            tick_ms: 10,
            command_bytes_max: EngineConfig::default().command_bytes_max,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// This node's id; may be left out of the file when the command line
    /// gives it (`--node-id`, `--node-id-from-hostname`).
    #[serde(default)]
    pub node_id: NodeId,
    pub cluster_id: u64,
    pub data_dir: PathBuf,
    pub peer_listen: SocketAddr,
    pub client_listen: SocketAddr,
    /// Every member of the initial cluster, this node included, by id.
    /// Keys are node ids written as strings (TOML table keys).
    pub members: BTreeMap<String, Member>,
    /// This node joins an existing cluster as a learner: it starts with no
    /// configuration and learns it from the leader (after an operator ran
    /// `synod reconfig add-learner`).
    #[serde(default)]
    pub join: bool,
    /// `synod server --init`: this is the first start of a new cluster, so
    /// an empty data directory has nothing to remember and may be
    /// initialized as a voter. Never read from the file: it is a one-time
    /// act, and a start with it on an initialized directory is refused
    /// (see `datadir`).
    #[serde(skip)]
    pub init: bool,
    /// `synod server --restore FILE`: the first start of a new cluster from
    /// a backup (`synod snapshot save`); implies `init`. Not from the file.
    #[serde(skip)]
    pub restore: Option<PathBuf>,
    /// The voters the cluster is bootstrapped with. Default: every member.
    /// Members not listed here are spares that may join later.
    #[serde(default)]
    pub initial_voters: Option<Vec<NodeId>>,
    #[serde(default)]
    pub engine: EngineKnobs,
    /// Where to serve the ZooKeeper client protocol (none: not served).
    #[serde(default)]
    pub zk_listen: Option<SocketAddr>,
    /// Where to serve the ZooKeeper protocol over TLS (ZooKeeper's
    /// `secureClientPort`: TLS from the first byte, as its Netty server
    /// speaks it). Needs `[client_tls]`.
    #[serde(default)]
    pub secure_zk_listen: Option<SocketAddr>,
    /// The certificate clients see on the TLS ports, and whether they must
    /// present their own.
    #[serde(default)]
    pub client_tls: Option<ClientTlsFiles>,
    #[serde(default)]
    pub zk: ZkKnobs,
    #[serde(default)]
    pub kv: KvKnobs,
    /// Where to serve the admin HTTP endpoints: `/metrics` (Prometheus),
    /// `/health`, `/livez`, `/readyz` and the status page `/` (none: not
    /// served).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    #[serde(default)]
    pub admin: AdminKnobs,
    #[serde(default)]
    pub grpc: GrpcKnobs,
    /// Who may do what on the gRPC port (see `access`). Without it, every
    /// client may do everything.
    #[serde(default)]
    pub access: Option<AccessConfig>,
    /// Mutual TLS between peers under the cluster's CA: PEM files of the
    /// CA certificate, this node's certificate (`node-<id>.synod`, as
    /// `synod certs create-node` issues) and its key.
    #[serde(default)]
    pub peer_tls: Option<PeerTlsFiles>,
    /// `synod server --insecure`: plaintext peers on addresses other than
    /// loopback are allowed. Never read from the file.
    #[serde(skip)]
    pub insecure: bool,
    /// Threads that run the node's async work (peers, clients, the
    /// engine). 0, the default: one per core.
    #[serde(default)]
    pub worker_threads: usize,
    /// The sharded tier (`[shards]`): with `groups` above 0 this server
    /// hosts the shard controller and that many replica groups instead of
    /// the single group of the plain cluster.
    #[serde(default)]
    pub shards: ShardsKnobs,
}

/// `[shards]`: the sharded tier's shape, the same on every server.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ShardsKnobs {
    /// Replica groups 1 to `groups`, each replicated on every member,
    /// beside the controller (group 0). 0 (and no `placement`): the plain
    /// cluster.
    pub groups: u32,
    /// Shards of the key space, fixed for the cluster's life.
    pub shard_count: u32,
    /// Which members replicate which group, instead of `groups`: group id
    /// (as a string key; "0" is the controller, which must be listed) to
    /// node ids, e.g. `placement = { 0 = [1, 2, 3], 1 = [1, 2, 3], 2 = [3,
    /// 4, 5] }`. A server hosts the groups that list it.
    pub placement: BTreeMap<String, Vec<NodeId>>,
}

impl Default for ShardsKnobs {
    fn default() -> Self {
        ShardsKnobs {
            groups: 0,
            shard_count: 16,
            placement: BTreeMap::new(),
        }
    }
}

impl ShardsKnobs {
    /// True when this config runs the sharded tier.
    pub fn is_sharded(&self) -> bool {
        self.groups > 0 || !self.placement.is_empty()
    }

    /// Every group (the controller, 0, first) and the members that
    /// replicate it: `placement` checked against `members`, or groups
    /// 0..=`groups` on every member.
    pub fn resolve(
        &self,
        members: &BTreeMap<NodeId, Member>,
    ) -> Result<BTreeMap<u64, Vec<NodeId>>, ConfigError> {
        let invalid = |why: String| Err(ConfigError::Invalid(format!("[shards] {why}")));
        if self.placement.is_empty() {
            let all: Vec<NodeId> = members.keys().copied().collect();
            return Ok((0..=u64::from(self.groups))
                .map(|g| (g, all.clone()))
                .collect());
        }
        if self.groups > 0 {
            return invalid("give `groups` or `placement`, not both".into());
        }
        let mut groups = BTreeMap::new();
        for (key, nodes) in &self.placement {
            let Ok(group) = key.parse::<u64>() else {
                return invalid(format!("placement: {key:?} is not a group id"));
            };
            if nodes.is_empty() {
                return invalid(format!("placement: group {group} lists no member"));
            }
            if let Some(n) = nodes.iter().find(|n| !members.contains_key(n)) {
                return invalid(format!(
                    "placement: group {group} lists node {n}, which is not under [members]"
                ));
            }
            let mut sorted = nodes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != nodes.len() {
                return invalid(format!("placement: group {group} lists a node twice"));
            }
            groups.insert(group, sorted);
        }
        if !groups.contains_key(&0) {
            return invalid("placement must place the controller, group 0".into());
        }
        if groups.len() < 2 {
            return invalid("placement must place at least one replica group".into());
        }
        // A group beyond the shard count would serve nothing.
        if groups.len() as u64 > u64::from(synod_shard::SHARDS_MAX) + 1 {
            return invalid(format!(
                "placement places more than {} groups",
                synod_shard::SHARDS_MAX
            ));
        }
        Ok(groups)
    }
}

/// `[peer_tls]`: where this node's peer TLS files are.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerTlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA's certificate revocation lists (PEM, `synod certs revoke`):
    /// a peer whose certificate is listed is refused at the handshake.
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

/// `[access]`: identities by right, and bearer tokens by name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// May change membership (Reconfigure), and write and read.
    pub admins: Vec<String>,
    /// May write (Put, Delete, Cas) and read.
    pub writers: Vec<String>,
    /// May read (Get) and ask for status.
    pub readers: Vec<String>,
    /// Bearer tokens: name = "sha256:<hex of the token>".
    pub tokens: BTreeMap<String, String>,
}

/// `[client_tls]`: the TLS identity of this node's client ports.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsFiles {
    /// This node's certificate chain (PEM); clients verify it against the
    /// CA and the host name or address they dial.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA certificate(s) that sign client certificates (PEM). Without it,
    /// clients present none.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// With `ca`: `need` (the default, as ZooKeeper's `ssl.clientAuth`), a
    /// client without a certificate of that CA is refused at the
    /// handshake; `want`, one is checked if presented; `none`, never asked.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// With `ca`: revocation lists (PEM) of that CA; a listed client
    /// certificate is refused at the handshake.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// The gRPC port (`client_listen`) speaks TLS too (and only TLS); a
    /// verified client certificate's common name is an identity for
    /// `[access]`.
    #[serde(default)]
    pub grpc: bool,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    Need,
    Want,
    None,
}

/// The ZooKeeper front door's settings, named after ZooKeeper's own.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ZkKnobs {
    /// ZooKeeper's tickTime: the unit of session timeouts.
    pub tick_ms: u64,
    /// Negotiated session timeouts are clamped to this range (ZooKeeper's
    /// defaults: 2 and 20 ticks).
    pub min_session_timeout_ms: Option<u64>,
    pub max_session_timeout_ms: Option<u64>,
    /// `super:<base64 sha1>` as zookeeper.DigestAuthenticationProvider.superDigest:
    /// a client that adds this digest auth passes every ACL.
    pub super_digest: Option<String>,
    /// The certificate subject (RFC 2253, e.g. `CN=admin`) of a ZooKeeper
    /// client on the TLS port that passes every ACL (ZooKeeper's
    /// `zookeeper.X509Util.superUser`).
    pub x509_super_user: Option<String>,
    /// SASL DIGEST-MD5 users and their passwords, as in ZooKeeper's JAAS
    /// `DigestLoginModule` (`user_<name>="<password>"`): a client that
    /// proves one is `sasl:<name>` for ACLs. DIGEST-MD5 needs the password
    /// itself, so keep this file readable by the server only.
    pub sasl_users: BTreeMap<String, Secret>,
    /// A SASL user that passes every ACL (ZooKeeper's `zookeeper.superUser`).
    pub sasl_super_user: Option<String>,
    /// jute.maxbuffer: the largest request or reply body, in bytes.
    pub max_buffer_bytes: usize,
    /// Client sockets open at once, the handshake included; more are
    /// closed at accept, before anything is read from them.
    pub connections_max: usize,
    /// ZooKeeper's maxClientCnxns: sockets open at once from one IP
    /// address; more from it are closed at accept. 0: no limit. 60, as in
    /// ZooKeeper, unless set.
    pub max_client_cnxns: usize,
    /// ZooKeeper's 4lw.commands.whitelist: the four-letter words answered
    /// (`["*"]`: all). Others get ZooKeeper's "not in the whitelist" line.
    /// Some (`conf`, `cons`, `dump`, `wchc`) hand out addresses, session
    /// ids and paths, so the default is the monitoring words only.
    pub four_letter_words: Vec<String>,
    /// Writes that would take the tree past this many znodes are refused
    /// with QuotaExceeded (-125); deletes are always taken.
    pub znodes_max: u64,
    /// Writes that would take the tree's paths and data past this many
    /// bytes are refused with QuotaExceeded (-125). With `znodes_max` it
    /// keeps the state below the snapshot limit (4 GiB), where a node
    /// would stop.
    pub data_bytes_max: u64,
    /// ZooKeeper's `readonlymode.enabled`: a node that has known no
    /// leader for an election timeout plus 3 s serves reads, possibly
    /// stale, to clients that ask for read-only sessions, and answers
    /// their writes NotReadOnly (-119); off (false), as in ZooKeeper.
    pub read_only_mode: bool,
    /// ZooKeeper's `reconfigEnabled`: whether a super user's reconfig
    /// (zkCli `reconfig`, kazoo's `reconfig`) changes the membership. Off
    /// by default, as in ZooKeeper: a reconfig is answered ReconfigDisabled
    /// (-123). Membership changes through `synod reconfig` either way.
    pub reconfig_enabled: bool,
}

impl Default for ZkKnobs {
    fn default() -> Self {
        ZkKnobs {
            tick_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            super_digest: None,
            x509_super_user: None,
            sasl_users: BTreeMap::new(),
            sasl_super_user: None,
            max_buffer_bytes: 0xfffff,
            connections_max: 10_000,
            max_client_cnxns: 60,
            four_letter_words: vec!["srvr".into(), "ruok".into(), "mntr".into()],
            znodes_max: synod_front::ZkLimits::ZNODES_MAX_DEFAULT,
            data_bytes_max: synod_front::ZkLimits::DATA_BYTES_MAX_DEFAULT,
            read_only_mode: false,
            reconfig_enabled: false,
        }
    }
}

/// The native key-value store's caps (`synod_kv::quota`): a node setting,
/// never replicated state.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KvKnobs {
    /// Writes that would take the store past this many keys are refused
    /// (gRPC RESOURCE_EXHAUSTED); deletes are always taken.
    pub keys_max: u64,
    /// Writes that would take the store's keys plus values past this many
    /// bytes are refused (gRPC RESOURCE_EXHAUSTED). With `[zk]
    /// data_bytes_max` it keeps the state below the snapshot limit
    /// (4 GiB), where every node would stop at the same slot.
    pub bytes_max: u64,
}

impl Default for KvKnobs {
    fn default() -> Self {
        KvKnobs {
            keys_max: synod_kv::KvLimits::KEYS_MAX_DEFAULT,
            bytes_max: synod_kv::KvLimits::BYTES_MAX_DEFAULT,
        }
    }
}

impl KvKnobs {
    pub fn limits(&self) -> synod_kv::KvLimits {
        synod_kv::KvLimits {
            keys_max: self.keys_max,
            bytes_max: self.bytes_max,
        }
    }
}

/// A password in the config file: read like a string, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<secret>\"")
    }
}

/// The gRPC (native client) port's settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcKnobs {
    /// Client sockets open at once; more are closed at accept, before
    /// anything is read from them.
    pub connections_max: usize,
    /// Sockets open at once from one IP address; more from it are closed
    /// at accept. 0 (the default): no limit, since the native client opens
    /// one connection per request in flight.
    pub connections_per_ip_max: usize,
}

impl Default for GrpcKnobs {
    fn default() -> Self {
        GrpcKnobs {
            connections_max: 512,
            connections_per_ip_max: 0,
        }
    }
}

/// The admin listener's settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminKnobs {
    /// `/health` and `/readyz` answer 503 when this node's applied slot
    /// trails the commit point it knows by more than this many slots.
    pub lag_slots_max: u64,
    /// How long an admin request waits for the node's task to answer
    /// before it is answered 503 (and `/livez` says the node is stuck).
    pub answer_timeout_ms: u64,
    /// Serve HTTPS with `[client_tls]`'s certificate (client certificates
    /// of its CA are checked when presented, never required, so probes
    /// without one still reach `/health`).
    pub tls: bool,
}

impl Default for AdminKnobs {
    fn default() -> Self {
        AdminKnobs {
            lag_slots_max: 1000,
            answer_timeout_ms: 1000,
            tls: false,
        }
    }
}

/// The longest `[admin] answer_timeout_ms`: a scraper gives up well before.
pub const ADMIN_ANSWER_TIMEOUT_MS_MAX: u64 = 60_000;

impl ZkKnobs {
    /// The allowed four-letter words, or which entry names none.
    pub fn four_letter_words_allowed(&self) -> Result<Vec<FourLetterWord>, ConfigError> {
        let mut allowed = Vec::new();
        for name in &self.four_letter_words {
            let name = name.trim();
            if name == "*" {
                return Ok(FourLetterWord::ALL.to_vec());
            }
            let word = FourLetterWord::ALL
                .into_iter()
                .find(|w| w.as_bytes() == name.as_bytes())
                .ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "[zk] four_letter_words: `{name}` is not a four-letter word synod answers"
                    ))
                })?;
            allowed.push(word);
        }
        Ok(allowed)
    }

    pub fn min_session_timeout_ms(&self) -> u64 {
        self.min_session_timeout_ms.unwrap_or(2 * self.tick_ms)
    }

    pub fn max_session_timeout_ms(&self) -> u64 {
        self.max_session_timeout_ms.unwrap_or(20 * self.tick_ms)
    }
}

impl ServerConfig {
    /// Reads and parses the file; the caller applies its command-line
    /// overrides and `expand_node_id`, then calls `validate`.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: ServerConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Replaces `{node_id}` in the paths that differ per node (`data_dir`,
    /// the TLS certificates and keys) with this node's id, so that one file
    /// serves every node (a StatefulSet's ConfigMap). Call it once the id is
    /// final.
    pub fn expand_node_id(&mut self) {
        let id = self.node_id.to_string();
        let expand = |p: &mut PathBuf| {
            if let Some(s) = p.to_str().filter(|s| s.contains("{node_id}")) {
                *p = PathBuf::from(s.replace("{node_id}", &id));
            }
        };
        expand(&mut self.data_dir);
        if let Some(t) = &mut self.peer_tls {
            expand(&mut t.cert);
            expand(&mut t.key);
        }
        if let Some(t) = &mut self.client_tls {
            expand(&mut t.cert);
            expand(&mut t.key);
        }
    }

    /// Members by numeric id.
    pub fn members(&self) -> Result<BTreeMap<NodeId, Member>, ConfigError> {
        self.members
            .iter()
            .map(|(k, m)| {
                let id: NodeId = k.parse().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "member key `{k}` is not a node id (a positive integer)"
                    ))
                })?;
                if id == 0 {
                    return Err(ConfigError::Invalid("node id 0 is reserved".into()));
                }
                Ok((id, m.clone()))
            })
            .collect()
    }

    /// The peer TLS identity of `[peer_tls]` (`None` without it), after
    /// [`Self::check_peer_security`]: what a server loads before it
    /// touches its data directory.
    pub fn peer_tls_checked(&self) -> anyhow::Result<Option<synod_net::PeerTls>> {
        self.check_peer_security()?;
        let Some(files) = &self.peer_tls else {
            return Ok(None);
        };
        let tls = synod_net::PeerTls::load(
            self.node_id,
            &files.ca,
            &files.cert,
            &files.key,
            files.crl.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("[peer_tls]: {e}"))?;
        Ok(Some(tls))
    }

    /// Plaintext peers are allowed only on loopback, or with `--insecure`:
    /// without TLS, anyone who reaches a peer port can claim to be a
    /// member.
    pub fn check_peer_security(&self) -> Result<(), ConfigError> {
        if self.peer_tls.is_some() || self.insecure {
            return Ok(());
        }
        let members = self.members()?;
        let exposed = std::iter::once(HostPort::from(self.peer_listen))
            .chain(members.into_values().map(|m| m.peer))
            .find(|addr| !addr.is_loopback());
        match exposed {
            None => Ok(()),
            Some(addr) => Err(ConfigError::Invalid(format!(
                "peers would talk in plaintext on {addr}, which is not a loopback address: \
                 anyone who reaches it could pose as a member. Configure [peer_tls] (certificates \
                 from `synod certs`; see the README's Security section), or pass --insecure to \
                 accept that risk"
            ))),
        }
    }

    /// `[kv]`: caps of 0 would refuse every write that adds a key or a
    /// byte, and caps whose bytes alone, with the tree's, reach the
    /// snapshot limit would not prevent the stop they are there to prevent.
    fn validate_kv(&self, engine: &EngineConfig) -> Result<(), ConfigError> {
        if self.kv.keys_max == 0 || self.kv.bytes_max == 0 {
            return Err(ConfigError::Invalid(
                "[kv] keys_max and bytes_max must be positive".into(),
            ));
        }
        let limit = engine.snapshot_bytes_max;
        if self.kv.bytes_max.saturating_add(self.zk.data_bytes_max) >= limit {
            return Err(ConfigError::Invalid(format!(
                "[kv] bytes_max ({}) plus [zk] data_bytes_max ({}) must stay below the \
                 snapshot limit ({limit} bytes), or a full store stops every node; lower them",
                self.kv.bytes_max, self.zk.data_bytes_max
            )));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let members = self.members()?;
        if self.node_id == 0 {
            return Err(ConfigError::Invalid(
                "node_id is missing or 0: set it in the file, or pass --node-id or \
                 --node-id-from-hostname"
                    .into(),
            ));
        }
        if !members.contains_key(&self.node_id) {
            return Err(ConfigError::Invalid(format!(
                "node_id {} is not listed under [members.{}]",
                self.node_id, self.node_id
            )));
        }
        self.initial_config()?;
        let engine = self.engine_config();
        engine
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("[engine]: {e}")))?;
        // Every message the engine sends must fit the transport's frames,
        // or the network would be where a message is dropped.
        let frame = synod_net::FRAME_BYTES_MAX_DEFAULT;
        if engine.message_encoded_bytes_max() > frame {
            return Err(ConfigError::Invalid(format!(
                "[engine]: messages of up to {} bytes do not fit the peer transport's {frame}-byte frames",
                engine.message_encoded_bytes_max()
            )));
        }
        self.zk.four_letter_words_allowed()?;
        if self.zk.tick_ms == 0 {
            return Err(ConfigError::Invalid("[zk] tick_ms must be positive".into()));
        }
        if self.zk.min_session_timeout_ms() > self.zk.max_session_timeout_ms() {
            return Err(ConfigError::Invalid(
                "[zk] min_session_timeout_ms is above max_session_timeout_ms".into(),
            ));
        }
        if let Some(d) = &self.zk.super_digest {
            if !d.contains(':') {
                return Err(ConfigError::Invalid(
                    "[zk] super_digest must look like `super:<base64 sha1>`".into(),
                ));
            }
        }
        if let Some((user, _)) = self
            .zk
            .sasl_users
            .iter()
            .find(|(user, password)| user.is_empty() || password.0.is_empty())
        {
            return Err(ConfigError::Invalid(format!(
                "[zk] sasl_users: user `{user}` needs a non-empty name and password"
            )));
        }
        if let Some(s) = &self.zk.sasl_super_user {
            if !self.zk.sasl_users.contains_key(s) {
                return Err(ConfigError::Invalid(format!(
                    "[zk] sasl_super_user `{s}` is not one of [zk] sasl_users"
                )));
            }
        }
        self.validate_kv(&engine)?;
        if self.engine.command_bytes_max < synod_front::budget::COMMAND_BYTES_MIN {
            return Err(ConfigError::Invalid(format!(
                "[engine] command_bytes_max must be at least {} (room for a full auth list and writes)",
                synod_front::budget::COMMAND_BYTES_MIN
            )));
        }
        if self.admin.tls && self.client_tls.is_none() {
            return Err(ConfigError::Invalid(
                "[admin] tls = true needs [client_tls] (the certificate the admin port shows)"
                    .into(),
            ));
        }
        if self.admin.answer_timeout_ms == 0
            || self.admin.answer_timeout_ms > ADMIN_ANSWER_TIMEOUT_MS_MAX
        {
            return Err(ConfigError::Invalid(format!(
                "[admin] answer_timeout_ms must be between 1 and {ADMIN_ANSWER_TIMEOUT_MS_MAX}"
            )));
        }
        if let Some(admin) = self.admin_listen {
            let taken = [
                ("peer_listen", Some(self.peer_listen)),
                ("client_listen", Some(self.client_listen)),
                ("zk_listen", self.zk_listen),
                ("secure_zk_listen", self.secure_zk_listen),
            ];
            if let Some((name, _)) = taken.iter().find(|(_, a)| *a == Some(admin)) {
                return Err(ConfigError::Invalid(format!(
                    "admin_listen {admin} is also {name}: give the admin listener its own port"
                )));
            }
        }
        if self.engine.tick_ms == 0 {
            return Err(ConfigError::Invalid(
                "[engine] tick_ms must be positive".into(),
            ));
        }
        if self.secure_zk_listen.is_some() && self.client_tls.is_none() {
            return Err(ConfigError::Invalid(
                "secure_zk_listen needs [client_tls] (the certificate clients see)".into(),
            ));
        }
        if self.secure_zk_listen.is_some() && self.secure_zk_listen == self.zk_listen {
            return Err(ConfigError::Invalid(
                "secure_zk_listen and zk_listen must be different ports".into(),
            ));
        }
        Ok(())
    }

    pub fn engine_config(&self) -> EngineConfig {
        let k = &self.engine;
        EngineConfig {
            heartbeat_interval_us: k.heartbeat_interval_ms * 1000,
            election_timeout_us: k.election_timeout_ms * 1000,
            // A forwarded write not yet applied is sent again after one
            // election timeout (by then a lost leader has been replaced).
            forward_retry_us: k.election_timeout_ms * 1000,
            lease_us: k.lease_ms * 1000,
            drift_ppm_max: k.drift_ppm_max,
            window_slots: k.window_slots,
            snapshot_interval_slots: k.snapshot_interval_slots,
            command_bytes_max: k.command_bytes_max,
            // Engine events are only logged at debug level.
            events: tracing::enabled!(tracing::Level::DEBUG),
            ..EngineConfig::default()
        }
    }

    /// The configuration the cluster boots with: every member votes,
    /// unless this node joins an existing cluster.
    pub fn initial_config(&self) -> Result<Config, ConfigError> {
        if self.join {
            return Ok(Config::default());
        }
        let members = self.members()?;
        match &self.initial_voters {
            None => Ok(Config::new(members.into_keys())),
            Some(voters) => {
                if let Some(v) = voters.iter().find(|v| !members.contains_key(v)) {
                    return Err(ConfigError::Invalid(format!(
                        "initial voter {v} is not listed under [members]"
                    )));
                }
                Ok(Config::new(voters.iter().copied()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
node_id = 1
cluster_id = 7
data_dir = "d"
peer_listen = "127.0.0.1:7001"
client_listen = "127.0.0.1:8001"
[members.1]
peer = "127.0.0.1:7001"
client = "127.0.0.1:8001"
[members.2]
peer = "127.0.0.1:7002"
client = "127.0.0.1:8002"
[engine]
election_timeout_ms = 800
"#;

    #[test]
    fn a_good_file_parses_with_defaults_for_what_it_omits() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.engine.election_timeout_ms, 800);
        assert_eq!(cfg.engine.lease_ms, 400);
        assert_eq!(cfg.initial_config().unwrap(), Config::new([1, 2]));
    }

    #[test]
    fn kv_caps_default_parse_and_are_checked() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        assert_eq!(cfg.kv.limits(), synod_kv::KvLimits::default());
        let set = format!("{GOOD}[kv]\nkeys_max = 3\nbytes_max = 100\n");
        let cfg: ServerConfig = toml::from_str(&set).unwrap();
        cfg.validate().unwrap();
        assert_eq!(
            cfg.kv.limits(),
            synod_kv::KvLimits {
                keys_max: 3,
                bytes_max: 100
            }
        );
        let zero = format!("{GOOD}[kv]\nkeys_max = 0\n");
        let err = toml::from_str::<ServerConfig>(&zero)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("[kv] keys_max"), "{err}");
        // 3 GiB of keys and values beside the tree's 2 GiB cannot fit a
        // 4 GiB snapshot.
        let too_big = format!("{GOOD}[kv]\nbytes_max = 3221225472\n");
        let err = toml::from_str::<ServerConfig>(&too_big)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("snapshot limit"), "{err}");
        let unknown = format!("{GOOD}[kv]\nkeys = 3\n");
        assert!(toml::from_str::<ServerConfig>(&unknown).is_err());
    }

    #[test]
    fn read_only_mode_is_off_unless_asked_for() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        assert!(!cfg.zk.read_only_mode, "off by default, as in ZooKeeper");
        let on = format!("{GOOD}[zk]\nread_only_mode = true\n");
        let cfg: ServerConfig = toml::from_str(&on).unwrap();
        cfg.validate().unwrap();
        assert!(cfg.zk.read_only_mode);
        let bad = format!("{GOOD}[zk]\nread_only_mode = \"yes\"\n");
        assert!(toml::from_str::<ServerConfig>(&bad).is_err());
    }

    #[test]
    fn plaintext_peers_off_loopback_need_peer_tls_or_insecure() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        cfg.check_peer_security().unwrap();
        let exposed = GOOD.replace("peer = \"127.0.0.1:7002\"", "peer = \"10.1.2.3:7002\"");
        let mut cfg: ServerConfig = toml::from_str(&exposed).unwrap();
        let err = cfg.check_peer_security().unwrap_err().to_string();
        assert!(
            err.contains("10.1.2.3:7002") && err.contains("--insecure"),
            "{err}"
        );
        cfg.insecure = true;
        cfg.check_peer_security().unwrap();
        let wildcard = GOOD.replace(
            "peer_listen = \"127.0.0.1:7001\"",
            "peer_listen = \"0.0.0.0:7001\"",
        );
        let cfg: ServerConfig = toml::from_str(&wildcard).unwrap();
        assert!(cfg.check_peer_security().is_err());
        let with_tls =
            format!("{exposed}\n[peer_tls]\nca = \"ca.crt\"\ncert = \"n.crt\"\nkey = \"n.key\"\n");
        let cfg: ServerConfig = toml::from_str(&with_tls).unwrap();
        cfg.check_peer_security().unwrap();
    }

    #[test]
    fn members_named_by_dns_parse_and_count_as_exposed_unless_localhost() {
        let named = GOOD
            .replace("peer = \"127.0.0.1:7002\"", "peer = \"synod-1.synod:7000\"")
            .replace(
                "client = \"127.0.0.1:8002\"",
                "client = \"synod-1.synod:8000\"",
            );
        let cfg: ServerConfig = toml::from_str(&named).unwrap();
        cfg.validate().unwrap();
        let m = &cfg.members().unwrap()[&2];
        assert_eq!(m.peer.to_string(), "synod-1.synod:7000");
        let err = cfg.check_peer_security().unwrap_err().to_string();
        assert!(err.contains("synod-1.synod:7000"), "{err}");
        let local = GOOD.replace("peer = \"127.0.0.1:7002\"", "peer = \"localhost:7002\"");
        let cfg: ServerConfig = toml::from_str(&local).unwrap();
        cfg.check_peer_security().unwrap();
        let bad = GOOD.replace("peer = \"127.0.0.1:7002\"", "peer = \"synod-1.synod\"");
        let err = toml::from_str::<ServerConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no port"), "{err}");
    }

    #[test]
    fn node_id_in_paths_is_replaced_by_the_nodes_id() {
        let text = format!(
            "{}\n[peer_tls]\nca = \"tls/ca.crt\"\ncert = \"tls/node-{{node_id}}.crt\"\nkey = \"tls/node-{{node_id}}.key\"\n",
            GOOD.replace("data_dir = \"d\"", "data_dir = \"/data/n{node_id}\"")
        );
        let mut cfg: ServerConfig = toml::from_str(&text).unwrap();
        cfg.node_id = 2;
        cfg.expand_node_id();
        assert_eq!(cfg.data_dir, PathBuf::from("/data/n2"));
        let tls = cfg.peer_tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("tls/node-2.crt"));
        assert_eq!(tls.key, PathBuf::from("tls/node-2.key"));
        assert_eq!(tls.ca, PathBuf::from("tls/ca.crt"));
    }

    #[test]
    fn a_node_missing_from_members_is_refused_with_the_reason() {
        let text = GOOD.replace("node_id = 1", "node_id = 3");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("node_id 3 is not listed"), "{err}");
    }

    #[test]
    fn sasl_users_parse_hide_their_passwords_and_the_super_user_must_be_one() {
        let text = format!(
            "{GOOD}\n[zk]\nsasl_users = {{ \"jaasuser\" = \"jaas_password\", kafka = \"k\" }}\n\
             sasl_super_user = \"kafka\"\n"
        );
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.zk.sasl_users["jaasuser"].0, "jaas_password");
        assert!(
            !format!("{cfg:?}").contains("jaas_password"),
            "a password in Debug"
        );
        let cfg: ServerConfig = toml::from_str(
            &text.replace("sasl_super_user = \"kafka\"", "sasl_super_user = \"root\""),
        )
        .unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("`root` is not one of"), "{err}");
        let cfg: ServerConfig =
            toml::from_str(&text.replace("kafka = \"k\"", "kafka = \"\"")).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("non-empty name and password"), "{err}");
    }

    #[test]
    fn four_letter_words_default_to_monitoring_and_a_misspelt_one_is_refused() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        let words = cfg.zk.four_letter_words_allowed().unwrap();
        assert_eq!(
            words,
            [
                FourLetterWord::Srvr,
                FourLetterWord::Ruok,
                FourLetterWord::Mntr
            ]
        );
        let text = format!("{GOOD}\n[zk]\nfour_letter_words = [\"*\"]\n");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(
            cfg.zk.four_letter_words_allowed().unwrap().len(),
            FourLetterWord::ALL.len()
        );
        let text = format!("{GOOD}\n[zk]\nfour_letter_words = [\"srvr\", \"rouk\"]\n");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("`rouk` is not a four-letter word"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = format!("{GOOD}\nbogus = 1\n");
        assert!(toml::from_str::<ServerConfig>(&text).is_err());
    }

    #[test]
    fn a_command_budget_below_the_minimum_is_refused() {
        let text = GOOD.replace(
            "election_timeout_ms = 800",
            "election_timeout_ms = 800\ncommand_bytes_max = 1000",
        );
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("command_bytes_max"), "{err}");
    }

    #[test]
    fn the_admin_listener_is_optional_with_defaults() {
        let cfg: ServerConfig = toml::from_str(GOOD).unwrap();
        assert_eq!(cfg.admin_listen, None);
        assert_eq!(cfg.admin.lag_slots_max, 1000);
        let text =
            format!("admin_listen = \"127.0.0.1:9001\"\n{GOOD}\n[admin]\nlag_slots_max = 5\n");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.admin_listen, Some("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(cfg.admin.lag_slots_max, 5);
    }

    #[test]
    fn an_admin_listener_on_another_listeners_port_is_refused() {
        let text = format!("admin_listen = \"127.0.0.1:8001\"\n{GOOD}");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("also client_listen"), "{err}");
        let text = format!("{GOOD}\n[admin]\nanswer_timeout_ms = 0\n");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn an_https_admin_port_needs_the_client_certificate() {
        let text = format!("{GOOD}\n[admin]\ntls = true\n");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("[client_tls]"), "{err}");
    }

    #[test]
    fn engine_timings_that_break_the_lease_rules_are_refused() {
        let text = GOOD.replace("election_timeout_ms = 800", "election_timeout_ms = 100");
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("lease_us"));
    }
}
