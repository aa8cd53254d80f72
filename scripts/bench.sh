#!/usr/bin/env bash
# Runs the benchmarks in one go on this machine: Release build, a throwaway PostgreSQL, one
# circolod, micro-benchmarks and HTTP load (loopback only). Paste the output into bench/README.md.
# BENCH_ONLY=events runs only the events benchmark (issue 5), BENCH_ONLY=coupons the coupons one (6),
# BENCH_ONLY=outbox the outgoing events one (8), BENCH_ONLY=leaderboard the leaderboards (7),
# BENCH_ONLY=offers the offers (19).
# BENCH_ROUNDS (5) sets how many rounds the events benchmark takes turns in.
# BENCH_BASELINE=/path/to/circolod: a second circolod (an earlier build, same migrations) runs on
# the same database, and every events round also loads it, so before and after alternate.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod api_bench circolo_http_load rules_bench circolo_outbox_bench >/dev/null

. "$root/scripts/pg.sh"
pg_throwaway
pg_createdb "$PG_TMP_PORT" circolo_bench
seconds=${BENCH_SECONDS:-5}
admin_key="bench-admin-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Encrypts webhook secrets and the token-signing key in the (throwaway) database.
CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CIRCOLO_SECRETS_KEY
log=$(mktemp)
port=$(pg_free_port)
# Log level warn: a log line per request would measure the terminal.
# The offers' recommendation model is rebuilt every 10 s (600 by default), so that the offers
# load finds the seeded members' model soon, and is measured while rebuilds run.
CIRCOLO_DATABASE_URL="host=127.0.0.1 port=$PG_TMP_PORT user=circolo dbname=circolo_bench" \
  CIRCOLO_LISTEN=127.0.0.1:$port CIRCOLO_ADMIN_KEY="$admin_key" CIRCOLO_LOG_LEVEL=warn \
  CIRCOLO_RECOMMEND_INTERVAL_SECONDS=10 "$build/api/circolod" >"$log" 2>&1 &
server=$!
baseline=
trap 'kill $server $baseline 2>/dev/null; wait $server $baseline 2>/dev/null; pg_stop "$PG_TMP_DIR"; rm -rf "$PG_TMP_DIR" "$log"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
if [ -n "${BENCH_BASELINE:-}" ]; then
  baseline_port=$(pg_free_port)
  CIRCOLO_DATABASE_URL="host=127.0.0.1 port=$PG_TMP_PORT user=circolo dbname=circolo_bench" \
    CIRCOLO_LISTEN=127.0.0.1:$baseline_port CIRCOLO_ADMIN_KEY="$admin_key" CIRCOLO_LOG_LEVEL=warn \
    "$BENCH_BASELINE" >>"$log" 2>&1 &
  baseline=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$baseline_port/readyz" >/dev/null && break; sleep 0.1; done
fi

echo "# machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# micro-benchmarks"
"$build/bench/api_bench" --benchmark_min_time=0.2 2>/dev/null | grep -E '^BM_'
echo "# HTTP, ${seconds}s each, 4 keep-alive connections, circolod with 2 I/O threads and 8 DB connections"
load="$build/bench/circolo_http_load --port $port --seconds $seconds --connections 4"
$load --name healthz --target /healthz
$load --name readyz_db_roundtrip --target /readyz
$load --name list_keys_authenticated --target /v1/admin/keys --key "$admin_key"
$load --name create_key_idempotent --method POST --target /v1/admin/keys --key "$admin_key" \
  --body '{"role":"touchpoint","channel":"store","name":"bench"}' --unique-idempotency-key

