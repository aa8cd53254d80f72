# Sourced by the benchmarks that run circolod servers side by side on one throwaway PostgreSQL
# (scripts/bench-segments.sh, scripts/bench-events.sh), after pg_throwaway: $psql, an admin key,
# a secrets key, a scratch directory $dir (removed on exit with the servers and the database),
# and start NAME BINARY DATABASE.
psql="$PG_BIN/psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_TMP_PORT -U circolo"
admin_key="bench-admin-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CIRCOLO_SECRETS_KEY
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pg_stop "$PG_TMP_DIR"; rm -rf "$PG_TMP_DIR" "$dir"' EXIT

# start NAME BINARY DATABASE: a circolod on a free port (its port in $dir/NAME.port), with
# BENCH_POOL database connections (8, the server's default).
start() {
  local name=$1 binary=$2 db=$3 port
  port=$(pg_free_port)
  pg_createdb "$PG_TMP_PORT" "$db"
  CIRCOLO_DATABASE_URL="host=127.0.0.1 port=$PG_TMP_PORT user=circolo dbname=$db" \
    CIRCOLO_LISTEN=127.0.0.1:$port CIRCOLO_ADMIN_KEY="$admin_key" CIRCOLO_LOG_LEVEL=warn \
    CIRCOLO_DB_POOL_SIZE="${BENCH_POOL:-8}" \
    "$binary" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  echo "$port" >"$dir/$name.port"
}

# program_and_key NAME PROGRAM_JSON: the program applied on NAME's server, a POS key made (in
# $dir/NAME.key).
program_and_key() {
  local name=$1 program=$2 port
  port=$(cat "$dir/$name.port")
  curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d @"$program" "http://127.0.0.1:$port/v1/admin/program" >/dev/null
  curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    -d '{"role":"touchpoint","channel":"store","name":"bench POS"}' \
    "http://127.0.0.1:$port/v1/admin/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' \
    >"$dir/$name.key"
}

# purchases NAME SECONDS CONNECTIONS LABEL: purchase bodies of $dir/bodies.txt to NAME's server;
# one JSON line of figures, named LABEL.
purchases() {
  "$build/bench/circolo_http_load" --port "$(cat "$dir/$1.port")" --seconds "$2" \
    --connections "$3" --name "$4" --method POST --target /v1/events \
    --bodies-file "$dir/bodies.txt" --key "$(cat "$dir/$1.key")" --unique-idempotency-key
}

# rounds FILE: the rounds written by a benchmark (each line: the JSON objects of one round's
# loads, one after the other) as one JSON object per line, each load under its name.
rounds() {
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    loads, dec, text = {}, json.JSONDecoder(), line.strip()
    while text:
        obj, end = dec.raw_decode(text)
        loads[obj["name"]] = obj
        text = text[end:].strip()
    print(json.dumps(loads))
PY
}
