#!/usr/bin/env bash
# Runs every test synod has, on a fresh machine too: formatting, lints, and
# the whole workspace's tests (engine rules, simulator sweeps of every fault
# profile, broken-engine hunts, the exhaustive search, WAL crash tests).
#
# Knobs for longer (nightly) runs:
#   SYNOD_SIM_SEEDS=10000   seeds per simulator profile (default: CI-sized)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust from your distribution or rustup first" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== exhaustive search against broken engines"
cargo test -p synod-explore --features broken --test broken
