#!/usr/bin/env bash
# Builds what a release ships, into one directory (Docs/release.md is the
# checklist around it):
#   bin/arxi, bin/arxi-sidecar                 static release binaries
#   share/bash-completion/completions/*, share/zsh/site-functions/_*,
#   share/fish/vendor_completions.d/*.fish     shell completions (clap_complete)
#   share/man/man1/*.1                         man pages (clap_mangen)
#   share/arxi/arxi-verify.html                the browser verifier
#   sbom/*.cdx.json                            CycloneDX SBOMs (scripts/sbom.sh)
#   SHA256SUMS                                 every file above
#
#   scripts/release-artifacts.sh          release build into
#                                         $CARGO_TARGET_DIR/release-artifacts/arxi-VERSION-x86_64-linux
#   scripts/release-artifacts.sh --check  the same from the debug binaries already built (the
#                                         test command: every step but the release build), into
#                                         $CARGO_TARGET_DIR/release-artifacts-check
# The binaries name the commit: ARXI_BUILD_COMMIT, else `git rev-parse`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tool-pins.sh
target=${CARGO_TARGET_DIR:-target}
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
if [ "${1:-}" = --check ]; then
  profile=debug
  out=$target/release-artifacts-check
else
  profile=release
  out=$target/release-artifacts/arxi-$version-x86_64-linux
  ARXI_BUILD_COMMIT=${ARXI_BUILD_COMMIT:-$(git rev-parse --short=12 HEAD)}
  export ARXI_BUILD_COMMIT
  RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
    -p arxi-sidecar --bin arxi-sidecar -p arxi-verify --bin arxi
  target_bin=$target/x86_64-unknown-linux-gnu/release
fi
bin_dir=${target_bin:-$target/$profile}
rm -rf "$out"
mkdir -p "$out/bin" "$out/share/man/man1" "$out/share/bash-completion/completions" \
  "$out/share/zsh/site-functions" "$out/share/fish/vendor_completions.d" "$out/share/arxi" "$out/sbom"
for name in arxi arxi-sidecar; do
  cp "$bin_dir/$name" "$out/bin/$name"
  "$out/bin/$name" --version | grep -q "^$name $version (commit .*, $profile build)$" \
    || { echo "release-artifacts: $name --version does not name $version and the $profile build" >&2; exit 1; }
  "$out/bin/$name" completions bash >"$out/share/bash-completion/completions/$name"
  "$out/bin/$name" completions zsh >"$out/share/zsh/site-functions/_$name"
  "$out/bin/$name" completions fish >"$out/share/fish/vendor_completions.d/$name.fish"
  "$out/bin/$name" man-pages --out "$out/share/man/man1" 2>/dev/null
done
scripts/build-verify-web.sh "$out/share/arxi/arxi-verify.html" >/dev/null
scripts/sbom.sh "$out/sbom"
for page in arxi.1 arxi-sidecar.1 arxi-bundle-export.1 arxi-sidecar-healthcheck.1; do
  [ -s "$out/share/man/man1/$page" ] || { echo "release-artifacts: $page missing" >&2; exit 1; }
done
grep -q "ARXI_WASM_BASE64" "$out/share/arxi/arxi-verify.html"
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)
(cd "$out" && sha256sum --quiet -c SHA256SUMS)
echo "release-artifacts: $(wc -l <"$out/SHA256SUMS") files in $out"
