#!/usr/bin/env bash
# Failover under load (issue 18): a pg_auto_failover set (scripts/ha.sh: monitor, primary,
# synchronous standby), one Release circolod on the multi-host URL, and the events load of
# scripts/bench.sh with retries as a touchpoint makes them (a 503 or a lost connection is sent
# again with the same Idempotency-Key). Three loads in a row: before, during (the primary is
# killed with SIGKILL, keeper and PostgreSQL, BENCH_KILL_AFTER seconds in) and after, each a
# JSON line from circolo_http_load: events/s, p99 (from the first attempt), answered 503s,
# connection errors and the longest time without a successful purchase (longest_gap_ms).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo_http_load >/dev/null
. "$root/scripts/pg.sh"

seconds=${BENCH_SECONDS:-10}
kill_after=${BENCH_KILL_AFTER:-5}
work=$(mktemp -d)
chmod 755 "$work"
server= killer=
cleanup() {
  if [ -n "$killer" ]; then kill "$killer" 2>/dev/null || true; fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  "$root/scripts/ha.sh" stop "$work/ha" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
url=$("$root/scripts/ha.sh" start "$work/ha")
admin_key="bench-admin-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Encrypts webhook secrets and the token-signing key in the (throwaway) database.
CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CIRCOLO_SECRETS_KEY
port=$(pg_free_port)
CIRCOLO_DATABASE_URL="$url" CIRCOLO_LISTEN=127.0.0.1:$port CIRCOLO_ADMIN_KEY="$admin_key" \
  CIRCOLO_LOG_LEVEL=warn "$build/api/circolod" >"$work/circolod.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

python3 "$root/bench/events_setup.py" members | "$PG_BIN/psql" -q "$url" >/dev/null
python3 "$root/bench/events_setup.py" program "$root/examples/demo.rules" >"$work/program.json"
python3 "$root/bench/events_setup.py" bodies 100000 >"$work/bodies.txt" 2>/dev/null
curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d @"$work/program.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"role":"touchpoint","channel":"store","name":"bench POS"}' \
  "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
load() {  # load NAME SECONDS
  "$build/bench/circolo_http_load" --port "$port" --seconds "$2" --connections 4 --name "$1" \
    --method POST --target /v1/events --bodies-file "$work/bodies.txt" --key "$pos_key" \
    --unique-idempotency-key --retry-503 || true
}
load warm_up 3 >/dev/null
"$PG_BIN/psql" -q "$url" -c "analyze" >/dev/null

echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); events load, 4 connections, retries on 503"
load before "$seconds"
(
  sleep "$kill_after"
  killed_at=$(date +%s%N)
  node=$("$root/scripts/ha.sh" kill-primary "$work/ha")
  # Seconds until the monitor reports a new primary.
  for _ in $(seq 1 600); do
    p=$("$root/scripts/ha.sh" primary "$work/ha" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$p" != "$node" ]; then break; fi
    sleep 0.1
  done
  echo "# killed the primary ($node) at +${kill_after}s; $p promoted after $(awk -v a="$killed_at" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s" >&2
) &
killer=$!
load during $((seconds * 3))
wait "$killer"
load after "$seconds"
"$root/scripts/ha.sh" state "$work/ha" >&2
