#!/usr/bin/env bash
# Runs the README's tour as written: every ```sh block between <!-- tour:begin --> and
# <!-- tour:end --> in one bash session (set -euo pipefail), from a folder laid out as
# scripts/run.sh leaves the project (.local/url, .local/admin-key, the demo program and members),
# against a fresh circolod. A command of the tour that fails fails the test.
#
# Environment (set by CTest): CIRCOLOD_PATH, CIRCOLO_CLI_DIR (the folder holding `circolo`),
# CIRCOLO_TEST_PG (a libpq conninfo of a server where databases may be created).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CIRCOLOD_PATH:?}" "${CIRCOLO_CLI_DIR:?}" "${CIRCOLO_TEST_PG:?set CIRCOLO_TEST_PG (scripts/test.sh does)}"
. "$root/scripts/pg.sh"

work=$(mktemp -d /tmp/circolo-tour.XXXXXX)
db="tour_$$_$RANDOM"
server=""
cleanup() {
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql "$CIRCOLO_TEST_PG dbname=postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$CIRCOLO_TEST_PG dbname=postgres" -qc "create database $db" >/dev/null

port=$(pg_free_port)
key="tour-admin-key-$RANDOM$RANDOM"
CIRCOLO_DATABASE_URL="$CIRCOLO_TEST_PG dbname=$db" CIRCOLO_LISTEN="127.0.0.1:$port" \
  CIRCOLO_ADMIN_KEY="$key" CIRCOLO_SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  CIRCOLO_LOG_LEVEL=warn "$CIRCOLOD_PATH" >"$work/circolod.log" 2>&1 &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$url/readyz" >/dev/null || { cat "$work/circolod.log"; exit 1; }

mkdir -p "$work/.local" "$work/examples" "$work/bin"
echo "$url" >"$work/.local/url"
echo "$key" >"$work/.local/admin-key"
cp "$root/examples/"* "$work/examples/"
"$root/scripts/demo-data.sh" "$url" "$key" 2>/dev/null

# The tour's blocks, in order, as one script.
awk '/<!-- tour:begin -->/ {on=1; next} /<!-- tour:end -->/ {on=0}
     on && /^```sh$/ {code=1; next} on && /^```$/ {code=0; next} on && code {print}' \
  "$root/README.md" >"$work/tour.sh"
lines=$(wc -l <"$work/tour.sh")
if [ "$lines" -lt 20 ]; then
  echo "readme tour: found only $lines lines of commands between the tour markers" >&2
  exit 1
fi

# The tour puts build/release/admin-cli on PATH (what run.sh builds); here the tested build's
# circolo comes first. -x shows each command in the log, so a failure names its line.
cd "$work"
if ! PATH="$CIRCOLO_CLI_DIR:$PATH" bash -euo pipefail -x "$work/tour.sh" >"$work/tour.out" 2>&1; then
  cat "$work/tour.out"
  echo "readme tour: a command of the tour failed (the last one above)" >&2
  exit 1
fi
# Spot checks that the tour did what it says, beyond exiting 0.
grep -q '"coupon_redeemed"' "$work/tour.out" || { cat "$work/tour.out"; echo "readme tour: no coupon redeemed" >&2; exit 1; }
grep -q '"challenge_completed"' "$work/tour.out" || { cat "$work/tour.out"; echo "readme tour: the explorer challenge was not completed" >&2; exit 1; }
grep -q '\["shoe-lovers"\]' "$work/tour.out" || { cat "$work/tour.out"; echo "readme tour: she is not in the shoe-lovers segment" >&2; exit 1; }
grep -q 'segment.entered' "$work/tour.out" || { cat "$work/tour.out"; echo "readme tour: no segment.entered event" >&2; exit 1; }
cat "$work/tour.out"  # shown by ctest -V: what a reader of the README sees
echo "readme tour: $lines lines of commands ran"
