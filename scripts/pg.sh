# Shell functions that run a private PostgreSQL 15 cluster in a folder of ours: sourced by
# run.sh and test.sh. As root, the server runs as the `postgres` user (PostgreSQL refuses root).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A TCP port nobody listens on now, below the kernel's ephemeral range (client sockets take
# ports from that range, so one of a busy test run could take ours before the server binds it).
pg_free_port() {
  local port low=32768 span
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  fi
  span=$((low - 20000))
  if [ "$span" -lt 1000 ]; then span=12000; fi
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % span))
    if pg_port_free "$port"; then
      echo "$port"
      return 0
    fi
  done
  echo "circolo: found no free TCP port" >&2
  return 1
}

pg_running() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# pg_init DIR: creates a cluster in DIR/data unless there is one.
pg_init() {
  local dir=$1
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    if ! pg_as_owner test -w "$dir"; then
      echo "circolo: the postgres user cannot write to $dir (a parent folder is not accessible)" >&2
      return 1
    fi
    pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U circolo --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; return 1; }
  fi
}

# pg_start DIR PORT: starts the cluster on 127.0.0.1:PORT (no Unix socket) and waits for it.
# PG_OPTIONS adds server settings ("-c name=value ...", for benchmarks).
pg_start() {
  local dir=$1 port=$2
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=${PG_FSYNC:-on} -c max_connections=200 ${PG_OPTIONS:-}" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1
  if [ -f "$dir/data/postmaster.pid" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

pg_restart() {
  local dir=$1
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null
}

# pg_createdb PORT NAME: creates database NAME unless it exists.
pg_createdb() {
  local port=$1 name=$2
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U circolo -d postgres -tAc \
    "select 1 from pg_database where datname = '$name'" | grep -q 1; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U circolo "$name"
  fi
}

# pg_throwaway: a cluster in a new temporary folder on a free port, removed on exit. Sets
# PG_TMP_DIR and PG_TMP_PORT. fsync is off: the data is thrown away anyway.
pg_throwaway() {
  PG_TMP_DIR=$(mktemp -d /tmp/circolo-pg.XXXXXX)
  trap 'pg_stop "$PG_TMP_DIR"; rm -rf "$PG_TMP_DIR"' EXIT
  pg_init "$PG_TMP_DIR"
  PG_TMP_PORT=$(pg_free_port)
  PG_FSYNC=off pg_start "$PG_TMP_DIR" "$PG_TMP_PORT"
}
