#!/usr/bin/env bash
# schemathesis (PyPI) against the generated OpenAPI document and a live
# sidecar (the debug binary the suite built): every operation, examples,
# coverage, fuzzing and stateful phases, every check but one, zero
# failures required.
#
# Excluded: positive_data_acceptance ("schema-valid request rejected").
# The request schemas state the JSON shape; some rules are checked beyond
# what JSON Schema expresses (label lengths in bytes, timestamps that
# exist, public keys that are points on the curve, cursors the recorder
# issued, integers within ±(2^53-1) inside free-form payloads), and those
# requests are refused with a typed 4xx, as they should be. Everything
# else, including that schema-violating requests are refused, that
# answers match their declared schemas, statuses and media types, and
# that no request causes a 5xx, is checked.
#
# Usage: system-tests/schemathesis/run.sh [EXAMPLES]   (default 100 per operation)
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${1:-100}"
version=4.32.5
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
cat > "$work/sidecar.toml" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "schemathesis"
data_dir = "data"
[transport.tcp]
host = "127.0.0.1"
port = $port
[signer]
key_file = "signer.key"
generate_if_missing = true
TOML
target/debug/arxi-sidecar --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.05; done
(cd "$work" && "$OLDPWD/$venv/bin/schemathesis" run "$OLDPWD/Docs/generated/arxi/apis/sidecar.openapi.json" \
  --url "http://127.0.0.1:$port" --checks all --exclude-checks positive_data_acceptance \
  -n "$examples" --seed 20261123 --no-color) || { tail -20 "$work/sidecar.log" >&2; exit 1; }
