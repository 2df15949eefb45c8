#!/usr/bin/env bash
# Idempotent installer for the admin listener's test tools (Debian packages,
# apt-get as root):
#  - chromium, the headless browser tests/admin/status_page.py loads each
#    node's status page in;
#  - prometheus, for `promtool check metrics`, which the Rust test
#    crates/server/tests/admin.rs runs on a live /metrics answer.
# Installs nothing when both are present.
set -euo pipefail

if ! command -v chromium >/dev/null || ! command -v promtool >/dev/null; then
  echo "setup: installing Debian's chromium and prometheus (promtool) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  # Only promtool is wanted: keep the package's Prometheus server from
  # being started (Debian's policy-rc.d convention), unless the machine
  # already has a policy of its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  # Recommends left out: prometheus would pull in node-exporter and more.
  apt-get install -y -qq --no-install-recommends chromium prometheus >/dev/null
fi
command -v chromium >/dev/null && command -v promtool >/dev/null
