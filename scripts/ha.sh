#!/usr/bin/env bash
# A local PostgreSQL high-availability set for tests and for trying failover: a pg_auto_failover
# monitor, a primary and a synchronous standby, each on a free port of 127.0.0.1, in DIR.
#
#   scripts/ha.sh start DIR     creates (first time) and starts them; prints the multi-host URL
#   scripts/ha.sh url DIR       the URL circolod takes (CIRCOLO_DATABASE_URL)
#   scripts/ha.sh state DIR     pg_autoctl show state
#   scripts/ha.sh primary DIR   the current primary's node name (node1 or node2), once settled
#   scripts/ha.sh kill-primary DIR   SIGKILL to the primary's keeper and PostgreSQL (a dead
#                               machine): the monitor promotes the standby
#   scripts/ha.sh rejoin DIR    restarts a killed node: it comes back as the new standby
#   scripts/ha.sh stop DIR      stops everything (DIR stays; start again uses it)
#
# Detection and promotion are tuned for a local set (see docs/deploy.md): the monitor checks
# every second and calls a node unhealthy after 3 s without an answer.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/pg.sh"

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1 dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
PG_CTL="$PG_BIN/pg_ctl"

# pg_autoctl keeps its configuration and state under XDG folders keyed by PGDATA: inside DIR,
# so that a set removed with DIR leaves nothing behind.
as_owner() {
  pg_as_owner env PATH="$PG_BIN:$PATH" PG_CONFIG=/usr/bin/pg_config XDG_CONFIG_HOME="$dir/config" \
    XDG_DATA_HOME="$dir/share" XDG_RUNTIME_DIR="$dir/run" "$@"
}

port_of() { cat "$dir/$1.port"; }

monitor_uri() { echo "postgres://autoctl_node@127.0.0.1:$(port_of monitor)/pg_auto_failover?sslmode=disable"; }

# Keepalives and a TCP user timeout: a primary on a dead machine sends no reset, and without them
# a request (or the LISTEN connection) would wait for the kernel's retransmissions for minutes.
url() {
  echo "postgresql://circolo@127.0.0.1:$(port_of node1),127.0.0.1:$(port_of node2)/circolo?target_session_attrs=read-write&connect_timeout=2&keepalives=1&keepalives_idle=2&keepalives_interval=1&keepalives_count=3&tcp_user_timeout=5000"
}

# run_keeper NAME: pg_autoctl run for the node in the background, its log in DIR/NAME.log.
run_keeper() {
  local name=$1
  # A session of its own: its pid is the process group of the keeper and of every process it
  # starts (PostgreSQL included), so that one signal stops or kills the whole node.
  as_owner bash -c "setsid nohup pg_autoctl run --pgdata '$dir/$name' >>'$dir/$name.log' 2>&1 </dev/null & echo \$! >'$dir/$name.keeper.pid'"
}

sql_monitor() { "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$(port_of monitor)" -U "${MONITOR_USER:-autoctl_node}" -d pg_auto_failover -c "$1"; }

# Waits until one node is primary and the other secondary (the set is settled).
wait_settled() {
  local states
  for _ in $(seq 1 240); do
    states=$(sql_monitor "select string_agg(reportedstate::text || '/' || goalstate::text, ',' order by nodename) from pgautofailover.node" 2>/dev/null || true)
    case "$states" in
      primary/primary,secondary/secondary | secondary/secondary,primary/primary) return 0 ;;
    esac
    sleep 0.5
  done
  echo "circolo: the HA set did not settle: $states" >&2
  return 1
}

