#!/usr/bin/env bash
# Overload: the release sidecar admits 64 requests at once plus 64 queued;
# wrk offers ten times that (1,280 connections, durable POST
# /v1/envelopes) for SECONDS. Meanwhile probes are timed: /ready on a kept
# TCP connection (a second wrk) and on a fresh Unix-socket connection every
# 10 ms (as the Docker healthcheck connects) on the general socket and on the
# probe socket, and the resident memory is
# sampled. Afterwards every 201 is checked against the store (the count of
# stored overload envelopes). Results to stdout and target/bench/overload.txt.
#
# Usage: scripts/bench/overload.sh [SECONDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-20}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

port=18807
cat > "$work/sidecar.toml" <<TOML
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
[transport.unix]
path = "arxi.sock"
mode = "0600"
[transport.probe_socket]
path = "probe.sock"
mode = "0600"
[signer]
key_file = "signer.key"
generate_if_missing = true
[limits]
max_connections = 8192
max_concurrent_requests = 64
max_queued_requests = 64
recorder_queue_capacity = 16384
TOML

./target/release/arxi-sidecar --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pids+=($!)
sidecar=$!
bench_wait_http "http://127.0.0.1:$port/ready" "$work/sidecar.log"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
idle=$(rss_kib "$sidecar")

# Probes on a fresh Unix-socket connection each, every 10 ms: on the
# general socket (beside the load) and on the probe socket.
for socket in arxi probe; do
python3 - "$work/$socket.sock" "$seconds" "$socket.sock" > "$work/$socket-probes.txt" <<'PY' &
import socket, sys, time
path, seconds, label = sys.argv[1], float(sys.argv[2]), sys.argv[3]
end = time.monotonic() + seconds
times, failures = [], 0
while time.monotonic() < end:
    start = time.monotonic()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.1 200"):
            failures += 1
        times.append((time.monotonic() - start) * 1000)
    except OSError:
        failures += 1
    time.sleep(0.01)
times.sort()
n = len(times)
pick = lambda q: times[min(n - 1, int(n * q))]
print(f"/ready on {label}, a new connection each: {n} probes, failures {failures}, p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {times[-1]:.2f} ms")
PY
pids+=($!)
done

# Memory while overloaded.
( peak=0; end=$((SECONDS + seconds)); while [ $SECONDS -lt $end ]; do r=$(rss_kib "$sidecar"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done; echo "$peak" > "$work/peak" ) &
pids+=($!)

wrk -t1 -c1 -d"${seconds}s" --latency "http://127.0.0.1:$port/ready" > "$work/tcp-probe.txt" 2>&1 &
tcp_probe=$!
pids+=($tcp_probe)
wrk -t2 -c1280 -d"${seconds}s" --timeout 10s -s scripts/bench/overload-status.lua \
  "http://127.0.0.1:$port/v1/envelopes" > "$work/overload.txt" 2>&1
wait "$tcp_probe"
sleep 1
sleep 0.5
accepted=$(awk '/^status 201:/ {print $3}' "$work/overload.txt")
stored=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^arxi_recorder_appends_total/ {print $2}')
{
  echo "# overload $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s, 1280 connections against 64 active + 64 queued, $(nproc) cores"
  grep -E "^status|without Retry-After|Requests/sec|Socket errors" "$work/overload.txt"
  echo "tcp /ready on a kept connection: $(awk '$1=="50%" {p50=$2} $1=="99%" {p99=$2} /^Requests\/sec/ {rps=$2} END {print "p50 " p50 ", p99 " p99 ", " rps " probes/s"}' "$work/tcp-probe.txt")"
  cat "$work/arxi-probes.txt" "$work/probe-probes.txt"
  echo "RSS: idle $idle KiB, peak under overload $(cat "$work/peak") KiB"
  echo "201 answers: $accepted; envelopes appended (arxi_recorder_appends_total): $stored"
} | tee "$out/overload.txt"
