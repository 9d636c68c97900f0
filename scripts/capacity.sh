#!/usr/bin/env bash
# The watch's own capacity (docs/benchmarks.md, "Watch capacity"): builds the release watch and
# the load generator (watch/examples/capacity.rs), then runs the ladder of fleets the figures
# come from, one after the other, each against a new watch. About 15 minutes; each run prints
# its table and "capacity: HELD" or "capacity: DID NOT HOLD" with the reasons.
#
#   ./scripts/capacity.sh                  # the ladder
#   ./scripts/capacity.sh --emitters 10000 --series 50 --interval 10s --duration 120s   # one run
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p heartbeat-watch --bin heartbeat-watch --example capacity
capacity=target/release/examples/capacity

if [ "$#" -gt 0 ]; then
    exec "$capacity" "$@"
fi

status=0
for run in \
    "--emitters 2500 --interval 10s --duration 90s" \
    "--emitters 5000 --interval 10s --duration 90s" \
    "--emitters 10000 --interval 10s --duration 120s" \
    "--emitters 10000 --interval 5s --duration 90s" \
    "--emitters 10000 --interval 3s --duration 90s" \
    "--emitters 10000 --interval 2s --duration 90s" \
    "--emitters 10000 --interval 1s --duration 80s" \
    "--emitters 10200 --interval 10s --duration 90s"; do
    echo "== capacity $run"
    # shellcheck disable=SC2086 # the runs are word lists
    "$capacity" --series 50 --warmup 30s $run || status=1
done
exit "$status"
