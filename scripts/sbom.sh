#!/usr/bin/env bash
# Writes the software bill of materials of the shipped binaries: CycloneDX
# 1.5 JSON from Cargo.lock, by cargo-cyclonedx (pinned in
# scripts/tool-pins.sh, built into the tool cache by
# scripts/install-test-deps.sh), for the Linux target the release builds.
#   scripts/sbom.sh OUT_DIR
# Writes OUT_DIR/arxi-sidecar.cdx.json and OUT_DIR/arxi-verify.cdx.json and
# checks that each names its crate and the crates it is built from.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tool-pins.sh
out=${1:?usage: scripts/sbom.sh OUT_DIR}
mkdir -p "$out"
if [ ! -x "$CARGO_CYCLONEDX" ]; then
  echo "sbom: $CARGO_CYCLONEDX is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi
# cargo-cyclonedx writes one document beside every workspace member's
# Cargo.toml, under the name given here; the two shipped ones are moved out
# and every other is removed (also on failure).
name=arxi-sbom-$$
cleanup() { find crates system-tests -name "$name.json" -delete; }
trap cleanup EXIT
"$CARGO_CYCLONEDX" cyclonedx --format json --spec-version 1.5 --target x86_64-unknown-linux-gnu \
  --override-filename "$name" >/dev/null
for package in arxi-sidecar arxi-verify; do
  mv "crates/$package/$name.json" "$out/$package.cdx.json"
  jq -e --arg name "$package" '
    .bomFormat == "CycloneDX" and .specVersion == "1.5"
    and .metadata.component.name == $name
    and ([.components[].name] | index("arxi-format") != null)
  ' "$out/$package.cdx.json" >/dev/null || { echo "sbom: $out/$package.cdx.json is not the expected CycloneDX document" >&2; exit 1; }
  echo "sbom: $out/$package.cdx.json ($(jq '.components | length' "$out/$package.cdx.json") components)"
done