events_bench() {
  echo "# events (issue 5): purchases for 10,000 members, the demo program plus 50 campaigns"
  local dir
  dir=$(mktemp -d)
  python3 "$root/bench/events_setup.py" members | $psql -d circolo_bench >/dev/null
  python3 "$root/bench/events_setup.py" program "$root/examples/demo.rules" >"$dir/program.json"
  python3 "$root/bench/events_setup.py" bodies 200000 >"$dir/bodies.txt"
  curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d @"$dir/program.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
  local pos_key
  pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d '{"role":"touchpoint","channel":"store","name":"bench POS"}' \
    "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  # Settle what the earlier loads left behind (autovacuum would otherwise run during this one).
  $psql -d circolo_bench -c "vacuum analyze" -c "checkpoint" >/dev/null
    sleep 1  # every instance picks a new program version up within a second
  # Steady state, not a cold start: tables analysed while still empty make PostgreSQL plan
  # sequential scans of the members' lots and ledger (it believes them empty) until autovacuum
  # analyses them, a minute later; a production database has statistics. A short warm-up, then
  # ANALYZE, as autovacuum would.
  "$build/bench/circolo_http_load" --port "$port" --seconds 3 --connections 4 \
    --name purchase_events_warm_up --method POST --target /v1/events \
    --bodies-file "$dir/bodies.txt" --key "$pos_key" --unique-idempotency-key >/dev/null
  $psql -d circolo_bench -c "analyze" >/dev/null
  # The replay (bench/event_replay.pgbench): PostgreSQL alone making one recorded purchase's
  # reads and writes, no HTTP and no Circolo; its templates come from the warm-up's events.
  $psql -d circolo_bench -v ON_ERROR_STOP=1 -c "set client_min_messages = warning" \
    -f "$root/bench/event_replay_setup.sql" >/dev/null
  # This machine's speed moves by 2× within minutes (its neighbours take CPU time): the loads
  # take turns, round after round, so that each ratio compares neighbours in time.
  echo "# ${BENCH_ROUNDS:-5} rounds of, in turn for ${seconds}s each: POST /v1/events (4 connections);" \
    "pgbench TPC-B with its defaults (1 client); the replay (4 clients); the replay by fours" \
    "(event_replay_group.pgbench, 4 clients: 4 events per transaction)"
  baseline_events() {
    "$build/bench/circolo_http_load" --port "$baseline_port" --seconds "$seconds" --connections 4 \
      --name purchase_events_baseline --method POST --target /v1/events \
      --bodies-file "$dir/bodies.txt" --key "$pos_key" --unique-idempotency-key || true
  }
  local rounds="$dir/rounds.txt" i
  : >"$rounds"
  for i in $(seq 1 "${BENCH_ROUNDS:-5}"); do
    {
      # The CPU time the hypervisor gave to others during the round ("steal", /proc/stat).
      head -1 /proc/stat | awk '{ printf "%d %d ", $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }'
      # Refused requests are counted in the figures (errors), not a reason to stop the run.
      # With a baseline, the two builds swap places every round (neither always goes first).
      if [ -n "$baseline" ] && [ $((i % 2)) = 0 ]; then baseline_events; fi
      $load --name purchase_events --method POST --target /v1/events \
        --bodies-file "$dir/bodies.txt" --key "$pos_key" --unique-idempotency-key || true
      if [ -n "$baseline" ] && [ $((i % 2)) = 1 ]; then baseline_events; fi
      pgbench_tps -T "$seconds" pgbench
      pgbench_tps -n -M prepared -c 4 -j 2 -T "$seconds" -f "$root/bench/event_replay.pgbench" circolo_bench
      pgbench_tps -n -M prepared -c 4 -j 2 -T "$seconds" -f "$root/bench/event_replay_group.pgbench" \
        circolo_bench
      head -1 /proc/stat | awk '{ printf "%d %d\n", $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }'
    } | tr '\n' ' ' >>"$rounds"
    echo >>"$rounds"
  done
  python3 - "$rounds" <<'PY'
import json, statistics, sys
rows, bases = [], []
for n, line in enumerate(open(sys.argv[1]), 1):
    steal0, total0, rest = line.split(maxsplit=2)
    head, tpcb, replay, fours, steal1, total1 = rest.rsplit(maxsplit=5)
    # The events load's JSON line, and the baseline's when BENCH_BASELINE is set.
    loads = {l["name"]: l for l in (json.loads(part) for part in head.replace("} {", "}\n{").splitlines())}
    ev_text = json.dumps(loads["purchase_events"])
    base = loads.get("purchase_events_baseline")
    steal = (int(steal1) - int(steal0)) / max(1, int(total1) - int(total0))
    ev = json.loads(ev_text)
    tpcb, replay, fours = float(tpcb), float(replay), 4 * float(fours)
    rows.append((ev["rps"] / tpcb, replay / tpcb, fours / tpcb, ev["rps"] / replay, ev["p99_us"]))
    print(f"round {n}: events {ev['rps']:.0f}/s (p50 {ev['p50_us'] / 1000:.1f} ms, p99 "
          f"{ev['p99_us'] / 1000:.1f} ms, p99.9 {ev['p999_us'] / 1000:.1f} ms, errors {ev['errors']}) | "
          f"pgbench {tpcb:.0f} tps | replay {replay:.0f}/s | replay by fours {fours:.0f}/s | "
          f"events/pgbench {rows[-1][0]:.2f}x, replay/pgbench {rows[-1][1]:.2f}x, "
          f"fours/pgbench {rows[-1][2]:.2f}x, events/replay {rows[-1][3]:.2f}x | CPU stolen {steal:.0%}")
    if base:
        bases.append((ev["rps"] / base["rps"], base["p99_us"]))
        print(f"         baseline {base['rps']:.0f}/s (p50 {base['p50_us'] / 1000:.1f} ms, p99 "
              f"{base['p99_us'] / 1000:.1f} ms, errors {base['errors']}) | events/baseline "
              f"{bases[-1][0]:.2f}x")
if not rows:
    sys.exit("no rounds (BENCH_ROUNDS must be 1 or more)")
med = [statistics.median(r[k] for r in rows) for k in range(4)]
print(f"median of {len(rows)} rounds: events/pgbench {med[0]:.2f}x, replay/pgbench {med[1]:.2f}x, "
      f"fours/pgbench {med[2]:.2f}x, events/replay {med[3]:.2f}x; worst p99 "
      f"{max(r[4] for r in rows) / 1000:.1f} ms")
if bases:
    print(f"median events/baseline {statistics.median(b[0] for b in bases):.2f}x; worst baseline p99 "
          f"{max(b[1] for b in bases) / 1000:.1f} ms")
PY
  rm -rf "$dir"
  $psql -d circolo_bench -At -c "select 'events: ' || count(*) || ', awards per event: ' ||
    round((select count(*) from ledger_entries where kind = 'earn' and event_id like 'ev\_%')::numeric
          / greatest(count(*), 1), 2) from events where id like 'ev\_%'"
  echo "# pgbench TPC-B with 4 clients, for reference"
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo -c 4 -j 2 -T "$seconds" pgbench 2>/dev/null |
    grep -E "^(tps|latency average)"
}

