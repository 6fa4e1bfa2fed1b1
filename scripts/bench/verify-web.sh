#!/usr/bin/env bash
# The browser verifier's throughput beside the native CLI's, in one run, as
# Docs/benchmarks.md reports it: builds the release `arxi`, then runs the
# browser test (crates/arxi-verify-web/tests/browser/run.sh) with a large
# bundle recorded through the sidecar and ARXI_CLI set to the release
# binary. Prints the figures; $CARGO_TARGET_DIR/verify-web/bench.json keeps
# them.
#   scripts/bench/verify-web.sh [ENVELOPES]     (default 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p arxi-verify --bin arxi
ARXI_BENCH_ENVELOPES=${1:-100000} ARXI_CLI=$target/release/arxi \
  crates/arxi-verify-web/tests/browser/run.sh
cat "$target/verify-web/bench.json"
