#!/usr/bin/env bash
# Issue 24's throughput measure: purchases against a program of 1,000 active rules at 32
# connections, and pgbench TPC-B (16 clients) on the same PostgreSQL, taking turns in rounds; with
# BENCH_BASELINE=/path/to/circolod (the build before a change) that build takes its turn in the
# same rounds, on its own database of the same data.
# Release build, a throwaway PostgreSQL 15 (fsync off), 10,000 members who agreed to profiling,
# the demo program plus 50 campaigns plus product promotions up to BENCH_RULES (1000) rules
# (bench/events_setup.py), purchase bodies of 1-4 items.
# BENCH_SECONDS (10) per load, BENCH_ROUNDS (6), BENCH_CONNECTIONS (32), BENCH_POOL (8: each
# server's database connections), BENCH_CLIENTS (16: pgbench
# clients, on a database of scale 16: a branch row per client),
# BENCH_WARM_UP (30: seconds of purchases before the rounds, so that interest profiles, ledgers and
# leaderboards have grown as a running program's have); BENCH_PERF=FILE records a system-wide perf
# profile during this build's first load; BENCH_STATEMENTS=FILE writes there the statements that
# took PostgreSQL's time for this build (pg_stat_statements over the whole run).
set -euo pipefail
if [ -n "${BENCH_STATEMENTS:-}" ]; then
  export PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo_http_load >/dev/null
. "$root/scripts/pg.sh"
pg_throwaway
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-6}
warm_up=${BENCH_WARM_UP:-30}
connections=${BENCH_CONNECTIONS:-32}
clients=${BENCH_CLIENTS:-16}
rules=${BENCH_RULES:-1000}
. "$root/scripts/bench-servers.sh"

# setup NAME DATABASE: members, the program, a POS key (in $dir/NAME.key), a warm-up.
setup() {
  local name=$1 db=$2
  python3 "$root/bench/events_setup.py" members | $psql -d "$db" >/dev/null
  $psql -d "$db" -c "update members set consents = '{\"profiling\": true}'" >/dev/null
  program_and_key "$name" "$dir/program.json"
  sleep 2  # every instance picks a new program version up within a second
  purchases "$name" "$warm_up" "$connections" warm_up >/dev/null
  $psql -d "$db" -c "vacuum analyze" -c "checkpoint" >/dev/null
}

# load NAME: purchases to NAME's server; one JSON line.
load() {
  local name=$1
  if [ -n "${BENCH_PERF:-}" ] && [ "$name" = events ] && [ ! -e "$BENCH_PERF" ]; then
    perf record -a -g -o "$BENCH_PERF" -- sleep $((seconds - 2)) >/dev/null 2>&1 &
  fi
  purchases "$name" "$seconds" "$connections" "$name" || true
}

# pgbench_load: TPC-B with its defaults, $clients clients; one JSON line with its tps.
pgbench_load() {
  local out
  out=$("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo -c "$clients" -j 2 \
    -T "$seconds" -r pgbench 2>/dev/null || true)
  echo "$out" | awk '/^latency average/ { lat = $4 } /^tps/ { tps = $3 }
    END { printf "{\"name\":\"pgbench\",\"rps\":%.0f,\"latency_ms\":%s}\n", tps, lat }'
}

echo "# machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$root/bench/events_setup.py" program "$root/examples/demo.rules" --rules "$rules" \
  >"$dir/program.json"
python3 "$root/bench/events_setup.py" bodies 600000 >"$dir/bodies.txt"
pg_createdb "$PG_TMP_PORT" pgbench
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_TMP_PORT" -U circolo -i -s 16 -q pgbench >/dev/null 2>&1
start events "$build/api/circolod" circolo_events
setup events circolo_events
names="events pgbench"
if [ -n "${BENCH_BASELINE:-}" ]; then
  start before "$BENCH_BASELINE" circolo_before
  setup before circolo_before
  names="before events pgbench"
fi
echo "# $rounds rounds, ${seconds}s each after ${warm_up}s of warm-up: purchases at $connections" \
  "connections ($rules rules) to: $names (pgbench TPC-B, $clients clients), taking turns" \
  "(the order rotates every round)"
: >"$dir/rounds.txt"
read -r -a order <<<"$names"
for i in $(seq 1 "$rounds"); do
  for name in "${order[@]}"; do
    if [ "$name" = pgbench ]; then pgbench_load; else load "$name"; fi
  done | tr '\n' ' ' >>"$dir/rounds.txt"
  echo >>"$dir/rounds.txt"
  order=("${order[@]:1}" "${order[0]}")
done
rounds "$dir/rounds.txt" >"$dir/rounds.json"
python3 - "$dir/rounds.json" <<'PY'
import json, statistics, sys
rows = []
for n, line in enumerate(open(sys.argv[1]), 1):
    loads = json.loads(line)
    e, p, b = loads["events"], loads["pgbench"], loads.get("before")
    row = {"events": e["rps"] / p["rps"], "p99": e["p99_us"] / 1000}
    text = (f"round {n}: events {e['rps']:.0f}/s (p50 {e['p50_us'] / 1000:.1f} ms, p99 "
            f"{e['p99_us'] / 1000:.1f} ms, errors {e['errors']}) | pgbench {p['rps']:.0f} tps | "
            f"events/pgbench {row['events']:.2f}x")
    if b:
        row["before"] = b["rps"] / p["rps"]
        row["before_p99"] = b["p99_us"] / 1000
        row["ratio"] = e["rps"] / b["rps"]
        text += (f" | before {b['rps']:.0f}/s (p99 {b['p99_us'] / 1000:.1f} ms, errors "
                 f"{b['errors']}), before/pgbench {row['before']:.2f}x, events/before "
                 f"{row['ratio']:.2f}x")
    rows.append(row)
    print(text)
med = lambda k: statistics.median(r[k] for r in rows)
text = (f"median of {len(rows)} rounds: events/pgbench {med('events'):.2f}x, p99 median "
        f"{med('p99'):.1f} ms, worst {max(r['p99'] for r in rows):.1f} ms")
if "before" in rows[0]:
    text += (f"; before/pgbench {med('before'):.2f}x, p99 median {med('before_p99'):.1f} ms, "
             f"worst {max(r['before_p99'] for r in rows):.1f} ms; events/before {med('ratio'):.2f}x")
print(text)
PY
if [ -n "${BENCH_STATEMENTS:-}" ]; then
  $psql -d circolo_events -c "create extension if not exists pg_stat_statements" >/dev/null
  $psql -d circolo_events -c "select round(total_exec_time) as ms, calls,
    round((total_exec_time / calls)::numeric, 3) as ms_per_call, rows, left(regexp_replace(query,
    '\s+', ' ', 'g'), 400) as query from pg_stat_statements where dbid = (select oid from
    pg_database where datname = 'circolo_events') order by total_exec_time desc limit 40" \
    >"$BENCH_STATEMENTS"
fi
for db in circolo_events $([ -n "${BENCH_BASELINE:-}" ] && echo circolo_before); do
  $psql -d "$db" -At -c "select '$db: ' || count(*) || ' events, ' || round(avg(points_awarded), 1) ||
    ' points and ' || round(avg(jsonb_array_length(effects)), 2) || ' effects per event' from events"
done
