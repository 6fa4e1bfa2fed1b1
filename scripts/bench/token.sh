#!/usr/bin/env bash
# Durable POST /v1/envelopes (wrk, 2 threads, 64 connections, the ~1 KB body
# of post-envelope.lua) with the signing key in a file, with the key in a
# SoftHSM2 token ([signer] pkcs11_module ...), and with the token's key as
# the root of delegated keys ([signer] delegate = true: the token signs
# delegations, checkpoints and the signed head, a key in memory the
# envelopes and seals), in the same run: ROUNDS rounds, every signer in
# every round (the order rotating), each on a fresh database. Prints one
# line per run and the token/file and delegated/file ratios of each round;
# the table goes to target/bench/token.txt as well.
#
# Usage: scripts/bench/token.sh [SECONDS] [ROUNDS]   (default 10, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/sidecar-config.sh
seconds="${1:-10}"
rounds="${2:-3}"
scripts/install-test-deps.sh bench >/dev/null
cargo build --release --locked -q -p arxi-sidecar --bin arxi-sidecar
sidecar="$(realpath "${CARGO_TARGET_DIR:-target}")/release/arxi-sidecar"
module=/usr/lib/softhsm/libsofthsm2.so
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The token: SoftHSM2's files in $work/tokens, an Ed25519 pair "recorder".
mkdir -p "$work/tokens"
export SOFTHSM2_CONF="$work/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work/tokens" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label arxi --so-pin 31415 --pin 2718 >/dev/null
pkcs11-tool --module "$module" --token-label arxi --login --pin 2718 \
  --keypairgen --key-type EC:edwards25519 --label recorder >/dev/null 2>&1
printf '2718\n' > "$work/token.pin"
chmod 600 "$work/token.pin"

port=18797

# run SIGNER ROUND: prints "| ROUND | SIGNER | requests/s | p50 | p99 | non-2xx |".
run() {
  local signer=$1 round=$2 dir="$work/$1-$2"
  mkdir -p "$dir"
  bench_sidecar_config "$port" signer.key > "$dir/sidecar.toml"
  if [ "$signer" != file ]; then
    sed -i "s|^key_file = .*|pkcs11_module = \"$module\"\npkcs11_token_label = \"arxi\"\npkcs11_key_label = \"recorder\"\npkcs11_pin_file = \"$work/token.pin\"|; /^generate_if_missing/d" "$dir/sidecar.toml"
  fi
  if [ "$signer" = delegated ]; then
    sed -i "s|^pkcs11_pin_file = .*|&\ndelegate = true|" "$dir/sidecar.toml"
  fi
  (cd "$dir" && exec "$sidecar" --config sidecar.toml 2> sidecar.log) &
  pid=$!
  bench_wait_http "http://127.0.0.1:$port/ready" "$dir/sidecar.log"
  wrk -t2 -c64 -d2s -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" >/dev/null 2>&1
  local result rps p50 p99 non2xx
  result=$(wrk -t2 -c64 -d"${seconds}s" --latency -s scripts/bench/post-envelope.lua "http://127.0.0.1:$port/v1/envelopes" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
  p50=$(awk '$1=="50%" {print $2}' <<<"$result")
  p99=$(awk '$1=="99%" {print $2}' <<<"$result")
  non2xx=$(awk '/non-2xx responses:/ {print $3}' <<<"$result" | head -1)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  printf '| %s | %s | %s | %s | %s | %s |\n' "$round" "$signer" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

{
  echo "# token $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per run, $rounds rounds, $(nproc) cores, $(softhsm2-util --version 2>/dev/null | head -1 | sed 's/^/SoftHSM /')"
  echo
  echo "| round | signer | requests/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    case $((round % 3)) in
      1) order="file token delegated" ;;
      2) order="token delegated file" ;;
      *) order="delegated file token" ;;
    esac
    for signer in $order; do run "$signer" "$round"; done
  done
} | tee "$out/token.txt"
echo
echo "token / file and delegated / file requests/s per round:"
awk -F'|' '$3 ~ /file|token|delegated/ { gsub(/ /, "", $2); gsub(/ /, "", $3); rate[$2, $3] = $4 }
  END { for (k in rate) { split(k, p, SUBSEP); if (p[2] == "file") printf "round %s: token %.3f, delegated %.3f\n", p[1], rate[p[1], "token"] / rate[p[1], "file"], rate[p[1], "delegated"] / rate[p[1], "file"] } }' \
  "$out/token.txt" | sort
