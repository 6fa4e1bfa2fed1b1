#!/usr/bin/env bash
# Configuration reload under load: the release sidecar (token auth) takes
# durable POST /v1/envelopes from wrk (64 connections) while this script
# applies RELOADS reloads, alternately by SIGHUP and POST /v1/config/reload,
# each changing a live limit. Reported: wrk's throughput, latency and
# non-2xx count with and without reloads (same run), and the reload time
# the sidecar logs for each (read + validate + record + swap) and the swap
# alone. Results go to stdout and target/bench/reload.txt.
#
# Usage: scripts/bench/reload.sh [SECONDS] [RELOADS]   (default 20, 100)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-20}"
reloads="${2:-100}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=18797
token=reload-bench-token-0123456789
printf '%s' "$token" > "$work/token"
chmod 600 "$work/token"
configure() {
  cat > "$work/sidecar.toml.new" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "bench"
data_dir = "data"
startup_verification_depth = 0
[transport]
workers = 2
[transport.tcp]
host = "127.0.0.1"
port = $port
[security]
mode = "token"
token_file = "token"
[signer]
key_file = "signer.key"
generate_if_missing = true
[limits]
max_connections = 4096
max_concurrent_requests = 1024
max_queued_requests = 4096
recorder_queue_capacity = 16384
request_timeout_ms = $1
TOML
  mv "$work/sidecar.toml.new" "$work/sidecar.toml"
}
configure 10000

run_wrk() {
  local label=$1
  local result
  result=$(wrk -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua \
    -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/envelopes" 2>&1)
  local rps p50 p99 max non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
  p50=$(awk '$1=="50%" {print $2}' <<<"$result")
  p99=$(awk '$1=="99%" {print $2}' <<<"$result")
  max=$(awk '$1=="Latency" {print $4}' <<<"$result")
  non2xx=$(awk '/non-2xx responses:/ {print $3}' <<<"$result" | head -1)
  errors=$(awk '/Socket errors:/ {print $0}' <<<"$result")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$rps" "$p50" "$p99" "$max" "${non2xx:-0}" "${errors:-none}"
}

./target/release/arxi-sidecar --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pids+=($!)
sidecar=$!
bench_wait_http "http://127.0.0.1:$port/ready" "$work/sidecar.log"

reload_loop() {
  local interval
  interval=$(awk -v s="$seconds" -v n="$reloads" 'BEGIN { printf "%.3f", (s - 2) / n }')
  sleep 1
  for i in $(seq 1 "$reloads"); do
    configure $((10000 + i))
    if (( i % 2 )); then
      kill -HUP "$sidecar"
    else
      curl -sf -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/config/reload" >/dev/null \
        || echo "reload $i over the route failed" >&2
    fi
    sleep "$interval"
  done
}

{
  echo "# reload $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $reloads reloads, $(nproc) cores"
  echo
  echo "| run | requests/s | p50 | p99 | max | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|"
  run_wrk "durable POST, 64 connections, no reloads"
  reload_loop &
  loop=$!
  run_wrk "durable POST, 64 connections, $reloads reloads"
  wait "$loop"
  sleep 0.5
  applied=$(grep -c "configuration reloaded" "$work/sidecar.log" || true)
  refused=$(grep -c "reload refused" "$work/sidecar.log" || true)
  echo
  echo "reloads applied: $applied, refused: $refused"
  grep "configuration reloaded" "$work/sidecar.log" \
    | sed -E 's/.*elapsed_us=([0-9]+).*/\1/' | sort -n > "$work/elapsed"
  grep "configuration reloaded" "$work/sidecar.log" \
    | sed -E 's/.*swap_ns=([0-9]+).*/\1/' | sort -n > "$work/swap"
  # The value at quantile q of a sorted file (nearest rank).
  at() { local n; n=$(wc -l < "$1"); sed -n "$(awk -v n="$n" -v q="$2" 'BEGIN { r = int(n * q + 0.999); if (r < 1) r = 1; print r }')p" "$1"; }
  ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
  echo "reload (read, validate, record, swap): p50 $(ms "$(at "$work/elapsed" 0.5)") ms, p90 $(ms "$(at "$work/elapsed" 0.9)") ms, p99 $(ms "$(at "$work/elapsed" 0.99)") ms, max $(ms "$(at "$work/elapsed" 1)") ms"
  echo "pointer swap alone: p50 $(at "$work/swap" 0.5) ns, max $(at "$work/swap" 1) ns"
} | tee "$out/reload.txt"
