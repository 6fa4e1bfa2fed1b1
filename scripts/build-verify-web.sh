#!/usr/bin/env bash
# Builds the browser verifier: crates/arxi-verify-web for wasm32 (release),
# wasm-bindgen's glue for it, and the one HTML file that carries both
# (crates/arxi-verify-web/page/assemble.mjs).
#   scripts/build-verify-web.sh [OUT.html]
# Default OUT: $CARGO_TARGET_DIR/verify-web/arxi-verify.html (target/ when
# unset). Needs scripts/install-test-deps.sh first (the wasm32 target and
# wasm-bindgen-cli in the tool cache).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tool-pins.sh
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/verify-web/arxi-verify.html}
locked=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print}' Cargo.lock)
if [ "$locked" != "$WASM_BINDGEN_VERSION" ]; then
  echo "build-verify-web: Cargo.lock has wasm-bindgen $locked, scripts/tool-pins.sh pins the CLI at $WASM_BINDGEN_VERSION; they must match" >&2
  exit 1
fi
if [ ! -x "$WASM_BINDGEN" ]; then
  echo "build-verify-web: $WASM_BINDGEN is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi
cargo build --quiet --locked --release --lib -p arxi-verify-web --target wasm32-unknown-unknown
glue=$(mktemp -d)
trap 'rm -rf "$glue"' EXIT
"$WASM_BINDGEN" --target no-modules --no-typescript --out-dir "$glue" \
  "$target/wasm32-unknown-unknown/release/arxi_verify_web.wasm"
mkdir -p "$(dirname "$out")"
node crates/arxi-verify-web/page/assemble.mjs "$glue/arxi_verify_web.js" "$glue/arxi_verify_web_bg.wasm" "$out"
