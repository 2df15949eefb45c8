//! File descriptors. Every open client socket is a descriptor, and so is
//! every WAL segment and snapshot file the disk thread opens: a process that
//! let clients take them all would find its next WAL segment impossible to
//! create and stop with a disk error. So at start a server raises its soft
//! `RLIMIT_NOFILE` to the hard limit, keeps [`FDS_RESERVED`] descriptors for
//! everything but ZooKeeper and gRPC clients, and admits no more client
//! sockets than the rest allows (fewer than `[zk] connections_max` and
//! `[grpc] connections_max` if need be, with a warning); it refuses to start
//! when nothing is left for clients.

use tracing::{info, warn};

/// Descriptors kept for all but client sockets: WAL segments and
/// snapshot files being written, read and deleted, peer connections (one
/// each way per peer), the listeners, gRPC and admin connections, the
/// runtime's own (epoll, eventfd), with room to spare.
pub const FDS_RESERVED: u64 = 256;

/// Client sockets each port may hold open: what its config says, or less
/// if the descriptor limit does not leave that many beside the reserve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketBudget {
    pub zk: usize,
    pub grpc: usize,
}

/// Raises the soft limit as far as the hard one allows and returns how many
/// ZooKeeper and gRPC sockets fit beside the reserve, at most their caps.
pub fn raise_and_fit(zk_max: usize, grpc_max: usize) -> Result<SocketBudget, String> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            warn!("cannot read or raise RLIMIT_NOFILE ({e}); assuming {before}");
            before
        }
    };
    if limit > before {
        info!(from = before, to = limit, "raised RLIMIT_NOFILE");
    }
    fit(limit, zk_max, grpc_max)
}

/// The sockets that fit in `limit` descriptors beside the reserve. When
/// both caps do not fit, gRPC keeps at most a quarter of what is left
/// (it serves few, long-lived connections) and ZooKeeper the rest.
pub fn fit(limit: u64, zk_max: usize, grpc_max: usize) -> Result<SocketBudget, String> {
    let for_clients = usize::try_from(limit.saturating_sub(FDS_RESERVED)).unwrap_or(usize::MAX);
    if for_clients < 2 {
        return Err(format!(
            "RLIMIT_NOFILE is {limit}, which leaves no file descriptor for clients beside the \
             {FDS_RESERVED} a server keeps for its disk and peers: raise it (`ulimit -n`, \
             LimitNOFILE= in systemd) above {}",
            FDS_RESERVED + 1
        ));
    }
    if zk_max.saturating_add(grpc_max) <= for_clients {
        return Ok(SocketBudget {
            zk: zk_max,
            grpc: grpc_max,
        });
    }
    let grpc = grpc_max.min(for_clients / 4).max(1);
    let zk = zk_max.min(for_clients - grpc);
    warn!(
        limit,
        "RLIMIT_NOFILE admits {zk} ZooKeeper and {grpc} gRPC sockets ([zk] connections_max is \
         {zk_max}, [grpc] connections_max {grpc_max}) so that {FDS_RESERVED} descriptors stay \
         for the disk and peers; raise it to serve more"
    );
    Ok(SocketBudget { zk, grpc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_what_the_reserve_leaves_at_most_their_caps() {
        let both = |zk, grpc| Ok(SocketBudget { zk, grpc });
        assert_eq!(fit(1 << 20, 10_000, 512), both(10_000, 512));
        assert_eq!(fit(1024, 10_000, 512), both(1024 - 256 - 192, 192));
        assert_eq!(fit(1024, 100, 100), both(100, 100));
        assert_eq!(fit(258, 10_000, 512), both(1, 1));
        assert!(fit(257, 10_000, 512).unwrap_err().contains("raise it"));
        assert!(fit(0, 10_000, 512).is_err());
    }
}
