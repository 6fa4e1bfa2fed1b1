#!/usr/bin/env bash
# Enterprise mode beside plain mode, in the same run (issue 23): two release
# sidecars (token auth, 2 HTTP workers) on one machine, one plain and one in
# enterprise mode (self_hosted) against the release `arxi-control-plane-stub`
# (one write per answer, TCP_NODELAY). wrk sends durable POST /v1/envelopes
# with the identity headers (enterprise.lua) to each in turn, ROUNDS times
# (plain, enterprise, plain, enterprise, ...), at 1 connection (latency of a
# lone client) and at 16 connections (a busy one); then the same for a read
# (GET /v1/segments/active: no fsync, so the control plane's share stands
# out). Each enterprise request makes three control-plane calls (ingress
# check, admission hook, result hook). Reported per round: requests/s, p50, p90, p99; then the spread
# (min-max over rounds). Results go to stdout and target/bench/enterprise.txt.
#
# Usage: scripts/bench/enterprise.sh [SECONDS] [ROUNDS]   (default 10, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
rounds="${2:-3}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar -p arxi-system-tests --bin arxi-control-plane-stub
bin=${CARGO_TARGET_DIR:-target}/release
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; [ -n "${ARXI_BENCH_KEEP:-}" ] || rm -rf "$work"; echo "work: $work" >&2; }
trap cleanup EXIT

token=enterprise-bench-token-0123456789
cp_token=control-plane-bench-token-0123456789
"$bin/arxi-control-plane-stub" --port 0 --token "$cp_token" > "$work/stub.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/stub.out" 2>/dev/null && break; sleep 0.05; done
stub=$(awk '/^listening/ {print $2}' "$work/stub.out")

start_sidecar() {
  local name=$1 port=$2 extra=$3
  mkdir -p "$work/$name"
  printf '%s' "$token" > "$work/$name/token"
  printf '%s' "$cp_token" > "$work/$name/cp-token"
  chmod 600 "$work/$name/token" "$work/$name/cp-token"
  cat > "$work/$name/sidecar.toml" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "bench-$name"
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
$extra
TOML
  "$bin/arxi-sidecar" --config "$work/$name/sidecar.toml" 2> "$work/$name/sidecar.log" &
  pids+=($!)
  bench_wait_http "http://127.0.0.1:$port/ready" "$work/$name/sidecar.log"
}
# Ports drawn at random: a fixed pair met another benchmark's sidecar on a
# shared machine (every run then measured a refused connection).
plain_port=$((20000 + RANDOM % 10000))
enterprise_port=$((plain_port + 10000))
start_sidecar plain "$plain_port" ""
start_sidecar enterprise "$enterprise_port" "[enterprise]
mode = \"self_hosted\"
control_plane_url = \"http://$stub\"
token_file = \"cp-token\""

# One wrk run: prints "rps p50 p90 p99 non2xx" (latencies in ms).
run_wrk() {
  local port=$1 connections=$2 kind=$3 result
  local target=(-s scripts/bench/enterprise.lua "http://127.0.0.1:$port/v1/envelopes")
  if [ "$kind" = read ]; then
    target=(-s scripts/bench/enterprise-read.lua "http://127.0.0.1:$port/v1/segments/active")
  fi
  result=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "${target[@]}" 2>&1)
  ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else printf "%.3f", v * 1000 }'; }
  printf '%s %s %s %s %s\n' \
    "$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")" \
    "$(ms "$(awk '$1=="50%" {print $2}' <<<"$result")")" \
    "$(ms "$(awk '$1=="90%" {print $2}' <<<"$result")")" \
    "$(ms "$(awk '$1=="99%" {print $2}' <<<"$result")")" \
    "$(awk '/non-2xx responses:/ {print $3}' <<<"$result" | head -1)"
}

{
  echo "# enterprise vs plain $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $rounds rounds, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| request | connections | round | mode | requests/s | p50 ms | p90 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for kind in write read; do
  for connections in 1 16; do
    for round in $(seq 1 "$rounds"); do
      for mode in plain enterprise; do
        port=$plain_port; [ "$mode" = enterprise ] && port=$enterprise_port
        read -r rps p50 p90 p99 non2xx < <(run_wrk "$port" "$connections" "$kind")
        if [ -z "$rps" ] || awk -v r="$rps" 'BEGIN { exit !(r < 1) }'; then
          echo "enterprise bench: the $mode run measured nothing; the sidecar's log:" >&2
          tail -5 "$work/$mode/sidecar.log" >&2
          exit 1
        fi
        # The stub keeps what it receives: forget it between runs.
        curl -sf -X POST -d '{}' "http://$stub/_stub/reset" >/dev/null
        echo "| $kind | $connections | $round | $mode | $rps | $p50 | $p90 | $p99 | ${non2xx:-0} |"
        echo "$kind-$connections $mode $rps $p50 $p90 $p99" >> "$work/rows"
      done
    done
  done
  done
  echo
  echo "Spread over the rounds (min-max):"
  echo
  echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "| request-connections | mode | requests/s | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|"
  for connections in write-1 write-16 read-1 read-16; do
    for mode in plain enterprise; do
      awk -v c="$connections" -v m="$mode" '$1 == c && $2 == m {
          if (n == 0 || $3 < r0) r0 = $3; if (n == 0 || $3 > r1) r1 = $3
          if (n == 0 || $4 < p0) p0 = $4; if (n == 0 || $4 > p1) p1 = $4
          if (n == 0 || $6 < q0) q0 = $6; if (n == 0 || $6 > q1) q1 = $6; n++ }
        END { printf "| %s | %s | %s-%s | %s-%s | %s-%s |\n", c, m, r0, r1, p0, p1, q0, q1 }' "$work/rows"
    done
  done
} | tee "$out/enterprise.txt"
