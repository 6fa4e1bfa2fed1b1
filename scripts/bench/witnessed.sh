#!/usr/bin/env bash
# Durable ingest with three local witnesses beside ingest without witnesses,
# interleaved in one run, and how long an acknowledged envelope waits for a
# witnessed checkpoint under that load (issue 15; Docs/benchmarks.md).
#
# Each round runs the release sidecar twice on fresh data directories, once
# with [[witness.peers]] for three arxi-witness processes (quorum 2,
# checkpoints every 1 s) and once without, each under wrk (POST
# /v1/envelopes, ~1 KB, 64 connections). During the witnessed run a probe
# (system-tests/perf/coverage.py) records one envelope every 50 ms on its
# own connection and polls GET /v1/log/checkpoint until a witnessed
# checkpoint covers it.
#
# Usage: scripts/bench/witnessed.sh [SECONDS] [ROUNDS]   (default 10, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
rounds="${2:-3}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar -p arxi-witness --bin arxi-witness
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port=18797

# The recorder key is fixed so the log's vkey is known before the
# witnesses start: a first start prints it.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/signer.key"
chmod 600 "$work/signer.key"
config() { # config DIR EXTRA
  bench_sidecar_config "$port" "$work/signer.key" "[log]
checkpoint_interval_ms = 1000
$2" > "$1/sidecar.toml"
}
start_sidecar() { # start_sidecar DIR
  ./target/release/arxi-sidecar --config "$1/sidecar.toml" 2> "$1/sidecar.log" &
  sidecar=$!
  pids+=("$sidecar")
  bench_wait_http "http://127.0.0.1:$port/ready" "$1/sidecar.log"
}
stop_sidecar() { kill -TERM "$sidecar"; wait "$sidecar" 2>/dev/null || true; }

mkdir -p "$work/probe-key"
config "$work/probe-key" ""
start_sidecar "$work/probe-key"
vkey=$(curl -s "http://127.0.0.1:$port/v1/log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["vkey"])')
stop_sidecar

# Three witnesses with fresh state for each witnessed run (a fresh database
# under the same key is another history: witnesses that saw the last run's
# would refuse it, as they should). Keys and ports stay.
declare -a wkeys waddrs wpids
for n in 1 2 3; do
  mkdir -p "$work/w$n"
  wkeys[$n]=$(./target/release/arxi-witness keygen --name "w$n.bench" --key "$work/w$n/key")
done
start_witnesses() {
  peers=""
  for n in 1 2 3; do
    local dir="$work/w$n"
    rm -rf "$dir/state" "$dir/address"
    ./target/release/arxi-witness serve --key "$dir/key" --state "$dir/state" \
      --listen "${waddrs[$n]:-127.0.0.1:0}" --log "$vkey" --address-file "$dir/address" 2> "$dir/log" &
    wpids[$n]=$!
    pids+=("${wpids[$n]}")
    for _ in $(seq 1 200); do [ -s "$dir/address" ] && break; sleep 0.05; done
    waddrs[$n]=$(cat "$dir/address")
    peers+="[[witness.peers]]
vkey = \"${wkeys[$n]}\"
url = \"http://${waddrs[$n]}\"
timeout_ms = 2000
"
  done
}
stop_witnesses() { for n in 1 2 3; do kill "${wpids[$n]}" 2>/dev/null || true; wait "${wpids[$n]}" 2>/dev/null || true; done; }

run() { # run LABEL EXTRA PROBE
  local dir="$work/run-$RANDOM"
  mkdir -p "$dir"
  config "$dir" "$2"
  start_sidecar "$dir"
  local probe_pid=""
  if [ "$3" = probe ]; then
    python3 system-tests/perf/coverage.py "http://127.0.0.1:$port" "$seconds" > "$dir/coverage.json" &
    probe_pid=$!
  fi
  local result
  result=$(wrk -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" 2>&1)
  [ -n "$probe_pid" ] && wait "$probe_pid"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
  p50=$(awk '$1=="50%" {print $2}' <<<"$result")
  p99=$(awk '$1=="99%" {print $2}' <<<"$result")
  errors=$(awk '/non-2xx responses:/ {print $3}' <<<"$result")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}" \
    "$( [ -s "$dir/coverage.json" ] && cat "$dir/coverage.json" || echo '-')"
  stop_sidecar
  rm -rf "$dir/data"
}

{
  echo "# witnessed $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| run | requests/s | p50 | p99 | non-2xx | coverage (acknowledged -> witnessed) |"
  echo "|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    run "round $round: no witnesses" "" none
    start_witnesses
    run "round $round: 3 witnesses, quorum 2" "[witness]
quorum = 2
$peers" probe
    stop_witnesses
  done
} | tee "$out/witnessed.txt"
