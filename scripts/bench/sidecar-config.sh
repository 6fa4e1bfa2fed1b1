# The benchmarks' sidecar configuration, sourced by the scripts that run
# the release sidecar under wrk so that they all measure the same settings
# (loopback TCP, two workers, admission wide enough for 64 connections,
# start-up verification off).
#
#   bench_sidecar_config PORT KEY_FILE [EXTRA] > sidecar.toml
#
# KEY_FILE is generated when missing. EXTRA (whole TOML tables, e.g. a
# `[log]` table or `[[witness.peers]]`) is appended as given.
#
#   bench_wait_http URL [LOG] [SECONDS]
#
# Waits until URL answers with a 2xx status, up to SECONDS (default 20);
# otherwise says so, prints the end of LOG (the server's) and fails, so a
# benchmark never measures a server that did not start.
#
#   bench_metric PORT NAME
#
# Prints the value of the unlabelled metric NAME from the sidecar on
# 127.0.0.1:PORT (GET /metrics), or nothing when it has none.
bench_sidecar_config() {
  cat <<TOML
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
port = $1
[signer]
key_file = "$2"
generate_if_missing = true
[limits]
max_connections = 4096
max_concurrent_requests = 1024
max_queued_requests = 4096
recorder_queue_capacity = 16384
${3:-}
TOML
}

bench_wait_http() {
  local url=$1 log=${2:-} seconds=${3:-20} i
  for ((i = 0; i < seconds * 20; i++)); do
    curl -sf "$url" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "no answer from $url after ${seconds}s" >&2
  if [ -n "$log" ] && [ -f "$log" ]; then tail -n 40 "$log" >&2; fi
  return 1
}

bench_metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }'
}
