#!/usr/bin/env bash
# Issue 19's measurements of segments, on this machine (Release build, a throwaway PostgreSQL):
#  1. the event path with interests and 20 segments against the build before them: two circolod,
#     each on its own database of the same data (10,000 members who agreed to profiling, the demo
#     program plus 50 campaigns; 20 segments more for this build), take turns in rounds;
#  2. re-evaluating 100,000 members for a segment a new program adds: the segment job's run, from
#     segment_runs.
# BENCH_BASELINE=/path/to/circolod of the build before (required for 1; skipped without);
# BENCH_SECONDS (10) per load, BENCH_ROUNDS (6), BENCH_WARM_UP (30: seconds of purchases before
# the rounds, so that the members' interest profiles have grown as a running program's have),
# BENCH_SEGMENTS (20), BENCH_MEMBERS (100000) for 2; BENCH_PERF=FILE records a system-wide perf
# profile during this build's first load.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo_http_load >/dev/null
. "$root/scripts/pg.sh"
pg_throwaway
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-6}
warm_up=${BENCH_WARM_UP:-30}
. "$root/scripts/bench-servers.sh"

# setup NAME DATABASE SEGMENTS: members, the program, a POS key (in $dir/NAME.key), a warm-up.
setup() {
  local name=$1 db=$2 segments=$3
  python3 "$root/bench/events_setup.py" members | $psql -d "$db" >/dev/null
  $psql -d "$db" -c "update members set consents = '{\"profiling\": true}'" >/dev/null
  python3 "$root/bench/events_setup.py" program "$root/examples/demo.rules" --segments "$segments" \
    >"$dir/$name.program.json"
  program_and_key "$name" "$dir/$name.program.json"
  sleep 3  # the segment job evaluates the new segments for every member
  purchases "$name" "$warm_up" 4 warm_up >/dev/null
  $psql -d "$db" -c "vacuum analyze" -c "checkpoint" >/dev/null
}

load() {
  local name=$1
  # BENCH_PERF=FILE: a system-wide profile of this build's first load.
  if [ -n "${BENCH_PERF:-}" ] && [ "$name" = segments ] && [ ! -e "$BENCH_PERF" ]; then
    perf record -a -g -o "$BENCH_PERF" -- sleep $((seconds - 2)) >/dev/null 2>&1 &
  fi
  purchases "$name" "$seconds" 4 "$name" || true
}

echo "# machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$root/bench/events_setup.py" bodies 400000 >"$dir/bodies.txt"
start segments "$build/api/circolod" circolo_segments
setup segments circolo_segments "${BENCH_SEGMENTS:-20}"
if [ -n "${BENCH_BASELINE:-}" ]; then
  start before "$BENCH_BASELINE" circolo_before
  setup before circolo_before 0
  echo "# event path: $rounds rounds, ${seconds}s each after ${warm_up}s of warm-up, 4 connections;" \
    "this build with ${BENCH_SEGMENTS:-20} segments against $BENCH_BASELINE, taking turns"
  : >"$dir/rounds.txt"
  for i in $(seq 1 "$rounds"); do
    if [ $((i % 2)) = 1 ]; then
      { load before; load segments; } | tr '\n' ' ' >>"$dir/rounds.txt"
    else
      { load segments; load before; } | tr '\n' ' ' >>"$dir/rounds.txt"
    fi
    echo >>"$dir/rounds.txt"
  done
  rounds "$dir/rounds.txt" >"$dir/rounds.json"
  python3 - "$dir/rounds.json" <<'PY'
import json, statistics, sys
ratios = []
for n, line in enumerate(open(sys.argv[1]), 1):
    loads = json.loads(line)
    b, s = loads["before"], loads["segments"]
    ratio = s["rps"] / b["rps"]
    ratios.append(ratio)
    print(f"round {n}: before {b['rps']}/s (p99 {b['p99_us'] / 1000:.1f} ms, errors {b['errors']}) | "
          f"20 segments {s['rps']}/s (p99 {s['p99_us'] / 1000:.1f} ms, errors {s['errors']}) | "
          f"ratio {ratio:.3f}")
print(f"median ratio (20 segments / before): {statistics.median(ratios):.3f}; "
      f"mean {statistics.mean(ratios):.3f}")
PY
  kill "${pids[1]}" 2>/dev/null || true
fi

members=${BENCH_MEMBERS:-100000}
echo "# re-evaluation: $members members, a program adding one segment"
$psql -d circolo_segments <<SQL >/dev/null
insert into members (id, joined_at, consents, purchases, tier)
select 'mem_re_' || g, now() - (g % 700) * interval '1 day', '{"profiling": true}', g % 7, 'member'
from generate_series(1, $members - (select count(*) from members)) g;
vacuum analyze members;
SQL
port=$(cat "$dir/segments.port")
python3 - "$dir/segments.program.json" >"$dir/next.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["source"] += '\nsegment "regulars" {\n  name "Regulars"\n  when member.purchases >= 3 and days_since(member.joined) > 30\n}\n'
print(json.dumps(p))
PY
curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d @"$dir/next.json" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
for _ in $(seq 1 600); do
  done_at=$($psql -d circolo_segments -Atc "select finished_at is not null from segment_runs where
    reason = 'program' and 'regulars' = any(segments) order by id desc limit 1")
  [ "$done_at" = t ] && break
  sleep 0.5
done
$psql -d circolo_segments -Atc "select format('run: %s members in %s s (%s members/s), %s entered',
  done, round(extract(epoch from finished_at - started_at)::numeric, 2),
  round(done / greatest(extract(epoch from finished_at - started_at), 0.001)), entered)
  from segment_runs where 'regulars' = any(segments) order by id desc limit 1"
