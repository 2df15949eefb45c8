#!/usr/bin/env bash
# Apache Curator's recipes against one ensemble (tests/compat/curator/Recipes.java).
#   curator/run.sh HOSTS     compiles Recipes.java (once per source version),
#                            runs every recipe SYNOD_CURATOR_ROUNDS times
#                            (default 3), then the self-test: the mutex check
#                            with a lock that excludes nobody must fail.
set -euo pipefail
cd "$(dirname "$0")"
hosts=$1
rounds=${SYNOD_CURATOR_ROUNDS:-3}
jars=(curator-framework curator-client curator-recipes zookeeper zookeeper-jute guava slf4j-api slf4j-nop)
cp=""
for j in "${jars[@]}"; do cp="$cp:/usr/share/java/$j.jar"; done
classes="${SYNOD_COMPAT_OUT:-../out}/curator-classes-$(sha1sum Recipes.java | cut -c1-12)"
if [ ! -f "$classes/Recipes.class" ]; then
    mkdir -p "$classes"
    javac -nowarn -d "$classes" -cp "${cp#:}" Recipes.java 2>&1 | grep -v -e '^Note:' -e 'bad path element' || true
    [ -f "$classes/Recipes.class" ] || { echo "curator: Recipes.java did not compile"; exit 1; }
fi
JAVA=(java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$classes$cp")
"${JAVA[@]}" Recipes "$hosts" "$rounds"
if "${JAVA[@]}" Recipes "$hosts" 1 BrokenMutex >/dev/null 2>&1; then
    echo "curator: self-test FAILED: the mutex check passed a lock that excludes nobody"
    exit 1
fi
echo "curator: self-test ok (the mutex check caught a lock that excludes nobody)"
