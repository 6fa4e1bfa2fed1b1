#!/usr/bin/env bash
# Generates the API contract documents from the code's own definitions:
#   Docs/generated/arxi/apis/sidecar.openapi.json  (OpenAPI 3.1: route table + body types)
#   Docs/generated/arxi/apis/sidecar.errors.json   (the RFC 9457 error registry)
#   Docs/generated/arxi/apis/sidecar.enums.json    (every enumeration the API exposes)
#   Docs/generated/arxi/apis/sidecar.examples.json (example bodies built from the body types)
#   Docs/generated/arxi/config/limits.md            (the [limits] reference, from the limits table)
# The compat gate (crates/arxi-sidecar/tests/contract.rs) compares them with
# the released baseline in Docs/generated/arxi/apis/baseline/ and allows
# additive changes only.
# Usage: scripts/ci/generate_all.sh          write the files
#        scripts/ci/generate_all.sh check    fail if any file differs
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-write}"
out=Docs/generated/arxi/apis
cargo build --quiet --locked -p arxi-sidecar --bin arxi-sidecar
binary="${CARGO_TARGET_DIR:-target}/debug/arxi-sidecar"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
documents=(openapi errors enums examples)
for document in "${documents[@]}"; do
  "$binary" contract "$document" > "$tmp/sidecar.$document.json"
done
status=0
for document in "${documents[@]}"; do
  file="sidecar.$document.json"
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
limits=Docs/generated/arxi/config/limits.md
"$binary" contract limits > "$tmp/limits.md"
if [ "$mode" = check ]; then
  if ! diff -u "$limits" "$tmp/limits.md"; then
    echo "generate_all: $limits is out of date; run scripts/ci/generate_all.sh" >&2
    status=1
  fi
else
  mkdir -p "$(dirname "$limits")"
  cp "$tmp/limits.md" "$limits"
  echo "wrote $limits"
fi
exit "$status"
