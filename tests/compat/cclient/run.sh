#!/usr/bin/env bash
# The ZooKeeper C client (Debian's libzookeeper-mt 3.8 and zookeeper-bin's
# cli_mt) against one ensemble.
#   cclient/run.sh HOSTS   1. zkc_check.c (compiled with gcc on first use):
#                             sessions, CRUD, watches, ephemeral and
#                             sequential nodes, multi, session expiry;
#                          2. its self-test: `zkc_check HOSTS broken` expects
#                             a wrong watch event and must fail;
#                          3. a cli_mt session (one batch command per
#                             session; not `exists`, which never returns in
#                             batch mode, on ZooKeeper too), its output with times and zxids
#                             masked equal to cli_mt.expected (recorded
#                             against ZooKeeper 3.8: `run.sh HOSTS --record`
#                             with HOSTS a ZooKeeper ensemble).
set -euo pipefail
cd "$(dirname "$0")"
hosts=$1
out="${SYNOD_COMPAT_OUT:-../out}"
bin="$out/zkc_check-$(sha1sum zkc_check.c | cut -c1-12)"
if [ ! -x "$bin" ]; then
    mkdir -p "$out"
    gcc -DTHREADED -O1 -Wall -Wextra -Werror -o "$bin" zkc_check.c -lzookeeper_mt -lpthread
fi
if [ "${2:-}" != --record ]; then
"$bin" "$hosts" 2> >(grep -v 'ZOO_ERROR' >&2)
if "$bin" "$hosts" broken >/dev/null 2>&1; then
    echo "c-client: self-test FAILED: a wrong watch expectation passed"
    exit 1
fi
echo "c-client: self-test ok (a wrong watch expectation was caught)"
fi

transcript() {
    local c
    while IFS= read -r c; do
        echo "## $c"
        timeout 20 /usr/lib/zookeeper/bin/cli_mt "$hosts" "cmd:$c" 2>&1 </dev/null \
            | grep -v -e ZOO_INFO -e ZOO_DEBUG -e ZOO_WARN -e ZOO_ERROR -e 'Batch mode' \
                      -e 'Watcher SESSION' -e 'new session id' -e '^time = ' \
            | sed -E -e 's/(c|m)time ?= ?.*/\1time=*/' -e 's/(c|m)zxid=[0-9a-f]+/\1zxid=*/'
    done <<'CMDS'
create /climt
set /climt bye
get /climt
create +s /climt/s-
ls /climt
create +s /climt/s-
create +e /climt/e
get /climt/missing
delete /climt
delete /climt/s-0000000000
delete /climt/s-0000000001
delete /climt
get /climt
CMDS
}
if [ "${2:-}" = --record ]; then transcript > cli_mt.expected; exit 0; fi
if diff -u cli_mt.expected <(transcript); then
    echo "c-client: cli_mt session matches cli_mt.expected"
else
    echo "c-client: cli_mt session differs from cli_mt.expected (above)"
    exit 1
fi
