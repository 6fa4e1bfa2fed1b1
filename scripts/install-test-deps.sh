#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the Rust toolchain,
# idempotently (nothing is done when a tool is already present).
#   scripts/install-test-deps.sh          what scripts/test.sh needs
#   scripts/install-test-deps.sh bench    also the load tools for scripts/bench/
set -euo pipefail
want=("$@")
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need curl curl
need jq jq
need strace strace
need wrk wrk
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
