#!/usr/bin/env bash
# The browser verifier's test, in a real browser (scripts/test.sh runs it):
# builds the page (scripts/build-verify-web.sh), starts the debug sidecar
# serving it at /verify, records a large bundle through the sidecar for the
# throughput figure, then drives Debian's chromium with verify-page.cjs
# (the conformance suite's verdicts and codes as rendered, the golden
# bundle's tables and attachment download, the tampered report, the page
# from disk, the page against the native CLI on the large bundle).
#
#   crates/arxi-verify-web/tests/browser/run.sh
# Environment: ARXI_BENCH_ENVELOPES (default 20000; 0 skips the figure),
# ARXI_CLI (the native verifier timed beside the page; default the debug
# build), ARXI_UPDATE_SCREENSHOT=1 copies the screenshot to
# Docs/images/verify-web.png. Writes $CARGO_TARGET_DIR/verify-web/.
# Needs scripts/install-test-deps.sh and `cargo build --workspace --bins`.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
root=$(pwd)
. scripts/tool-pins.sh
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/verify-web
envelopes=${ARXI_BENCH_ENVELOPES:-20000}
cli=${ARXI_CLI:-$target/debug/arxi}
mkdir -p "$out"

scripts/build-verify-web.sh "$out/arxi-verify.html"

work=$(mktemp -d /tmp/arxi-verify-web.XXXXXX)
sidecar_pid=
cleanup() {
  if [ -n "$sidecar_pid" ]; then
    kill -TERM "$sidecar_pid" 2>/dev/null || true
    wait "$sidecar_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sidecar.toml" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "browser-test"
data_dir = "data"
[transport.tcp]
host = "127.0.0.1"
port = $port
[signer]
key_file = "data/signer.key"
generate_if_missing = true
[web]
verifier_page_file = "$out/arxi-verify.html"
TOML
mkdir -p "$work/data"
"$target/debug/arxi-sidecar" serve --config "$work/sidecar.toml" 2>"$work/sidecar.log" &
sidecar_pid=$!
api=http://127.0.0.1:$port
deadline=$((SECONDS + 60))
until curl -sf "$api/ready" >/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$sidecar_pid" 2>/dev/null; then
    cat "$work/sidecar.log" >&2
    echo "verify-web: the sidecar did not become ready" >&2
    exit 1
  fi
  sleep 0.1
done

bench_env=()
if [ "$envelopes" -gt 0 ]; then
  # Batches of 1,000 envelopes of about 200 bytes of payload each.
  python3 - "$work/batch.json" <<'PY'
import json, sys
envelopes = [{"type": "orders.placed", "actor": "bench", "subject": f"order/{n}",
              "payload": {"n": n, "note": "x" * 160}} for n in range(1000)]
json.dump({"envelopes": envelopes}, open(sys.argv[1], "w"))
PY
  for _ in $(seq 1 $(((envelopes + 999) / 1000))); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$work/batch.json" "$api/v1/envelopes/batch"
  done
  curl -sf -o /dev/null -X POST "$api/v1/segments/seal"
  id=$(curl -sf -X POST -H 'Idempotency-Key: browser-bench' "$api/v1/bundles/build" | jq -r .bundle.id)
  curl -sf -o "$work/bench.arxb" "$api/v1/bundles/download?id=$id"
  curl -sf "$api/v1/keys" | jq -r '.keys[].public_key' >"$work/bench.pub"
  recorded=$(curl -sf "$api/metrics" | awk '/^arxi_recorder_head_seq /{print $2}')
  bench_env=(ARXI_BENCH_BUNDLE="$work/bench.arxb" ARXI_BENCH_KEY="$work/bench.pub" ARXI_BENCH_ENVELOPES="$recorded" ARXI_CLI="$cli")
fi

env ARXI_PLAYWRIGHT_ROOT="$PLAYWRIGHT_ROOT" ARXI_CONFORMANCE_DIR="$root/Docs/conformance" \
  ARXI_PAGE_URL="$api/verify" ARXI_PAGE_FILE="$out/arxi-verify.html" ARXI_OUT_DIR="$out" \
  "${bench_env[@]}" node crates/arxi-verify-web/tests/browser/verify-page.cjs

if [ "${ARXI_UPDATE_SCREENSHOT:-0}" = 1 ]; then
  mkdir -p Docs/images
  cp "$out/verify-web.png" Docs/images/verify-web.png
  echo "verify-web: wrote Docs/images/verify-web.png"
fi
