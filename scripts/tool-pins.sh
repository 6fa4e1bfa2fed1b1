# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the caller
# Sourced by scripts/install-test-deps.sh and scripts/deny.sh: the versions of
# the tools the test command builds from crates.io, and where they are kept.
#
# The cache lives outside the clone because CI clones afresh for every run;
# a versioned directory means a new pin is a new build and an old one is
# never mistaken for it. ARXI_TOOLS_CACHE moves the whole cache.
CARGO_DENY_VERSION=0.20.2
ARXI_TOOLS_CACHE=${ARXI_TOOLS_CACHE:-/var/cache/arxi-tools}
CARGO_DENY_ROOT=$ARXI_TOOLS_CACHE/cargo-deny-$CARGO_DENY_VERSION
CARGO_DENY=$CARGO_DENY_ROOT/bin/cargo-deny
# Where cargo-deny looks for the advisory database of deny.toml's db-urls
# entry, under db-path: the last URL segment and a hash of the URL
# (url_to_db_path in cargo-deny's src/advisories/helpers/db.rs). It belongs to
# this cargo-deny version: after changing the pin, read the new name from
# `cargo-deny -L debug --offline check advisories` ("Opening advisory
# database at ..."); scripts/deny.sh fails on a wrong one ("failed to get
# 'FETCH_HEAD' metadata").
CARGO_DENY_ADVISORY_DB_DIR=advisory-db-3157b0e258782691

# The OpenAPI client generators the contract test runs
# (system-tests/clients/run.sh): two from PyPI into one venv (openapi-python-client; and
# openapi-generator-cli, which ships openapi-generator's jar and needs a
# Java runtime), two from npm into one prefix (openapi-typescript with
# openapi-fetch, and the TypeScript compiler that checks every generated
# client). One cache directory per set of pins.
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
OPENAPI_GENERATOR_CLI_VERSION=7.26.0
OPENAPI_TYPESCRIPT_VERSION=7.13.0
OPENAPI_FETCH_VERSION=0.17.0
TYPESCRIPT_VERSION=5.9.3
CLIENTS_ROOT=$ARXI_TOOLS_CACHE/openapi-clients-py$OPENAPI_PYTHON_CLIENT_VERSION-gen$OPENAPI_GENERATOR_CLI_VERSION-ts$OPENAPI_TYPESCRIPT_VERSION-fetch$OPENAPI_FETCH_VERSION-tsc$TYPESCRIPT_VERSION
# Garage, the S3-compatible object store the archive suites run against
# (system-tests/src/garage.rs reads the same path; ARXI_GARAGE overrides).
GARAGE_VERSION=2.5.0
GARAGE_ROOT=$ARXI_TOOLS_CACHE/garage-$GARAGE_VERSION
GARAGE=${ARXI_GARAGE:-$GARAGE_ROOT/bin/garage}
# wasm-bindgen's command line turns the browser verifier's module
# (crates/arxi-verify-web) into the module and glue the page loads. It must
# be exactly the version of the wasm-bindgen crate in Cargo.lock (the crate
# pins it with `=`); scripts/build-verify-web.sh checks both.
WASM_BINDGEN_VERSION=0.2.130
WASM_BINDGEN_ROOT=$ARXI_TOOLS_CACHE/wasm-bindgen-cli-$WASM_BINDGEN_VERSION
WASM_BINDGEN=$WASM_BINDGEN_ROOT/bin/wasm-bindgen
# playwright-core drives Debian's chromium for the browser test
# (crates/arxi-verify-web/tests/browser/); installed with npm from the
# committed lock file into the cache, never downloading a browser of its own.
PLAYWRIGHT_CORE_VERSION=1.65.1
PLAYWRIGHT_ROOT=$ARXI_TOOLS_CACHE/playwright-core-$PLAYWRIGHT_CORE_VERSION
# cargo-cyclonedx writes the software bill of materials (scripts/sbom.sh).
CARGO_CYCLONEDX_VERSION=0.5.9
CARGO_CYCLONEDX_ROOT=$ARXI_TOOLS_CACHE/cargo-cyclonedx-$CARGO_CYCLONEDX_VERSION
CARGO_CYCLONEDX=$CARGO_CYCLONEDX_ROOT/bin/cargo-cyclonedx
# The TypeScript client example's packages (typescript, undici, @types/node),
# from its committed lock file; the cache is named by the lock's digest, so
# a changed lock is a new install.
CLIENTS_TS_LOCK_SHA256=$(sha256sum Docs/examples/clients/typescript/package-lock.json | cut -c1-16)
CLIENTS_TS_ROOT=$ARXI_TOOLS_CACHE/clients-ts-$CLIENTS_TS_LOCK_SHA256
