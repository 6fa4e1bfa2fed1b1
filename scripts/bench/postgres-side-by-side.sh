#!/usr/bin/env bash
# Durable writes side by side, one run, one machine:
#   1. arxi over HTTP: the release sidecar, wrk with CLIENTS connections
#      sending durable POST /v1/envelopes (1 KB JSON; answered only after
#      the envelope's transaction is fsynced);
#   2. the same-run ceilings of arxi without HTTP: the recorder engine with
#      64 appenders, the store alone (64 rows and 1 row per commit) and the
#      CPU pipeline alone (cargo bench -p arxi-recorder --bench append);
#   3. PostgreSQL (the Debian package; a private cluster started here on
#      loopback, fsync and synchronous_commit on) inserting the same 1 KB
#      JSON into an append-only table with pgbench and CLIENTS clients;
#   4. batch ingest: arxi's POST /v1/envelopes/batch with 100 envelopes per
#      request (post-batch.lua, a fresh sidecar) beside PostgreSQL
#      inserting the same JSON with 100-row INSERT statements, both with
#      CLIENTS connections.
# Prints the figures and the ratios, writes target/bench/postgres.txt and
# replaces the marked block of Docs/benchmarks.md with them.
#
# Usage: scripts/bench/postgres-side-by-side.sh [SECONDS] [CLIENTS]   (default 15, 64)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
. scripts/bench/postgres.sh
seconds="${1:-15}"
clients="${2:-64}"
scripts/install-test-deps.sh bench >/dev/null
pg_install
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  pg_stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

# The same 1 KB JSON for both.
body=$(wrk_body scripts/bench/perf-post.lua)
printf '%s' "$body" > "$work/body.json"
bytes=$(wc -c < "$work/body.json")

# 1. arxi over HTTP.
port=18817
bench_sidecar_config "$port" signer.key > "$work/sidecar.toml"
./target/release/arxi-sidecar --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pids+=($!)
bench_wait_http "http://127.0.0.1:$port/ready" "$work/sidecar.log"
wrk -t2 -c"$clients" -d"${seconds}s" --latency -s scripts/bench/perf-post.lua "http://127.0.0.1:$port/v1/envelopes" > "$work/arxi.txt" 2>&1
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
arxi_rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/arxi.txt")
arxi_p50=$(awk '$1=="50%" {print $2}' "$work/arxi.txt")
arxi_p99=$(awk '$1=="99%" {print $2}' "$work/arxi.txt")
arxi_non201=$(awk '/^status / && $2 != "201:" {n += $3} END {print n + 0}' "$work/arxi.txt")

# 1b. arxi batch ingest: 100 of post-envelope.lua's envelopes per request,
#     a fresh sidecar and data directory.
mkdir -p "$work/batch"
bench_sidecar_config "$port" signer.key > "$work/batch/sidecar.toml"
./target/release/arxi-sidecar --config "$work/batch/sidecar.toml" 2> "$work/batch/sidecar.log" &
pids+=($!)
bench_wait_http "http://127.0.0.1:$port/ready" "$work/batch/sidecar.log"
BATCH=100 wrk -t2 -c"$clients" -d"${seconds}s" --timeout 30s --latency -s scripts/bench/post-batch.lua \
  "http://127.0.0.1:$port/v1/envelopes/batch" > "$work/arxi-batch.txt" 2>&1
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
batch_rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/arxi-batch.txt")
batch_envelopes=$(awk -v r="$batch_rps" 'BEGIN {printf "%.0f", r * 100}')
batch_p50=$(awk '$1=="50%" {print $2}' "$work/arxi-batch.txt")
batch_p99=$(awk '$1=="99%" {print $2}' "$work/arxi-batch.txt")
batch_non2xx=$(awk '/^non-2xx responses:/ {print $3}' "$work/arxi-batch.txt")

# 2. The engine and its ceilings, same run.
cargo bench -q -p arxi-recorder --bench append -- --seconds "$seconds" --long-envelopes 0 > "$work/engine.txt" 2>&1
engine64=$(awk -F'|' '$2 ~ /^ 64 $/ {gsub(/[ ,*]/, "", $3); print $3}' "$work/engine.txt" | head -1)
store64=$(awk -F'|' '/store only, 64 rows/ {gsub(/[ ,]/, "", $3); print $3}' "$work/engine.txt")
store1=$(awk -F'|' '/store only, 1 row/ {gsub(/[ ,]/, "", $3); print $3}' "$work/engine.txt")
cpu=$(awk -F'|' '/CPU pipeline only/ {gsub(/[ ,]/, "", $3); print $3}' "$work/engine.txt")

