# The benchmarks' sidecar configuration, sourced by the scripts that run
# the release sidecar under wrk so that they all measure the same settings
# (loopback TCP, two workers, admission wide enough for 64 connections,
# start-up verification off).
#
#   bench_sidecar_config PORT KEY_FILE [EXTRA] > sidecar.toml
#
# KEY_FILE is generated when missing. EXTRA (whole TOML tables, e.g. a
# `[log]` table or `[[witness.peers]]`) is appended as given.
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
