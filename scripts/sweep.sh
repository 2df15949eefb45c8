#!/usr/bin/env bash
# Sweeps the key-value simulator (`synod sim`: the shipped service node on
# the real storage over simulated disks) over every profile, in release.
#
#   scripts/sweep.sh                 CI size (about 10 minutes on 2 cores):
#                                    8,000 seeds per fault profile, 800 of
#                                    `big`, 80 of `adversarial`
#   SYNOD_SWEEP_SEEDS=141000 scripts/sweep.sh
#                                    nightly, 1,002,510 seeds: 987,000 over
#                                    the seven fault profiles, 14,100 big,
#                                    1,410 adversarial (hours)
#   SYNOD_SWEEP_START=5000001 ...    another seed range (default 1)
#   SYNOD_BIN=path/to/synod          a binary built already
#
# `big` and `adversarial` move values up to the byte limits and cost about
# 15 and 100 times more per seed, so they get a tenth and a hundredth of the
# seeds.
# Prints each profile's summary line and a total; exits 1 if any seed
# failed (each failure prints its replay command).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${SYNOD_SWEEP_SEEDS:-8000}"
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
for profile in calm lossy partitions crashes drift churn all; do
    run "$profile" "$seeds"
done
run big $((seeds / 10))
run adversarial $((seeds / 100))
echo "sweep: $total seeds over every profile from seed $start, $([ $failed = 0 ] && echo 'no violation' || echo 'FAILED')"
exit $failed
