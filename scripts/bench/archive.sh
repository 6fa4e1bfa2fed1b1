#!/usr/bin/env bash
# Archiving and retention under sustained load, one run, one machine
# (Docs/benchmarks.md, "Archive and retention"):
#   1. ingest alone: the release sidecar, archive off, wrk with 64
#      connections of durable POST /v1/envelopes (1 KB JSON) for SECONDS;
#   2. the same with the archive on, uploading to a local Garage node
#      (segments of 10,000 envelopes), archive lag sampled every second, and
#      the time to catch up once the load stops; runs 1 and 2 once more,
#      alternating, for their spread;
#   3. the same with segments of 100,000 envelopes (bundles ten times as
#      large): the sidecar's peak resident memory, against run 2's;
#   4. retention: archive and retention on (keep 5 sealed segments of
#      100,000 envelopes, 0 days), wrk until at least ENVELOPES envelopes are
#      recorded; the database file's size (arxi.db plus its WAL) sampled
#      every second into target/bench/retention.csv and plotted to
#      Docs/benchmarks/retention-db-size.png (gnuplot, installed from Debian
#      when missing).
# Figures to stdout and target/bench/archive.txt. Not in CI (minutes of
# load on both cores).
#
# With BATCH > 0 the load of runs 1 to 3 is POST /v1/envelopes/batch with
# BATCH envelopes per request (scripts/bench/post-batch.lua), which offers
# more envelopes per second than single requests can on two cores; every
# run then also reports envelopes per second (the head sequence number's
# growth over the run).
#
# RATE > 0 (with BATCH) offers RATE envelopes per second instead of as
# many as the sidecar answers: whether archiving keeps up with a given
# ingest rate, and at what latency, archive on and off. The requests
# follow a fixed schedule (scripts/bench/post-batch.lua), not a pause
# after each answer, so a slower answer does not lower the rate offered;
# only a sidecar that cannot answer that fast with CONNECTIONS requests
# in flight reaches less.
#
# Usage: scripts/bench/archive.sh [SECONDS] [ENVELOPES] [BATCH] [RATE]
#        (default 30, 3000000, 0, 0; ENVELOPES 0 leaves the retention run out)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-30}"
envelopes="${2:-3000000}"
batch="${3:-0}"
rate="${4:-0}"
# Connections of the batch load (CONNECTIONS; single requests always use 64).
connections="${CONNECTIONS:-64}"
scripts/install-test-deps.sh bench >/dev/null
command -v gnuplot >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
}
. scripts/tool-pins.sh
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
cargo build --release --locked -q -p arxi-archive --bin arxi-archive
target=${CARGO_TARGET_DIR:-target}
sidecar_bin=$(realpath "$target/release/arxi-sidecar")
out=target/bench
mkdir -p "$out" Docs/benchmarks
report=$out/archive.txt
: > "$report"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "$*" | tee -a "$report"; }

# One Garage node on loopback (the archive suites' settings).
key_id=GK0123456789abcdef01234567
secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mkdir -p "$work/garage"
cat > "$work/garage/garage.toml" <<TOML
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:18901"
rpc_public_addr = "127.0.0.1:18901"
rpc_secret = "4425f5c26c5e11581d3223904324dcb5b5d5dfb14e5e7f35e38c595424f5f1e6"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:18900"
root_domain = ".s3.garage.localhost"
TOML
GARAGE_DEFAULT_ACCESS_KEY=$key_id GARAGE_DEFAULT_SECRET_KEY=$secret GARAGE_DEFAULT_BUCKET=arxi-bench \
  RUST_LOG=garage=warn "$GARAGE" -c "$work/garage/garage.toml" server --single-node --default-bucket \
  > "$work/garage/log" 2>&1 &
garage_pid=$!
pids+=("$garage_pid")
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:18900/ && break; sleep 0.2; done

