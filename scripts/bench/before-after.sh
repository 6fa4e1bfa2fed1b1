#!/usr/bin/env bash
# Two builds of the write path side by side, interleaved in one run: the
# recorder's append bench (the engine without HTTP, 64 appenders) and the
# sidecar's durable POST /v1/envelopes under wrk (64 connections, the
# ~1 KB body of post-envelope.lua), both builds in every round, each on a
# fresh data folder, the order alternating between rounds. For a
# change that must not change speed
# (issue 19's refactor): compare the two columns round by round. The
# sidecar's CPU time per request comes from /proc/PID/stat around the
# measured wrk run.
#
# Usage: scripts/bench/before-after.sh LABEL_A TARGET_A LABEL_B TARGET_B [SECONDS] [ROUNDS]
#   TARGET_x: a cargo target folder holding release/arxi-sidecar and the
#   append bench (release/deps/append-*), e.g. built with
#     CARGO_TARGET_DIR=T cargo build --release -p arxi-sidecar --bin arxi-sidecar
#     CARGO_TARGET_DIR=T cargo bench -p arxi-recorder --bench append --no-run
# Defaults: 10 s per sidecar run (the append bench runs 3 s per stage), 3 rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
[ $# -ge 4 ] || { sed -n 2,17p "$0" >&2; exit 64; }
labels=("$1" "$3")
targets=("$2" "$4")
seconds="${5:-10}"
rounds="${6:-3}"
scripts/install-test-deps.sh bench >/dev/null
for target in "${targets[@]}"; do
  [ -x "$target/release/arxi-sidecar" ] || { echo "no $target/release/arxi-sidecar" >&2; exit 1; }
  ls "$target"/release/deps/append-* >/dev/null 2>&1 || { echo "no append bench in $target" >&2; exit 1; }
done
work=$(mktemp -d)
sidecar=
cleanup() { [ -n "$sidecar" ] && kill "$sidecar" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=18799

append_bench() { # append_bench TARGET: envelopes/s at 64 appenders
  local bench
  bench=$(ls -t "$1"/release/deps/append-* | grep -v '\.d$' | head -1)
  (cd "$work" && "$bench" --seconds 3 --long-envelopes 0 2>/dev/null) \
    | awk -F'|' '$2 ~ /^ *64 *$/ {gsub(/ /, "", $3); print $3; exit}'
}

# cpu_ticks PID: the process's user + system CPU time, in clock ticks
# (/proc/PID/stat fields 14 and 15, counted after the command's closing
# parenthesis).
cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

sidecar_run() { # sidecar_run TARGET: requests/s, p99, sidecar CPU µs per request
  local dir=$work/sidecar
  rm -rf "$dir"; mkdir -p "$dir"
  bench_sidecar_config "$port" signer.key > "$dir/sidecar.toml"
  "$1/release/arxi-sidecar" --config "$dir/sidecar.toml" 2> "$dir/sidecar.log" &
  sidecar=$!
  bench_wait_http "http://127.0.0.1:$port/ready" "$dir/sidecar.log"
  wrk -t2 -c64 -d2s -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" >/dev/null
  local before after
  before=$(cpu_ticks "$sidecar")
  wrk -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua \
    "http://127.0.0.1:$port/v1/envelopes" > "$dir/wrk.txt"
  after=$(cpu_ticks "$sidecar")
  kill -TERM "$sidecar"; wait "$sidecar" 2>/dev/null || true; sidecar=
  local rps p99 requests
  rps=$(awk '/^Requests\/sec/ {print $2}' "$dir/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$dir/wrk.txt")
  requests=$(awk '/requests in/ {print $1; exit}' "$dir/wrk.txt")
  echo "$rps $p99 $(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.1f", t * 1e6 / hz / n}')"
}

mkdir -p target/bench
{
  echo "# before-after $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per sidecar run, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| round | build | engine: envelopes/s at 64 appenders | sidecar: durable POST requests/s | sidecar p99 | sidecar CPU µs per request |"
  echo "|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    # A then B in odd rounds, B then A in even ones: neither build always
    # runs second (after the other's writes, on a warmer or busier disk).
    order="0 1"
    [ $((round % 2)) = 0 ] && order="1 0"
    for i in $order; do
      engine=$(append_bench "${targets[$i]}")
      read -r rps p99 cpu < <(sidecar_run "${targets[$i]}")
      echo "| $round | ${labels[$i]} | $engine | $rps | $p99 | $cpu |"
    done
  done
} | tee target/bench/before-after.txt
