#!/usr/bin/env bash
# sidecar_docker: the Docker Compose operator profile, built and run for real.
#
#   system-tests/docker/sidecar_docker.sh
#
# Installs and starts a private Docker engine (scripts/docker-engine.sh),
# makes the local base images (no registry is reachable: the README's
# "Air-gapped build"), checks the hardening of the compose file as the
# engine resolves it, and builds the image from a copy of the profile folder
# (ARXI_BUILD_CONTEXT pointing at the checkout) with operator artifacts
# beside the compose file that .dockerignore must keep out of the context.
# Then, as an operator would: makes the signing key with the image's own
# CLI, `docker compose up -d --wait`, records envelopes over the published
# port and over the bind-mounted Unix socket, as root and as a non-root
# operator in the documented group (whose token header never reaches a
# command line), checks the file modes of everything on the host, takes an
# online backup inside the container and checks it, reloads after an
# editor-style replace of the configuration (sed -i) by SIGHUP, calls the
# sidecar by its service name from a second container on the compose
# network, seals, builds a bundle, verifies it with the CLI from the image
# (mounting only the bundle and the public key), restarts the container and
# checks the data survived, `down` (timed). Checks the image's OCI labels
# and runs the app-over-socket example (an application container recording
# through the shared Unix socket). Then runs the image on a data folder it
# cannot write (the error names the folder, owner and fix) and once under a
# seccomp profile that refuses io_uring (the sidecar serves on epoll and
# says so). Prints the image size and the suite's time. Needs root (apt,
# dockerd, useradd).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
started=$(date +%s)
step() { printf '\n==> sidecar_docker: %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }
fail() { echo "sidecar_docker: FAILED: $*" >&2; exit 1; }

# ARXI_ENGINE_DIR keeps the engine (and its base images) for the next run;
# without it the engine lives in a temporary folder removed at the end.
export ENGINE_DIR=${ARXI_ENGINE_DIR:-$(mktemp -d /tmp/arxi-engine.XXXXXX)}
# shellcheck source=scripts/docker-engine.sh
. scripts/docker-engine.sh
work=$(mktemp -d /tmp/arxi-docker-suite.XXXXXX)
project=arxi-suite-$$
network=$project-net
operator=arxiop$$
# A copy of the profile folder, as an operator who copied it elsewhere.
compose_dir=$work/profile
cp -r "$root/docker/sidecar" "$compose_dir"
rm -rf "$compose_dir/data" "$compose_dir/run" "$compose_dir/secrets" "$compose_dir/backups" "$compose_dir/.env"
# Operator artifacts beside the repository's compose file, which the build
# context must leave out (.dockerignore).
junk_dir=$root/docker/sidecar/backups
junk_made=
if [ ! -e "$junk_dir" ]; then
  mkdir -p "$junk_dir" && junk_made=1
  head -c 48000000 /dev/zero >"$junk_dir/suite-junk.db"
  head -c 16000000 /dev/zero >"$root/docker/sidecar/suite-junk.arxb"
fi
export COMPOSE_BAKE=false
compose() { docker compose -p "$project" --project-directory "$compose_dir" -f "$compose_dir/docker-compose.yml" --env-file "$work/.env" "$@"; }
example_dir=$root/docker/examples/app-over-socket
example() { docker compose -p "$project-example" --project-directory "$example_dir" -f "$example_dir/docker-compose.yml" --env-file "$work/example.env" "$@"; }
cleanup() {
  set +e
  if [ -f "$work/.env" ]; then compose down --timeout 5 >/dev/null 2>&1; fi
  docker rm -f "$project-epoll" "$project-rootdata" >/dev/null 2>&1
  example down -v --timeout 5 >/dev/null 2>&1
  if [ -n "${ARXI_ENGINE_DIR:-}" ]; then engine_stop; else engine_remove; fi
  if [ -n "$junk_made" ]; then rm -rf "$junk_dir" "$root/docker/sidecar/suite-junk.arxb"; fi
  id "$operator" >/dev/null 2>&1 && userdel "$operator"
  rm -rf "$work"
}
trap cleanup EXIT

step "engine"
engine_install
engine_start
engine_base_images

step "operator files (as docker/sidecar/README.md says), a non-root operator in the group"
uid=10001
port=$((20000 + $$ % 20000))
chmod 755 "$work"
# data/ made with a plain mkdir (0755): the sidecar tightens it to 0750.
mkdir -p "$work/data"
install -d -m 0750 "$work/run" "$work/backups"
install -d -m 0700 "$work/secrets"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secrets/token"
chmod 600 "$work/secrets/token"
getent group "$uid" >/dev/null || groupadd -g "$uid" arxi-suite
useradd -M -N -s /usr/sbin/nologin -G "$uid" "$operator"
(umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$work/secrets/token")" >"$work/operator-auth")
chown "$operator" "$work/operator-auth"
(umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$work/secrets/token")" >"$work/root-auth")
chown -R "$uid:$uid" "$work/data" "$work/run" "$work/secrets" "$work/backups" "$compose_dir/config"
cat >"$work/.env" <<ENV
ARXI_IMAGE=arxi/sidecar
ARXI_TAG=suite
ARXI_BUILDER_IMAGE=$RUST_BUILDER_IMAGE
ARXI_RUNTIME_IMAGE=scratch
ARXI_BUILD_CONTEXT=$root
ARXI_UID=$uid
ARXI_GID=$uid
ARXI_PORT=$port
ARXI_NETWORK=$network
ARXI_CONFIG_DIR=$compose_dir/config
ARXI_TOKEN_FILE=$work/secrets/token
ARXI_DATA_DIR=$work/data
ARXI_RUN_DIR=$work/run
ARXI_BACKUP_DIR=$work/backups
ARXI_LOG=info
ARXI_ACCEPT_ROLLBACK=
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
check "[$service.volumes[] | select(.target == \"/etc/arxi\" or .target == \"/run/secrets/arxi-token\") | .read_only] | all" "config folder and token mounted read-only"
check "[$service.volumes[] | select(.target == \"/etc/arxi\")] | length == 1" "the config folder, not the file, is mounted"
check "[$service.volumes[] | .type] | all(. == \"bind\")" "bind mounts only"
check ".networks[\"arxi\"].name == \"$network\"" "a named network other containers join"

step "build the image from the copied profile folder"
build_started=$(date +%s)
compose build >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "build"; }
build_seconds=$(($(date +%s) - build_started))

