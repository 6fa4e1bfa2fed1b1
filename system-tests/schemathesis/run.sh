#!/usr/bin/env bash
# schemathesis (PyPI) against the generated OpenAPI document and a live
# sidecar (the debug binary the suite built): every operation, examples,
# coverage, fuzzing and stateful phases, every check, zero failures
# required. The request schemas state every single-member rule the
# handlers enforce, so a schema-valid request must be accepted
# (positive_data_acceptance) and a schema-invalid one refused
# (negative_data_rejection). The few rules JSON Schema cannot state
# (ordered ranges, unique attachment names, keys that are curve points)
# are kept for positive cases by hooks.py, which says why for each.
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
"${CARGO_TARGET_DIR:-target}/debug/arxi-sidecar" --config "$work/sidecar.toml" 2> "$work/sidecar.log" &
pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.05; done
# The recorder's own public key: real keys for verifyBundle's positive cases.
ARXI_SCHEMATHESIS_KEYS=$(curl -sf "http://127.0.0.1:$port/v1/keys" | jq -r '[.keys[].public_key] | join(",")')
[ -n "$ARXI_SCHEMATHESIS_KEYS" ] || { echo "schemathesis: could not read the recorder's keys" >&2; exit 1; }
export ARXI_SCHEMATHESIS_KEYS
export PYTHONPATH="$PWD/system-tests/schemathesis" SCHEMATHESIS_HOOKS=hooks
(cd "$work" && "$OLDPWD/$venv/bin/schemathesis" run "$OLDPWD/Docs/generated/arxi/apis/sidecar.openapi.json" \
  --url "http://127.0.0.1:$port" --checks all \
  -n "$examples" --seed ${ARXI_SCHEMATHESIS_SEED:-20261123} --no-color) || { tail -20 "$work/sidecar.log" >&2; exit 1; }
