#!/usr/bin/env bash
# The OpenAPI document through mainstream client generators, and a live
# suite through the generated clients (issue 23).
#
#   system-tests/clients/run.sh
#
# Generates from Docs/generated/arxi/apis/sidecar.openapi.json (kept current
# by scripts/ci/generate_all.sh check):
#   - openapi-python-client (PyPI): a Python client; byte-compiled, then the
#     live suite live_python.py runs through it;
#   - openapi-generator (the jar PyPI's openapi-generator-cli ships), targets
#     python (byte-compiled and imported) and typescript-fetch (compiled by
#     tsc, strict);
#   - openapi-typescript (npm): types for openapi-fetch; live.ts is compiled
#     by tsc, strict, and runs through it against the same sidecar.
# The live suites record with an Idempotency-Key and retry it, record with
# attachments, query with paging, seal, build, download and verify a bundle;
# the Python one also checks the timestamp pattern against the server day by
# day. The generators come from the versioned cache scripts/install-test-deps.sh
# fills (scripts/tool-pins.sh). Needs the debug binary (cargo build).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
. scripts/tool-pins.sh
spec=$root/Docs/generated/arxi/apis/sidecar.openapi.json
venv=$CLIENTS_ROOT/venv
npm_root=$CLIENTS_ROOT/npm
tsc=$npm_root/node_modules/.bin/tsc
[ -x "$venv/bin/python" ] && [ -x "$tsc" ] || { echo "clients: generators missing; run scripts/install-test-deps.sh" >&2; exit 1; }
jar=$("$venv/bin/python" -c 'import openapi_generator_cli, os; print(os.path.join(os.path.dirname(openapi_generator_cli.__file__), "openapi-generator.jar"))')
sidecar=${CARGO_TARGET_DIR:-$root/target}/debug/arxi-sidecar
[ -x "$sidecar" ] || { echo "clients: $sidecar is not built" >&2; exit 1; }
started=$(date +%s)
step() { printf '\n==> clients: %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

step "openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION"
# Its post-generation hook runs ruff from the venv.
(cd "$work" && PATH="$venv/bin:$PATH" "$venv/bin/python" -m openapi_python_client generate --path "$spec" \
  --output-path "$work/py" --overwrite --fail-on-warning)
"$venv/bin/python" -m compileall -q "$work/py" >/dev/null

step "openapi-generator $OPENAPI_GENERATOR_CLI_VERSION: python, typescript-fetch"
java -jar "$jar" generate -g python -i "$spec" -o "$work/ogen-py" \
  --package-name arxi_ogen --additional-properties=generateSourceCodeOnly=true >"$work/ogen-py.log" 2>&1 \
  || { cat "$work/ogen-py.log" >&2; exit 1; }
"$venv/bin/python" -m compileall -q "$work/ogen-py" >/dev/null
(cd "$work/ogen-py" && "$venv/bin/python" -c 'import arxi_ogen, arxi_ogen.api; print("imported", len(dir(arxi_ogen.api)), "API names")')
java -jar "$jar" generate -g typescript-fetch -i "$spec" -o "$work/ogen-ts" >"$work/ogen-ts.log" 2>&1 \
  || { cat "$work/ogen-ts.log" >&2; exit 1; }
cat >"$work/ogen-ts/tsconfig.strict.json" <<JSON
{"compilerOptions": {"strict": true, "noEmit": true, "target": "ES2022", "module": "ES2022",
  "moduleResolution": "bundler", "lib": ["ES2022", "DOM"], "skipLibCheck": false},
 "include": ["**/*.ts"]}
JSON
"$tsc" -p "$work/ogen-ts/tsconfig.strict.json"

step "openapi-typescript $OPENAPI_TYPESCRIPT_VERSION with openapi-fetch $OPENAPI_FETCH_VERSION"
mkdir -p "$work/ts"
ln -s "$npm_root/node_modules" "$work/ts/node_modules"
node "$npm_root/node_modules/openapi-typescript/bin/cli.js" "$spec" -o "$work/ts/schema.d.ts" >/dev/null
cp "$root/system-tests/clients/live.ts" "$work/ts/live.ts"
cat >"$work/ts/package.json" <<JSON
{"type": "module"}
JSON
cat >"$work/ts/tsconfig.json" <<JSON
{"compilerOptions": {"strict": true, "exactOptionalPropertyTypes": true, "target": "ES2022",
  "module": "NodeNext", "moduleResolution": "NodeNext", "lib": ["ES2022", "DOM"], "outDir": "out",
  "skipLibCheck": false},
 "files": ["live.ts", "schema.d.ts"]}
JSON
"$tsc" -p "$work/ts/tsconfig.json"

step "a live sidecar"
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/sidecar"
cat >"$work/sidecar/sidecar.toml" <<TOML
config_version = 1
[api]
major_version = 1
[recorder]
id = "clients"
data_dir = "data"
[transport.tcp]
host = "127.0.0.1"
port = $port
[signer]
key_file = "signer.key"
generate_if_missing = true
[security]
mode = "token"
token_file = "token"
TOML
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077 && printf '%s\n' "$token" >"$work/sidecar/token")
export ARXI_CLIENT_TOKEN=$token ARXI_OPENAPI=$spec
"$sidecar" --config "$work/sidecar/sidecar.toml" 2>"$work/sidecar.log" &
pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/sidecar.log" >&2; exit 1; }

step "live suite through the Python client"
PYTHONPATH="$work/py" "$venv/bin/python" "$root/system-tests/clients/live_python.py" "http://127.0.0.1:$port" \
  || { tail -20 "$work/sidecar.log" >&2; exit 1; }

step "live suite through the TypeScript client"
(cd "$work/ts" && node out/live.js "http://127.0.0.1:$port") || { tail -20 "$work/sidecar.log" >&2; exit 1; }

step "done"
