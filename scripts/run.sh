#!/usr/bin/env bash
# The run command: installs what is missing, builds Release, starts a project-local PostgreSQL
# (data in .local/, reused on the next run), applies migrations, and runs circolod in the
# foreground. Ctrl-C stops the server and then the database.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/build.sh"
build_release circolod circolo

. "$root/scripts/pg.sh"
state="$root/.local"
pgdir="$state/pg"
mkdir -p "$state"
chmod 755 "$state"
pg_init "$pgdir"

if pg_running "$pgdir"; then
  port=$(cat "$state/pg.port")
else
  port=$(cat "$state/pg.port" 2>/dev/null || true)
  if [ -z "$port" ] || ! pg_port_free "$port"; then port=$(pg_free_port); fi
  echo "$port" >"$state/pg.port"
  pg_start "$pgdir" "$port"
fi
trap 'pg_stop "$pgdir"' EXIT
pg_createdb "$port" circolo

if [ ! -s "$state/admin-key" ]; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$state/admin-key")
fi
admin_key=$(cat "$state/admin-key")
# The key that encrypts webhook secrets and the token-signing key in the database
# (docs/security.md): made once, readable by this user only. Lose it and they cannot be read.
if [ ! -s "$state/secrets-key" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/secrets-key")
fi

listen=${CIRCOLO_LISTEN:-127.0.0.1:8080}
listen_port=${listen##*:}
if [ "$listen_port" != 0 ] && ! pg_port_free "$listen_port"; then
  listen="${listen%:*}:$(pg_free_port)"
  echo "circolo: port $listen_port is taken, using ${listen##*:}" >&2
fi

# What the README tour and the CLI read: export CIRCOLO_URL=$(cat .local/url) ...
echo "http://$listen" >"$state/url"

cat <<TXT

  Circolo is starting at http://$listen
  Admin key: $admin_key
  Try:       curl -H "Authorization: Bearer $admin_key" http://$listen/v1/admin/keys
  Database:  postgresql://circolo@127.0.0.1:$port/circolo (data in .local/pg)
  Stop:      Ctrl-C

TXT
CIRCOLO_DATABASE_URL="postgresql://circolo@127.0.0.1:$port/circolo" \
  CIRCOLO_LISTEN="$listen" CIRCOLO_ADMIN_KEY="$admin_key" \
  CIRCOLO_SECRETS_KEY_FILE="$state/secrets-key" "$build/api/circolod" &
server=$!
# Ctrl-C (or SIGTERM) reaches circolod, which finishes what is in flight and stops; then the
# database stops (the EXIT trap).
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; exit 0' INT TERM

# On the first run: the demo program and two demo members.
url="http://$listen"
for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
if [ ! -f "$state/demo-loaded" ] && curl -sf "$url/readyz" >/dev/null; then
  "$root/scripts/demo-data.sh" "$url" "$admin_key" && touch "$state/demo-loaded"
fi
wait $server || true
