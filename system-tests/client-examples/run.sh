#!/usr/bin/env bash
# The client examples (Docs/examples/clients/) against a live sidecar, as
# scripts/test.sh runs them: the debug sidecar with token auth on TCP and a
# Unix socket, and flaky_proxy.py in front of its TCP port answering the
# first two attempts of every idempotency key with 503 and 429
# (Retry-After: 1). Each example must record through the proxy, having
# waited as told and kept its key, and read its envelope back; Python and
# TypeScript also record over the Unix socket; a repeated key replays the
# first receipt. Needs scripts/install-test-deps.sh and the debug binaries.
#
#   system-tests/client-examples/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. scripts/tool-pins.sh
target=${CARGO_TARGET_DIR:-$root/target}
examples=$root/Docs/examples/clients
work=$(mktemp -d /tmp/arxi-clients.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
check() {
  if eval "$2"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAILED: $1" >&2; fi
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
  local deadline=$((SECONDS + 60))
  until eval "$1" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "clients: timed out waiting for $2" >&2; cat "$work"/*.log >&2; exit 1; }
    sleep 0.1
  done
}

port=$(free_port)
proxy_port=$(free_port)
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
chmod 600 "$work/token"
cat >"$work/sidecar.toml" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "clients-test"
data_dir = "data"
[transport.tcp]
host = "127.0.0.1"
port = $port
[transport.unix]
path = "arxi.sock"
mode = "0600"
[security]
mode = "token"
token_file = "token"
[signer]
key_file = "data/signer.key"
generate_if_missing = true
TOML
mkdir -p "$work/data"
(cd "$work" && exec "$target/debug/arxi-sidecar" serve --config sidecar.toml 2>"$work/sidecar.log") &
pids+=($!)
python3 system-tests/client-examples/flaky_proxy.py "$proxy_port" "$port" "$work/proxy.jsonl" 2>"$work/proxy.log" &
pids+=($!)
wait_for "curl -sf http://127.0.0.1:$port/ready" "the sidecar"
wait_for "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $proxy_port)).close()'" "the proxy"
export ARXI_TOKEN_FILE=$work/token
proxy=http://127.0.0.1:$proxy_port

# Waited as told (two refusals, a second apart) with one key throughout.
retried() {
  python3 - "$work/proxy.jsonl" "$1" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
mine = [line for line in lines if line["key"] == sys.argv[2] and line["method"] == "POST"]
assert [line["refused"] for line in mine] == [503, 429, None], mine
assert all(later["at"] - earlier["at"] >= 0.95 for earlier, later in zip(mine, mine[1:])), mine
PY
}

# Python: through the proxy (TCP), then over the Unix socket.
ARXI_URL=$proxy ARXI_IDEMPOTENCY_KEY=py-tcp-1 python3 "$examples/python/arxi_client.py" >"$work/py-tcp.json"
check "python records through 503 and 429 with Retry-After" 'retried py-tcp-1'
ARXI_SOCKET=$work/arxi.sock ARXI_IDEMPOTENCY_KEY=py-unix-1 python3 "$examples/python/arxi_client.py" >"$work/py-unix.json"
check "python records over the Unix socket" 'jq -e ".seq > 0" "$work/py-unix.json" >/dev/null'
ARXI_URL=http://127.0.0.1:$port ARXI_IDEMPOTENCY_KEY=py-tcp-1 python3 "$examples/python/arxi_client.py" >"$work/py-replay.json"
check "a repeated idempotency key replays the first receipt" '[ "$(jq .seq "$work/py-replay.json")" = "$(jq .seq "$work/py-tcp.json")" ]'

# TypeScript: compiled with its locked typescript and undici (tool cache).
mkdir -p "$work/ts"
cp "$examples/typescript/client.ts" "$examples/typescript/tsconfig.json" "$examples/typescript/package.json" "$work/ts/"
ln -s "$CLIENTS_TS_ROOT/node_modules" "$work/ts/node_modules"
(cd "$work/ts" && node node_modules/typescript/bin/tsc -p .)
ARXI_URL=$proxy ARXI_IDEMPOTENCY_KEY=ts-tcp-1 node "$work/ts/dist/client.js" >"$work/ts-tcp.json"
check "typescript records through 503 and 429 with Retry-After" 'retried ts-tcp-1'
ARXI_SOCKET=$work/arxi.sock ARXI_IDEMPOTENCY_KEY=ts-unix-1 node "$work/ts/dist/client.js" >"$work/ts-unix.json"
check "typescript records over the Unix socket (undici)" 'jq -e ".seq > 0" "$work/ts-unix.json" >/dev/null'

# Java: the single source file, launched as it stands.
ARXI_URL=$proxy ARXI_IDEMPOTENCY_KEY=java-tcp-1 java "$examples/java/ArxiClient.java" >"$work/java-tcp.json"
check "java records through 503 and 429 with Retry-After" 'retried java-tcp-1'

# Each recorded exactly once: five keys, five envelopes.
count=$(curl -sf -H "Authorization: Bearer $(cat "$work/token")" -H 'Content-Type: application/json' \
  -d '{"type":"orders.created"}' "http://127.0.0.1:$port/v1/query/envelopes" | jq '.envelopes | length')
check "every example recorded once (5 envelopes, $count found)" '[ "$count" = 5 ]'
for file in "$work"/*-tcp.json "$work"/*-unix.json; do cat "$file"; done
echo "clients: $passed passed, $failed failed"
[ "$failed" = 0 ]
