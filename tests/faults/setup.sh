#!/usr/bin/env bash
# Installs what the fault harness (crates/faults) needs beyond the Rust
# build: iproute2 (network namespaces, veth), Debian's faketime (the clock
# step) and util-linux (mount). The kazoo lock workload uses the venv of
# tests/compat/setup.sh.
set -euo pipefail
if ! command -v ip >/dev/null || ! [ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] \
   || ! command -v mount >/dev/null; then
  echo "setup: installing iproute2, faketime ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq iproute2 faketime mount >/dev/null
fi