step "the build context leaves operator artifacts out (.dockerignore)"
# The same context the compose build sends (the checkout, with its
# .dockerignore), copied into a throw-away image that measures it.
docker build -q -t "$project-context" -f - "$root" >/dev/null <<'DF' || fail "the build context holds operator artifacts (64 MB of junk beside the compose file) or is over 40 MB"
FROM local/debian:bookworm
COPY . /context
RUN test ! -e /context/docker/sidecar/backups && test ! -e /context/docker/sidecar/suite-junk.arxb \
 && test ! -e /context/target && [ "$(du -sk /context | cut -f1)" -lt 40000 ]
DF
docker rmi -f "$project-context" >/dev/null
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
# Outputs are captured before they are matched: with pipefail, `grep -q`
# closing the pipe at its first match can fail the command still writing.
version_line=$(docker run --rm --entrypoint /usr/local/bin/arxi-sidecar "$image" --version)
[[ "$version_line" == *"(commit $commit, release build)"* ]] \
  || fail "the image's arxi-sidecar --version does not name commit $commit"

step "signing key with the image's CLI"
docker run --rm --user "$uid:$uid" -v "$work/data:/var/lib/arxi" --entrypoint /usr/local/bin/arxi "$image" \
  keygen --secret /var/lib/arxi/signer.key --public /var/lib/arxi/signer.pub
[ "$(stat -c %a "$work/data/signer.key")" = 600 ] || fail "signer.key mode"

step "compose up --wait"
compose up -d --wait --wait-timeout 60
[ "$(docker inspect --format '{{.State.Health.Status}}' "$(compose ps -q arxi-sidecar)")" = healthy ] || fail "not healthy"
startup_log=$(compose logs arxi-sidecar 2>&1)
[[ "$startup_log" == *"enterprise mode"* ]] || fail "start-up does not log the enterprise mode"

