//! File descriptors. Every open client socket is a descriptor, and so is
//! every WAL segment and snapshot file the disk thread opens: a process that
//! let clients take them all would find its next WAL segment impossible to
//! create and stop with a disk error. So at start a server raises its soft
//! `RLIMIT_NOFILE` to the hard limit, keeps [`FDS_RESERVED`] descriptors for
//! everything but ZooKeeper clients, and admits no more ZooKeeper sockets
//! than the rest allows (fewer than `[zk] connections_max` if need be, with
//! a warning); it refuses to start when nothing is left for clients.

use tracing::{info, warn};

/// Descriptors kept for all but ZooKeeper client sockets: WAL segments and
/// snapshot files being written, read and deleted, peer connections (one
/// each way per peer), the listeners, gRPC and admin connections, the
/// runtime's own (epoll, eventfd), with room to spare.
pub const FDS_RESERVED: u64 = 256;

/// Raises the soft limit as far as the hard one allows and returns how many
/// ZooKeeper sockets fit beside the reserve, at most `connections_max`.
pub fn raise_and_fit(connections_max: usize) -> Result<usize, String> {
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
    fit(limit, connections_max)
}

/// ZooKeeper sockets that fit in `limit` descriptors beside the reserve.
pub fn fit(limit: u64, connections_max: usize) -> Result<usize, String> {
    let for_clients = limit.saturating_sub(FDS_RESERVED);
    if for_clients == 0 {
        return Err(format!(
            "RLIMIT_NOFILE is {limit}, which leaves no file descriptor for ZooKeeper clients \
             beside the {FDS_RESERVED} a server keeps for its disk and peers: raise it \
             (`ulimit -n`, LimitNOFILE= in systemd) above {FDS_RESERVED}"
        ));
    }
    let fits = usize::try_from(for_clients).unwrap_or(usize::MAX);
    if fits < connections_max {
        warn!(
            limit,
            connections_max,
            "RLIMIT_NOFILE admits at most {fits} ZooKeeper sockets ([zk] connections_max is \
             {connections_max}) so that {FDS_RESERVED} descriptors stay for the disk and peers; \
             raise it to serve more"
        );
        return Ok(fits);
    }
    Ok(connections_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_what_the_reserve_leaves_at_most_connections_max() {
        assert_eq!(fit(1 << 20, 10_000), Ok(10_000));
        assert_eq!(fit(1024, 10_000), Ok(1024 - 256));
        assert_eq!(fit(257, 10_000), Ok(1));
        assert!(fit(256, 10_000).unwrap_err().contains("raise it"));
        assert!(fit(0, 10_000).is_err());
    }
}
