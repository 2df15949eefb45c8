//! Memory per znode: applies the bench's populate workload (N nodes of
//! 100 bytes under `/bench/pop/<i / 1000>/<i % 1000>`, world:anyone ACL)
//! through the encoded `StateMachine::apply` path, then reports resident
//! memory per znode, the snapshot's size, and encode and restore times.
//!
//! `cargo run --release --example footprint -p synod-coord -- 1000000`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use synod_coord::{Acl, CoordOp, CoordReply, CreateMode, Tree, Write};
use synod_paxos::StateMachine;

/// Children per parent, as the bench's `POP_FANOUT`.
const FANOUT: u64 = 1000;
/// Value size, as the bench's default `--value-bytes`.
const VALUE_BYTES: usize = 100;
/// Writes per Batch unless `FOOTPRINT_BATCH` says otherwise; the front
/// door batches a session's pipelined writes.
const WRITES_PER_BATCH: usize = 64;
const T0: i64 = 1_700_000_000_000;

/// The system allocator, counting live heap bytes and allocations.
struct Counting;

static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes and allocations, as requested (malloc's own headers and
/// rounding come on top; RSS shows them).
fn heap() -> (u64, u64) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_ALLOCS.load(Ordering::Relaxed),
    )
}

/// Resident set size in bytes, from /proc/self/status.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

fn apply(tree: &mut Tree, op: &CoordOp) -> CoordReply {
    CoordReply::decode(&tree.apply(&op.encode())).expect("reply decodes")
}

fn create(path: String, data: Vec<u8>) -> Write {
    Write::Create {
        path,
        data,
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl_ms: -1,
    }
}

/// The bench's value for key `seed`: `VALUE_BYTES` bytes that differ per key.
fn value_of(seed: u64) -> Vec<u8> {
    (0..VALUE_BYTES as u64)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i) % 251) as u8)
        .collect()
}

/// Applies `writes` in Batches of one session, checking each succeeded.
fn run(tree: &mut Tree, session: i64, writes: impl Iterator<Item = Write>) {
    let per_batch = std::env::var("FOOTPRINT_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(WRITES_PER_BATCH);
    let mut writes = writes.peekable();
    while writes.peek().is_some() {
        let chunk: Vec<Write> = writes.by_ref().take(per_batch).collect();
        let op = CoordOp::Batch {
            session,
            auth: Vec::new(),
            time_ms: T0,
            writes: chunk,
        };
        match apply(tree, &op) {
            CoordReply::Batch(out) => {
                for o in out {
                    assert!(o.result.is_ok(), "write failed: {o:?}");
                }
            }
            other => panic!("unexpected reply {other:?}"),
        }
        // Keep the drained triggers from piling up, as the front door does.
        tree.take_triggers();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--restore") {
        return restore(&args[1..]);
    }
    let n: u64 = args
        .first()
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(100_000);
    let mut tree = Tree::new();
    apply(
        &mut tree,
        &CoordOp::Tick {
            time_ms: T0,
            term: 1,
        },
    );
    let session = match apply(
        &mut tree,
        &CoordOp::CreateSession {
            passwd: vec![7; 16],
            timeout_ms: 30_000,
            time_ms: T0,
        },
    ) {
        CoordReply::Session { id, .. } => id,
        other => panic!("unexpected reply {other:?}"),
    };
    let parents = ["/bench".to_string(), "/bench/pop".to_string()]
        .into_iter()
        .chain((0..n.div_ceil(FANOUT)).map(|p| format!("/bench/pop/{p}")));
    run(&mut tree, session, parents.map(|p| create(p, Vec::new())));

    let rss_before = rss_bytes();
    let heap_before = heap();
    let started = Instant::now();
    let leaves = (0..n).map(|i| {
        create(
            format!("/bench/pop/{}/{}", i / FANOUT, i % FANOUT),
            value_of(i),
        )
    });
    run(&mut tree, session, leaves);
    let populate_s = started.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let heap_after = heap();
    let grown = rss_after.saturating_sub(rss_before);
    println!("znodes               {}", tree.node_count());
    println!("populate             {populate_s:.2} s");
    println!(
        "rss                  {:.1} MB -> {:.1} MB",
        rss_before as f64 / 1e6,
        rss_after as f64 / 1e6
    );
    println!("rss per znode        {:.0} B", grown as f64 / n as f64);
    println!(
        "heap per znode       {:.0} B in {:.2} allocations",
        (heap_after.0 - heap_before.0) as f64 / n as f64,
        (heap_after.1 - heap_before.1) as f64 / n as f64
    );

    let started = Instant::now();
    let snapshot = tree.snapshot_data();
    let encode_s = started.elapsed().as_secs_f64();
    println!(
        "snapshot             {:.1} MB ({:.0} B/znode), encode {encode_s:.2} s",
        snapshot.len() as f64 / 1e6,
        snapshot.len() as f64 / n as f64
    );
    let started = Instant::now();
    let digest = tree.digest();
    println!(
        "digest               {:.2} s",
        started.elapsed().as_secs_f64()
    );
    drop(tree);

    // Restore in a fresh process, as a restarting node does, so the freed
    // populate memory does not hide what the restored tree takes.
    let file = std::env::temp_dir().join(format!("synod-footprint-{}.snap", std::process::id()));
    std::fs::write(&file, snapshot.to_vec()).expect("write the snapshot");
    drop(snapshot);
    let status = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--restore")
        .arg(&file)
        .arg(digest.to_string())
        .arg(n.to_string())
        .status()
        .expect("run the restore");
    std::fs::remove_file(&file).expect("remove the snapshot");
    assert!(status.success(), "restore failed");
}

/// `--restore FILE DIGEST N`: restores the snapshot in FILE, checks its
/// digest, and reports time and memory.
fn restore(args: &[String]) {
    let [file, digest, n] = args else {
        panic!("usage: footprint --restore FILE DIGEST N");
    };
    let digest: u64 = digest.parse().expect("DIGEST is a number");
    let n: f64 = n.parse().expect("N is a number");
    let rss_before = rss_bytes();
    let heap_before = heap();
    let snapshot: synod_paxos::SnapshotData =
        std::fs::read(file).expect("read the snapshot").into();
    let started = Instant::now();
    let mut restored = Tree::new();
    restored.restore(&snapshot).expect("snapshot restores");
    let restore_s = started.elapsed().as_secs_f64();
    drop(snapshot);
    let rss_after = rss_bytes();
    let heap_after = heap();
    assert_eq!(restored.digest(), digest, "restored tree digests the same");
    println!("restore              {restore_s:.2} s (fresh process)");
    println!(
        "restored rss         {:.1} MB, {:.0} B/znode over the empty process",
        rss_after as f64 / 1e6,
        rss_after.saturating_sub(rss_before) as f64 / n
    );
    println!(
        "restored heap        {:.0} B/znode in {:.2} allocations",
        (heap_after.0 - heap_before.0) as f64 / n,
        (heap_after.1 - heap_before.1) as f64 / n
    );
}
