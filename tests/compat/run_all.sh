#!/usr/bin/env bash
# Every compatibility check, against real ZooKeeper 3.8 and, when it serves
# the ZooKeeper protocol, synod. Prints a summary; exits non-zero if any failed.
#
#   tests/compat/run_all.sh                  # zk, plus synod if target/release/synod serves ZooKeeper
#   SYNOD_BIN=/path/to/synod tests/compat/run_all.sh   # synod required
#   SYNOD_KAZOO_FULL=1 ...                   # whole kazoo suite (see README)
#   SYNOD_COMPAT_SKIP=kazoo,sessions ...     # leave steps out (shim, zkcli, differential, sessions, large_writes, curator, c-client, tls, kazoo)
#   SYNOD_CURATOR_ROUNDS=20 ...              every Curator recipe 20 times per target (default 3)
set -uo pipefail
cd "$(dirname "$0")"
PY=$(./setup.sh --print-python | tail -1)

if [ -n "${SYNOD_BIN:-}" ]; then
  TARGETS=zk,synod
  "$PY" -c 'import clusters, sys; sys.exit(0 if clusters.synod_available() else 1)' \
    || { echo "run_all: SYNOD_BIN=$SYNOD_BIN does not serve ZooKeeper (no --zk-listen)"; exit 2; }
else
  TARGETS=$("$PY" -c 'import clusters; print(",".join(clusters.kinds_under_test()))')
fi
export SYNOD_COMPAT_TARGETS=$TARGETS
echo "run_all: targets $TARGETS"

declare -a SUMMARY
passed=0; failed=0
step() {  # step NAME TARGET CMD...
  local name=$1 target=$2; shift 2
  case ",${SYNOD_COMPAT_SKIP:-}," in *",$name,"*) SUMMARY+=("$(printf '%-13s %-10s %-7s' "$name" "$target" skipped)"); return;; esac
  echo; echo "=== $name [$target]"
  local t0=$SECONDS
  if "$@"; then r=ok; passed=$((passed+1)); else r=FAILED; failed=$((failed+1)); fi
  SUMMARY+=("$(printf '%-13s %-10s %-7s %5ds' "$name" "$target" "$r" $((SECONDS-t0)))")
}

step shim - "$PY" -m pytest -p no:cacheprovider -q test_shim.py
step zkcli zk "$PY" clusters.py run --kind zk --base 22181 -- "$PY" zkcli_session.py '{hosts}'
case ",$TARGETS," in *,synod,*)
  step zkcli synod "$PY" clusters.py run --kind synod --base 23381 -- "$PY" zkcli_session.py '{hosts}';;
esac
step differential "$TARGETS" "$PY" -m pytest -p no:cacheprovider -q test_differential.py
step sessions "$TARGETS" "$PY" -m pytest -p no:cacheprovider -q test_sessions.py
step large_writes "$TARGETS" "$PY" -m pytest -p no:cacheprovider -q test_large_writes.py
step curator zk "$PY" clusters.py run --kind zk --base 24181 -- curator/run.sh '{hosts}'
case ",$TARGETS," in *,synod,*)
  step curator synod "$PY" clusters.py run --kind synod --base 24481 -- curator/run.sh '{hosts}';;
esac
step c-client zk "$PY" clusters.py run --kind zk --base 24781 -- cclient/run.sh '{hosts}'
case ",$TARGETS," in *,synod,*)
  step c-client synod "$PY" clusters.py run --kind synod --base 25081 -- cclient/run.sh '{hosts}';;
esac
case ",$TARGETS," in *,synod,*)
  step tls synod "$PY" -m pytest -p no:cacheprovider -q test_tls.py;;
esac
step kazoo "$TARGETS" "$PY" kazoo_suite.py --targets "$TARGETS"

echo; echo "=== summary (targets $TARGETS)"
printf '%s\n' "${SUMMARY[@]}"
echo "compat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
