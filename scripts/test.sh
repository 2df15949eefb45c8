#!/usr/bin/env bash
# Runs every test synod has, on a fresh machine too: formatting, lints, the
# whole workspace's tests (engine rules, simulator sweeps of every fault
# profile, broken-engine hunts, the exhaustive search, WAL crash tests, the
# coordination simulator), then in release a sweep of the key-value
# simulator over every profile (scripts/sweep.sh), the admin listener's
# status page in headless chromium (tests/admin), a Jepsen-style run of five
# nodes in network namespaces under every fault (crates/faults: needs root,
# as CI has; tests/faults/setup.sh installs faketime), the container image
# and a compose cluster driven by kazoo, the Kubernetes manifests checked
# and their pods run in Docker (tests/deploy; skipped without a Docker
# engine), then the ZooKeeper
# compatibility suite against a
# real ZooKeeper 3.8 ensemble and synod side by side (kazoo's own tests,
# zkCli, a differential run, session failover and lock tests). That last
# part installs Debian's zookeeper package (apt-get, as root) and a Python
# venv with kazoo (pip) on first use; tests/admin/setup.sh installs
# Debian's chromium and prometheus (for promtool) the same way.
#
# Knobs for longer (nightly) runs:
#   SYNOD_SIM_SEEDS=10000     seeds per simulator profile in `cargo test`
#   SYNOD_SWEEP_SEEDS=157300  the release sweep: a million seeds (see README)
#   SYNOD_SWEEP_START=N       its first seed (default: a new range every day)
#   SYNOD_ZKSIM_SEEDS=1000    seeds per coordination-simulator profile
#   SYNOD_SHARDKV_SEEDS=2000  seeds per profile of the sharded tier's model
#   SYNOD_SHARDKV_START=N     its first seed (default: a new range every day)
#   SYNOD_FAULTS_SECS=20 SYNOD_FAULTS_ROUNDS=5
#                             the real-network fault run: longer faults, more
#                             rounds (default 4 s each, one round)
#   SYNOD_KAZOO_FULL=1        kazoo's whole suite incl. gevent/eventlet reruns
#   SYNOD_COMPAT_SKIP=kazoo   leave compatibility steps out (see tests/compat)
# Disk: about 2.7 GB of build output in all (debug builds keep line tables
# only, see Cargo.toml). SYNOD_PRUNE_DEBUG=1 (set by .ci/run) deletes the
# debug build once its tests have passed, before the release build the
# compatibility suite runs, so a small CI disk holds at most one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Incremental compilation only pays off across edits; for one whole run it
# is gigabytes of cache.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust from your distribution or rustup first" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Each stage's wall time, printed at the end (pass or fail), so a slow CI
# run says where its time went.
stage_name=""
stage_start=$SECONDS
stage_times=""
stage() {
    if [ -n "$stage_name" ]; then
        stage_times+="$(printf '%6ds  %s' $(( SECONDS - stage_start )) "$stage_name")"$'\n'
    fi
    stage_name=$1
    stage_start=$SECONDS
    if [ -n "$1" ]; then echo "== $1"; fi
}
stage_summary() {
    stage ""
    echo "== time per stage (total ${SECONDS}s)"
    printf '%s' "$stage_times"
}
trap stage_summary EXIT

