#!/usr/bin/env bash
# Generates the API contract documents from the code's own definitions:
#   Docs/generated/arxi/apis/sidecar.openapi.json  (OpenAPI 3.1: route table + body types)
#   Docs/generated/arxi/apis/sidecar.errors.json   (the RFC 9457 error registry)
#   Docs/generated/arxi/apis/sidecar.enums.json    (every enumeration the API exposes)
#   Docs/generated/arxi/apis/sidecar.examples.json (example bodies built from the body types)
#   Docs/generated/arxi/format/findings.json       (every finding code of the verifier, `arxi findings`)
#   Docs/generated/arxi/config/limits.md            (the [limits] reference, from the limits table)
# The compat gate (crates/arxi-sidecar/tests/contract.rs) compares them with
# the released baseline in Docs/generated/arxi/apis/baseline/ and allows
# additive changes only. The findings registry is checked against the table
# in Docs/format.md by crates/arxi-verify/tests/contract.rs.
# Usage: scripts/ci/generate_all.sh          write the files
#        scripts/ci/generate_all.sh check    fail if any file differs
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-write}"
out=Docs/generated/arxi/apis
cargo build --quiet --locked -p arxi-sidecar --bin arxi-sidecar
cargo build --quiet --locked -p arxi-verify --bin arxi
binary="${CARGO_TARGET_DIR:-target}/debug/arxi-sidecar"
arxi="${CARGO_TARGET_DIR:-target}/debug/arxi"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
documents=(openapi errors enums examples)
for document in "${documents[@]}"; do
  "$binary" contract "$document" > "$tmp/sidecar.$document.json"
done
"$arxi" findings > "$tmp/findings.json"
"$binary" contract limits > "$tmp/limits.md"
status=0
# (generated file, where it is published)
outputs=()
for document in "${documents[@]}"; do
  outputs+=("sidecar.$document.json:$out")
done
outputs+=("findings.json:Docs/generated/arxi/format")
outputs+=("limits.md:Docs/generated/arxi/config")
for output in "${outputs[@]}"; do
  file="${output%%:*}"
  dir="${output#*:}"
  if [ "$mode" = check ]; then
    if ! diff -u "$dir/$file" "$tmp/$file"; then
      echo "generate_all: $dir/$file is out of date; run scripts/ci/generate_all.sh" >&2
      status=1
    fi
  else
    mkdir -p "$dir"
    cp "$tmp/$file" "$dir/$file"
    echo "wrote $dir/$file"
  fi
done
exit "$status"
