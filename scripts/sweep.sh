#!/usr/bin/env bash
# Sweeps the key-value simulator (`synod sim`: the shipped service node on
# the real storage over simulated disks) over every profile, in release.
#
#   scripts/sweep.sh                 CI size (about 7 minutes on 2 cores):
#                                    4,000 seeds of each fault profile, 1,000
#                                    of `calm`, 400 of `big`, 40 of
#                                    `adversarial`
#   SYNOD_SWEEP_SEEDS=157300 scripts/sweep.sh
#                                    nightly, 1,000,428 seeds: 943,800 over
#                                    the six fault profiles, 39,325 calm,
#                                    15,730 big, 1,573 adversarial (hours)
#   SYNOD_SWEEP_START=5000001 ...    another seed range (default 1)
#   SYNOD_BIN=path/to/synod          a binary built already
#
# `calm` has no faults and chooses about five times as many slots per seed,
# so it gets a quarter of the seeds; `big` and `adversarial` move values up
# to the byte limits and cost about 15 and 100 times more per seed, so they
# get a tenth and a hundredth.
# Prints each profile's summary line and a total; exits 1 if any seed
# failed (each failure prints its replay command).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${SYNOD_SWEEP_SEEDS:-2500}"
start="${SYNOD_SWEEP_START:-1}"
bin="${SYNOD_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -p synod >&2
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    bin="$target_dir/release/synod"
fi
total=0
failed=0
run() {
    local profile=$1 n=$2
    [ "$n" -ge 1 ] || n=1
    local last=$((start + n - 1))
    # Progress lines are dropped; failures and their replay commands stay.
    if ! "$bin" sim --seeds "$start..$last" --profile "$profile" 2> >(grep -v 'seeds done$' >&2); then
        failed=1
    fi
    total=$((total + n))
}
run calm $((seeds / 4))
for profile in lossy partitions crashes drift churn all; do
    run "$profile" "$seeds"
done
run big $((seeds / 10))
run adversarial $((seeds / 100))
echo "sweep: $total seeds over every profile from seed $start, $([ $failed = 0 ] && echo 'no violation' || echo 'FAILED')"
exit $failed