# sidecar_config DIR PORT ARCHIVE(0/1) SEGMENT_ENVELOPES RETENTION(0/1)
sidecar_config() {
  local dir=$1 port=$2 archive=$3 segment=$4 retention=$5
  mkdir -p "$dir"
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key_id" "$secret" > "$dir/s3.credentials"
  chmod 600 "$dir/s3.credentials"
  {
    printf 'config_version = 1\n[api]\nmajor_version = 1\n'
    printf '[recorder]\nid = "bench"\ndata_dir = "data"\nstartup_verification_depth = 0\n'
    printf '[recorder.auto_seal]\nenvelopes_max = %s\nbytes_max = 4294967296\nage_seconds = 86400\n' "$segment"
    printf '[transport]\nworkers = 2\n[transport.tcp]\nhost = "127.0.0.1"\nport = %s\n' "$port"
    printf '[signer]\nkey_file = "signer.key"\ngenerate_if_missing = true\n'
    printf '[limits]\nmax_connections = 4096\nrecorder_queue_capacity = 65536\n'
    if [ "$archive" = 1 ]; then
      printf '[archive]\nendpoint = "http://127.0.0.1:18900"\nregion = "garage"\nbucket = "arxi-bench"\n'
      printf 'key_prefix = "%s/"\npath_style = true\ncredentials = "file"\ncredentials_file = "s3.credentials"\n' "$(basename "$dir")"
    fi
    if [ "$retention" = 1 ]; then
      printf '[retention]\nkeep_segments_min = 5\nkeep_days_min = 0\ncheck_interval_seconds = 2\n'
    fi
  } > "$dir/sidecar.toml"
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }
rss_peak() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }

