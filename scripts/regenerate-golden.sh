#!/usr/bin/env bash
# Regenerates the golden evidence vectors (crates/arxi-format/testdata/golden)
# and the conformance suite (Docs/conformance) from
# their deterministic generators (fixed keys, fixed clock). CI fails when the
# committed files and the generators disagree; run this only for a deliberate
# format change, which also bumps the record version.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p arxi-format --example regenerate_golden
cargo run --quiet -p arxi-verify --example regenerate_conformance
