#!/usr/bin/env bash
# Makes the compose cluster's CA and node certificates in deploy/compose/tls
# with the image's own `synod certs`, readable by the image's synod user.
#   deploy/compose/certs.sh [IMAGE]       default synod:dev
set -euo pipefail
cd "$(dirname "$0")"
image="${1:-synod:dev}"
if [ -e tls/ca.crt ]; then
    echo "tls/ already holds a CA; remove tls/ to make new certificates" >&2
    exit 0
fi
mkdir -p tls
run() { docker run --rm --user 0 -v "$PWD/tls:/tls" "$image" certs "$@"; }
run create-ca --dir /tls --name compose >/dev/null
for i in 1 2 3; do
    run create-node --dir /tls --id "$i" --host "172.30.77.1$i" >/dev/null
done
run create-client --dir /tls --name admin >/dev/null
chown -R 10001:10001 tls
chmod 0400 tls/*.key
echo "certificates in $(pwd)/tls"
