#!/usr/bin/env bash
# The engine pinned to one core beside the engine on two cores, interleaved
# in one run, with the CPU time per envelope of each stage (issue 20;
# Docs/benchmarks.md, "Engine scaling with cores").
#
# Each round runs `cargo bench -p arxi-recorder --bench append -- --stages 1`
# (64 appenders, a fresh database, one second of warm-up) twice: under
# `taskset -c 0` and under `taskset -c 0,1`, the order alternating between
# rounds. The signing threads follow the cores allowed (one per core).
#
# Usage: scripts/bench/scaling.sh [SECONDS] [ROUNDS]   (default 8, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-8}"
rounds="${2:-3}"
command -v taskset >/dev/null || { echo "scaling: taskset (util-linux) is needed" >&2; exit 69; }
[ "$(nproc --all)" -ge 2 ] || { echo "scaling: needs a machine with two cores" >&2; exit 69; }
cargo bench -q -p arxi-recorder --bench append --no-run 2>/dev/null
out=target/bench
mkdir -p "$out"
run() {
  taskset -c "$1" cargo bench -q -p arxi-recorder --bench append -- --stages 1 --seconds "$seconds" \
    | awk -F'|' -v round="$2" '$2 ~ /^ [0-9]+ $/ {print "| " round " " $0}'
}
{
  echo "Run of $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $(nproc --all) cores on the machine"
  echo
  echo "| round | cores | envelopes/s | total µs/env | appenders | sequencer | signers | committer | checkpointer | envelopes per commit | commit µs | COMMIT µs |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then order="0 0,1"; else order="0,1 0"; fi
    for cpus in $order; do run "$cpus" "$round"; done
  done
} | tee "$out/scaling.txt"
awk -F'|' '$3 ~ /^ [12] $/ {gsub(/ /, "", $3); gsub(/ /, "", $4); rate[$3] = rate[$3] " " $4}
  END {print "\nenvelopes/s on 1 core:" rate["1"] "; on 2 cores:" rate["2"]}' "$out/scaling.txt"
