#!/usr/bin/env bash
# Draws the ingest figures of Docs/benchmarks.md ("Pictures") from one run
# on this machine (issue 20):
#
#   Docs/benchmarks/throughput.png  durable writes per second against
#       connections (1 to 256): arxi single-envelope POST, arxi batch POST
#       (100 envelopes per request), PostgreSQL single-row INSERT and
#       100-row INSERT (pgbench, the same JSON), all with fsync on.
#   Docs/benchmarks/latency.png  acknowledgement latency distribution at
#       64 connections for each of the four.
#   Docs/benchmarks/dbsize.png  arxi's database size (file and WAL) over a
#       sustained batch ingest at 64 connections, beside envelopes stored.
#
# The data behind the pictures goes to target/bench/plots/*.dat; the
# pictures are drawn with gnuplot (scripts/install-test-deps.sh bench).
#
# Usage: scripts/bench/plots.sh [SECONDS] [SIZE_SECONDS]   (default 5, 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
. scripts/bench/postgres.sh
seconds="${1:-5}"
size_seconds="${2:-60}"
levels="1 2 4 8 16 32 64 128 256"
scripts/install-test-deps.sh bench >/dev/null
pg_install
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
data=target/bench/plots
mkdir -p "$data" Docs/benchmarks
work=$(mktemp -d)
chmod 755 "$work"
sidecar=""
cleanup() {
  [ -n "$sidecar" ] && kill "$sidecar" 2>/dev/null || true
  pg_stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

port=18818
start_sidecar() {
  rm -rf "$work/arxi" && mkdir -p "$work/arxi"
  bench_sidecar_config "$port" signer.key > "$work/arxi/sidecar.toml"
  "${CARGO_TARGET_DIR:-target}/release/arxi-sidecar" --config "$work/arxi/sidecar.toml" 2> "$work/arxi/sidecar.log" &
  sidecar=$!
  bench_wait_http "http://127.0.0.1:$port/ready" "$work/arxi/sidecar.log" || { echo "plots: the sidecar did not become ready" >&2; exit 1; }
}
stop_sidecar() { kill "$sidecar"; wait "$sidecar" 2>/dev/null || true; sidecar=""; }

# wrk against the sidecar: prints "RATE" (requests/s) and keeps the
# latency distribution in $2 (lines "P MICROSECONDS").
arxi_wrk() {
  local connections=$1 latency_file=$2 script=$3 path=$4
  BASE_SCRIPT="$script" wrk -t"$((connections < 2 ? 1 : 2))" -c"$connections" -d"${seconds}s" --timeout 30s \
    -s scripts/bench/latency-dump.lua "http://127.0.0.1:$port$path" > "$work/wrk.txt" 2>&1
  if grep -q "^non-2xx responses: [1-9]" "$work/wrk.txt"; then
    echo "plots: refused answers at $connections connections" >&2; cat "$work/wrk.txt" >&2; exit 1
  fi
  awk '/^latency / {print $2, $3}' "$work/wrk.txt" > "$latency_file"
  awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt"
}

# 1. arxi, single and batch, each on a fresh data directory.
start_sidecar
: > "$data/arxi-single.dat"
for c in $levels; do
  rate=$(arxi_wrk "$c" "$data/arxi-single-latency-$c.dat" scripts/bench/post-envelope.lua /v1/envelopes)
  echo "$c $rate" >> "$data/arxi-single.dat"
  echo "arxi single, $c connections: $rate envelopes/s"
done
stop_sidecar
start_sidecar
: > "$data/arxi-batch.dat"
for c in $levels; do
  rate=$(BATCH=100 arxi_wrk "$c" "$data/arxi-batch-latency-$c.dat" scripts/bench/post-batch.lua /v1/envelopes/batch)
  envelopes=$(awk -v r="$rate" 'BEGIN {printf "%.0f", r * 100}')
  echo "$c $envelopes" >> "$data/arxi-batch.dat"
  echo "arxi batch of 100, $c connections: $envelopes envelopes/s"
done
stop_sidecar

# 2. Database size over a sustained batch ingest.
start_sidecar
BATCH=100 BASE_SCRIPT=scripts/bench/post-batch.lua wrk -t2 -c64 -d"${size_seconds}s" --timeout 30s \
  -s scripts/bench/latency-dump.lua "http://127.0.0.1:$port/v1/envelopes/batch" > "$work/size-wrk.txt" 2>&1 &
load=$!
: > "$data/dbsize.dat"
started=$(date +%s.%N)
while kill -0 "$load" 2>/dev/null; do
  now=$(date +%s.%N)
  bytes=$(stat -c %s "$work/arxi/data/arxi.db" "$work/arxi/data/arxi.db-wal" 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}')
  head=$(curl -sf "http://127.0.0.1:$port/v1/log" | jq -r '.tree_size // 0' 2>/dev/null || echo 0)
  awk -v t="$now" -v s="$started" -v b="$bytes" -v h="$head" 'BEGIN {printf "%.1f %.0f %.0f\n", t - s, b, h}' >> "$data/dbsize.dat"
  sleep 1
done
wait "$load" || true
stop_sidecar

# 3. PostgreSQL, the same JSON: one row per transaction, and 100 rows per
#    INSERT statement.
pgport=15433
pg_start "$work/pg" "$pgport" 300
body=$(wrk_body scripts/bench/post-envelope.lua)
pg_insert_sql "$body" 1 > "$work/insert-1.sql"
pg_insert_sql "$body" 100 > "$work/insert-100.sql"
pg_run() {
  local clients=$1 script=$2 rows=$3 latency_file=$4
  rm -rf "$work/pglog" && mkdir -p "$work/pglog" && chmod 777 "$work/pglog"
  (cd "$work/pglog" && pgbench -h 127.0.0.1 -p $pgport -U postgres -n -M prepared -c "$clients" \
    -j "$((clients < 2 ? 1 : 2))" -T "$seconds" -l -f "$script" postgres > "$work/pgbench.txt" 2>&1)
  # Per-transaction latency (µs) is the third field of pgbench's log.
  cat "$work"/pglog/pgbench_log.* | awk '{print $3}' | sort -n > "$work/pglat.txt"
  awk '{v[NR] = $1} END {n = split("1 5 10 20 30 40 50 60 70 80 90 95 98 99 99.5 99.9", p, " ");
    for (i = 1; i <= n; i++) {k = int(NR * p[i] / 100); if (k < 1) k = 1; print p[i], v[k]}}' \
    "$work/pglat.txt" > "$latency_file"
  awk -v rows="$rows" '/^tps = / {printf "%.0f\n", $3 * rows}' "$work/pgbench.txt" | tail -1
}
: > "$data/pg-single.dat"; : > "$data/pg-batch.dat"
for c in $levels; do
  rate=$(pg_run "$c" "$work/insert-1.sql" 1 "$data/pg-single-latency-$c.dat")
  echo "$c $rate" >> "$data/pg-single.dat"
  echo "postgres single-row INSERT, $c clients: $rate rows/s"
  rate=$(pg_run "$c" "$work/insert-100.sql" 100 "$data/pg-batch-latency-$c.dat")
  echo "$c $rate" >> "$data/pg-batch.dat"
  echo "postgres 100-row INSERT, $c clients: $rate rows/s"
