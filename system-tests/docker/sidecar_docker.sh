#!/usr/bin/env bash
# sidecar_docker: the Docker Compose operator profile, built and run for real.
#
#   system-tests/docker/sidecar_docker.sh
#
# Installs and starts a private Docker engine (scripts/docker-engine.sh),
# makes the local base images (no registry is reachable), checks the
# hardening of the compose file as the engine resolves it, builds the image,
# and then, as an operator would: makes the signing key with the image's own
# CLI, `docker compose up -d --wait`, records envelopes over the published
# port (with the bearer token) and over the bind-mounted Unix socket, seals,
# builds a bundle, verifies it with the CLI from the image, restarts the
# container and checks the data survived, `down` (timed). Checks the
# image's OCI labels, runs the app-over-socket example (an application
# container recording through the shared Unix socket). Then runs the
# image once under a seccomp profile that refuses io_uring and checks the
# sidecar serves on epoll and says so. Prints the image size and the
# suite's time. Needs root (apt, dockerd).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
started=$(date +%s)
step() { printf '\n==> sidecar_docker: %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }
fail() { echo "sidecar_docker: FAILED: $*" >&2; exit 1; }

export ENGINE_DIR=${ARXI_ENGINE_DIR:-$(mktemp -d /tmp/arxi-engine.XXXXXX)}
# shellcheck source=scripts/docker-engine.sh
. scripts/docker-engine.sh
work=$(mktemp -d /tmp/arxi-docker-suite.XXXXXX)
project=arxi-suite-$$
compose_dir=$root/docker/sidecar
export COMPOSE_BAKE=false
compose() { docker compose -p "$project" --project-directory "$compose_dir" -f "$compose_dir/docker-compose.yml" --env-file "$work/.env" "$@"; }
example_dir=$root/docker/examples/app-over-socket
example() { docker compose -p "$project-example" --project-directory "$example_dir" -f "$example_dir/docker-compose.yml" --env-file "$work/example.env" "$@"; }
cleanup() {
  set +e
  if [ -f "$work/.env" ]; then compose down --timeout 5 >/dev/null 2>&1; fi
  docker rm -f "$project-epoll" >/dev/null 2>&1
  example down -v --timeout 5 >/dev/null 2>&1
  engine_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "engine"
engine_install
engine_start
engine_base_images

step "operator files"
uid=10001
port=$((20000 + $$ % 20000))
mkdir -p "$work/data" "$work/run" "$work/secrets"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secrets/token"
chmod 600 "$work/secrets/token"
chown -R "$uid:$uid" "$work/data" "$work/run" "$work/secrets"
token=$(cat "$work/secrets/token")
cat >"$work/.env" <<ENV
ARXI_IMAGE=arxi/sidecar
ARXI_TAG=suite
ARXI_BUILDER_IMAGE=$RUST_BUILDER_IMAGE
ARXI_RUNTIME_IMAGE=scratch
ARXI_UID=$uid
ARXI_GID=$uid
ARXI_PORT=$port
ARXI_CONFIG_FILE=$compose_dir/config/sidecar.toml
ARXI_TOKEN_FILE=$work/secrets/token
ARXI_DATA_DIR=$work/data
ARXI_RUN_DIR=$work/run
ARXI_LOG=info
ARXI_BUILD_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
ARXI_VERSION=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
ARXI_SOURCE=https://example.invalid/arxi
ENV

step "static hardening of the resolved compose file"
compose config --format json >"$work/compose.json"
check() { jq -e "$1" "$work/compose.json" >/dev/null || fail "compose: $2"; }
service='.services["arxi-sidecar"]'
check "$service.read_only == true" "read-only root filesystem"
check "$service.cap_drop == [\"ALL\"]" "all capabilities dropped"
check "$service.security_opt | index(\"no-new-privileges:true\") != null" "no-new-privileges"
check "$service.user == \"$uid:$uid\"" "numeric non-root user from ARXI_UID/ARXI_GID"
check "[$service.ports[] | .host_ip] | all(. == \"127.0.0.1\")" "ports on 127.0.0.1 only"
check "$service.stop_signal == \"SIGTERM\"" "SIGTERM"
check "$service.healthcheck.test[0] == \"CMD\"" "exec-form health check"
check "[$service.volumes[] | select(.target == \"/etc/arxi/sidecar.toml\" or .target == \"/run/secrets/arxi-token\") | .read_only] | all" "config and token mounted read-only"
check "[$service.volumes[] | .type] | all(. == \"bind\")" "bind mounts only"

step "build the image"
build_started=$(date +%s)
compose build --quiet
build_seconds=$(($(date +%s) - build_started))
image=arxi/sidecar:suite
size=$(docker image inspect --format '{{.Size}}' "$image")
[ "$(docker image inspect --format '{{.Config.User}}' "$image")" = "10001:10001" ] || fail "image user"
healthcheck=$(docker image inspect --format '{{json .Config.Healthcheck.Test}}' "$image")
# Captured first: with pipefail, `grep -q` closing the pipe early would fail the producer.
[[ "$healthcheck" == '["CMD",'* ]] || fail "image health check is not exec form: $healthcheck"
# OCI labels: source, revision, version, licenses; the binaries name the
# same commit.
label() { docker image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$image"; }
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ "$(label revision)" = "$commit" ] || fail "label revision: $(label revision), expected $commit"
[ "$(label version)" = "$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)" ] || fail "label version: $(label version)"
[ "$(label licenses)" = Apache-2.0 ] || fail "label licenses: $(label licenses)"
[ "$(label source)" = https://example.invalid/arxi ] || fail "label source: $(label source)"
docker run --rm --entrypoint /usr/local/bin/arxi-sidecar "$image" --version | grep -q "(commit $commit, release build)" \
  || fail "the image's arxi-sidecar --version does not name commit $commit"

step "signing key with the image's CLI"
docker run --rm --user "$uid:$uid" -v "$work/data:/var/lib/arxi" --entrypoint /usr/local/bin/arxi "$image" \
  keygen --secret /var/lib/arxi/signer.key --public /var/lib/arxi/signer.pub
[ "$(stat -c %a "$work/data/signer.key")" = 600 ] || fail "signer.key mode"

step "compose up --wait"
compose up -d --wait --wait-timeout 60
[ "$(docker inspect --format '{{.State.Health.Status}}' "$(compose ps -q arxi-sidecar)")" = healthy ] || fail "not healthy"

api=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $token")
json=(-H 'Content-Type: application/json')
status=$(curl -s -o /dev/null -w '%{http_code}' "$api/v1/keys")
[ "$status" = 401 ] || fail "no token must be 401 off loopback, got $status"
for n in 1 2 3 4 5; do
  curl -sf "${auth[@]}" "${json[@]}" -X POST "$api/v1/envelopes" \
    -d "{\"type\":\"orders.placed\",\"payload\":{\"n\":$n}}" >/dev/null || fail "record over TCP"
done
for n in 6 7 8; do
  curl -sf --unix-socket "$work/run/arxi.sock" "${auth[@]}" "${json[@]}" -X POST http://localhost/v1/envelopes \
    -d "{\"type\":\"orders.placed\",\"payload\":{\"n\":$n}}" >/dev/null || fail "record over the Unix socket"
done
curl -sf --unix-socket "$work/run/probe.sock" http://localhost/ready >/dev/null || fail "the probe socket answers /ready"
driver=$(curl -sf "$api/startup" | jq -r .io_driver)
curl -sf "${auth[@]}" -X POST "$api/v1/segments/seal" >/dev/null || fail "seal"
built=$(curl -sf "${auth[@]}" -H 'Idempotency-Key: suite-bundle' -X POST "$api/v1/bundles/build") || fail "build bundle"
id=$(echo "$built" | jq -r .bundle.id)
curl -sf "${auth[@]}" -o "$work/audit.arxb" "$api/v1/bundles/download?id=$id" || fail "download"
cp "$work/data/signer.pub" "$work/signer.pub"
chmod 755 "$work"
chmod 644 "$work/audit.arxb" "$work/signer.pub"
step "verify the bundle with the CLI from the image"
docker run --rm --read-only --user "$uid:$uid" -v "$work:/audit:ro" --entrypoint /usr/local/bin/arxi "$image" \
  bundle verify /audit/audit.arxb --key /audit/signer.pub || fail "arxi bundle verify"
compose exec -T arxi-sidecar /usr/local/bin/arxi bundle verify "/var/lib/arxi/bundles/$id.arxb" \
  --key /var/lib/arxi/signer.pub --json | jq -e '.valid == true' >/dev/null || fail "verify inside the container"

step "restart keeps the data"
head_before=$(curl -sf "${auth[@]}" "$api/metrics" | awk '/^arxi_recorder_head_seq /{print $2}')
compose restart --timeout 10 arxi-sidecar
compose up -d --wait --wait-timeout 60
count=$(curl -sf "${auth[@]}" "${json[@]}" -X POST "$api/v1/query/envelopes" -d '{"type":"orders.placed"}' | jq '.envelopes | length')
[ "$count" = 8 ] || fail "after restart: $count orders.placed envelopes, expected 8"
startup=$(curl -sf "$api/startup")
[ "$(echo "$startup" | jq -r .previous_shutdown)" = clean ] || fail "SIGTERM was not a clean shutdown: $startup"
head_after=$(curl -sf "${auth[@]}" "$api/metrics" | awk '/^arxi_recorder_head_seq /{print $2}')
[ "${head_after%.*}" -gt "${head_before%.*}" ] || fail "head seq did not survive ($head_before -> $head_after)"

step "down"
down_started=$(date +%s%N)
compose down --timeout 10
down_ms=$((($(date +%s%N) - down_started) / 1000000))
[ "$down_ms" -lt 8000 ] || fail "down took ${down_ms} ms: SIGTERM not handled"
[ ! -S "$work/run/arxi.sock" ] || fail "the socket was not removed"
[ ! -S "$work/run/probe.sock" ] || fail "the probe socket was not removed"

step "example: an application container records through the shared Unix socket"
mkdir -p "$work/example-data"
cp -p "$work/data/signer.key" "$work/example-data/signer.key"
chown -R "$uid:$uid" "$work/example-data"
cat >"$work/example.env" <<ENV
ARXI_IMAGE=arxi/sidecar
ARXI_TAG=suite
ARXI_UID=$uid
ARXI_GID=$uid
ARXI_TOKEN_FILE=$work/secrets/token
ARXI_DATA_DIR=$work/example-data
APP_BASE_IMAGE=local/debian:bookworm
ENV
example up --build --exit-code-from app >"$work/example.log" 2>&1 || { cat "$work/example.log"; fail "the example app did not record"; }
first=$(example logs --no-log-prefix app | grep '"client"' | tail -1)
[ "$(echo "$first" | jq -r .client)" = python ] || fail "the example app printed no receipt: $first"
example down --timeout 10 >/dev/null 2>&1
# Again, with the same idempotency key: the recorded envelope is replayed.
example up --exit-code-from app >"$work/example.log" 2>&1 || { cat "$work/example.log"; fail "the example app failed the second time"; }
again=$(example logs --no-log-prefix app | grep '"client"' | tail -1)
[ "$(echo "$again" | jq .seq)" = "$(echo "$first" | jq .seq)" ] || fail "the replay has another seq: $first / $again"
example down -v --timeout 10 >/dev/null 2>&1

step "io_uring refused by seccomp: the epoll fallback"
mkdir -p "$work/data2" "$work/run2"
cp -p "$work/data/signer.key" "$work/data2/signer.key"
chown -R "$uid:$uid" "$work/data2" "$work/run2"
docker run -d --name "$project-epoll" --user "$uid:$uid" --read-only --cap-drop ALL \
  --security-opt no-new-privileges:true \
  --security-opt "seccomp=$root/system-tests/docker/seccomp-no-io-uring.json" \
  -v "$compose_dir/config/sidecar.toml:/etc/arxi/sidecar.toml:ro" \
  -v "$work/secrets/token:/run/secrets/arxi-token:ro" \
  -v "$work/data2:/var/lib/arxi" -v "$work/run2:/run/arxi" "$image" >/dev/null
for _ in $(seq 1 80); do [ -S "$work/run2/arxi.sock" ] && break; sleep 0.25; done
epoll=$(curl -sf --unix-socket "$work/run2/arxi.sock" http://localhost/startup) || { docker logs "$project-epoll"; fail "no answer under the seccomp profile"; }
[ "$(echo "$epoll" | jq -r .io_driver)" = epoll ] || fail "expected the epoll driver: $epoll"
[ "$(echo "$epoll" | jq -r .io_uring_refused)" != null ] || fail "the refusal is not reported: $epoll"
curl -sf --unix-socket "$work/run2/arxi.sock" "${auth[@]}" "${json[@]}" -X POST http://localhost/v1/envelopes \
  -d '{"type":"orders.placed","payload":{"epoll":true}}' >/dev/null || fail "record on epoll"
epoll_log=$(docker logs "$project-epoll" 2>&1)
[[ "$epoll_log" == *"io_uring refused"* ]] || fail "the log does not say io_uring was refused: $epoll_log"
docker stop -t 10 "$project-epoll" >/dev/null

total=$(($(date +%s) - started))
printf '\nsidecar_docker: PASSED in %ss (image build %ss); image %s is %s bytes (%s MB); driver with the default profile: %s; down %s ms\n' \
  "$total" "$build_seconds" "$image" "$size" "$((size / 1000000))" "$driver" "$down_ms"
