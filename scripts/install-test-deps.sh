#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the Rust toolchain,
# idempotently (nothing is done when a tool is already present).
#   scripts/install-test-deps.sh          what scripts/test.sh needs
#   scripts/install-test-deps.sh bench    also the load tools for scripts/bench/
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tool-pins.sh
want=("$@")
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need curl curl
need jq jq
need strace strace
need wrk wrk
need java default-jre-headless
need node nodejs
need npm npm
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
for group in "${want[@]}"; do
  case "$group" in
    bench) ;;
    *) echo "install-test-deps: unknown group $group" >&2; exit 64 ;;
  esac
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# cargo-deny, built from crates.io with its own lock file into a versioned
# cache outside the clone (scripts/tool-pins.sh), which is checked first.
# A cold install costs about 3.5 minutes on the 2-core machine (3 min 25 s
# measured on 2026-12-01, with an apt install of wrk in the same run) and
# leaves an 8.5 MB binary; later runs find the cache and cost nothing. It is
# built in a throw-away target directory and moved into place whole, so an
# interrupted build never leaves a cache entry.
if [ ! -x "$CARGO_DENY" ]; then
  echo "install-test-deps: building cargo-deny $CARGO_DENY_VERSION into $CARGO_DENY_ROOT"
  mkdir -p "$ARXI_TOOLS_CACHE"
  partial=$(mktemp -d "$CARGO_DENY_ROOT.partial.XXXXXX")
  trap 'rm -rf "$partial"' EXIT
  cargo install --locked --quiet --root "$partial/root" --target-dir "$partial/target" \
    "cargo-deny@$CARGO_DENY_VERSION"
  "$partial/root/bin/cargo-deny" --version | grep -qx "cargo-deny $CARGO_DENY_VERSION"
  # Another run may have finished first; its copy is as good as ours.
  mv -T "$partial/root" "$CARGO_DENY_ROOT" 2>/dev/null || true
  test -x "$CARGO_DENY"
fi

# The OpenAPI client generators (system-tests/clients/run.sh), into a
# versioned cache outside the clone (scripts/tool-pins.sh), built whole in a
# temporary directory and moved into place, as cargo-deny above. A cold
# install is two registry downloads (about 60 MB; 30 to 60 s here).
if [ ! -x "$CLIENTS_ROOT/venv/bin/python" ] || [ ! -x "$CLIENTS_ROOT/npm/node_modules/.bin/tsc" ]; then
  echo "install-test-deps: installing the OpenAPI client generators into $CLIENTS_ROOT"
  mkdir -p "$ARXI_TOOLS_CACHE"
  clients_partial=$(mktemp -d "$CLIENTS_ROOT.partial.XXXXXX")
  # Replaces cargo-deny's trap above: clean up after both.
  trap 'rm -rf "${partial:-}" "$clients_partial"' EXIT
  python3 -m venv "$clients_partial/venv"
  "$clients_partial/venv/bin/pip" install -q \
    "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION" \
    "openapi-generator-cli==$OPENAPI_GENERATOR_CLI_VERSION" \
    urllib3 python-dateutil pydantic typing-extensions
  npm install --silent --no-audit --no-fund --prefix "$clients_partial/npm" \
    "openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION" \
    "openapi-fetch@$OPENAPI_FETCH_VERSION" \
    "typescript@$TYPESCRIPT_VERSION" >/dev/null
  # A venv's scripts name the directory it was made in: after the move the
  # tools run as `venv/bin/python -m ...` (system-tests/clients/run.sh).
  mv -T "$clients_partial" "$CLIENTS_ROOT" 2>/dev/null || true
  test -x "$CLIENTS_ROOT/npm/node_modules/.bin/tsc"
fi