api=http://127.0.0.1:$port
auth=(-H "@$work/root-auth")
json=(-H 'Content-Type: application/json')
status=$(curl -s -o /dev/null -w '%{http_code}' "$api/v1/keys")
[ "$status" = 401 ] || fail "no token must be 401 off loopback, got $status"
for n in 1 2 3 4 5; do
  curl -sf "${auth[@]}" "${json[@]}" -X POST "$api/v1/envelopes" \
    -d "{\"type\":\"orders.placed\",\"payload\":{\"n\":$n}}" >/dev/null || fail "record over TCP"
done
for n in 6 7; do
  curl -sf --unix-socket "$work/run/arxi.sock" "${auth[@]}" "${json[@]}" -X POST http://localhost/v1/envelopes \
    -d "{\"type\":\"orders.placed\",\"payload\":{\"n\":$n}}" >/dev/null || fail "record over the Unix socket"
done
curl -sf --unix-socket "$work/run/probe.sock" http://localhost/ready >/dev/null || fail "the probe socket answers /ready"
driver=$(curl -sf "$api/startup" | jq -r .io_driver)

step "a non-root operator in the group: socket, evidence, token kept out of ps"
as_operator() { runuser -u "$operator" -- "$@"; }
as_operator curl -sf --unix-socket "$work/run/arxi.sock" -H "@$work/operator-auth" "${json[@]}" -X POST http://localhost/v1/envelopes \
  -d '{"type":"orders.placed","payload":{"n":8}}' >/dev/null || fail "the operator records over the socket"
as_operator cat "$work/data/arxi.db" >/dev/null || fail "the operator's group reads the database"
if runuser -u nobody -- cat "$work/data/arxi.db" >/dev/null 2>&1; then fail "another local user reads the database"; fi
if as_operator cat "$work/secrets/token" >/dev/null 2>&1; then fail "the sidecar's copy of the token is readable by the group"; fi

step "an online backup inside the container, as its user"
compose exec -T arxi-sidecar /usr/local/bin/arxi-sidecar backup --to /var/backups/arxi/suite.db >/dev/null || fail "backup"
checked=$(compose exec -T arxi-sidecar /usr/local/bin/arxi-sidecar verify-data --database /var/backups/arxi/suite.db) \
  || fail "verify-data on the backup: $checked"
grep -qx valid <<<"$checked" || fail "verify-data on the backup: $checked"
checked=$(compose exec -T arxi-sidecar /usr/local/bin/arxi-sidecar verify-data) || fail "verify-data on the live database: $checked"
grep -q "signed head: reached" <<<"$checked" || fail "verify-data on the live database: $checked"
as_operator cat "$work/backups/suite.db" >/dev/null || fail "the operator's group reads the backup"

step "file modes on the host"
mode() { stat -c '%a %u' "$1"; }
expect_mode() { [ "$(mode "$1")" = "$2 $uid" ] || fail "$1 is $(mode "$1"), expected mode $2 owned by $uid"; }
curl -sf "${auth[@]}" -X POST "$api/v1/segments/seal" >/dev/null || fail "seal"
built=$(curl -sf "${auth[@]}" -H 'Idempotency-Key: suite-bundle' -X POST "$api/v1/bundles/build") || fail "build bundle"
id=$(echo "$built" | jq -r .bundle.id)
expect_mode "$work/data" 750
expect_mode "$work/data/arxi.db" 640
expect_mode "$work/data/arxi.db-wal" 640
expect_mode "$work/data/arxi.db.head" 600
expect_mode "$work/data/signer.key" 600
expect_mode "$work/data/bundles" 750
expect_mode "$work/data/bundles/$id.arxb" 640
expect_mode "$work/backups/suite.db" 640
expect_mode "$work/run/arxi.sock" 660

step "reload after an editor-style replace of the configuration"
config=$compose_dir/config/sidecar.toml
inode_before=$(stat -c %i "$config")
sed -i 's/^shutdown_drain_seconds = 5$/shutdown_drain_seconds = 5\n\n[limits]\nrequest_timeout_ms = 12345/' "$config"
[ "$(stat -c %i "$config")" != "$inode_before" ] || fail "sed -i did not replace the file (the test needs a new inode)"
compose kill -s HUP arxi-sidecar >/dev/null
reloaded=
for _ in $(seq 1 100); do
  if [ "$(curl -sf "${auth[@]}" "$api/v1/config" | jq -r .limits.request_timeout_ms)" = 12345 ]; then reloaded=1; break; fi
  sleep 0.1
