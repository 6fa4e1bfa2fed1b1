#!/usr/bin/env bash
# Runs every fuzz target (crates/arxi-fuzz-targets) with libFuzzer for
# SECONDS each (default 300), from the committed seed corpus, and prints
# executions, corpus size and crashes per target (also to
# target/fuzz/summary.txt). Needs the nightly toolchain (on this machine)
# and cargo-fuzz (installed here when missing). A crash stops the script;
# copy the reported artifact into
# crates/arxi-fuzz-targets/regressions/<target>/ so the ordinary test suite
# replays it for ever after.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(http_request http_framing json_canonical bundle_reader proof_verify)
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
fuzz_dir=crates/arxi-fuzz-targets/fuzz
out=target/fuzz
mkdir -p "$out"
summary="$out/summary.txt"
echo "# fuzz $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per target, $(nproc) cores, $(cargo +nightly --version)" | tee "$summary"
for target in "${targets[@]}"; do
  corpus="$out/corpus/$target"
  artifacts="$out/artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  cp -n crates/arxi-fuzz-targets/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  log="$out/$target.log"
  set +e
  cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" --target-dir "$out/build" "$target" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts" -rss_limit_mb=2048 \
    > "$log" 2>&1
  status=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f | wc -l)
  units=$(find "$corpus" -type f | wc -l)
  echo "$target: ${execs:-?} executions in ${seconds}s, corpus $units inputs, crashes $crashes, exit $status" | tee -a "$summary"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed; artifacts in $artifacts" >&2
    exit 1
  fi
done
