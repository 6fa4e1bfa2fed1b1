#!/usr/bin/env bash
# Generates the API contract documents from the code's own definitions:
#   Docs/generated/arxi/apis/sidecar.errors.json   (the RFC 9457 error registry)
# Usage: scripts/ci/generate_all.sh          write the files
#        scripts/ci/generate_all.sh check    fail if any file differs
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-write}"
out=Docs/generated/arxi/apis
cargo build --quiet --locked -p arxi-sidecar --bin arxi-sidecar
binary=target/debug/arxi-sidecar
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$binary" contract errors > "$tmp/sidecar.errors.json"
status=0
for file in sidecar.errors.json; do
  if [ "$mode" = check ]; then
    if ! diff -u "$out/$file" "$tmp/$file"; then
      echo "generate_all: $out/$file is out of date; run scripts/ci/generate_all.sh" >&2
      status=1
    fi
  else
    mkdir -p "$out"
    cp "$tmp/$file" "$out/$file"
    echo "wrote $out/$file"
  fi
done
exit "$status"