done
[ -n "$reloaded" ] || { compose logs --tail 20 arxi-sidecar; fail "SIGHUP did not read the replaced file"; }
answer=$(curl -sf "${auth[@]}" -X POST "$api/v1/config/reload") || fail "reload route"
[ "$(echo "$answer" | jq -r '.changed | length')" = 0 ] || fail "a second reload of the same file changes nothing: $answer"
compose exec -T arxi-sidecar /usr/local/bin/arxi-sidecar check-config >/dev/null || fail "check-config reads the replaced file"

step "a second container on the compose network, by service name"
# Its own copy of the token, mounted into it alone; bash's /dev/tcp (no curl
# in the base image) sends the request with Host: arxi-sidecar:7878.
from_peer=$(docker run --rm --network "$network" --user "$uid:$uid" --read-only \
  -v "$work/secrets/token:/run/secrets/token:ro" local/debian:bookworm bash -c '
    exec 3<>/dev/tcp/arxi-sidecar/7878
    printf "GET /v1/keys HTTP/1.1\r\nHost: arxi-sidecar:7878\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n" "$(cat /run/secrets/token)" >&3
    head -c 200 <&3') || fail "the second container could not connect"
[[ "$from_peer" == "HTTP/1.1 200"* ]] || fail "by service name: ${from_peer%%$'\r'*}"

curl -sf "${auth[@]}" -o "$work/audit.arxb" "$api/v1/bundles/download?id=$id" || fail "download"
chmod 644 "$work/audit.arxb"
step "verify the bundle with the CLI from the image"
docker run --rm --read-only --network none --user "$uid:$uid" -v "$work/audit.arxb:/audit/audit.arxb:ro" \
  -v "$work/data/signer.pub:/audit/signer.pub:ro" --entrypoint /usr/local/bin/arxi "$image" \
  bundle verify /audit/audit.arxb --key /audit/signer.pub || fail "arxi bundle verify"
compose exec -T arxi-sidecar /usr/local/bin/arxi bundle verify "/var/lib/arxi/bundles/$id.arxb" \
  --key /var/lib/arxi/signer.pub --json | jq -e '.valid == true' >/dev/null || fail "verify inside the container"

step "restart keeps the data"
head_before=$(curl -sf "${auth[@]}" "$api/metrics" | awk '/^arxi_recorder_head_seq /{print $2}')
compose restart --timeout 10 arxi-sidecar
compose up -d --wait --wait-timeout 60
count=$(curl -sf "${auth[@]}" "${json[@]}" -X POST "$api/v1/query/envelopes" -d '{"type":"orders.placed"}' | jq '.envelopes | length')
[ "$count" = 8 ] || fail "after restart: $count orders.placed envelopes, expected 8"
[ "$(curl -sf "${auth[@]}" "$api/v1/config" | jq -r .limits.request_timeout_ms)" = 12345 ] || fail "the restart reads the edited file"
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

step "a data folder the sidecar cannot write: the error names it, its owner and the fix"
mkdir -p "$work/rootdata" "$work/run3"
cp -p "$work/data/signer.key" "$work/rootdata/signer.key"   # readable: the check is about the folder
chown "$uid:$uid" "$work/run3"
chmod 755 "$work/rootdata"
docker run --name "$project-rootdata" --user "$uid:$uid" --read-only --cap-drop ALL \
  -v "$compose_dir/config:/etc/arxi:ro" -v "$work/secrets/token:/run/secrets/arxi-token:ro" \
  -v "$work/rootdata:/var/lib/arxi" -v "$work/run3:/run/arxi" "$image" >/dev/null 2>&1 || true
refusal=$(docker logs "$project-rootdata" 2>&1)
code=$(docker inspect --format '{{.State.ExitCode}}' "$project-rootdata")
docker rm "$project-rootdata" >/dev/null
[ "$code" = 1 ] || fail "an unwritable data folder exits 1, got $code: $refusal"
[[ "$refusal" == *"/var/lib/arxi (owned by uid 0, gid 0, mode 0755) is not writable"*"runs as uid $uid"*"chown -R $uid:$uid"* ]] \
  || fail "the refusal does not name the folder, owner and fix: $refusal"

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
  -v "$compose_dir/config:/etc/arxi:ro" \
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