# run NAME PORT ARCHIVE SEGMENT: wrk for SECONDS, then the catch-up time.
run() {
  local name=$1 port=$2 archive=$3 segment=$4 dir="$work/$1"
  sidecar_config "$dir" "$port" "$archive" "$segment" 0
  (cd "$dir" && exec "$sidecar_bin" --config sidecar.toml 2> sidecar.log) &
  local pid=$!
  pids+=("$pid")
  bench_wait_http "http://127.0.0.1:$port/ready" "$dir/sidecar.log"
  local lag_max=0
  ( while kill -0 "$pid" 2>/dev/null; do bench_metric "$port" arxi_archive_lag_segments; sleep 1; done ) > "$dir/lag" &
  local sampler=$!
  local head_before wrk_started garage_before
  head_before=$(bench_metric "$port" arxi_recorder_head_seq)
  garage_before=$(cpu_seconds "$garage_pid")
  wrk_started=$(date +%s.%N)
  if [ "$batch" -gt 0 ]; then
    BATCH=$batch RATE=$rate THREADS=2 wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/bench/post-batch.lua \
      "http://127.0.0.1:$port/v1/envelopes/batch" > "$dir/wrk"
  else
    wrk -t2 -c64 -d"${seconds}s" -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" > "$dir/wrk"
  fi
  local requests envelope_rate
  requests=$(awk '/Requests\/sec/ { print $2 }' "$dir/wrk")
  envelope_rate=$(awk -v a="$(bench_metric "$port" arxi_recorder_head_seq)" -v b="$head_before" \
    -v t="$(awk -v now="$(date +%s.%N)" -v then="$wrk_started" 'BEGIN { print now - then }')" \
    'BEGIN { printf "%.0f", (a - b) / t }')
  local start catch_up=0
  start=$(date +%s.%N)
  if [ "$archive" = 1 ]; then
    curl -s -X POST "http://127.0.0.1:$port/v1/segments/seal" > /dev/null
    # Caught up: every segment this process sealed is archived.
    until [ "$(bench_metric "$port" arxi_archive_segments_total)" = "$(bench_metric "$port" arxi_recorder_seals_total)" ]; do
      sleep 0.2
    done
    catch_up=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    lag_max=$(sort -n "$dir/lag" | tail -1)
  fi
  kill "$sampler" 2>/dev/null || true
  local cpu_note
  cpu_note="CPU seconds: sidecar $(cpu_seconds "$pid"), garage $(awk -v a="$(cpu_seconds "$garage_pid")" -v b="$garage_before" 'BEGIN { printf "%.1f", a - b }')"
  say "$name: $cpu_note; $requests requests/s, $envelope_rate envelopes/s, latency p50 $(awk '$1 == "50%" { print $2 }' "$dir/wrk") p99 $(awk '$1 == "99%" { print $2 }' "$dir/wrk"); non-2xx: $(awk '/non-2xx/ { print $3 }' "$dir/wrk"); peak RSS $(rss_peak "$pid") KiB; archive lag max ${lag_max:-0} segments; caught up ${catch_up} s after the load; archived $(bench_metric "$port" arxi_archive_segments_total) segments, $(bench_metric "$port" arxi_archive_bytes_total) bytes; load average $(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

say "== archive.sh $(date -u +%FT%TZ), ${seconds} s per run, batch ${batch}, rate ${rate}, ${connections} connections, $(nproc) cores, garage $GARAGE_VERSION"
run off 18810 0 10000
run on-10k 18811 1 10000
run off-2 18812 0 10000
run on-10k-2 18815 1 10000
run on-100k 18813 1 100000
[ "$envelopes" -gt 0 ] || exit 0

# Retention: wrk until ENVELOPES are recorded, the database sampled.
dir="$work/retention"
port=18814
sidecar_config "$dir" "$port" 1 100000 1
(cd "$dir" && exec "$sidecar_bin" --config sidecar.toml 2> sidecar.log) &
pid=$!
pids+=("$pid")
bench_wait_http "http://127.0.0.1:$port/ready" "$dir/sidecar.log"
csv=$out/retention.csv
echo "seconds,envelopes,database_mib,pruned_through_segment,archive_lag_segments" > "$csv"
started=$(date +%s)
(
  while kill -0 "$pid" 2>/dev/null; do
    bytes=$(( $(stat -c %s "$dir/data/arxi.db" 2>/dev/null || echo 0) + $(stat -c %s "$dir/data/arxi.db-wal" 2>/dev/null || echo 0) ))
    echo "$(( $(date +%s) - started )),$(bench_metric "$port" arxi_recorder_head_seq),$(( bytes / 1048576 )),$(bench_metric "$port" arxi_retention_pruned_through_segment),$(bench_metric "$port" arxi_archive_lag_segments)"
    sleep 1
  done
) >> "$csv" &
sampler=$!
while [ "$(bench_metric "$port" arxi_recorder_head_seq)" -lt "$envelopes" ]; do
  wrk -t2 -c64 -d30s -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" >> "$dir/wrk"
done
sleep 10
kill "$sampler" 2>/dev/null || true
recorded=$(bench_metric "$port" arxi_recorder_head_seq)
max_mib=$(tail -n +2 "$csv" | cut -d, -f3 | sort -n | tail -1)
# The retention window's data: 5 kept sealed segments and the open one,
# 100,000 envelopes each, at the bytes per envelope measured before the
# first pruning (the largest size while nothing was pruned, per envelope).
per_envelope=$(tail -n +2 "$csv" | awk -F, '$4 == 0 && $2 > 100000 { if ($3 / $2 > best) best = $3 / $2 } END { printf "%.9f", best }')
window_mib=$(awk -v p="$per_envelope" 'BEGIN { printf "%d", p * 600000 }')
say "retention: $recorded envelopes in $(( $(date +%s) - started )) s; database max ${max_mib} MiB; retention window ~${window_mib} MiB (6 segments x 100,000 envelopes); ratio $(awk -v a="$max_mib" -v b="$window_mib" 'BEGIN { printf "%.2f", a / b }')"
gnuplot <<GNUPLOT
set terminal png size 900,500
set output "Docs/benchmarks/retention-db-size.png"
set datafile separator ","
set title "Database size with retention on (keep 5 sealed segments of 100,000 envelopes)"
set style line 1 lw 2
set xlabel "envelopes recorded (millions)"
set ylabel "arxi.db + WAL (MiB)"
set key top left
set yrange [0:*]
plot "$csv" using (\$2/1e6):3 with lines title "database size", \
     $window_mib with lines dashtype 2 title "retention window data", \
     $(( window_mib * 2 )) with lines dashtype 3 title "2x the window"
GNUPLOT
say "plot: Docs/benchmarks/retention-db-size.png; samples: $csv"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