# pgbench_tps ARGS...: pgbench against the throwaway server; prints its tps as a whole number.
pgbench_tps() {
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo "$@" 2>/dev/null |
    awk '/^tps/ { printf "%d\n", $3 }'
}

# apply_demo_program DIR: applies examples/demo.rules (unchanged if it is active already).
apply_demo_program() {
  python3 -c 'import json,sys; print(json.dumps({"source": open(sys.argv[1]).read()}))' \
    "$root/examples/demo.rules" >"$1/program.json"
  curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d @"$1/program.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
}

coupons_bench() {
  echo "# coupons (issue 6): bulk generation of 1,000,000 codes, then redemptions of distinct codes"
  local dir
  dir=$(mktemp -d)
  apply_demo_program "$dir"
  local pos_key member
  pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d '{"role":"touchpoint","channel":"store","name":"bench coupons"}' \
    "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  member=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d '{"identifiers":[{"type":"crm","value":"bench-coupons-'"$(date +%s%N)"'"}]}' \
    "http://127.0.0.1:$port/v1/members" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  sleep 1  # every instance picks a new program version up within a second
  $psql -d circolo_bench -c "checkpoint" >/dev/null
  curl -sf -o "$dir/codes.csv" -w '{"name":"generate_1000000_codes","seconds":%{time_total},"bytes":%{size_download}}\n' \
    -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' -H 'Accept: text/csv' \
    -d '{"count":1000000}' "http://127.0.0.1:$port/v1/admin/coupons/COFFEE/codes"
  echo "codes returned: $(wc -l <"$dir/codes.csv"), distinct: $(sort -u "$dir/codes.csv" | wc -l), stored: $(
    $psql -d circolo_bench -At -c "select count(*) from coupon_codes where code like 'COFFEE-%'")"
  # Each redemption a different unassigned code (bound to the member as it is redeemed).
  head -n 200000 "$dir/codes.csv" | awk -v m="$member" \
    '{printf "{\"code\":\"%s\",\"member\":\"%s\",\"total\":\"12.00\",\"order_id\":\"o%d\"}\n", $1, m, NR}' \
    >"$dir/redeem.txt"
  $psql -d circolo_bench -c "vacuum analyze coupon_codes" >/dev/null
  $load --name redeem_distinct_codes --method POST --target /v1/coupons/redeem \
    --bodies-file "$dir/redeem.txt" --key "$pos_key" --unique-idempotency-key
  rm -rf "$dir"
}

leaderboard_bench() {
  echo "# leaderboards (issue 7): 100,000 members with points in every period, top 10 and a member's rank"
  local dir
  dir=$(mktemp -d)
  apply_demo_program "$dir"
  $psql -d circolo_bench -f "$root/bench/leaderboard_setup.sql" >/dev/null
  $psql -d circolo_bench -c "vacuum analyze leaderboard_points" -c "vacuum analyze members" >/dev/null
  sleep 1  # every instance picks a new program version up within a second
  # Members spread over the whole board: the rank of one near the bottom counts the most rows.
  for i in $(seq 1 1000); do
    echo "/v1/leaderboards/points?period=month&limit=10&member=mem_lb_$(( (i * 97) % 100000 + 1 ))"
  done >"$dir/targets.txt"
  $load --name leaderboard_month_top10_and_member_rank --targets-file "$dir/targets.txt" \
    --key "$admin_key"
  $load --name leaderboard_all_top10 --target "/v1/leaderboards/points?period=all&limit=10" \
    --key "$admin_key"
  rm -rf "$dir"
}