# 3. PostgreSQL.
pgport=15432
pg_start "$work/pg" "$pgport" $((clients + 20))
pg_insert_sql "$body" 1 > "$work/insert.sql"
pgbench -h 127.0.0.1 -p $pgport -U postgres -n -M prepared -c "$clients" -j 2 -T "$seconds" -r \
  -f "$work/insert.sql" postgres > "$work/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps = / {print $3}' "$work/pgbench.txt" | tail -1)
pg_lat=$(awk '/^latency average/ {print $4 " " $5}' "$work/pgbench.txt")
pg_rows=$(psql -h 127.0.0.1 -p $pgport -U postgres -At -c "SELECT count(*) FROM events")
# 4. PostgreSQL, 100 rows per INSERT, the JSON of post-envelope.lua.
pg_insert_sql "$(wrk_body scripts/bench/post-envelope.lua)" 100 > "$work/insert-100.sql"
pgbench -h 127.0.0.1 -p $pgport -U postgres -n -M prepared -c "$clients" -j 2 -T "$seconds" -r \
  -f "$work/insert-100.sql" postgres > "$work/pgbench-100.txt" 2>&1
pg100_tps=$(awk '/^tps = / {print $3}' "$work/pgbench-100.txt" | tail -1)
pg100_rows=$(awk -v t="$pg100_tps" 'BEGIN {printf "%.0f", t * 100}')
pg100_lat=$(awk '/^latency average/ {print $4 " " $5}' "$work/pgbench-100.txt")
pg_version=$("$pgbin/postgres" --version)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
  echo "Run of $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $clients clients, $(nproc) cores, body $bytes bytes"
  echo
  echo "| durable writer | per second | notes |"
  echo "|---|---|---|"
  echo "| arxi over HTTP (wrk, $clients connections) | $arxi_rps | p50 $arxi_p50, p99 $arxi_p99, non-201 $arxi_non201; signed, chained, canonical |"
  echo "| arxi engine, 64 appenders (no HTTP) | $engine64 | same run |"
  echo "| arxi store only, 64 rows per commit | $store64 | ceiling: no hash, no signature |"
  echo "| arxi store only, 1 row per commit | $store1 | ceiling |"
  echo "| arxi CPU pipeline only, one thread | $cpu | ceiling: build, canonicalize, hash, sign |"
  echo "| $pg_version, pgbench INSERT jsonb, $clients clients | $pg_tps | latency average $pg_lat; $pg_rows rows |"
  echo "| arxi batch over HTTP, 100 envelopes per request ($clients connections), envelopes | $batch_envelopes | p50 $batch_p50, p99 $batch_p99 per request, non-2xx $batch_non2xx |"
  echo "| PostgreSQL, 100-row INSERT jsonb ($clients clients), rows | $pg100_rows | latency average $pg100_lat per statement |"
  echo
  echo "ratios: arxi HTTP / PostgreSQL = $(ratio "$arxi_rps" "$pg_tps"); arxi engine / PostgreSQL = $(ratio "$engine64" "$pg_tps"); arxi HTTP / arxi engine = $(ratio "$arxi_rps" "$engine64")"
  echo "batch ratios: arxi batch / arxi engine = $(ratio "$batch_envelopes" "$engine64"); arxi batch / PostgreSQL 100-row INSERT = $(ratio "$batch_envelopes" "$pg100_rows")"
} | tee "$out/postgres.txt"

# Replace the marked block of Docs/benchmarks.md with this run.
python3 - "$out/postgres.txt" Docs/benchmarks.md <<'PY'
import sys
result, doc = open(sys.argv[1]).read().strip(), sys.argv[2]
text = open(doc).read()
begin, end = "<!-- postgres-side-by-side:begin -->", "<!-- postgres-side-by-side:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(f"{head}{begin}\n{result}\n{end}{tail}")
PY
echo "updated Docs/benchmarks.md"
