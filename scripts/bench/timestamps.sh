#!/usr/bin/env bash
# Durable POST /v1/envelopes (wrk, 2 threads, 64 connections, the ~1 KB body
# of post-envelope.lua) with every seal sent to an RFC 3161 timestamp
# authority ([[timestamp]]: arxi-tsa-stub, OpenSSL's `openssl ts -reply`
# behind a small HTTP server, on the same cores) beside the same load
# without one, in the same run: ROUNDS rounds, both in every round (the
# order alternating), each on a fresh database, segments sealed every
# 2,000 envelopes in both. For the stamped runs it prints the tokens
# stored and the seals still waiting when the load stops, and the time
# until every seal has its token. Then `arxi bundle verify` of the last
# stamped run's bundle with and without --tsa-cert (every token parsed and
# its signature checked either way; with it, the chain too).
#
# Usage: scripts/bench/timestamps.sh [SECONDS] [ROUNDS]   (default 10, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
rounds="${2:-3}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar -p arxi-verify --bin arxi \
  -p arxi-system-tests --bin arxi-tsa-stub
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pid=""
tsa_pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$tsa_pid" ] && kill "$tsa_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/arxi-tsa-stub" --dir "$work/tsa" > "$work/tsa.out" &
tsa_pid=$!
for _ in $(seq 1 200); do grep -q '^ca ' "$work/tsa.out" 2>/dev/null && break; sleep 0.05; done
tsa_url=$(awk '/^listening/ {print $2}' "$work/tsa.out")
tsa_ca=$(awk '/^ca/ {print $2}' "$work/tsa.out")

port=18797
base="http://127.0.0.1:$port"
metric() { curl -s "$base/metrics" | awk -v name="$1" 'index($0, name) == 1 {print $2; exit}'; }

# run KIND ROUND: prints "| ROUND | KIND | requests/s | p50 | p99 | seals | tokens at stop | waiting at stop | s until all stamped |".
run() {
  local kind=$1 round=$2 dir="$work/$1-$2"
  mkdir -p "$dir"
  local extra="[recorder.auto_seal]
envelopes_max = 2000"
  if [ "$kind" = stamped ]; then
    extra="$extra
[[timestamp]]
name = \"bench-tsa\"
url = \"$tsa_url\"
ca_cert = \"$tsa_ca\""
  fi
  bench_sidecar_config "$port" signer.key "$extra" > "$dir/sidecar.toml"
  (cd "$dir" && exec "$bin/arxi-sidecar" --config sidecar.toml 2> sidecar.log) &
  pid=$!
  bench_wait_http "$base/ready" "$dir/sidecar.log"
  wrk -t2 -c64 -d2s -s scripts/bench/post-envelope.lua "$base/v1/envelopes" >/dev/null 2>&1
  local result rps p50 p99 seals tokens waiting catch_up="-"
  result=$(wrk -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua "$base/v1/envelopes" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
  p50=$(awk '$1=="50%" {print $2}' <<<"$result")
  p99=$(awk '$1=="99%" {print $2}' <<<"$result")
  seals=$(curl -s "$base/v1/segments?limit=1000" | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["segments"] if s["sealed_at"]))')
  tokens="-"; waiting="-"
  if [ "$kind" = stamped ]; then
    tokens=$(metric 'arxi_timestamp_tokens_total{tsa="bench-tsa"}')
    waiting=$(metric 'arxi_timestamp_pending_seals{tsa="bench-tsa"}')
    local start=$(date +%s.%N)
    for _ in $(seq 1 1200); do
      [ "$(metric 'arxi_timestamp_tokens_total{tsa="bench-tsa"}')" -ge "$seals" ] && break
      sleep 0.1
    done
    catch_up=$(echo "$(date +%s.%N) - $start" | bc -l | xargs printf '%.1f')
    curl -sf -X POST "$base/v1/bundles/build" -H 'content-type: application/json' -d '{}' > "$work/build.json"
    curl -sf "$base/v1/bundles/download?id=$(python3 -c 'import json; print(json.load(open("'"$work/build.json"'"))["bundle"]["id"])')" > "$work/stamped.arxb"
    curl -s "$base/v1/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["current_public_key"])' > "$work/recorder.pub"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$kind" "$rps" "$p50" "$p99" "$seals" "$tokens" "$waiting" "$catch_up"
}

{
  echo "# timestamps $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $rounds rounds, $(nproc) cores, $(openssl version)"
  echo
  echo "| round | TSA | requests/s | p50 | p99 | seals | tokens at stop | waiting at stop | s until all stamped |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="none stamped"; else order="stamped none"; fi
    for kind in $order; do run "$kind" "$round"; done
  done
  echo
  tokens=$("$bin/arxi" bundle verify "$work/stamped.arxb" --key "$work/recorder.pub" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["timestamps"]))')
  envelopes=$("$bin/arxi" bundle verify "$work/stamped.arxb" --key "$work/recorder.pub" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["checked"]["envelopes"])')
  echo "arxi bundle verify of the last stamped bundle ($envelopes envelopes, $tokens tokens), best of 3 (s):"
  for flags in "" "--tsa-cert $tsa_ca --require-timestamp"; do
    best=""
    for _ in 1 2 3; do
      t0=$(date +%s.%N)
      # shellcheck disable=SC2086
      "$bin/arxi" bundle verify "$work/stamped.arxb" --key "$work/recorder.pub" $flags > /dev/null
      t=$(echo "$(date +%s.%N) - $t0" | bc -l)
      if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '  %-60s %.3f\n' "${flags:-(no --tsa-cert)}" "$best"
  done
} | tee "$out/timestamps.txt"
echo
echo "stamped / none requests/s per round:"
awk -F'|' '$3 ~ /none|stamped/ { gsub(/ /, "", $2); gsub(/ /, "", $3); rate[$2, $3] = $4 }
  END { for (k in rate) { split(k, p, SUBSEP); if (p[2] == "none") printf "round %s: %.3f\n", p[1], rate[p[1], "stamped"] / rate[p[1], "none"] } }' \
  "$out/timestamps.txt" | sort
