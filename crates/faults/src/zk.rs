//! The ZooKeeper register workload: per-znode versioned registers over the
//! ZooKeeper protocol. Reads are `sync` then `getData` on one session
//! (ZooKeeper's way to read everything committed before the read began);
//! writes are `setData` unconditionally or conditionally on the version last
//! read (a compare-and-swap on the version). The model checks values and
//! versions both, so a lost, doubled or reordered write shows.

use std::collections::BTreeMap;
use std::time::Duration;

use synod_bench::zk::conn::ZkConn;
use synod_check::{Model, Operation};
use synod_wal::SplitMix64;
use synod_zkproto as wire;

use crate::history::{record, Ctx, History};

/// Znodes per phase.
pub const ZNODES: usize = 3;
/// Where the registers live.
pub const ROOT: &str = "/registers";
/// One request's bound; past it the connection is dropped and the
/// operation recorded as pending.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
const SESSION_TIMEOUT_MS: i32 = 10_000;

/// The path of register `k` in `phase`.
pub fn path(phase: usize, k: usize) -> String {
    format!("{ROOT}/p{phase}-r{k}")
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkInput {
    /// sync + getData.
    Read { path: String },
    /// setData with version -1.
    Write { path: String, value: Vec<u8> },
    /// setData with the version last read.
    Cas {
        path: String,
        version: i32,
        value: Vec<u8>,
    },
}

impl ZkInput {
    fn path(&self) -> &str {
        match self {
            ZkInput::Read { path } | ZkInput::Write { path, .. } | ZkInput::Cas { path, .. } => {
                path
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkOutput {
    /// The data and version read.
    Read {
        value: Vec<u8>,
        version: i32,
    },
    /// The version the write made.
    Written {
        version: i32,
    },
    BadVersion,
    /// Any other error code: never legal (the znodes are never deleted).
    Error(i32),
}

/// A znode as a register: its data and its data version. Every register is
/// created empty (version 0) before the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZkRegister;

type ZkOperation = Operation<ZkInput, ZkOutput>;

impl ZkRegister {
    fn execute(state: &(Vec<u8>, i32), input: &ZkInput) -> ((Vec<u8>, i32), ZkOutput) {
        let (value, version) = state;
        match input {
            ZkInput::Read { .. } => (
                state.clone(),
                ZkOutput::Read {
                    value: value.clone(),
                    version: *version,
                },
            ),
            ZkInput::Write { value: new, .. } => (
                (new.clone(), version + 1),
                ZkOutput::Written {
                    version: version + 1,
                },
            ),
            ZkInput::Cas {
                version: expected,
                value: new,
                ..
            } => {
                if expected == version {
                    (
                        (new.clone(), version + 1),
                        ZkOutput::Written {
                            version: version + 1,
                        },
                    )
                } else {
                    (state.clone(), ZkOutput::BadVersion)
                }
            }
        }
    }
}

impl Model for ZkRegister {
    type State = (Vec<u8>, i32);
    type Input = ZkInput;
    type Output = ZkOutput;

    fn init(&self) -> Self::State {
        (Vec::new(), 0)
    }

    fn step(&self, state: &Self::State, input: &ZkInput, output: &ZkOutput) -> Option<Self::State> {
        let (next, expected) = Self::execute(state, input);
        (expected == *output).then_some(next)
    }

    fn step_unobserved(&self, state: &Self::State, input: &ZkInput) -> Self::State {
        Self::execute(state, input).0
    }

    fn is_read_only(&self, input: &ZkInput) -> bool {
        matches!(input, ZkInput::Read { .. })
    }

    fn partition(&self, history: &[ZkOperation]) -> Vec<Vec<ZkOperation>> {
        let mut by_path: BTreeMap<&str, Vec<ZkOperation>> = BTreeMap::new();
        for op in history {
            by_path.entry(op.input.path()).or_default().push(op.clone());
        }
        by_path.into_values().collect()
    }

    fn describe_partition(&self, partition: &[ZkOperation]) -> String {
        partition
            .first()
            .map(|op| op.input.path().to_string())
            .unwrap_or_default()
    }
}

pub type ZkHistory = History<ZkInput, ZkOutput>;

/// Error codes that leave a write's outcome unknown: the connection went
/// away, or the server gave up waiting for the log. (A session's expiry is
/// an answer for the sessions workload and an unknown outcome here.)
pub fn lost(code: i32) -> bool {
    use wire::err::*;
    matches!(
        code,
        CONNECTION_LOSS | OPERATION_TIMEOUT | SESSION_MOVED | UNKNOWN_SESSION
    )
}

/// One call on `conn` within `REQUEST_TIMEOUT`: the error code and reply,
/// or `None` if no answer came or its code is `unknown` (the caller then
/// drops the connection).
pub async fn call_within(
    conn: &ZkConn,
    request: wire::Request,
    unknown: fn(i32) -> bool,
) -> Option<(i32, wire::Response)> {
    match tokio::time::timeout(REQUEST_TIMEOUT, conn.call(request)).await {
        Ok(Ok((header, response))) if !unknown(header.err) => Some((header.err, response)),
        _ => None,
    }
}

async fn call(conn: &ZkConn, request: wire::Request) -> Option<(i32, wire::Response)> {
    call_within(conn, request, |code| {
        lost(code) || code == wire::err::SESSION_EXPIRED
    })
    .await
}

async fn read(conn: &ZkConn, path: &str) -> Option<ZkOutput> {
    let (code, _) = call(
        conn,
        wire::Request::Sync {
            path: path.to_string(),
        },
    )
    .await?;
    if code != wire::err::OK {
        return Some(ZkOutput::Error(code));
    }
    let (code, response) = call(
        conn,
        wire::Request::GetData {
            path: path.to_string(),
            watch: false,
        },
    )
    .await?;
    Some(match response {
        // The harness never writes null data, so a register holds bytes.
        wire::Response::GetData { data, stat } if code == wire::err::OK => ZkOutput::Read {
            value: data.unwrap_or_default(),
            version: stat.version,
        },
        _ => ZkOutput::Error(code),
    })
}

async fn set(conn: &ZkConn, path: &str, value: &[u8], version: i32) -> Option<ZkOutput> {
    let (code, response) = call(
        conn,
        wire::Request::SetData {
            path: path.to_string(),
            data: Some(value.to_vec()),
            version,
        },
    )
    .await?;
    Some(match response {
        wire::Response::Stat { stat } if code == wire::err::OK => ZkOutput::Written {
            version: stat.version,
        },
        _ if code == wire::err::BAD_VERSION => ZkOutput::BadVersion,
        _ => ZkOutput::Error(code),
    })
}

/// Runs one client until the run stops. It keeps one session, on the
/// endpoints in turn from `first`, and opens a new one when it breaks.
pub async fn client(id: u64, endpoints: Vec<String>, first: usize, ctx: Ctx, history: ZkHistory) {
    let mut rng = SplitMix64(id * 104_729 + 3);
    let mut next_endpoint = first;
    let mut conn: Option<ZkConn> = None;
    let mut versions = [0i32; ZNODES];
    let mut n = 0u64;
    while !ctx.stopped() {
        let Some(c) = conn.as_ref().filter(|c| !c.is_broken()) else {
            let endpoint = &endpoints[next_endpoint % endpoints.len()];
            next_endpoint += 1;
            match ZkConn::connect_with(endpoint, CONNECT_TIMEOUT, SESSION_TIMEOUT_MS).await {
                Ok((c, _events)) => conn = Some(c),
                Err(_) => {
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        };
        let phase = ctx.phase();
        let k = rng.below(ZNODES as u64) as usize;
        let path = path(phase, k);
        n += 1;
        let value = format!("z{id}-{n}").into_bytes();
        let call = ctx.now();
        let (input, output) = match rng.below(3) {
            0 => {
                let out = read(c, &path).await;
                if let Some(ZkOutput::Read { version, .. }) = &out {
                    versions[k] = *version;
                }
                (ZkInput::Read { path }, out)
            }
            1 => {
                let out = set(c, &path, &value, -1).await;
                (ZkInput::Write { path, value }, out)
            }
            _ => {
                let version = versions[k];
                let out = set(c, &path, &value, version).await;
                (
                    ZkInput::Cas {
                        path,
                        version,
                        value,
                    },
                    out,
                )
            }
        };
        if output.is_none() {
            // Unknown outcome: this session is done with.
            conn = None;
        }
        record(&history, &ctx, phase, id, (input, call, output));
    }
    if let Some(c) = conn {
        c.close(Duration::from_millis(500)).await;
    }
}

/// Creates the parent and every register of `phases` phases (empty data,
/// version 0), through `endpoint`.
pub async fn create_registers(endpoint: &str, phases: usize) -> anyhow::Result<()> {
    let (conn, _events) = ZkConn::connect_with(endpoint, CONNECT_TIMEOUT, SESSION_TIMEOUT_MS)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut paths = vec![ROOT.to_string(), crate::sessions::ROOT.to_string()];
    for phase in 0..phases {
        for k in 0..ZNODES {
            paths.push(path(phase, k));
        }
    }
    for p in paths {
        let (header, _) = conn
            .call(synod_bench::zk::create(p.clone(), Vec::new(), 0))
            .await
            .map_err(anyhow::Error::msg)?;
        if header.err != wire::err::OK && header.err != wire::err::NODE_EXISTS {
            anyhow::bail!("creating {p}: {}", wire::err::name(header.err));
        }
    }
    conn.close(Duration::from_secs(1)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_check::{check, Budget, CheckResult};

    fn op(client: u64, input: ZkInput, call: u64, output: ZkOutput, ret: u64) -> ZkOperation {
        Operation {
            client,
            input,
            call,
            output: Some(output),
            ret: Some(ret),
        }
    }

    fn write(v: &str) -> ZkInput {
        ZkInput::Write {
            path: "/r".into(),
            value: v.into(),
        }
    }

    fn read() -> ZkInput {
        ZkInput::Read { path: "/r".into() }
    }

    fn got(v: &str, version: i32) -> ZkOutput {
        ZkOutput::Read {
            value: v.into(),
            version,
        }
    }

    fn verdict(history: &[ZkOperation]) -> CheckResult {
        check(&ZkRegister, history, Budget::steps(1_000_000))
    }

    #[test]
    fn a_register_history_with_versions_in_order_passes() {
        let history = vec![
            op(1, write("a"), 0, ZkOutput::Written { version: 1 }, 10),
            op(2, read(), 20, got("a", 1), 30),
            op(
                3,
                ZkInput::Cas {
                    path: "/r".into(),
                    version: 1,
                    value: "b".into(),
                },
                40,
                ZkOutput::Written { version: 2 },
                50,
            ),
            op(
                1,
                ZkInput::Cas {
                    path: "/r".into(),
                    version: 1,
                    value: "c".into(),
                },
                60,
                ZkOutput::BadVersion,
                70,
            ),
            op(2, read(), 80, got("b", 2), 90),
        ];
        assert!(matches!(verdict(&history), CheckResult::Ok));
    }

    #[test]
    fn a_stale_read_after_a_write_returned_is_caught() {
        let history = vec![
            op(1, write("a"), 0, ZkOutput::Written { version: 1 }, 10),
            op(2, read(), 20, got("", 0), 30),
        ];
        assert!(matches!(verdict(&history), CheckResult::Illegal(_)));
    }

    #[test]
    fn a_lost_write_shows_in_the_versions() {
        // Two writes both returned; a later read shows version 1: one was lost.
        let history = vec![
            op(1, write("a"), 0, ZkOutput::Written { version: 1 }, 10),
            op(2, write("b"), 20, ZkOutput::Written { version: 2 }, 30),
            op(3, read(), 40, got("b", 1), 50),
        ];
        assert!(matches!(verdict(&history), CheckResult::Illegal(_)));
    }

    #[test]
    fn two_conditional_writes_on_one_version_cannot_both_succeed() {
        let cas = |v: &str| ZkInput::Cas {
            path: "/r".into(),
            version: 0,
            value: v.into(),
        };
        let history = vec![
            op(1, cas("a"), 0, ZkOutput::Written { version: 1 }, 10),
            op(2, cas("b"), 5, ZkOutput::Written { version: 1 }, 15),
        ];
        assert!(matches!(verdict(&history), CheckResult::Illegal(_)));
    }

    #[test]
    fn a_pending_write_may_take_effect_later() {
        let history = vec![
            Operation {
                client: 1,
                input: write("a"),
                call: 0,
                output: None,
                ret: None,
            },
            op(2, read(), 20, got("", 0), 30),
            op(2, read(), 40, got("a", 1), 50),
        ];
        assert!(matches!(verdict(&history), CheckResult::Ok));
    }

    #[test]
    fn an_error_code_is_never_a_legal_answer() {
        let history = vec![op(1, read(), 0, ZkOutput::Error(-101), 10)];
        assert!(matches!(verdict(&history), CheckResult::Illegal(_)));
    }
}
