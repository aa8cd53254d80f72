#!/usr/bin/env bash
# The SDK's tests against a real circolod, as ctest's `sdk_typescript` runs them:
#   CIRCOLOD_PATH=build/.../circolod CIRCOLO_TEST_PG="host=127.0.0.1 port=5432 user=circolo" test/run.sh
# Installs the dev dependencies when missing or stale (npm ci), checks that src/schema.d.ts matches
# docs/openapi.yaml, builds, creates a fresh database, starts circolod on a free port with an
# admin key (as tests/support/server_process.cpp does), applies test/program.rules and creates
# touchpoint keys (test/setup.ts), runs `node --test`, then stops the server and drops the database.
set -euo pipefail
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$sdk"

fail() {
  echo "sdk_typescript: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node is not installed (Node.js 20 or newer; scripts/install-deps.sh installs it)"
command -v npm >/dev/null || fail "npm is not installed (it comes with Node.js; scripts/install-deps.sh installs it)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  fail "Node.js $(node --version) is too old: 20 or newer is needed"
[ -n "${CIRCOLOD_PATH:-}" ] && [ -x "$CIRCOLOD_PATH" ] || fail "CIRCOLOD_PATH must name the circolod binary"
[ -n "${CIRCOLO_TEST_PG:-}" ] ||
  fail "CIRCOLO_TEST_PG is not set: run through scripts/test.sh, which starts PostgreSQL"

# npm ci when node_modules is missing or was installed from another package-lock.json.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.circolo-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" >node_modules/.circolo-lock-hash
fi
npm run --silent check-generated
npm run --silent build
npm run --silent build:test

# psql from PATH, else where Debian's PostgreSQL 15 puts it (scripts/pg.sh's PG_BIN).
psql=$(command -v psql || echo "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql")
[ -x "$psql" ] || fail "psql is not installed"
database="circolo_sdk_test_$$_$RANDOM"
"$psql" "$CIRCOLO_TEST_PG dbname=postgres" -qAtc \
  "create database $database template template0 encoding 'UTF8'" >/dev/null

work=$(mktemp -d /tmp/circolo-sdk-test.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  "$psql" "$CIRCOLO_TEST_PG dbname=postgres" -qAtc "drop database if exists $database with (force)" \
    >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

admin_key="sdk-test-admin-key-$RANDOM$RANDOM"
# Only what the test says: no CIRCOLO_* leaking in from the caller's environment. circolod
# applies the migrations itself at start. Fast webhook retries keep the webhook test short; its
# receiver listens on loopback, which webhooks may target only when allowed.
env -u CIRCOLO_DATABASE_URL -u CIRCOLO_LISTEN -u CIRCOLO_ADMIN_KEY -u CIRCOLO_SECRETS_KEY_FILE \
  CIRCOLO_DATABASE_URL="$CIRCOLO_TEST_PG dbname=$database" \
  CIRCOLO_LISTEN=127.0.0.1:0 \
  CIRCOLO_ADMIN_KEY="$admin_key" \
  CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  CIRCOLO_IO_THREADS=2 \
  CIRCOLO_DB_POOL_SIZE=4 \
  CIRCOLO_WEBHOOK_BACKOFF_MS=100 \
  CIRCOLO_WEBHOOK_TIMEOUT_MS=2000 \
  CIRCOLO_WEBHOOKS_ALLOW_PRIVATE=true \
  "$CIRCOLOD_PATH" >"$work/circolod.log" 2>&1 &
server_pid=$!

# The port it picked is in its log: "listening on http://127.0.0.1:PORT".
port=""
for _ in $(seq 1 300); do
  port=$(grep -oE 'listening on http://[^:[:space:]]+:[0-9]+' "$work/circolod.log" | head -1 | grep -oE '[0-9]+$' || true)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/circolod.log" >&2; server_pid=""; fail "circolod exited at start"; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/circolod.log" >&2; fail "circolod did not start in 30 s"; }
export CIRCOLO_URL="http://127.0.0.1:$port"
export CIRCOLO_ADMIN_KEY="$admin_key"

# As a load balancer does: traffic only once /readyz says so.
ready=""
for _ in $(seq 1 300); do
  if node -e 'fetch(process.env.CIRCOLO_URL + "/readyz").then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))'; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/circolod.log" >&2; fail "circolod did not become ready in 30 s"; }

export CIRCOLO_TEST_FIXTURE="$work/fixture.json"
node dist-test/setup.js "$sdk/test/program.rules" "$CIRCOLO_TEST_FIXTURE"

status=0
node --test --test-concurrency=1 dist-test/*.test.js || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- circolod log (last 80 lines) ---" >&2
  tail -80 "$work/circolod.log" >&2
fi
exit "$status"
