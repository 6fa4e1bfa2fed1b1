# The benchmarks' PostgreSQL peer, sourced by the scripts that compare
# durable writes with it (postgres-side-by-side.sh, plots.sh): the Debian
# package (installed when missing) and a private cluster on loopback with
# the durability settings the comparison needs (fsync, synchronous_commit
# and full_page_writes on) and an append-only `events (id, body jsonb)`
# table.
#
#   pg_install                       sets pgbin
#   pg_start DIR PORT CONNECTIONS    initdb in DIR, start, create the table
#   pg_stop DIR                      stop the cluster (for a cleanup trap)
#   wrk_body LUA                     the JSON body a wrk request script sends
#   pg_insert_sql JSON ROWS          one INSERT of ROWS copies of JSON (pgbench -f)
pg_install() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
  fi
  pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
}

pg_start() {
  local dir=$1 port=$2 connections=$3
  mkdir -p "$dir" && chown postgres "$dir"
  runuser -u postgres -- "$pgbin/initdb" -D "$dir" -A trust -U postgres >/dev/null
  cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = $connections
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 256MB
CONF
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE TABLE events (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
}

pg_stop() {
  [ -d "$1" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$1" -m fast stop >/dev/null 2>&1 || true
}

wrk_body() {
  sed -n "s/^wrk.body = '\\(.*\\)' ..$/\\1/p; s/^  '\\(.*\\)' ..$/\\1/p; s/^  '\\(.*\\)'$/\\1/p" "$1" | tr -d '\n'
}

pg_insert_sql() {
  local json rows=$2 i
  json=$(printf '%s' "$1" | sed "s/'/''/g")
  printf "INSERT INTO events (body) VALUES "
  for i in $(seq 1 "$rows"); do printf "('%s')" "$json"; [ "$i" -lt "$rows" ] && printf ","; done
  printf ";\n"
}
