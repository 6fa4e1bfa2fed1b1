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
# The browser verifier's test: Debian's chromium, driven from Node.
need chromium chromium
need node nodejs
need npm npm
# The client examples (Docs/examples/clients/): Java's is compiled and run.
need javac openjdk-17-jdk-headless
# promtool checks the Prometheus alert rules (Docs/ops/).
need promtool prometheus
# The PKCS#11 signer's tests: SoftHSM2 (the token) and OpenSC's
# pkcs11-tool (makes the Ed25519 key pair in it).
need softhsm2-util softhsm2
need pkcs11-tool opensc
# The RFC 3161 timestamp tests: a local TSA is `openssl ts -reply`.
need openssl openssl
for group in "${want[@]}"; do
  case "$group" in
    # scripts/bench/plots.sh draws its figures with gnuplot.
    bench) need gnuplot gnuplot-nox ;;
    *) echo "install-test-deps: unknown group $group" >&2; exit 64 ;;
  esac
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser verifier is built for wasm32 (rust-toolchain.toml `targets`;
# rustup installs a listed target with the toolchain, this covers a
# toolchain installed before the target was listed).
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "install-test-deps: rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# A tool built from crates.io with its own lock file into a versioned cache
# outside the clone (scripts/tool-pins.sh), which is checked first. It is
# built in a throw-away target directory and moved into place whole, so an
# interrupted build never leaves a cache entry.
#   cargo_tool CRATE VERSION ROOT BINARY [CARGO INSTALL OPTIONS...]
# The options default to --locked (the tool's own lock file).
cargo_tool() {
  local crate=$1 version=$2 root=$3 binary=$4 partial
  shift 4
  local options=("$@")
  [ "${#options[@]}" -gt 0 ] || options=(--locked)
  [ -x "$binary" ] && return 0
  echo "install-test-deps: building $crate $version into $root"
  mkdir -p "$ARXI_TOOLS_CACHE"
  partial=$(mktemp -d "$root.partial.XXXXXX")
  if ! cargo install "${options[@]}" --quiet --root "$partial/root" --target-dir "$partial/target" \
    "$crate@$version"; then
    rm -rf "$partial"
    return 1
  fi
  # A cargo subcommand (cargo-cyclonedx) answers --version only after its
  # own name.
  local built=$partial/root/bin/$(basename "$binary")
  { "$built" --version 2>/dev/null || "$built" "${crate#cargo-}" --version; } | grep -q " $version"
  # Another run may have finished first; its copy is as good as ours.
  mv -T "$partial/root" "$root" 2>/dev/null || true
  rm -rf "$partial"
  test -x "$binary"
}

# cargo-deny: a cold build costs about 3.5 minutes on the 2-core machine
# (3 min 25 s measured on 2026-12-01, with an apt install of wrk in the same
# run) and leaves an 8.5 MB binary; later runs find the cache and cost
# nothing.
cargo_tool cargo-deny "$CARGO_DENY_VERSION" "$CARGO_DENY_ROOT" "$CARGO_DENY"
# wasm-bindgen's command line, the version of the crate in Cargo.lock. Not
# --locked: its lock file names webpki-roots 1.0.11, which the registry no
# longer serves (checked 2026-12-01), so its dependencies are resolved when
# the cache is built; without TLS (it downloads nothing for us). The binary's
# version is checked all the same.
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" "$WASM_BINDGEN_ROOT" "$WASM_BINDGEN" --no-default-features
# cargo-cyclonedx, for the software bill of materials (scripts/sbom.sh).
cargo_tool cargo-cyclonedx "$CARGO_CYCLONEDX_VERSION" "$CARGO_CYCLONEDX_ROOT" "$CARGO_CYCLONEDX"

# playwright-core, from the committed lock file, into the cache. It is the
# driver only: it never downloads a browser (Debian's chromium is used).
if [ ! -f "$PLAYWRIGHT_ROOT/node_modules/playwright-core/package.json" ]; then
  echo "install-test-deps: npm ci playwright-core $PLAYWRIGHT_CORE_VERSION into $PLAYWRIGHT_ROOT"
  mkdir -p "$ARXI_TOOLS_CACHE"
  partial=$(mktemp -d "$PLAYWRIGHT_ROOT.partial.XXXXXX")
  cp crates/arxi-verify-web/tests/browser/package.json crates/arxi-verify-web/tests/browser/package-lock.json "$partial/"
  (cd "$partial" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  grep -q "\"version\": \"$PLAYWRIGHT_CORE_VERSION\"" "$partial/node_modules/playwright-core/package.json"
  mv -T "$partial" "$PLAYWRIGHT_ROOT" 2>/dev/null || rm -rf "$partial"
fi

# The TypeScript client example's typescript and undici, from its lock file.
if [ ! -f "$CLIENTS_TS_ROOT/node_modules/typescript/package.json" ]; then
  echo "install-test-deps: npm ci the TypeScript client example's packages into $CLIENTS_TS_ROOT"
  mkdir -p "$ARXI_TOOLS_CACHE"
  partial=$(mktemp -d "$CLIENTS_TS_ROOT.partial.XXXXXX")
  cp Docs/examples/clients/typescript/package.json Docs/examples/clients/typescript/package-lock.json "$partial/"
  (cd "$partial" && npm ci --no-audit --no-fund --silent)
  mv -T "$partial" "$CLIENTS_TS_ROOT" 2>/dev/null || rm -rf "$partial"
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

# Garage for the archive suites (system-tests/tests/archive.rs), built the
# same way into the same cache. A cold install is the expensive one: 26
# minutes of CPU and 41 minutes of wall time measured on the busy 2-core
# machine (`cargo install --locked garage@2.5.0`, issue 16), so a fresh
# machine's first CI run spends about 40 minutes here before any test
# (CI's limit is 90); every later run finds the cache and costs nothing.
# The binary is about 40 MB.
if [ ! -x "$GARAGE" ]; then
  echo "install-test-deps: building garage $GARAGE_VERSION into $GARAGE_ROOT (about 40 minutes cold)"
  mkdir -p "$ARXI_TOOLS_CACHE"
  garage_partial=$(mktemp -d "$GARAGE_ROOT.partial.XXXXXX")
  # Replaces the traps above: clean up after every partial install.
  trap 'rm -rf "${partial:-}" "${clients_partial:-}" "$garage_partial"' EXIT
  cargo install --locked --quiet --root "$garage_partial/root" \
    --target-dir "$garage_partial/target" "garage@$GARAGE_VERSION"
  "$garage_partial/root/bin/garage" --version | grep -q "$GARAGE_VERSION"
  mv -T "$garage_partial/root" "$GARAGE_ROOT" 2>/dev/null || true
  test -x "$GARAGE"
fi
