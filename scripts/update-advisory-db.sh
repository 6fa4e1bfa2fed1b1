#!/usr/bin/env bash
# Makes or refreshes the RustSec advisory database snapshot that
# scripts/deny.sh checks the dependency graph against.
#
#   scripts/update-advisory-db.sh [--from GIT_DIR] [--rev REV] [DEST]
#
# DEST defaults to ../shared/advisory-db, beside the clone, where CI finds it
# (scripts/deny.sh reads ARXI_ADVISORY_DB, else that path). Without --from it
# clones the upstream repository, so it needs a machine that reaches GitHub;
# --from takes any local clone or mirror of it instead, bare or not. REV
# defaults to main.
#
# The snapshot keeps only what cargo deny reads, `crates/` (advisories for
# crates.io crates; `rust/` is about the toolchain and is not read), plus the
# database's LICENSE.txt (CC0-1.0), and adds SNAPSHOT (the upstream commit and
# its date: scripts/deny.sh takes the database's age from that date) and a
# README. The old snapshot is replaced whole, never merged.
set -euo pipefail
upstream=https://github.com/rustsec/advisory-db
from=
rev=main
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$2; shift 2 ;;
    --rev) rev=$2; shift 2 ;;
    -*) echo "update-advisory-db: unknown option $1" >&2; exit 64 ;;
    *) break ;;
  esac
done
[ $# -le 1 ] || { echo "update-advisory-db: one DEST at most" >&2; exit 64; }
cd "$(dirname "$0")/.."
dest=${1:-../shared/advisory-db}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$from" ]; then
  git clone --quiet --bare "$upstream" "$work/upstream.git"
  from=$work/upstream.git
fi
commit=$(git -C "$from" rev-parse --verify "$rev^{commit}")
date=$(git -C "$from" show -s --format=%cI "$commit")

mkdir "$work/snapshot"
git -C "$from" archive "$commit" crates LICENSE.txt | tar -x -C "$work/snapshot"
count=$(find "$work/snapshot/crates" -name 'RUSTSEC-*.md' | wc -l)
# The database has held over a thousand advisories since 2024; far fewer
# means the wrong tree or a broken copy.
[ "$count" -ge 1000 ] || { echo "update-advisory-db: only $count advisories in $commit" >&2; exit 1; }

printf 'commit=%s\ndate=%s\n' "$commit" "$date" > "$work/snapshot/SNAPSHOT"
cat > "$work/snapshot/README.md" <<EOF
# RustSec advisory database snapshot

Data only: the \`crates/\` advisories of $upstream
at commit \`$commit\` ($date), $count advisories, with the
database's LICENSE.txt (CC0-1.0). arxi's \`scripts/deny.sh\` checks the
dependency graph against it with \`cargo deny\`, offline; its age counts from
the commit date above. Made by arxi's \`scripts/update-advisory-db.sh\` on
$(date -u +%Y-%m-%d); run it again to refresh, never edit by hand.
EOF

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new"
cp -R "$work/snapshot" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "update-advisory-db: $dest holds $count advisories at $commit ($date), $(du -sh "$dest" | cut -f1)"
