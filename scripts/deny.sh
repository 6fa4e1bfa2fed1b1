#!/usr/bin/env bash
# cargo deny (deny.toml: advisories, licenses, bans, sources) for the
# workspace, without reaching GitHub, where the RustSec advisory database
# lives: this machine and CI reach only the package registries.
#
#   scripts/deny.sh                  every check (what scripts/test.sh runs)
#   scripts/deny.sh licenses bans    some of them
#
# The advisories come from a snapshot of the database (crates/ plus a
# SNAPSHOT file naming the upstream commit and its date) at
# $ARXI_ADVISORY_DB, else ../shared/advisory-db beside the clone, as CI lays
# it out; scripts/update-advisory-db.sh makes one where GitHub is
# reachable. The snapshot is data from outside the project and is not kept
# in this repository. Without one, licenses, bans and sources are still
# checked and the advisories check is reported as NOT RUN, loudly; set
# ARXI_REQUIRE_ADVISORIES=1 to make a missing snapshot a failure.
#
# cargo-deny is the pinned build from scripts/install-test-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tool-pins.sh
if [ ! -x "$CARGO_DENY" ]; then
  echo "deny: no cargo-deny $CARGO_DENY_VERSION at $CARGO_DENY; scripts/install-test-deps.sh builds it" >&2
  exit 1
fi

# The registry is reachable: fetch every crate of every target first (cargo
# build fetches only the host's), so that --offline, which is what stops
# cargo-deny from cloning the advisory database, has all it needs.
cargo fetch --locked --quiet

snapshot=${ARXI_ADVISORY_DB:-../shared/advisory-db}
commit=$(sed -n 's/^commit=//p' "$snapshot/SNAPSHOT" 2>/dev/null || true)
date=$(sed -n 's/^date=//p' "$snapshot/SNAPSHOT" 2>/dev/null || true)
if [ ! -d "$snapshot/crates" ] || [ -z "$commit" ] || [ -z "$date" ]; then
  echo "deny: no advisory database snapshot at $snapshot (crates/ and SNAPSHOT with commit= and date=);" \
    "set ARXI_ADVISORY_DB, or make one with scripts/update-advisory-db.sh" >&2
  if [ "${ARXI_REQUIRE_ADVISORIES:-0}" = 1 ]; then
    exit 1
  fi
  echo "deny: ======== ADVISORIES NOT CHECKED: no snapshot; licenses, bans and sources only ========" >&2
  checks=("$@")
  [ "${#checks[@]}" -gt 0 ] || checks=(licenses bans sources)
  filtered=()
  for check in "${checks[@]}"; do
    [ "$check" = advisories ] || filtered+=("$check")
  done
  "$CARGO_DENY" --offline --locked check "${filtered[@]}"
  exit $?
fi
age_days=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "deny: advisory database $commit of $date ($age_days days old), from $snapshot"
if [ "$age_days" -gt 90 ]; then
  echo "deny: WARNING: the advisory database is over 90 days old; cargo deny fails at" \
    "deny.toml's maximum-db-staleness. Refresh it with scripts/update-advisory-db.sh." >&2
fi

# cargo-deny opens a database at <db-path>/<name from its URL> and, when it
# may not fetch, takes the database's age from the modification time of
# .git/FETCH_HEAD there (get_fetch_time in its src/git.rs). The copy gets the
# snapshot's upstream commit date, so maximum-db-staleness measures what the
# database knows, not when it was copied. A throw-away root also keeps the
# lock file cargo-deny writes out of the (read-only) snapshot.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
db=$root/$CARGO_DENY_ADVISORY_DB_DIR
mkdir -p "$db/.git"
cp -R "$snapshot/crates" "$db/crates"
touch -d "$date" "$db/.git/FETCH_HEAD"

ARXI_ADVISORY_DB_ROOT=$root "$CARGO_DENY" --offline --locked check "$@"
