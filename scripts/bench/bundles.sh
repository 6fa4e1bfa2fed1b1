#!/usr/bin/env bash
# Bundle build and verify at scale: throughput and peak resident memory
# against bundle size (Docs/benchmarks.md, "Audit bundles").
#
# Usage: scripts/bench/bundles.sh [WORKDIR] [SIZES...]
#   WORKDIR defaults to /tmp/arxi-bundle-bench (needs ~1.1 GB per million
#   envelopes for the database and as much again for the bundle);
#   SIZES default to 10000 100000 1000000 envelopes.
# Each size is populated once (kept for reruns), then built, then verified
# by the library (batched and one by one) and by the `arxi` CLI under
# /usr/bin/time (wall time and peak RSS of the whole process).
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-/tmp/arxi-bundle-bench}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
cargo build --quiet --release -p arxi-recorder --example bundle_bench
cargo build --quiet --release -p arxi-verify --bin arxi
bench=target/release/examples/bundle_bench
mkdir -p "$work"
for n in "${sizes[@]}"; do
  dir="$work/$n"
  if [ ! -f "$dir/bench.pub" ]; then
    rm -rf "$dir"
    "$bench" populate "$dir" "$n"
  fi
  rm -rf "$dir/bundles"
  "$bench" build "$dir"
  file=$(ls "$dir"/bundles/*.arxb)
  "$bench" verify "$file" "$dir/bench.pub" 4096
  "$bench" verify "$file" "$dir/bench.pub" 1
  "$bench" verify "$file" "$dir/bench.pub" 4096 2
  /usr/bin/time -f '{"phase":"cli verify","seconds":%e,"peak_rss_kib":%M}' \
    target/release/arxi bundle verify "$file" --key "$dir/bench.pub" --threads 2 > /dev/null
done
