#!/usr/bin/env bash
# Idempotent installer for the ZooKeeper compatibility tooling.
#  - Debian's ZooKeeper 3.8 (jars in /usr/share/java, zkCli.sh in /usr/share/zookeeper/bin)
#  - Debian's Apache Curator 5.4 jars and a JDK (javac) for curator/Recipes.java
#  - Debian's ZooKeeper C client (libzookeeper-mt, cli_mt) and gcc for cclient/
#  - a Python venv with kazoo + its test-suite deps, pinned to versions that work
# Prints the venv's python path on the last line when called with --print-python.
set -euo pipefail

VENV="${SYNOD_COMPAT_VENV:-$HOME/.cache/synod-compat/venv}"
PY="${PYTHON:-python3}"
# pyOpenSSL >= 24.3 dropped X509.add_extensions, which kazoo's harness uses.
PINS=(
  kazoo==2.11.0 pytest==9.2.0 pytest-timeout==2.4.0
  pyOpenSSL==24.2.1 cryptography==43.0.3 pyjks==20.0.0
  pure-sasl==0.6.2 objgraph==3.7.0 gevent==26.9.0 eventlet==0.41.3
  pexpect==4.9.0 PyYAML==6.0.2
)

if ! command -v java >/dev/null || ! [ -f /usr/share/java/zookeeper.jar ] \
   || ! [ -x /usr/share/zookeeper/bin/zkCli.sh ] \
   || ! [ -f /usr/share/java/netty-codec.jar ] || ! [ -f /usr/share/java/servlet-api.jar ] \
   || ! command -v javac >/dev/null || ! [ -f /usr/share/java/curator-recipes.jar ] \
   || ! [ -x /usr/lib/zookeeper/bin/cli_mt ] || ! [ -f /usr/include/zookeeper/zookeeper.h ] \
   || ! command -v gcc >/dev/null; then
  echo "setup: installing Debian's zookeeper (3.8), Curator (5.4), the C client and a JDK ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq zookeeper libnetty-java libservlet-api-java default-jre-headless \
    default-jdk-headless libcurator-client-java libcurator-framework-java libcurator-recipes-java \
    zookeeper-bin libzookeeper-mt-dev gcc >/dev/null
fi

stamp="$VENV/.synod-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${PINS[*]}" ]; then
  echo "setup: creating venv $VENV ..." >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
  echo "${PINS[*]}" > "$stamp"
fi

if [ "${1:-}" = "--print-python" ]; then echo "$VENV/bin/python"; fi