done
pg_version=$("$pgbin/postgres" --version | awk '{print $3}')

# 4. The pictures.
when="$(date -u +%Y-%m-%d), $(nproc) cores, ${seconds} s per point"
gnuplot <<PLOT
set terminal pngcairo size 1000,600 font ",11"
set grid
set key top left
set output "Docs/benchmarks/throughput.png"
set title "Durable writes per second against connections ($when)"
set logscale x 2
set xlabel "connections (PostgreSQL: clients)"
set ylabel "envelopes (rows) per second, acknowledged after fsync"
set yrange [0:*]
plot "$data/arxi-batch.dat" using 1:2 with linespoints lw 2 title "arxi batch POST, 100 envelopes per request", \
     "$data/arxi-single.dat" using 1:2 with linespoints lw 2 title "arxi single-envelope POST", \
     "$data/pg-batch.dat" using 1:2 with linespoints lw 2 dt 2 title "PostgreSQL $pg_version, 100-row INSERT", \
     "$data/pg-single.dat" using 1:2 with linespoints lw 2 dt 2 title "PostgreSQL $pg_version, single-row INSERT"
unset logscale x
set output "Docs/benchmarks/latency.png"
set title "Acknowledgement latency at 64 connections ($when)"
set xlabel "percentile"
set ylabel "milliseconds (log scale)"
set logscale y
set yrange [*:*]
set key top left
plot "$data/arxi-single-latency-64.dat" using 1:(\$2/1000) with linespoints lw 2 title "arxi single-envelope POST", \
     "$data/arxi-batch-latency-64.dat" using 1:(\$2/1000) with linespoints lw 2 title "arxi batch POST (100 envelopes)", \
     "$data/pg-single-latency-64.dat" using 1:(\$2/1000) with linespoints lw 2 dt 2 title "PostgreSQL single-row INSERT", \
     "$data/pg-batch-latency-64.dat" using 1:(\$2/1000) with linespoints lw 2 dt 2 title "PostgreSQL 100-row INSERT"
unset logscale y
set output "Docs/benchmarks/dbsize.png"
set title "arxi database size during batch ingest at 64 connections ($(date -u +%Y-%m-%d), $(nproc) cores)"
set xlabel "seconds"
set ylabel "database and WAL, MB"
set y2label "envelopes stored (millions)"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
plot "$data/dbsize.dat" using 1:(\$2/1e6) with lines lw 2 title "arxi.db + arxi.db-wal (MB)", \
     "$data/dbsize.dat" using 1:(\$3/1e6) axes x1y2 with lines lw 2 dt 2 title "envelopes stored (millions)"
PLOT
echo "wrote Docs/benchmarks/throughput.png, latency.png and dbsize.png (data in $data)"