create() {
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  local name
  for name in monitor node1 node2; do
    [ -f "$dir/$name.port" ] || pg_free_port >"$dir/$name.port"
    as_owner touch "$dir/$name.log"  # the keeper, run as postgres, appends to it
  done
  if [ ! -f "$dir/monitor/PG_VERSION" ]; then
    as_owner pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$(port_of monitor)" \
      --hostname 127.0.0.1 --auth trust --no-ssl --pgctl "$PG_CTL" >>"$dir/monitor.log" 2>&1
  fi
  run_keeper monitor
  # Fast detection (defaults: a check every 5 s, unhealthy after 20 s), set by the monitor's
  # superuser: the operating system user that owns it. Retried as a whole: the keeper restarts
  # the PostgreSQL that `create monitor` left running, so the first connections may be refused.
  local superuser settings
  superuser=$(pg_as_owner id -un)
  settings="alter system set pgautofailover.health_check_period to 1000;
    alter system set pgautofailover.health_check_timeout to 1000;
    alter system set pgautofailover.health_check_max_retries to 1;
    alter system set pgautofailover.health_check_retry_delay to 500;
    alter system set pgautofailover.node_considered_unhealthy_timeout to 3000;
    alter system set pgautofailover.primary_demote_timeout to 5000;
    select pg_reload_conf();"
  local tries=0
  # One statement at a time (ALTER SYSTEM refuses a transaction block), stopping at an error.
  apply_settings() {
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of monitor)" \
      -U "$superuser" -d pg_auto_failover <<<"$settings"
  }
  until apply_settings >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -ge 120 ]; then
      echo "circolo: the pg_auto_failover monitor does not answer" >&2
      apply_settings >/dev/null
      return 1
    fi
    sleep 0.25
  done
  for name in node1 node2; do
    if [ ! -f "$dir/$name/PG_VERSION" ]; then
      as_owner pg_autoctl create postgres --pgdata "$dir/$name" --pgport "$(port_of "$name")" \
        --hostname 127.0.0.1 --name "$name" --auth trust --no-ssl --pgctl "$PG_CTL" \
        --username circolo --dbname circolo --monitor "$(monitor_uri)" >>"$dir/$name.log" 2>&1
      # The keeper side of the timings: how long a primary cut off from the monitor and its
      # standby keeps accepting writes, and how long a promotion waits for the WAL receiver.
      as_owner pg_autoctl config set --pgdata "$dir/$name" timeout.network_partition_timeout 3 >/dev/null
      as_owner pg_autoctl config set --pgdata "$dir/$name" timeout.prepare_promotion_walreceiver 1 >/dev/null
      as_owner pg_autoctl config set --pgdata "$dir/$name" timeout.prepare_promotion_catchup 5 >/dev/null
    fi
    run_keeper "$name"
    # The first node becomes primary before the second one is created.
    if [ "$name" = node1 ]; then
      for _ in $(seq 1 240); do
        [ "$(sql_monitor "select reportedstate from pgautofailover.node where nodename = 'node1'" 2>/dev/null)" = single ] && break
        sleep 0.5
      done
    fi
  done
  wait_settled
}

stop_all() {
  local name pid
  for name in node2 node1 monitor; do
    if [ -f "$dir/$name.keeper.pid" ]; then
      pid=$(cat "$dir/$name.keeper.pid")
      kill -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 -- "-$pid" 2>/dev/null || true
      rm -f "$dir/$name.keeper.pid"
    fi
    [ -f "$dir/$name/postmaster.pid" ] && as_owner "$PG_CTL" -D "$dir/$name" -m immediate -w stop >/dev/null 2>&1 || true
  done
}

primary() {
  sql_monitor "select nodename from pgautofailover.node where reportedstate in ('primary', 'single', 'wait_primary') order by reportedlsn desc limit 1"
}

case "$command" in
  start) create; url ;;
  url) url ;;
  state) as_owner pg_autoctl show state --pgdata "$dir/monitor" ;;
  primary) primary ;;
  kill-primary)
    name=$(primary)
    [ -n "$name" ] || { echo "circolo: no primary" >&2; exit 1; }
    kill -9 -- "-$(cat "$dir/$name.keeper.pid")" 2>/dev/null || true
    kill -9 "$(head -1 "$dir/$name/postmaster.pid")" 2>/dev/null || true
    pkill -9 -f -- "-D $dir/$name( |\$)" 2>/dev/null || true  # its backends
    rm -f "$dir/$name.keeper.pid"
    echo "$name"
    ;;
  rejoin)
    for name in node1 node2; do
      if [ ! -f "$dir/$name.keeper.pid" ] || ! kill -0 "$(cat "$dir/$name.keeper.pid")" 2>/dev/null; then
        run_keeper "$name"
      fi
    done
    wait_settled
    ;;
  stop) stop_all ;;
  *) usage ;;
esac