stage "cargo fmt --check"
cargo fmt --all -- --check
# The test tools (Debian packages, a Python venv) install in the background
# while clippy and the tests compile: apt and pip wait on the network and
# the disk, the compiler on the CPU. Each is waited for before first use.
tools_log=$(mktemp -t synod-test-tools.XXXXXX)
stage "installing test tools in the background (tests/admin/setup.sh, tests/compat/setup.sh; log $tools_log)"
# One after the other: both use apt-get, which takes dpkg's lock.
( tests/admin/setup.sh && tests/compat/setup.sh && tests/faults/setup.sh ) >"$tools_log" 2>&1 &
tools_pid=$!
tools_ready() {
    [ -n "$tools_pid" ] || return 0
    echo "== waiting for the test tools"
    if ! wait "$tools_pid"; then
        echo "installing the test tools failed:" >&2
        cat "$tools_log" >&2
        exit 1
    fi
    tools_pid=
    cat "$tools_log"
}
stage "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
stage "cargo test --no-run (compiling the tests while the tools install)"
cargo test --workspace --no-run
stage "admin listener test tools: chromium, promtool (tests/admin/setup.sh)"
tools_ready
tests/admin/setup.sh
# crates/server/tests/admin.rs runs `promtool check metrics` on a live
# /metrics answer; with this set, a missing promtool fails it.
export SYNOD_REQUIRE_PROMTOOL=1
stage "cargo test"
# The sharded tier's model world explores a new seed range every day too
# (SYNOD_SHARDKV_SEEDS per profile, 20 by default).
SYNOD_SHARDKV_START="${SYNOD_SHARDKV_START:-$(( $(date -u +%s) / 86400 * 1000 + 1 ))}" \
    cargo test --workspace
stage "exhaustive search against broken engines"
cargo test -p synod-explore --features broken --test broken
stage "the service node's deliberate bugs"
cargo test -p synod-node --features broken --test bugs
stage "the sharded tier's model against broken groups (crates/shardkv)"
cargo test -p synod-shardkv --features broken --test broken
stage "the coordination simulator's oracles against broken service nodes"
cargo test -p synod-zksim --features broken --test oracles --test snapshot_close --test lock_oracles --test cache_oracles --test event_oracles
stage "release build (synod, synod-faults)"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ "${SYNOD_PRUNE_DEBUG:-0}" = 1 ]; then
    echo "   (SYNOD_PRUNE_DEBUG=1: removing $target_dir/debug, $(du -sh "$target_dir/debug" | cut -f1))"
    rm -rf "$target_dir/debug"
fi
cargo build --release -p synod -p synod-faults
stage "the status page in headless chromium, a real 3-node cluster (tests/admin)"
SYNOD_BIN="$target_dir/release/synod" python3 tests/admin/status_page.py
# A fresh seed range every day, so that CI keeps exploring instead of
# repeating the seeds it passed yesterday: day D (since 1970, UTC) starts at
# D * 10,000 + 1, past every range swept by hand (README Figures). A failing
# seed prints its replay command; SYNOD_SWEEP_START=1 repeats the old range.
sweep_start="${SYNOD_SWEEP_START:-$(( $(date -u +%s) / 86400 * 10000 + 1 ))}"
stage "simulator sweep of every profile from seed $sweep_start, release (scripts/sweep.sh; SYNOD_SWEEP_SEEDS for more)"
SYNOD_SWEEP_START="$sweep_start" SYNOD_BIN="$target_dir/release/synod" scripts/sweep.sh
stage "real-network faults: 5 nodes in network namespaces, every fault, histories checked (crates/faults; as root)"
tests/faults/setup.sh
"$target_dir/release/synod-faults" --synod "$target_dir/release/synod" \
    --python "$(tests/compat/setup.sh --print-python | tail -1)" \
    --fault-secs "${SYNOD_FAULTS_SECS:-8}" --heal-secs 4 --rounds "${SYNOD_FAULTS_ROUNDS:-1}"
stage "the image (deploy/image.sh, FROM scratch) and the compose cluster under kazoo (tests/deploy; skipped without a Docker engine)"
SYNOD_BIN="$target_dir/release/synod" "$(tests/compat/setup.sh --print-python | tail -1)" tests/deploy/compose_test.py
stage "the Kubernetes manifests: checked, and their pods run in Docker as a kubelet would (tests/deploy/k8s_test.py)"
SYNOD_BIN="$target_dir/release/synod" "$(tests/compat/setup.sh --print-python | tail -1)" tests/deploy/k8s_test.py
stage "ZooKeeper compatibility: synod vs ZooKeeper 3.8 (tests/compat)"
SYNOD_BIN="$target_dir/release/synod" tests/compat/run_all.sh
