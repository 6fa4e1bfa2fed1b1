#!/usr/bin/env bash
# Version 2 envelopes beside version 1 over HTTP, in the same run (issue
# 21): two release sidecars with the benchmark configuration
# (sidecar-config.sh), one writing version 1 envelopes and one version 2
# (`envelope_version = 2`, `commit_subject = true`: a salt, one more
# SHA-256 and the payload in a row of its own per envelope). wrk sends the
# durable POST /v1/envelopes of post-envelope.lua with CONNECTIONS
# connections to each in turn, ROUNDS times, the order alternating between
# rounds. Reported per run: requests/s, p50 and p99, and the sidecar's CPU
# time per request (utime + stime of the process from /proc, 10 ms ticks,
# over the requests wrk completed); then per version the min, median and
# max, and the per-round ratios version 2 / version 1. Results go to stdout
# and target/bench/versions-http.txt.
#
# Usage: scripts/bench/versions-http.sh [SECONDS] [ROUNDS] [CONNECTIONS]   (default 10, 3, 64)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
rounds="${2:-3}"
connections="${3:-64}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
bin=${CARGO_TARGET_DIR:-target}/release
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
declare -A pid port
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Ports drawn at random, so another benchmark's sidecar is not measured.
base=$((20000 + RANDOM % 10000))
for version in 1 2; do
  mkdir -p "$work/v$version"
  port[$version]=$((base + version))
  # The version's keys go into the [recorder] table the function writes.
  keys="envelope_version = $version"
  [ "$version" = 2 ] && keys="$keys
commit_subject = true"
  bench_sidecar_config "${port[$version]}" signer.key \
    | awk -v keys="$keys" '{print} /^\[recorder\]$/ {print keys}' > "$work/v$version/sidecar.toml"
  "$bin/arxi-sidecar" --config "$work/v$version/sidecar.toml" 2> "$work/v$version/sidecar.log" &
  pid[$version]=$!
  bench_wait_http "http://127.0.0.1:${port[$version]}/ready" "$work/v$version/sidecar.log"
done
# The version 2 sidecar says so in its receipts.
receipt=$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"type":"bench.check","subject":"order/1","payload":{}}' "http://127.0.0.1:${port[2]}/v1/envelopes")
grep -q '"payload_commitment"' <<<"$receipt" || { echo "versions-http: no version 2 receipt: $receipt" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One run against VERSION: prints "rps p50 p99 cpu_us_per_request".
run() {
  local version=$1 before after result requests
  before=$(ticks "${pid[$version]}")
  result=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua \
    "http://127.0.0.1:${port[$version]}/v1/envelopes" 2>&1)
  after=$(ticks "${pid[$version]}")
  if ! grep -q "^non-2xx responses: 0$" <<<"$result"; then
    echo "versions-http: refused answers from version $version:" >&2; echo "$result" >&2; exit 1
  fi
  requests=$(awk '/requests in/ {print $1}' <<<"$result")
  printf '%s %s %s %s\n' \
    "$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")" \
    "$(awk '$1=="50%" {print $2}' <<<"$result")" \
    "$(awk '$1=="99%" {print $2}' <<<"$result")" \
    "$(awk -v t=$((after - before)) -v n="$requests" -v hz="$hz" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')"
}

{
  echo "# version 2 beside version 1 over HTTP, $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $rounds rounds, $connections connections, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| round | version | requests/s | p50 | p99 | sidecar CPU µs per request |"
  echo "|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    order="1 2"; [ $((round % 2)) = 0 ] && order="2 1"
    for version in $order; do
      read -r rps p50 p99 cpu < <(run "$version")
      echo "| $round | $version | $rps | $p50 | $p99 | $cpu |"
      echo "$round $version $rps $cpu" >> "$work/rows"
    done
  done
  echo
  python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {(int(r), int(v)): (float(rps), float(cpu)) for r, v, rps, cpu in rows}
rounds = sorted({r for r, _ in by})
def spread(values, digits):
    values = sorted(values)
    return ", ".join(f"{x:.{digits}f}" for x in (values[0], statistics.median(values), values[-1]))
print("| measure | version 1 (min, median, max) | version 2 (min, median, max) | v2 / v1 per round (min, median, max) |")
print("|---|---|---|---|")
for name, index, digits in (("requests/s", 0, 0), ("sidecar CPU µs per request", 1, 1)):
    one = [by[(r, 1)][index] for r in rounds]
    two = [by[(r, 2)][index] for r in rounds]
    ratios = [by[(r, 2)][index] / by[(r, 1)][index] for r in rounds]
    print(f"| {name} | {spread(one, digits)} | {spread(two, digits)} | {spread(ratios, 3)} |")
PY
} | tee "$out/versions-http.txt"