offers_bench() {
  echo "# offers (issue 19): 100,000 members with interest profiles, points and codes; the till's offers"
  local dir pos_key
  dir=$(mktemp -d)
  apply_demo_program "$dir"
  pos_key=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d '{"role":"touchpoint","channel":"store","name":"bench offers"}' \
    "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  $psql -d circolo_bench -f "$root/bench/offers_setup.sql" >/dev/null
  $psql -d circolo_bench -c "vacuum analyze members" -c "vacuum analyze coupon_codes" >/dev/null
  # The model of the 100,000 profiles is rebuilt within 10 s: wait until it recommends.
  for _ in $(seq 1 60); do
    curl -sf -H "Authorization: Bearer $pos_key" \
      "http://127.0.0.1:$port/v1/members/mem_off_1/offers?limit=20" | grep -q recommendation && break
    sleep 1
  done
  for i in $(seq 1 2000); do
    echo "/v1/members/mem_off_$(( (i * 47) % 100000 + 1 ))/offers?total=30.00&categories=cat3"
  done >"$dir/targets.txt"
  $load --name offers_pos_100000_members --targets-file "$dir/targets.txt" --key "$pos_key"
  rm -rf "$dir"
}

outbox_bench() {
  echo "# outgoing events (issue 8): 4 writers; a WebSocket client and a webhook receiver on loopback"
  "$build/bench/circolo_outbox_bench" --port "$port" --key "$admin_key" --seconds "$seconds" --writers 4
}

psql="$PG_BIN/psql -q -h 127.0.0.1 -p $PG_TMP_PORT -U circolo"
pg_createdb "$PG_TMP_PORT" pgbench
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo -i -s 10 -q pgbench >/dev/null 2>&1
if [ "${BENCH_ONLY:-}" = events ]; then
  events_bench
  exit 0
fi
if [ "${BENCH_ONLY:-}" = outbox ]; then
  outbox_bench
  exit 0
fi
if [ "${BENCH_ONLY:-}" = leaderboard ]; then
  leaderboard_bench
  exit 0
fi
if [ "${BENCH_ONLY:-}" = offers ]; then
  offers_bench
  exit 0
fi
if [ "${BENCH_ONLY:-}" = coupons ]; then
  coupons_bench
  exit 0
fi

echo "# members and points (issue 3): wallet reads by history length, spends on distinct members"
$psql -d circolo_bench -f "$root/bench/members_setup.sql" >/dev/null
$load --name wallet_history_15 --target /v1/members/mem_bench_light/wallet --key "$admin_key"
$load --name wallet_history_100005 --target /v1/members/mem_bench_heavy/wallet --key "$admin_key"
$load --name ledger_page_history_15 --target "/v1/members/mem_bench_light/ledger?limit=20" --key "$admin_key"
$load --name ledger_page_history_100005 --target "/v1/members/mem_bench_heavy/ledger?limit=20" --key "$admin_key"
targets=$(mktemp)
for i in $(seq 1 2000); do echo "/v1/members/mem_bench_s$i/points/spend"; done >"$targets"
$load --name spend_distinct_members --method POST --targets-file "$targets" --key "$admin_key" \
  --body '{"points":1}' --unique-idempotency-key
rm -f "$targets"
echo "# pgbench -N (simple-update TPC-B, 4 clients) on the same server, same run"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo -N -c 4 -j 2 -T "$seconds" pgbench 2>/dev/null |
  grep -E "^(tps|latency average)"

events_bench
coupons_bench
outbox_bench
leaderboard_bench
offers_bench

echo "# rules language (issue 4): one purchase with 10 items against 1,000 rules"
"$build/bench/rules_bench" --benchmark_min_time=0.5 2>/dev/null | grep -E '^BM_'
circolo_us=$("$build/bench/rules_bench" --benchmark_filter='Evaluate1000Rules/0' --benchmark_format=json \
  --benchmark_min_time=1 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).benchmarks[0].cpu_time))')
echo "# the same 1,000 rules in JavaScript engines (installed into bench/.node from the npm registry)"
if ! command -v node >/dev/null 2>&1; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$root/bench/.node"
cp "$root/bench/js/package.json" "$root/bench/.node/package.json"
(cd "$root/bench/.node" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
node "$root/bench/js/compare.mjs" "$root/bench/.node" "$circolo_us"
