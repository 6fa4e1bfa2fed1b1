#!/usr/bin/env bash
# The sidecar under sustained load, as a timeline: one release sidecar with
# the benchmark configuration (sidecar-config.sh), wrk sending the durable
# POST /v1/envelopes of post-envelope.lua for SECONDS with CONNECTIONS
# connections, and every INTERVAL seconds a row: envelopes recorded per
# second (the sidecar's arxi_recorder_appends_total), the sidecar's user and
# system CPU time per envelope (/proc/PID/stat, 10 ms ticks), the size of
# its data folder and the page cache it has grown into since the start
# (Cached in /proc/meminfo).
#
# Before and after the load it measures what it costs this host to touch
# memory for the first time: a fresh anonymous mapping of PROBE_GB GiB,
# one byte written per 4 KiB page, the time per GiB. On a virtual machine
# whose memory the host backs lazily and takes back when the guest frees
# it (virtio-balloon free page reporting), the first write to such a page
# costs many times a write to a page already backed; every page the page
# cache grows into pays it once (Docs/benchmarks.md, "The slowdown under
# sustained load").
#
# Usage: scripts/bench/sustained.sh [SECONDS] [CONNECTIONS] [INTERVAL] [PROBE_GB]
#        (default 180, 64, 10, 8). Results go to stdout and
#        target/bench/sustained.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-180}"
connections="${2:-64}"
interval="${3:-10}"
probe_gb="${4:-8}"
for value in "$seconds" "$connections" "$interval" "$probe_gb"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "sustained: arguments are positive integers" >&2; exit 2; }
done
free_gb=$(awk '/^MemAvailable:/ {print int($2 / 1048576)}' /proc/meminfo)
[ "$probe_gb" -lt "$free_gb" ] || { echo "sustained: PROBE_GB ($probe_gb) must be below the available memory ($free_gb GiB)" >&2; exit 2; }
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
bin=${CARGO_TARGET_DIR:-target}/release
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Milliseconds per GiB for the first write to each page of fresh mappings.
touch_probe() {
  python3 - "$probe_gb" <<'PY'
import mmap, sys, time
times = []
maps = []
for _ in range(int(sys.argv[1])):
    m = mmap.mmap(-1, 1 << 30)
    start = time.perf_counter()
    for offset in range(0, 1 << 30, 4096):
        m[offset] = 1
    times.append(round((time.perf_counter() - start) * 1000))
    maps.append(m)
print(" ".join(str(t) for t in times))
PY
}

port=$((20000 + RANDOM % 10000))
bench_sidecar_config "$port" signer.key > "$work/sidecar.toml"
# data_dir and the key file are relative to the configuration's folder.
"$bin/arxi-sidecar" --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pid=$!
bench_wait_http "http://127.0.0.1:$port/ready" "$work/sidecar.log"

cached_mb() { awk '/^Cached:/ {print int($2 / 1024)}' /proc/meminfo; }
hz=$(getconf CLK_TCK)

{
  echo "# sustained load, $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s, $connections connections, rows every ${interval}s, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "first write to fresh memory before the load, ms per GiB (GiB 1 to $probe_gb): $(touch_probe)"
  echo
  echo "| t (s) | envelopes/s | user µs per envelope | system µs per envelope | data folder MB | page cache grown MB |"
  echo "|---|---|---|---|---|---|"
  cached_start=$(cached_mb)
  (exec wrk -t2 -c"$connections" -d"${seconds}s" -s scripts/bench/post-envelope.lua \
    "http://127.0.0.1:$port/v1/envelopes") > "$work/wrk.txt" 2>&1 &
  wrk_pid=$!
  read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  count0=$(bench_metric "$port" arxi_recorder_appends_total)
  t=0
  while sleep "$interval" && kill -0 "$wrk_pid" 2>/dev/null; do
    t=$((t + interval))
    read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    count1=$(bench_metric "$port" arxi_recorder_appends_total)
    awk -v t="$t" -v n=$((count1 - count0)) -v s="$interval" -v u=$((user1 - user0)) -v k=$((sys1 - sys0)) \
      -v hz="$hz" -v db="$(du -sm "$work/data" | cut -f1)" -v grown=$(($(cached_mb) - cached_start)) \
      'BEGIN { if (n == 0) n = 1; printf "| %d | %.0f | %.1f | %.1f | %d | %d |\n", t, n / s, u * 1e6 / hz / n, k * 1e6 / hz / n, db, grown }'
    user0=$user1; sys0=$sys1; count0=$count1
  done
  wait "$wrk_pid"
  grep -q "^non-2xx responses: 0$" "$work/wrk.txt" || { echo "sustained: refused answers:" >&2; cat "$work/wrk.txt" >&2; exit 1; }
  echo
  echo "wrk: $(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt") requests/s over the whole run, non-2xx 0"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo
  echo "first write to fresh memory after the load, ms per GiB (GiB 1 to $probe_gb): $(touch_probe)"
} | tee "$out/sustained.txt"
