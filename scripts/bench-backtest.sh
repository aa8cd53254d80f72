#!/usr/bin/env bash
# Backtest benchmark (issue 20): BENCH_EVENTS (1,000,000) recorded purchases of 10,000 members
# (with items, over the 30 days before now) are written straight into a throwaway database,
# then one Release circolod backtests the demo program on them: the time from POST
# /v1/admin/backtests to its result, and events replayed per second. BENCH_PERF=FILE records a
# profile of circolod meanwhile (perf). Then the live events load (issue 5's purchases, 4
# connections, BENCH_SECONDS each) alone and while a backtest runs, in turns (BENCH_ROUNDS, 3):
# a backtest may slow live events by at most a fifth.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo_http_load >/dev/null
. "$root/scripts/pg.sh"
pg_throwaway
pg_createdb "$PG_TMP_PORT" circolo_bench
events=${BENCH_EVENTS:-1000000}
admin_key="bench-admin-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Encrypts webhook secrets and the token-signing key in the (throwaway) database.
CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CIRCOLO_SECRETS_KEY
log=$(mktemp)
port=$(pg_free_port)
CIRCOLO_DATABASE_URL="host=127.0.0.1 port=$PG_TMP_PORT user=circolo dbname=circolo_bench" \
  CIRCOLO_LISTEN=127.0.0.1:$port CIRCOLO_ADMIN_KEY="$admin_key" CIRCOLO_LOG_LEVEL=warn \
  "$build/api/circolod" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; pg_stop "$PG_TMP_DIR"; rm -rf "$PG_TMP_DIR" "$log"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
psql="$PG_BIN/psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_TMP_PORT -U circolo -d circolo_bench"

echo "# machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$root/bench/events_setup.py" members | $psql >/dev/null
# Purchases as POST /v1/events records them (body with items, effects as the demo's base earn
# would have made them), one every ~2.6 s over the last 30 days, in recorded order.
started=$(date +%s.%N)
$psql <<SQL >/dev/null
insert into events (id, member_id, type, channel, store, order_id, occurred_at, recorded_at,
                    program_version, api_key_id, total_minor, points_awarded, body, effects)
select 'ev_bench_' || g, 'mem_ev_' || (1 + g % 10000), 'purchase', 'store', 'milano-01', null,
       t, t, 1, 'key_bench', total, total / 100,
       jsonb_build_object('type', 'purchase', 'channel', 'store', 'store', 'milano-01',
         'occurred_at', to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'total', to_char(total / 100.0, 'FM999990.00'), 'currency', 'EUR',
         'discount', '0.00', 'paid', to_char(total / 100.0, 'FM999990.00'),
         'items', jsonb_build_array(
           jsonb_build_object('sku', 'SKU-' || (g % 500), 'category',
             (array['shoes','bags','coffee','shirts','jeans','socks','hats','belts'])[1 + g % 8],
             'brand', 'brand-' || (1 + g % 20), 'quantity', 1,
             'price', to_char(total / 100.0, 'FM999990.00')))),
       jsonb_build_array(jsonb_build_object('type', 'points_awarded', 'campaign', 'base-earn',
         'rule', 'earn', 'points', total / 100, 'pending_until', null, 'expires_at', null))
from generate_series(1, $events) g,
     lateral (select now() - interval '30 days' + (g * (interval '30 days' / $events)) as t,
                     1000 + (g::bigint * 7919) % 9000 as total) x;
vacuum analyze events;  -- as autovacuum leaves a month of recorded events
SQL
loaded=$(date +%s.%N)
printf '# %s purchases written in %.1f s\n' "$events" "$(echo "$loaded - $started" | bc)"

python3 -c 'import json,sys; print(json.dumps({"source": open(sys.argv[1]).read()}))' \
  "$root/examples/demo.rules" >"$log.body"
perf_pid=
if [ -n "${BENCH_PERF:-}" ]; then  # a profile of circolod while it backtests
  perf record -F 199 --call-graph dwarf,16384 -p "$server" -o "$BENCH_PERF" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
fi
t0=$(date +%s.%N)
id=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d @"$log.body" "http://127.0.0.1:$port/v1/admin/backtests" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
while :; do
  job=$(curl -sf -H "Authorization: Bearer $admin_key" "http://127.0.0.1:$port/v1/admin/backtests/$id")
  status=$(echo "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" != running ] && break
  sleep 0.2
done
t1=$(date +%s.%N)
if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
rm -f "$log.body"
echo "$job" | python3 -c '
import json, sys
job = json.load(sys.stdin); seconds = float(sys.argv[1])
r = job["result"] or {}
print(json.dumps({"name": "backtest_demo_program", "status": job["status"], "events": job["events_done"],
                  "seconds": round(seconds, 2), "events_per_s": round(job["events_done"] / seconds),
                  "draft_points": r.get("total", {}).get("draft", {}).get("points_awarded"),
                  "actual_points": r.get("total", {}).get("actual", {}).get("points_awarded")}))' \
  "$(echo "$t1 - $t0" | bc)"

# The live load, alone and beside a backtest, in turns.
seconds=${BENCH_SECONDS:-10}
work=$(mktemp -d)
python3 "$root/bench/events_setup.py" program "$root/examples/demo.rules" >"$work/program.json"
python3 "$root/bench/events_setup.py" bodies 100000 >"$work/bodies.txt"
curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d @"$work/program.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
sleep 1
pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"role":"touchpoint","channel":"store","name":"bench POS"}' \
  "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
python3 -c 'import json,sys; print(json.dumps({"source": open(sys.argv[1]).read()}))' \
  "$root/examples/demo.rules" >"$work/draft.json"
live() {
  "$build/bench/circolo_http_load" --port "$port" --seconds "$seconds" --connections 4 \
    --name "$1" --method POST --target /v1/events --bodies-file "$work/bodies.txt" \
    --key "$pos_key" --unique-idempotency-key || true
}
live purchase_events_warm_up >/dev/null
$psql -c "analyze" >/dev/null
echo "# ${BENCH_ROUNDS:-3} rounds of, in turn for ${seconds}s each: POST /v1/events alone; the same while a backtest of the demo program runs"
for _ in $(seq 1 "${BENCH_ROUNDS:-3}"); do
  live purchase_events_alone
  id=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d @"$work/draft.json" "http://127.0.0.1:$port/v1/admin/backtests" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  live purchase_events_beside_a_backtest
  curl -sf -X DELETE -H "Authorization: Bearer $admin_key" \
    "http://127.0.0.1:$port/v1/admin/backtests/$id" | python3 -c '
import json, sys
job = json.load(sys.stdin)
print(json.dumps({"backtest": job["status"], "replayed_meanwhile": job["events_done"]}))'
done
rm -rf "$work"
