#!/usr/bin/env bash
# The sidecar over HTTP with wrk, beside a bare hyper-on-monoio server in
# the same run: durable POST /v1/envelopes (64 connections), the read path
# (GET /ready, POST /v1/query/envelopes) at 1 connection (latency) and 64
# (throughput), the same for the bare server, and resident memory idle and
# under load. Results go to stdout and target/bench/sidecar-http.txt.
#
# Usage: scripts/bench/sidecar-http.sh [SECONDS]   (default 10 per run)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar --example hello
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=18787
hello_port=18788
bench_sidecar_config "$port" signer.key > "$work/sidecar.toml"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# wrk's summary: requests/s and the latency percentiles it prints.
run_wrk() {
  local label=$1; shift
  local result
  result=$(wrk "$@" 2>&1)
  local rps p50 p90 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
  p50=$(awk '$1=="50%" {print $2}' <<<"$result")
  p90=$(awk '$1=="90%" {print $2}' <<<"$result")
  p99=$(awk '$1=="99%" {print $2}' <<<"$result")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5} /non-2xx responses:/ {print $3}' <<<"$result" | head -1)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$rps" "$p50" "$p90" "$p99" "${non2xx:-0}"
}

./target/release/arxi-sidecar --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pids+=($!)
sidecar=$!
./target/release/examples/hello "127.0.0.1:$hello_port" 2 2> "$work/hello.log" &
pids+=($!)
hello=$!
bench_wait_http "http://127.0.0.1:$port/ready" "$work/sidecar.log"
bench_wait_http "http://127.0.0.1:$hello_port/" "$work/hello.log"
curl -s "http://127.0.0.1:$port/startup" > "$work/startup.json"
driver=$(sed -E 's/.*"io_driver":"([a-z_]+)".*/\1/' "$work/startup.json")

{
  echo "# sidecar-http $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, driver $driver, $(nproc) cores, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "idle RSS after start: sidecar $(rss_kib "$sidecar") KiB, hello $(rss_kib "$hello") KiB"
  echo
  echo "| run | requests/s | p50 | p90 | p99 | non-2xx |"
  echo "|---|---|---|---|---|---|"
  run_wrk "sidecar GET /ready, 1 connection" -t1 -c1 -d"${seconds}s" --latency "http://127.0.0.1:$port/ready"
  run_wrk "hello GET /, 1 connection" -t1 -c1 -d"${seconds}s" --latency "http://127.0.0.1:$hello_port/"
  run_wrk "sidecar GET /ready, 64 connections" -t2 -c64 -d"${seconds}s" --latency "http://127.0.0.1:$port/ready"
  run_wrk "hello GET /, 64 connections" -t2 -c64 -d"${seconds}s" --latency "http://127.0.0.1:$hello_port/"
  # Warm up the write path (opens the first segment, fills caches).
  wrk -t2 -c16 -d2s -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" >/dev/null 2>&1
  ( while kill -0 "$sidecar" 2>/dev/null; do rss_kib "$sidecar"; sleep 0.2; done ) > "$work/rss.txt" &
  sampler=$!
  run_wrk "sidecar POST /v1/envelopes (durable), 64 connections" -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes"
  kill "$sampler" 2>/dev/null || true
  peak=$(sort -n "$work/rss.txt" | tail -1)
  # Let the background checkpoint settle before the query runs.
  sleep 3
  run_wrk "sidecar POST /v1/query/envelopes (1 row), 1 connection" -t1 -c1 -d"${seconds}s" --latency -s scripts/bench/post-query.lua "http://127.0.0.1:$port/v1/query/envelopes"
  run_wrk "sidecar POST /v1/query/envelopes (1 row), 64 connections" -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-query.lua "http://127.0.0.1:$port/v1/query/envelopes"
  echo
  echo "sidecar RSS: peak during the write run ${peak} KiB, after all runs $(rss_kib "$sidecar") KiB"
  batches=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^arxi_recorder_batch_commands_sum/ {s=$2} /^arxi_recorder_batch_commands_count/ {c=$2} END {if (c) printf "%.1f", s/c}')
  echo "average commands per commit (group commit): $batches"
  head_seq=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^arxi_recorder_head_seq / {print $2}')
  echo "envelopes recorded: $head_seq; $(grep -c WARN "$work/sidecar.log" || true) warnings logged"
  # Any warning other than the expected development-key one, verbatim.
  grep WARN "$work/sidecar.log" | grep -v "generated a development signing key" | head -5 || true
} | tee "$out/sidecar-http.txt"
