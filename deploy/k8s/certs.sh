#!/usr/bin/env bash
# Makes the peers' CA and node certificates for deploy/k8s/synod.yaml with
# the image's own `synod certs`, and writes them as the Secret the
# StatefulSet mounts: deploy/k8s/tls/synod-peer-tls.yaml.
#   deploy/k8s/certs.sh [IMAGE] [REPLICAS]     default synod:dev, 3
#   SYNOD_BIN=path/to/synod deploy/k8s/certs.sh  (no Docker needed)
# Node N (pod synod-(N-1)) gets node-N.crt and node-N.key. Keep tls/ca.key
# out of the cluster: it is what admits new members.
set -euo pipefail
if [ -n "${SYNOD_BIN:-}" ]; then SYNOD_BIN=$(realpath "$SYNOD_BIN"); fi
cd "$(dirname "$0")"
image="${1:-synod:dev}"
replicas="${2:-3}"
if [ -e tls/ca.crt ]; then
    echo "tls/ already holds a CA; remove tls/ to make new certificates" >&2
else
    mkdir -p tls
    if [ -n "${SYNOD_BIN:-}" ]; then
        run() { "$SYNOD_BIN" certs "$@" --dir tls; }
    else
        run() { docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/tls:/tls" "$image" certs "$@" --dir /tls; }
    fi
    run create-ca --name synod-k8s >/dev/null
    for i in $(seq 1 "$replicas"); do
        run create-node --id "$i" --host "synod-$((i - 1)).synod" >/dev/null
    done
    run create-client --name admin >/dev/null
fi
{
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: synod-peer-tls\n  labels: {app.kubernetes.io/name: synod}\ntype: Opaque\ndata:\n'
    for f in tls/ca.crt tls/node-*.crt tls/node-*.key; do
        printf '  %s: %s\n' "$(basename "$f")" "$(base64 -w0 < "$f")"
    done
} > tls/synod-peer-tls.yaml
chmod 0600 tls/synod-peer-tls.yaml
echo "certificates in $(pwd)/tls; the Secret is tls/synod-peer-tls.yaml"
