#!/usr/bin/env bash
# Issue 24's first measure: what one demo purchase writes, from PostgreSQL's statistics. A
# Release circolod on a throwaway PostgreSQL with the demo program and 10,000 members (who agreed
# to profiling); after BENCH_WARM_UP (30) seconds of purchases (so that the interest profiles have
# grown as a running program's have) the statistics are reset, purchases are sent for
# BENCH_SECONDS (5) (bench/events_setup.py bodies: 1-4 items), and per table: rows inserted, updated (HOT or not),
# deleted, and the index entries those writes made (an insert or a non-HOT update adds one entry
# to every index of the table, a HOT update none: an upper bound, as a partial index skips the
# rows outside it), each per event.
# BENCH_BINARY=/path/to/circolod measures another build (an earlier one, before a change).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo_http_load >/dev/null
binary=${BENCH_BINARY:-$build/api/circolod}
. "$root/scripts/pg.sh"
pg_throwaway
events=60000  # bodies in each file
psql="$PG_BIN/psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_TMP_PORT -U circolo -d circolo_writes"
pg_createdb "$PG_TMP_PORT" circolo_writes
admin_key="bench-admin-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CIRCOLO_SECRETS_KEY
dir=$(mktemp -d)
port=$(pg_free_port)
CIRCOLO_DATABASE_URL="host=127.0.0.1 port=$PG_TMP_PORT user=circolo dbname=circolo_writes" \
  CIRCOLO_LISTEN=127.0.0.1:$port CIRCOLO_ADMIN_KEY="$admin_key" CIRCOLO_LOG_LEVEL=warn \
  "$binary" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; pg_stop "$PG_TMP_DIR"; rm -rf "$PG_TMP_DIR" "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

python3 "$root/bench/events_setup.py" members | $psql >/dev/null
$psql -c "update members set consents = '{\"profiling\": true}'" >/dev/null
# The demo program without its segments: builds before them can be measured too.
python3 -c 'import json,re,sys; print(json.dumps({"source": re.sub(r"\nsegment \"[^\"]*\" \{[^}]*\}\n", "\n", open(sys.argv[1]).read())}))' \
  "$root/examples/demo.rules" >"$dir/program.json"
curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d @"$dir/program.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"role":"touchpoint","channel":"store","name":"bench POS"}' \
  "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
python3 "$root/bench/events_setup.py" bodies $((events * 2)) >"$dir/bodies.txt"
head -n "$events" "$dir/bodies.txt" >"$dir/warm.txt"
tail -n "$events" "$dir/bodies.txt" >"$dir/measured.txt"
send() {
  "$build/bench/circolo_http_load" --port "$port" --seconds "$3" --connections 4 \
    --name "$2" --method POST --target /v1/events --bodies-file "$1" --key "$pos_key" \
    --unique-idempotency-key >/dev/null
}
send "$dir/warm.txt" warm_up "${BENCH_WARM_UP:-30}"
sleep 3  # the segment job and the outbox publisher settle
$psql -c "select pg_stat_reset()" -c "select pg_stat_reset_shared('wal')" >/dev/null
before=$($psql -At -c "select count(*) from events")
send "$dir/measured.txt" measured "${BENCH_SECONDS:-5}"
sleep 2
$psql -c "select pg_stat_force_next_flush()" >/dev/null 2>&1 || true
sleep 1
after=$($psql -At -c "select count(*) from events")
rows=$($psql -At -c "select 'member rows: ' || round(avg(pg_column_size(m.*))) || ' bytes on average, ' ||
  pg_relation_size('members') / 8192 || ' pages' from members m")
wal=$($psql -At -c "select round(wal_bytes / greatest($((after - before)), 1)) || ' WAL bytes, ' ||
  round(wal_fpi::numeric / greatest($((after - before)), 1), 2) || ' full-page images per event' from pg_stat_wal")
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $binary: $((after - before)) purchases (demo program, 10,000 members); $wal; $rows"
$psql -At -F ' ' -c "
with t as (
  select s.relname, s.n_tup_ins as ins, s.n_tup_upd as upd, s.n_tup_hot_upd as hot, s.n_tup_del as del,
         (select count(*) from pg_index i where i.indrelid = s.relid) as indexes
  from pg_stat_user_tables s
), n as (select $((after - before))::numeric as events)
select format('%-26s %7s %7s %7s %7s %8s', 'table', 'ins', 'upd', 'hot', 'del', 'idx')
union all
select * from (
  select format('%-26s %7s %7s %7s %7s %8s', relname, round(ins / events, 2), round(upd / events, 2),
                round(hot / events, 2), round(del / events, 2),
                round((ins + upd - hot) * indexes / events, 2))
  from t, n where ins + upd + del > 0 order by (ins + upd - hot) * indexes desc) x
union all
select format('%-26s %7s %7s %7s %7s %8s', 'total per event', round(sum(ins) / max(events), 2),
              round(sum(upd) / max(events), 2), round(sum(hot) / max(events), 2),
              round(sum(del) / max(events), 2), round(sum((ins + upd - hot) * indexes) / max(events), 2))
from t, n"
